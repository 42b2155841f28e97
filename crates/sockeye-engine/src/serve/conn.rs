//! The per-listener accept loop and the per-connection task.

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1::UpgradeableConnection;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower_service::Service;
use tracing::{debug, error};

use super::linger::LingerPlace;
use super::per_address::AddressGuard;
use super::stream::{Counted, Phase, WaitForRequest};
use super::{ACCEPT_ERROR_BACKOFF, BoundAddr, BoxError, ConnectionInfo, Shared, TaskGuard, raised};

/// A tower service as this module serves it. One name for the bounds every
/// function on a connection's path repeats; any service that `Server::serve`
/// accepts is one.
pub(super) trait AppService<B>:
    Service<Request<Incoming>, Response = Response<B>, Future: Send, Error: Into<BoxError>>
    + Clone
    + Send
    + 'static
{
}

impl<S, B> AppService<B> for S where
    S: Service<Request<Incoming>, Response = Response<B>, Future: Send, Error: Into<BoxError>>
        + Clone
        + Send
        + 'static
{
}

/// A response body as this module serves it (see [`AppService`]).
pub(super) trait AppBody:
    http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static
{
}

impl<B> AppBody for B where B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static {}

/// Errors that concern one connection only, not the listener.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

pub(super) async fn accept_loop<S, B>(
    listener: TcpListener,
    bound: BoundAddr,
    acceptor: Option<TlsAcceptor>,
    service: S,
    guard: TaskGuard,
) where
    S: AppService<B>,
    B: AppBody,
{
    let shared = &guard.0;
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let permit = tokio::select! {
            biased;
            () = raised(&mut shutdown) => break,
            permit = Arc::clone(&shared.permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            biased;
            () = raised(&mut shutdown) => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) if is_connection_error(&err) => {
                debug!(addr = %bound.addr, %err, "connection failed during accept");
                continue;
            }
            Err(err) => {
                error!(addr = %bound.addr, %err, "accept failed; retrying shortly");
                tokio::select! {
                    biased;
                    () = raised(&mut shutdown) => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_BACKOFF) => continue,
                }
            }
        };
        let address = match &shared.per_address {
            Some(cap) => match cap.admit(peer.ip()) {
                Some(guard) => Some(guard),
                None => {
                    debug!(%peer, "over the connection cap per address; closed");
                    continue;
                }
            },
            None => None,
        };
        if let Err(err) = stream.set_nodelay(true) {
            debug!(%peer, %err, "cannot set TCP_NODELAY");
        }
        let info = ConnectionInfo {
            peer,
            local: stream.local_addr().unwrap_or(bound.addr),
            tls: bound.tls,
        };
        let service = HyperService {
            inner: Box::new(service.clone()),
            info,
            phase: Arc::default(),
        };
        let conn_guard = TaskGuard::new(shared);
        let places = Places {
            _permit: permit,
            _address: address,
        };
        tokio::spawn(connection(
            stream,
            acceptor.clone(),
            service,
            places,
            conn_guard,
        ));
    }
    debug!(addr = %bound.addr, "listener closed");
}

async fn connection<S, B>(
    stream: TcpStream,
    acceptor: Option<TlsAcceptor>,
    service: HyperService<S>,
    places: Places,
    guard: TaskGuard,
) where
    S: AppService<B>,
    B: AppBody,
{
    match acceptor {
        None => {
            let io = Counted::new(stream, places, Arc::clone(&service.phase));
            drive(io, service, guard).await;
        }
        // Boxed: TLS state (the handshake, rustls' connection, about 3 KB)
        // would otherwise size every plain connection's task as well.
        Some(acceptor) => {
            Box::pin(tls_connection(stream, acceptor, service, places, guard)).await;
        }
    }
}

