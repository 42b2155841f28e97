//! A ready-made HTTP/1.1 server: several listeners (plain TCP and TLS) serving
//! one shared [`tower_service::Service`], with graceful shutdown.
//!
//! ```no_run
//! # use std::{convert::Infallible, future::Ready, task::{Context, Poll}};
//! use sockeye_engine::serve::{Server, TlsConfig};
//! # #[derive(Clone)]
//! # struct Hello;
//! # impl tower_service::Service<http::Request<hyper::body::Incoming>> for Hello {
//! #     type Response = http::Response<String>;
//! #     type Error = Infallible;
//! #     type Future = Ready<Result<Self::Response, Infallible>>;
//! #     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
//! #         Poll::Ready(Ok(()))
//! #     }
//! #     fn call(&mut self, _: http::Request<hyper::body::Incoming>) -> Self::Future {
//! #         std::future::ready(Ok(http::Response::new("hello".to_owned())))
//! #     }
//! # }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
//! let handle = Server::builder()
//!     .listen("0.0.0.0:8080".parse()?)
//!     .listen_tls("0.0.0.0:8443".parse()?, tls)
//!     .on_shutdown(|| println!("closing sessions"))
//!     .serve(Hello)
//!     .await?;
//! for bound in handle.local_addrs() {
//!     println!("listening on {} (tls: {})", bound.addr, bound.tls);
//! }
//! tokio::signal::ctrl_c().await?;
//! handle.shutdown();
//! println!("{:?}", handle.wait().await);
//! # Ok(())
//! # }
//! ```
//!
//! Every connection is served by hyper's HTTP/1.1 server with upgrades enabled,
//! so WebSocket upgrades (`hyper::upgrade::on`) work over plain TCP and TLS
//! alike. Each request carries a [`ConnectionInfo`] in its extensions.
//!
//! Shutdown ([`ServerHandle::shutdown`]) closes every listener at once, runs
//! the shutdown hooks, asks every open HTTP connection to finish its in-flight
//! request and close, and after the shutdown timeout drops whatever is still
//! open. Connections that were upgraded (WebSockets) are no longer hyper's:
//! they are not waited for, and closing them is the hooks' job.

mod conn;
mod linger;
mod per_address;
mod stream;
mod tls;

#[cfg(test)]
mod tests;

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower_service::Service;
use tracing::{debug, warn};

pub use tls::TlsConfig;

type BoxError = Box<dyn StdError + Send + Sync>;
type Hook = Box<dyn FnOnce() + Send + 'static>;

/// hyper's default header count, kept on the stack.
const DEFAULT_MAX_HEADERS: usize = 100;

/// Pause after an accept error such as `EMFILE` before accepting again.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// Errors from building TLS configuration or binding a [`Server`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// [`ServerBuilder::bind`] was called without any listener.
    #[error("no listener configured: call `listen` or `listen_tls` first")]
    NoListeners,
    /// [`ServerBuilder::bind`] was not called from within a Tokio runtime.
    #[error("the server must be bound from within a Tokio runtime")]
    NoRuntime,
    /// A certificate or key file could not be read.
    #[error("cannot read TLS {what} file {}: {source}", path.display())]
    ReadFile {
        /// `"certificate"` or `"private key"`.
        what: &'static str,
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The certificate or key PEM is malformed.
    #[error("malformed {what} PEM: {source}")]
    InvalidPem {
        /// `"certificate"` or `"private key"`.
        what: &'static str,
        /// The PEM parser's error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The certificate PEM holds no `CERTIFICATE` section.
    #[error("no certificate found in PEM (expected a `-----BEGIN CERTIFICATE-----` section)")]
    NoCertificate,
    /// The key PEM holds no private key section.
    #[error(
        "no private key found in PEM (expected a `PRIVATE KEY`, `RSA PRIVATE KEY` or \
         `EC PRIVATE KEY` section)"
    )]
    NoPrivateKey,
    /// The private key is not the one the (first) certificate was issued for.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,
    /// rustls rejected the certificate or key (bad encoding, unsupported key type, ...).
    #[error("invalid TLS certificate or key: {0}")]
    Tls(#[source] rustls::Error),
}

/// Facts about the connection a request arrived on, inserted into every
/// request's extensions (`req.extensions().get::<ConnectionInfo>()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionInfo {
    /// The remote peer's address.
    pub peer: SocketAddr,
    /// The local address the connection was accepted on.
    pub local: SocketAddr,
    /// Whether the connection is TLS (`https` / `wss`).
    pub tls: bool,
}

