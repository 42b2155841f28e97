//! Registering a socket's handlers: events, catch-alls, middlewares,
//! disconnect and error handlers.

use super::*;

impl Socket {
    // ----- handlers -------------------------------------------------------

    /// Registers the handler of an event (replacing an earlier one).
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

    /// Removes the handler of an event.
    pub fn off(&self, event: &str) {
        self.0.handlers.write().remove(event);
    }

    /// Adds a catch-all handler, called for every incoming event before its
    /// own handler (take [`crate::Event`] and [`crate::Args`] to read it).
    pub fn on_any<H, T>(&self, handler: H)
    where
        H: EventHandler<T>,
        T: 'static,
    {
        self.0.extras_mut(|e| e.any.push(handler::erase(handler)));
    }

    /// Adds a catch-all handler before the others.
    pub fn prepend_any<H, T>(&self, handler: H)
    where
        H: EventHandler<T>,
        T: 'static,
    {
        self.0
            .extras_mut(|e| e.any.insert(0, handler::erase(handler)));
    }

    /// Removes every catch-all handler.
    pub fn off_any(&self) {
        if let Some(extras) = self.0.extras.lock().as_mut() {
            extras.any.clear();
        }
    }

    /// Adds a catch-all for outgoing events (direct emits and broadcasts
    /// reaching this socket), called with the event name.
    pub fn on_any_outgoing(&self, f: impl Fn(&Socket, &str) + Send + Sync + 'static) {
        // The flag changes under the lock, so it always matches the list.
        let mut extras = self.0.extras.lock();
        extras
            .get_or_insert_with(Box::default)
            .any_outgoing
            .push(Arc::new(f));
        self.0
            .has_any_outgoing
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Removes every outgoing catch-all.
    pub fn off_any_outgoing(&self) {
        let mut extras = self.0.extras.lock();
        if let Some(extras) = extras.as_mut() {
            extras.any_outgoing.clear();
        }
        self.0
            .has_any_outgoing
            .store(false, std::sync::atomic::Ordering::Release);
    }

    /// Adds a per-packet middleware: it sees every incoming event before
    /// its handlers and may refuse it (`Err(message)`); a refused event is
    /// dropped and reported to the error handlers.
    pub fn use_middleware(
        &self,
        f: impl Fn(&Socket, &EventParts) -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.0.extras_mut(|e| e.middlewares.push(Arc::new(f)));
    }

    /// Called when the socket is about to disconnect, while it is still in
    /// its rooms.
    pub fn on_disconnecting(&self, f: impl FnOnce(&Socket, DisconnectReason) + Send + 'static) {
        self.0
            .extras_mut(|e| e.disconnecting.push(Box::new(move |s, r| f(&s, r))));
    }

    /// Called once the socket has disconnected (rooms left). An async
    /// closure runs on its own task.
    pub fn on_disconnect<F, Fut>(&self, f: F)
    where
        F: FnOnce(Socket, DisconnectReason) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.0.extras_mut(|e| {
            e.disconnect.push(Box::new(move |s, r| {
                tokio::spawn(f(s, r));
            }))
        });
    }

    /// Adds an error handler (payload mismatches, refused packets).
    pub fn on_error(&self, f: impl Fn(&Socket, &SocketError) + Send + Sync + 'static) {
        self.0.extras_mut(|e| e.errors.push(Arc::new(f)));
    }

    pub(crate) fn report_error(&self, error: SocketError) {
        let handlers = self.0.extras_read(|e| e.errors.clone());
        for h in handlers {
            h(self, &error);
        }
    }
}
