//! Registering a socket's handlers: events, catch-alls, middlewares,
//! disconnect and error handlers.

use super::*;

impl Socket {
    // ----- handlers -------------------------------------------------------

    /// Node's `socket.on(ev, listener)`: registers the handler of an event (replacing an earlier one).
    ///
    /// The handler's future is first polled where the packet was read, and
    /// moves to a task of its own at its first `.await` that has to wait:
    /// a handler that finishes at once costs no task. Long synchronous work
    /// before that point delays this connection's next packets; run it with
    /// `tokio::task::spawn_blocking`. A panic there is caught and logged, as
    /// in a task, and the connection carries on.
    pub fn on<H, T>(&self, event: impl Into<String>, handler: H)
    where
        H: EventHandler<T>,
        T: 'static,
    {
        self.0
            .handlers
            .write()
            .insert(event.into(), handler::erase(handler));
    }

    /// Node's `socket.removeAllListeners(ev)`: removes the handler of an event.
    pub fn off(&self, event: &str) {
        self.0.handlers.write().remove(event);
    }

    /// Node's `socket.onAny((event, ...args) => ...)`: adds a catch-all
    /// handler, called for every incoming event before its own handler
    /// (take [`crate::Event`] and [`crate::Args`] to read it). Returns the
    /// handle that [`Socket::remove_listener`] takes.
    pub fn on_any<H, T>(&self, handler: H) -> ListenerId
    where
        H: EventHandler<T>,
        T: 'static,
    {
        self.0.extras().any.push(handler::erase(handler))
    }

    /// Node's `socket.prependAny(...)`: a catch-all handler before the
    /// others.
    pub fn prepend_any<H, T>(&self, handler: H) -> ListenerId
    where
        H: EventHandler<T>,
        T: 'static,
    {
        self.0.extras().any.prepend(handler::erase(handler))
    }

    /// Node's `socket.offAny()`: removes every catch-all handler (one of
    /// them: [`Socket::remove_listener`]).
    pub fn off_any(&self) {
        if let Some(e) = self.0.extras_if_any() {
            e.any.clear();
        }
    }

    /// Node's `socket.onAnyOutgoing((event, ...args) => ...)`: adds a
    /// catch-all for outgoing events (direct emits and broadcasts reaching
    /// this socket), called with the event name and its arguments (binary
    /// attachments in place; with connection state recovery, the offset is
    /// the last argument, as the client receives it) before the packet is
    /// queued. Called synchronously, with no lock held: it must not block.
    /// Returns the handle that [`Socket::remove_listener`] takes.
    pub fn on_any_outgoing(
        &self,
        f: impl Fn(&Socket, &str, &[Value]) + Send + Sync + 'static,
    ) -> ListenerId {
        let f: Arc<OutgoingFn> = Arc::new(f);
        self.0.extras().any_outgoing.push(f)
    }

    /// Node's `socket.prependAnyOutgoing(...)`: an outgoing catch-all
    /// called before the others (see [`Socket::on_any_outgoing`]).
    pub fn prepend_any_outgoing(
        &self,
        f: impl Fn(&Socket, &str, &[Value]) + Send + Sync + 'static,
    ) -> ListenerId {
        let f: Arc<OutgoingFn> = Arc::new(f);
        self.0.extras().any_outgoing.prepend(f)
    }

    /// Node's `socket.offAnyOutgoing()`: removes every outgoing catch-all
    /// (one of them: [`Socket::remove_listener`]).
    pub fn off_any_outgoing(&self) {
        if let Some(e) = self.0.extras_if_any() {
            e.any_outgoing.clear();
        }
    }

    /// Removes a handler of this socket by the handle its `on_*` method
    /// returned ([`Socket::on_any`], [`Socket::on_any_outgoing`],
    /// [`Socket::on_disconnecting`], [`Socket::on_disconnect`],
    /// [`Socket::on_error`]...): Node's `socket.off(event, listener)`,
    /// `offAny(listener)`, `offAnyOutgoing(listener)`. `false` if it is not
    /// registered here (or already ran, for a disconnect handler).
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        let once = |list: &Mutex<Vec<(ListenerId, DisconnectFn)>>| {
            let mut list = list.lock();
            let before = list.len();
            list.retain(|(i, _)| *i != id);
            list.len() != before
        };
        let extra = self.0.extras_if_any().is_some_and(|e| {
            e.any.remove(id)
                || e.any_outgoing.remove(id)
                || e.errors.remove(id)
                || once(&e.disconnecting)
        });
        extra || once(&self.0.disconnect)
    }

    /// Node's `socket.use(([ev, ...args], next) => ...)`: adds a per-packet middleware: it sees every incoming event before
    /// its handlers and may refuse it (`Err(message)`); a refused event is
    /// dropped and reported to the error handlers.
    pub fn use_middleware(
        &self,
        f: impl Fn(&Socket, &EventParts) -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.0.extras().middlewares.write().push(Arc::new(f));
    }

    /// Node's `socket.on("disconnecting", (reason) => ...)`: called when
    /// the socket is about to disconnect, while it is still in its rooms.
    /// Returns the handle that [`Socket::remove_listener`] takes.
    pub fn on_disconnecting(
        &self,
        f: impl FnOnce(&Socket, DisconnectReason) + Send + 'static,
    ) -> ListenerId {
        let id = ListenerId::new();
        self.0
            .extras()
            .disconnecting
            .lock()
            .push((id, Box::new(move |s, r| f(&s, r))));
        id
    }

    /// Node's `socket.on("disconnect", (reason) => ...)`: called once the
    /// socket has disconnected (rooms left). An async closure runs on its
    /// own task; [`SocketIo::close`](crate::SocketIo::close) waits for the
    /// running ones (within its deadline) before it closes the adapters, so
    /// that what they broadcast during a shutdown still reaches the other
    /// nodes. Returns the handle that [`Socket::remove_listener`] takes.
    pub fn on_disconnect<F, Fut>(&self, f: F) -> ListenerId
    where
        F: FnOnce(Socket, DisconnectReason) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let id = ListenerId::new();
        self.0.disconnect.lock().push((
            id,
            Box::new(move |s, r| {
                let tasks = s.0.ns.0.config.disconnect_tasks.clone();
                tasks.spawn(f(s, r));
            }),
        ));
        id
    }

    /// Node's `socket.on("error", (err) => ...)`: adds an error handler
    /// (payload mismatches, refused packets). Returns the handle that
    /// [`Socket::remove_listener`] takes.
    pub fn on_error(
        &self,
        f: impl Fn(&Socket, &SocketError) + Send + Sync + 'static,
    ) -> ListenerId {
        let f: Arc<ErrorFn> = Arc::new(f);
        self.0.extras().errors.push(f)
    }

    pub(crate) fn report_error(&self, error: SocketError) {
        let Some(extras) = self.0.extras_if_any() else {
            return;
        };
        for h in extras.errors.snapshot() {
            h(self, &error);
        }
    }
}