/// [`connection`] over TLS: the handshake, then [`drive`].
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would hold its arguments twice"
)]
fn tls_connection<S, B>(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    service: HyperService<S>,
    places: Places,
    guard: TaskGuard,
) -> impl Future<Output = ()> + Send
where
    S: AppService<B>,
    B: AppBody,
{
    async move {
        let peer = service.info.peer;
        let shared = &guard.0;
        let mut shutdown = shared.shutdown.subscribe();
        let handshake =
            tokio::time::timeout(shared.config.tls_handshake_timeout, acceptor.accept(stream));
        let stream = tokio::select! {
            biased;
            () = raised(&mut shutdown) => return,
            handshake = handshake => match handshake {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => {
                    debug!(%peer, %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    debug!(%peer, "TLS handshake timed out");
                    return;
                }
            },
        };
        let io = Counted::new(stream, places, Arc::clone(&service.phase));
        drive(io, service, guard).await;
    }
}

/// The hyper connection of one round (see [`super::stream`]).
type Round<I, S> = UpgradeableConnection<TokioIo<Counted<I>>, HyperService<S>>;

/// How a round ended.
enum RoundEnd {
    /// hyper went idle and gave the stream back: wait for the next request.
    Idle,
    /// The connection closed, was upgraded, or was dropped at the shutdown
    /// deadline.
    Over,
}

/// What woke a round up.
enum Step {
    Ended(hyper::Result<()>),
    Idle,
    Shutdown,
    Forced,
}

/// Serves one connection until it closes, is upgraded, is dropped at the
/// shutdown deadline, or waits for its next request: one round per busy
/// stretch. A connection that waits does so in a task of its own
/// ([`idle`]), with no hyper connection, none of its buffers and none of
/// this task's state; this task ends.
///
/// Returns an `async move` block rather than being an `async fn`, which
/// would hold its arguments twice (see `conn_sizes_tests.rs`).
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would hold its arguments twice"
)]
fn drive<I, S, B>(
    mut io: Counted<I>,
    mut service: HyperService<S>,
    guard: TaskGuard,
) -> impl Future<Output = ()> + Send
where
    I: AsyncRead + AsyncWrite + WaitForRequest + Unpin + Send + 'static,
    S: AppService<B>,
    B: AppBody,
{
    async move {
        let shared = &*guard.0;
        let peer = service.info.peer;
        let phase = Arc::clone(&service.phase);
        let mut shutdown = shared.shutdown.subscribe();
        let mut force = shared.force.subscribe();
        loop {
            phase.start_round();
            // Boxed: the task of a waiting connection keeps only the pointer's
            // place, not hyper's connection state.
            let mut conn: Pin<Box<Round<I, S>>> = Box::pin(
                shared
                    .http
                    .serve_connection(TokioIo::new(io), service)
                    .with_upgrades(),
            );
            match serve_round(
                conn.as_mut(),
                peer,
                &phase,
                shared,
                &mut shutdown,
                &mut force,
            )
            .await
            {
                RoundEnd::Over => return,
                RoundEnd::Idle => {}
            }
            let Some(parts) = Pin::into_inner(conn).into_parts() else {
                return;
            };
            io = parts.io.into_inner();
            service = parts.service;
            // Even empty, hyper's leftover shares its 8 KiB read buffer: it
            // must not live on through the wait.
            let leftover = parts.read_buf;
            if !leftover.is_empty() {
                // Bytes of the next request that hyper had read already.
                io.unread(leftover);
                continue;
            }
            break;
        }
        tokio::spawn(idle::<I, S, B>(io, service, guard));
    }
}

/// The task of a connection that waits for its next request (see [`Idle`]).
fn idle<I, S, B>(
    io: Counted<I>,
    service: HyperService<S>,
    guard: TaskGuard,
) -> Idle<impl Future<Output = Option<(Counted<I>, TaskGuard)>> + Send, S, B>
where
    I: WaitForRequest + Send,
{
    Idle {
        wait: wait_idle(io, guard),
        service: Some(service),
        _body: PhantomData,
    }
}