/// An address a [`Server`] listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BoundAddr {
    /// The bound address, with the real port when port 0 was asked for.
    pub addr: SocketAddr,
    /// Whether this listener speaks TLS.
    pub tls: bool,
}

/// How a shutdown ended, as reported by [`ServerHandle::wait`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownOutcome {
    /// Every connection finished before the shutdown timeout.
    Graceful,
    /// The shutdown timeout expired and the remaining connections were dropped.
    Forced {
        /// How many connections were still open at the deadline.
        connections: usize,
    },
}

#[derive(Clone, Copy, Debug)]
struct Config {
    header_read_timeout: Option<Duration>,
    release_idle_after: Option<Duration>,
    max_lingering: usize,
    max_headers: usize,
    max_header_size: usize,
    tls_handshake_timeout: Duration,
    max_connections: usize,
    max_connections_per_address: Option<usize>,
    ipv6_address_prefix: u8,
    shutdown_timeout: Duration,
}

/// Configures and binds a [`Server`]; made by [`Server::builder`].
pub struct ServerBuilder {
    listeners: Vec<(SocketAddr, Option<TlsConfig>)>,
    config: Config,
    hooks: Vec<Hook>,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let listeners: Vec<_> = self
            .listeners
            .iter()
            .map(|(a, t)| (a, t.is_some()))
            .collect();
        f.debug_struct("ServerBuilder")
            .field("listeners", &listeners)
            .field("config", &self.config)
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerBuilder {
    /// A builder with no listener and the default limits: header read timeout
    /// 30 s, 100 headers of 64 KiB in all, TLS handshake timeout 10 s,
    /// 100 000 connections, shutdown timeout 30 s.
    pub fn new() -> Self {
        Self {
            listeners: Vec::new(),
            config: Config {
                header_read_timeout: Some(Duration::from_secs(30)),
                release_idle_after: Some(linger::DEFAULT_RELEASE_IDLE_AFTER),
                max_lingering: linger::DEFAULT_MAX_LINGERING,
                max_headers: DEFAULT_MAX_HEADERS,
                max_header_size: 64 * 1024,
                tls_handshake_timeout: Duration::from_secs(10),
                max_connections: 100_000,
                max_connections_per_address: None,
                ipv6_address_prefix: crate::address::DEFAULT_IPV6_PREFIX,
                shutdown_timeout: Duration::from_secs(30),
            },
            hooks: Vec::new(),
        }
    }

    /// Adds a plain HTTP listener on `addr` (port 0 picks a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listeners.push((addr, None));
        self
    }

    /// Adds an HTTPS listener on `addr` (port 0 picks a free port).
    pub fn listen_tls(mut self, addr: SocketAddr, tls: TlsConfig) -> Self {
        self.listeners.push((addr, Some(tls)));
        self
    }

