//! The per-listener accept loop and the per-connection task.

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;
use tracing::{debug, error};

use super::per_address::AddressGuard;
use super::{ACCEPT_ERROR_BACKOFF, BoundAddr, BoxError, ConnectionInfo, Shared, TaskGuard, raised};

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
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
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
            inner: service.clone(),
            info,
        };
        let conn_guard = TaskGuard::new(shared);
        tokio::spawn(connection(
            stream,
            acceptor.clone(),
            service,
            Places {
                _permit: permit,
                _address: address,
            },
            conn_guard,
        ));
    }
    debug!(addr = %bound.addr, "listener closed");
}

async fn connection<S, B>(
    stream: TcpStream,
    acceptor: Option<TlsAcceptor>,
    service: HyperService<S>,
    permit: Places,
    guard: TaskGuard,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let shared = &guard.0;
    let Some(acceptor) = acceptor else {
        return drive(Counted::new(stream, permit), service, shared).await;
    };
    let peer = service.info.peer;
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
    drive(Counted::new(stream, permit), service, shared).await;
}

/// Serves one connection until it closes, is upgraded, or is dropped at the
/// shutdown deadline.
async fn drive<I, S, B>(io: I, service: HyperService<S>, shared: &Shared)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let peer = service.info.peer;
    let mut shutdown = shared.shutdown.subscribe();
    let mut force = shared.force.subscribe();
    let conn = shared
        .http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut conn = pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = raised(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                result = conn.as_mut() => result,
                () = raised(&mut force) => {
                    debug!(%peer, "connection dropped at the shutdown deadline");
                    return;
                }
            }
        }
    };
    if let Err(err) = result {
        debug!(%peer, %err, "connection error");
    }
}

/// Adapts a tower `Service` to hyper's, adding [`ConnectionInfo`] to requests.
#[derive(Clone)]
struct HyperService<S> {
    inner: S,
    info: ConnectionInfo,
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
            service: self.inner.clone(),
            req: Some(req),
            call: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// Waits for the tower service to be ready, then calls it: hyper's
    /// `Service` has no `poll_ready`. A named future rather than a boxed
    /// `async` block, which cost an allocation per request.
    pub(crate) struct ReadyThenCall<S: Service<R>, R> {
        service: S,
        req: Option<R>,
        #[pin]
        call: Option<S::Future>,
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
            Some(call) => call.poll(cx),
            None => Poll::Pending,
        }
    }
}

/// A connection's places under the caps: the total, and its address's.
/// Held only to be dropped with the connection.
struct Places {
    _permit: OwnedSemaphorePermit,
    _address: Option<AddressGuard>,
}

/// An I/O stream holding its connection's places for as long as it lives,
/// even after hyper hands it over to an upgrade.
struct Counted<T> {
    io: T,
    _permit: Places,
}

impl<T> Counted<T> {
    fn new(io: T, permit: Places) -> Self {
        Self {
            io,
            _permit: permit,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