pin_project_lite::pin_project! {
    /// A keep-alive connection between two requests, as a task of its own:
    /// it waits for the first bytes of the next request ([`wait_idle`]),
    /// then serves them in a new [`drive`] task. Small, so an idle
    /// connection costs only this task and its stream. A named future
    /// because `drive` and it spawn each other, which two `async fn`s
    /// cannot.
    struct Idle<W, S, B> {
        #[pin]
        wait: W,
        service: Option<HyperService<S>>,
        _body: PhantomData<fn() -> B>,
    }
}

impl<W, I, S, B> Future for Idle<W, S, B>
where
    W: Future<Output = Option<(Counted<I>, TaskGuard)>>,
    I: AsyncRead + AsyncWrite + WaitForRequest + Unpin + Send + 'static,
    S: AppService<B>,
    B: AppBody,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let woken = std::task::ready!(this.wait.poll(cx));
        let Some(service) = this.service.take() else {
            return Poll::Ready(());
        };
        match woken {
            Some((io, guard)) => {
                tokio::spawn(drive::<I, S, B>(io, service, guard));
            }
            None => debug!(peer = %service.info.peer, "idle keep-alive connection closed"),
        }
        Poll::Ready(())
    }
}

/// [`wait_for_request`] for an [`Idle`] connection: the stream and the
/// connection's place among the server's tasks back when a request comes,
/// `None` when the connection is to close.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would hold its arguments twice"
)]
fn wait_idle<I>(
    mut io: Counted<I>,
    guard: TaskGuard,
) -> impl Future<Output = Option<(Counted<I>, TaskGuard)>> + Send
where
    I: WaitForRequest + Send,
{
    async move {
        let mut shutdown = guard.0.shutdown.subscribe();
        let ready = wait_for_request(&mut io, &guard.0, &mut shutdown).await;
        ready.then_some((io, guard))
    }
}

/// Runs one round until hyper ends the connection, goes idle (and the
/// server's idle release says its buffers go), or the server shuts down.
async fn serve_round<I, S, B>(
    mut conn: Pin<&mut Round<I, S>>,
    peer: SocketAddr,
    phase: &Phase,
    shared: &Shared,
    shutdown: &mut watch::Receiver<bool>,
    force: &mut watch::Receiver<bool>,
) -> RoundEnd
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: AppService<B>,
    B: AppBody,
{
    let release = shared.config.release_idle_after;
    let mut closing = false;
    // Armed while hyper is parked, when the release waits a while.
    let mut linger: Option<Pin<Box<Sleep>>> = None;
    // Held while armed: once `max_lingering` connections linger, a new
    // client's connection releases at once (a regular client's lingers).
    let mut place: Option<LingerPlace<'_>> = None;
    loop {
        let step = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = conn.as_mut().poll(cx) {
                return Poll::Ready(Step::Ended(result));
            }
            if closing || !phase.is_parked() {
                place = None;
                return Poll::Pending;
            }
            let Some(after) = release else {
                return Poll::Pending;
            };
            if place.is_none() {
                if after.is_zero() {
                    return Poll::Ready(Step::Idle);
                }
                let Some(taken) = shared.lingering.place_for(phase.is_regular()) else {
                    return Poll::Ready(Step::Idle);
                };
                place = Some(taken);
                let deadline = Instant::now() + after;
                match &mut linger {
                    Some(sleep) => sleep.as_mut().reset(deadline),
                    None => linger = Some(Box::pin(tokio::time::sleep_until(deadline))),
                }
            }
            match &mut linger {
                Some(sleep) => sleep.as_mut().poll(cx).map(|()| Step::Idle),
                None => Poll::Pending,
            }
        });
        let step = tokio::select! {
            biased;
            step = step => step,
            () = raised(shutdown), if !closing => Step::Shutdown,
            () = raised(force), if closing => Step::Forced,
        };
        match step {
            Step::Ended(result) => {
                if let Err(err) = result {
                    debug!(%peer, %err, "connection error");
                }
                return RoundEnd::Over;
            }
            Step::Shutdown => {
                closing = true;
                phase.close();
                conn.as_mut().graceful_shutdown();
            }
            Step::Forced => {
                debug!(%peer, "connection dropped at the shutdown deadline");
                return RoundEnd::Over;
            }
            Step::Idle => {
                phase.recycle();
                conn.as_mut().graceful_shutdown();
                // hyper ends an idle connection at once. One that turns out
                // to be mid-exchange (a request body still coming in) only
                // loses its keep-alive: it finishes that exchange and closes.
                match std::future::poll_fn(|cx| Poll::Ready(conn.as_mut().poll(cx))).await {
                    Poll::Ready(Ok(())) => return RoundEnd::Idle,
                    Poll::Ready(Err(err)) => {
                        debug!(%peer, %err, "connection error");
                        return RoundEnd::Over;
                    }
                    Poll::Pending => {
                        closing = true;
                        phase.close();
                    }
                }
            }
        }
    }
}