    /// How long a client may take to send a request's headers, including the
    /// wait for the next request on an idle keep-alive connection; `None`
    /// disables it. Default 30 s.
    pub fn header_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.header_read_timeout = timeout.into();
        self
    }

    /// The most header fields a request may have (default 100, hyper's).
    /// A request with more is answered `431 Request Header Fields Too
    /// Large` and its connection closed. Any other value than the default
    /// costs hyper a heap allocation per request.
    pub fn max_headers(mut self, max: usize) -> Self {
        self.config.max_headers = max.max(1);
        self
    }

    /// The most bytes a request's head (request line and headers) may take
    /// (default 64 KiB; at least 1 KiB). Over it: `431`, connection closed.
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.config.max_header_size = bytes.max(1024);
        self
    }

    /// How long a client may take to complete the TLS handshake. Default 10 s.
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.tls_handshake_timeout = timeout;
        self
    }

    /// The most connections open at once, across all listeners (at least 1),
    /// upgraded ones included: when reached, accepting pauses until one closes.
    /// Default 100 000.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = max.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    /// The most connections open at once from one client IP address
    /// (default `None`: no cap), upgraded ones included. A connection over
    /// it is closed as soon as it is accepted, before anything is read; the
    /// first refusal is logged (warn) until the address goes under its cap
    /// again, and every one is counted
    /// ([`ServerHandle::connections_refused_per_address`]). Behind a
    /// reverse proxy every client has the proxy's address: leave it off
    /// there. Sessions per address are capped by
    /// `EngineConfig::with_max_connections_per_address`. IPv6 addresses
    /// are counted by prefix ([`ServerBuilder::ipv6_address_prefix`]).
    pub fn max_connections_per_address(mut self, max: Option<usize>) -> Self {
        self.config.max_connections_per_address = max.map(|m| m.max(1));
        self
    }

    /// How many leading bits of an IPv6 address name one client for
    /// [`ServerBuilder::max_connections_per_address`] (default 64, at most
    /// 128): every address of a prefix shares one count, since a client
    /// usually holds a whole /64. IPv4 addresses are counted one by one and
    /// an IPv4-mapped IPv6 address as its IPv4 address. Values over 128
    /// count as 128 (every IPv6 address on its own).
    pub fn ipv6_address_prefix(mut self, bits: u8) -> Self {
        self.config.ipv6_address_prefix = bits.min(crate::address::MAX_IPV6_PREFIX);
        self
    }

    /// How long shutdown waits for in-flight connections before dropping them.
    /// Default 30 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// Registers `hook` to run once, when shutdown starts, right after the
    /// listeners are told to stop; hooks run in the order added, on the thread
    /// that calls [`ServerHandle::shutdown`], so they should not block. Use it
    /// to close what hyper no longer tracks, such as upgraded WebSockets.
    pub fn on_shutdown(mut self, hook: impl FnOnce() + Send + 'static) -> Self {
        self.hooks.push(Box::new(hook));
        self
    }

    /// Binds every listener, so that [`Server::local_addrs`] is known before
    /// serving. Must be called from within a Tokio runtime; the server's tasks
    /// are spawned on that runtime.
    pub async fn bind(self) -> Result<Server, ServeError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ServeError::NoRuntime)?;
        if self.listeners.is_empty() {
            return Err(ServeError::NoListeners);
        }
        let mut listeners = Vec::with_capacity(self.listeners.len());
        for (addr, tls) in self.listeners {
            let bind_err = |source| ServeError::Bind { addr, source };
            let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
            let bound = BoundAddr {
                addr: listener.local_addr().map_err(bind_err)?,
                tls: tls.is_some(),
            };
            listeners.push((listener, bound, tls.map(|t| t.acceptor())));
        }
        let addrs = listeners.iter().map(|(_, bound, _)| *bound).collect();
        Ok(Server {
            listeners,
            addrs,
            config: self.config,
            hooks: self.hooks,
            runtime,
        })
    }

    /// Binds every listener and starts serving `service`: shorthand for
    /// [`bind`](Self::bind) then [`Server::serve`].
    pub async fn serve<S, B>(self, service: S) -> Result<ServerHandle, ServeError>
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Ok(self.bind().await?.serve(service))
    }
}

/// A server whose listeners are bound but not yet accepting.
pub struct Server {
    listeners: Vec<(TcpListener, BoundAddr, Option<TlsAcceptor>)>,
    addrs: Arc<[BoundAddr]>,
    config: Config,
    hooks: Vec<Hook>,
    runtime: tokio::runtime::Handle,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.addrs)
            .field("config", &self.config)
            .field("hooks", &self.hooks.len())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts configuring a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    /// The bound addresses, in the order the listeners were added.
    pub fn local_addrs(&self) -> &[BoundAddr] {
        &self.addrs
    }

    /// Starts accepting on every listener and returns the handle that stops
    /// it; dropping the handle does not stop the server. Every request is
    /// served by its own clone of `service` (`poll_ready`, then `call`), so
    /// state shared by all listeners and connections lives behind the clones
    /// (an `Arc`).
    pub fn serve<S, B>(self, service: S) -> ServerHandle
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let Server {
            listeners,
            addrs,
            config,
            hooks,
            runtime,
        } = self;
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .max_header_size(config.max_header_size);
        if config.max_headers != DEFAULT_MAX_HEADERS {
            http.max_headers(config.max_headers);
        }
        let (outcome_tx, outcome_rx) = watch::channel(None);
        let shared = Arc::new(Shared {
            shutdown: watch::Sender::new(false),
            force: watch::Sender::new(false),
            active: watch::Sender::new(0),
            hooks: Mutex::new(hooks),
            permits: Arc::new(Semaphore::new(config.max_connections)),
            per_address: config.max_connections_per_address.map(|max| {
                Arc::new(per_address::AddressCap::new(
                    max,
                    config.ipv6_address_prefix,
                ))
            }),
            http,
            lingering: linger::Lingering::new(config.max_lingering),
            config,
        });
        for (listener, bound, acceptor) in listeners {
            let guard = TaskGuard::new(&shared);
            let task = conn::accept_loop(listener, bound, acceptor, service.clone(), guard);
            runtime.spawn(task);
        }
        runtime.spawn(supervise(Arc::clone(&shared), outcome_tx));
        ServerHandle {
            shared,
            outcome: outcome_rx,
            addrs,
        }
    }
}