/// Waits for the first bytes of a keep-alive connection's next request,
/// with no HTTP buffers held, at most the header read timeout. `false`
/// when the connection is to close: the client closed it, the wait timed
/// out, or the server shuts down.
async fn wait_for_request<I>(
    io: &mut Counted<I>,
    shared: &Shared,
    shutdown: &mut watch::Receiver<bool>,
) -> bool
where
    I: WaitForRequest,
{
    let timeout = shared.config.header_read_timeout;
    let ready = {
        let stream = io.stream_mut();
        let ready = std::future::poll_fn(|cx| stream.poll_next_request(cx));
        let ready = async {
            match timeout {
                Some(timeout) => tokio::time::timeout(timeout, ready).await.ok(),
                None => Some(ready.await),
            }
        };
        tokio::select! {
            biased;
            () = raised(shutdown) => None,
            ready = ready => ready.and_then(Result::ok),
        }
    };
    match ready {
        Some(None) => true,
        Some(Some(bytes)) if !bytes.is_empty() => {
            io.unread(bytes);
            true
        }
        _ => false,
    }
}

/// Adapts a tower `Service` to hyper's, adding [`ConnectionInfo`] to requests.
struct HyperService<S> {
    /// Boxed so that hyper's connection is `Unpin` whatever `S` is: the
    /// connection task moves the stream out of it between rounds.
    inner: Box<S>,
    info: ConnectionInfo,
    phase: Arc<Phase>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for HyperService<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = ReadyThenCall<S, Request<Incoming>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(self.info);
        ReadyThenCall {
            service: S::clone(&self.inner),
            req: Some(req),
            call: None,
            phase: Arc::clone(&self.phase),
        }
    }
}

pin_project_lite::pin_project! {
    /// Waits for the tower service to be ready, then calls it: hyper's
    /// `Service` has no `poll_ready`. A named future rather than a boxed
    /// `async` block, which cost an allocation per request. Its answer
    /// tells the connection's [`Phase`] that a response is on its way.
    pub(crate) struct ReadyThenCall<S: Service<R>, R> {
        service: S,
        req: Option<R>,
        #[pin]
        call: Option<S::Future>,
        phase: Arc<Phase>,
    }
}

impl<S: Service<R>, R> Future for ReadyThenCall<S, R> {
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.call.is_none() {
            if let Err(e) = std::task::ready!(this.service.poll_ready(cx)) {
                return Poll::Ready(Err(e));
            }
            let Some(req) = this.req.take() else {
                // Polled again after it completed: nothing left to call.
                return Poll::Pending;
            };
            this.call.set(Some(this.service.call(req)));
        }
        match this.call.as_pin_mut() {
            Some(call) => {
                let answer = std::task::ready!(call.poll(cx));
                if answer.is_ok() {
                    this.phase.responded();
                }
                Poll::Ready(answer)
            }
            None => Poll::Pending,
        }
    }
}

/// A connection's places under the caps: the total, and its address's.
/// Held only to be dropped with the connection.
pub(super) struct Places {
    _permit: OwnedSemaphorePermit,
    _address: Option<AddressGuard>,
}

#[cfg(test)]
#[path = "conn_sizes_tests.rs"]
mod sizes_tests;