/// Controls a running server: cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
    outcome: watch::Receiver<Option<ShutdownOutcome>>,
    addrs: Arc<[BoundAddr]>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addrs", &self.addrs)
            .field("shutting_down", &self.is_shutting_down())
            .field("outcome", &*self.outcome.borrow())
            .finish()
    }
}

impl ServerHandle {
    /// The bound addresses, in the order the listeners were added.
    pub fn local_addrs(&self) -> &[BoundAddr] {
        &self.addrs
    }

    /// Starts shutdown: every listener stops accepting, the shutdown hooks
    /// run, open connections finish their in-flight request and close, and
    /// those still open after the shutdown timeout are dropped. Only the
    /// first call has an effect.
    pub fn shutdown(&self) {
        let first = self
            .shared
            .shutdown
            .send_if_modified(|stopping| !std::mem::replace(stopping, true));
        if first {
            let hooks = match self.shared.hooks.lock() {
                Ok(mut hooks) => std::mem::take(&mut *hooks),
                Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
            };
            hooks.into_iter().for_each(|hook| hook());
        }
    }

    /// Connections closed at accept for going over
    /// [`ServerBuilder::max_connections_per_address`].
    pub fn connections_refused_per_address(&self) -> u64 {
        self.shared.per_address.as_ref().map_or(0, |c| c.refused())
    }

    /// Whether [`shutdown`](Self::shutdown) has been called.
    pub fn is_shutting_down(&self) -> bool {
        *self.shared.shutdown.borrow()
    }

    /// Waits until shutdown has finished: every listener closed and every
    /// connection done, or dropped at the shutdown timeout. Pending until
    /// [`shutdown`](Self::shutdown) is called.
    pub async fn wait(&self) -> ShutdownOutcome {
        let mut outcome = self.outcome.clone();
        let done = outcome
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|o| *o);
        // The supervisor only vanishes without reporting if its runtime stopped.
        done.unwrap_or(ShutdownOutcome::Forced { connections: 0 })
    }
}

struct Shared {
    shutdown: watch::Sender<bool>,
    force: watch::Sender<bool>,
    /// Accept loops plus connections not yet upgraded or closed.
    active: watch::Sender<usize>,
    hooks: Mutex<Vec<Hook>>,
    permits: Arc<Semaphore>,
    per_address: Option<Arc<per_address::AddressCap>>,
    http: http1::Builder,
    /// Idle connections keeping their HTTP buffers (`release_idle_after`).
    lingering: linger::Lingering,
    config: Config,
}

/// Counts a task in [`Shared::active`] for as long as it lives.
struct TaskGuard(Arc<Shared>);

impl TaskGuard {
    fn new(shared: &Arc<Shared>) -> Self {
        shared.active.send_modify(|n| *n += 1);
        Self(Arc::clone(shared))
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.active.send_modify(|n| *n = n.saturating_sub(1));
    }
}

async fn supervise(shared: Arc<Shared>, outcome: watch::Sender<Option<ShutdownOutcome>>) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut active = shared.active.subscribe();
    raised(&mut shutdown).await;
    let drain = active.wait_for(|n| *n == 0);
    let drained = tokio::time::timeout(shared.config.shutdown_timeout, drain)
        .await
        .is_ok();
    let result = if drained {
        ShutdownOutcome::Graceful
    } else {
        let connections = *active.borrow();
        warn!(
            connections,
            "shutdown timeout expired; dropping open connections"
        );
        shared.force.send_replace(true);
        let _ = active.wait_for(|n| *n == 0).await;
        ShutdownOutcome::Forced { connections }
    };
    debug!(?result, "server shut down");
    outcome.send_replace(Some(result));
}

/// Resolves once `flag` is (or already was) set.
async fn raised(flag: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which `Shared` prevents.
    let _ = flag.wait_for(|set| *set).await;
}
