//! [`SocketIo`]: the server handle, and its builder.

use crate::client::SioHandler;
use crate::client_files::ClientFiles;
use crate::deadlines::ConnectDeadlines;
pub use crate::dynamic::ParentNamespace;
use crate::dynamic::{Matcher, ParentInner};
use crate::error::{EmitError, Error};
use crate::namespace::{ConnectError, Namespace};
use crate::operators::BroadcastOperator;
use crate::rate_limit::{Limits, RateLimit};
use crate::rooms::IntoRooms;
use crate::service::{SocketIoLayer, SocketIoService};
use crate::socket::Socket;
use crate::stats::{Counters, Stats};
use parking_lot::RwLock;
use serde::Serialize;
use sockeye_adapter::{AdapterFactory, LocalAdapter};
use sockeye_engine::{Engine, EngineConfig, EngineError, EngineService, ListenerId};
use sockeye_proto::Str;
use sockeye_proto::sio::{DecodeLimits, Parser, Value};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Options of the Socket.IO layer, shared by its namespaces.
pub(crate) struct Config {
    pub parser: Parser,
    pub ack_timeout: Duration,
    pub max_pending_acks: usize,
    /// Attachments, attachment bytes and nesting of incoming packets.
    pub decode_limits: DecodeLimits,
    pub max_dynamic_namespaces: usize,
    pub max_rooms_per_socket: usize,
    pub rate_limits: Limits,
    pub stats: Counters,
    /// Activity counters, when metrics are on.
    pub activity: Option<crate::activity::Activity>,
    pub adapter: AdapterFactory,
    pub cleanup_empty_child_namespaces: bool,
    pub recovery: Option<sockeye_adapter::RecoveryConfig>,
    /// The `on_disconnect` handlers running now (waited for by
    /// [`SocketIo::close`]).
    pub disconnect_tasks: Arc<crate::shutdown::DisconnectTasks>,
}

/// Default cap on the namespaces that dynamic parents create from client
/// CONNECTs.
pub const DEFAULT_MAX_DYNAMIC_NAMESPACES: usize = 1000;

/// Default cap on the rooms one socket may be in (its own room aside).
pub const DEFAULT_MAX_ROOMS_PER_SOCKET: usize = 1000;

pub(crate) struct ServerInner {
    pub config: Arc<Config>,
    pub(crate) namespaces: RwLock<HashMap<Str, Namespace>>,
    pub(crate) parents: RwLock<Vec<ParentNamespace>>,
    pub connect_deadlines: Arc<ConnectDeadlines>,
    engine: OnceLock<Engine>,
    client_files: Option<Arc<ClientFiles>>,
    /// Children of dynamic parents alive now.
    pub(crate) dynamic_count: AtomicUsize,
    /// Listeners of `new_namespace`.
    pub(crate) new_namespace: crate::server_events::NewNamespaceListeners,
}

/// Node's `Server` (`const io = new Server()`): the Socket.IO server: a cheap, clonable handle usable from any task.
///
/// The methods that emit or select sockets act on the main namespace `/`,
/// as in the reference (`io.emit(...)` is `io.of("/").emit(...)`).
#[derive(Clone)]
pub struct SocketIo(pub(crate) Arc<ServerInner>);

impl fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIo")
            .field("namespaces", &self.0.namespaces.read().len())
            .finish()
    }
}

impl SocketIo {
    /// Node's `new Server(opts)`: a builder with the reference's defaults (path `/socket.io/`, connect
    /// timeout 45 s, JSON parser, in-memory adapter).
    pub fn builder() -> SocketIoBuilder {
        SocketIoBuilder::default()
    }

    /// Node's `io.engine`: the Engine.IO engine underneath.
    pub fn engine(&self) -> &Engine {
        self.0
            .engine
            .get()
            .expect("the engine is set when the server is built")
    }

    /// Node's `io.attach(httpServer)`, as a tower service: a tower service answering the Socket.IO path (and the client files
    /// with [`SocketIoBuilder::serve_client`]), 404 elsewhere.
    pub fn service(&self) -> SocketIoService {
        SocketIoService::new(
            EngineService::new(self.engine().clone()),
            self.0.client_files.clone(),
        )
    }

    /// Node's `io.attach(httpServer)`, as a tower layer: a tower layer that puts the server in front of another service (an
    /// axum `Router`, for example).
    pub fn layer(&self) -> SocketIoLayer {
        SocketIoLayer::new(self.engine().clone(), self.0.client_files.clone())
    }

    /// Node's `io.of(name)`: the namespace with this name, created if needed (a missing leading
    /// `/` is added).
    pub fn of(&self, name: &str) -> Namespace {
        let name = if name.starts_with('/') {
            Str::from(name.to_owned())
        } else {
            Str::from(format!("/{name}"))
        };
        if let Some(ns) = self.0.namespaces.read().get(&name) {
            // Server code holds it now: a refused CONNECT must not remove it.
            ns.0.joins.pin();
            return ns.clone();
        }
        // A name a regex parent matches becomes its child, as in the
        // reference (predicate parents are async and only consulted on
        // CONNECT).
        let parents = self.0.parents.read().clone();
        for parent in parents {
            if let Matcher::Regex(re) = &parent.0.matcher {
                if re.is_match(&name) {
                    // Server code is not capped: `None` is never returned.
                    if let Some(child) = self.0.create_child(&parent, &name, None) {
                        return child;
                    }
                }
            }
        }
        let (ns, created) = {
            let mut namespaces = self.0.namespaces.write();
            match namespaces.entry(name) {
                Entry::Occupied(e) => (e.get().clone(), false),
                Entry::Vacant(e) => {
                    let ns = Namespace::new(e.key().clone(), self.0.config.clone());
                    (e.insert(ns).clone(), true)
                }
            }
        };
        if created && ns.name() != "/" {
            self.0.namespace_created(&ns);
        }
        ns
    }

    /// Node's `io.of(/regex/)`: a dynamic namespace for every name the regex matches.
    pub fn of_regex(&self, regex: regex::Regex) -> ParentNamespace {
        self.add_parent(Matcher::Regex(regex))
    }

    /// Node's `io.of((name, auth, next) => ...)`: a dynamic namespace decided by an async predicate over the name and
    /// the CONNECT auth payload.
    pub fn of_fn<F, Fut>(&self, predicate: F) -> ParentNamespace
    where
        F: Fn(&str, &Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.add_parent(Matcher::Predicate(Arc::new(move |n, a| {
            Box::pin(predicate(n, a))
        })))
    }

    fn add_parent(&self, matcher: Matcher) -> ParentNamespace {
        let n = self.0.parents.read().len();
        let template = Namespace::new(Str::from(format!("/_{n}")), self.0.config.clone());
        let parent = ParentNamespace(Arc::new(ParentInner {
            matcher,
            template,
            children: RwLock::new(Vec::new()),
        }));
        self.0.parents.write().push(parent.clone());
        parent
    }

    /// Node's `io.on("connection", (socket) => ...)`: a connection handler
    /// of the main namespace (see [`Namespace::on_connection`]).
    pub fn on_connection<F, Fut>(&self, handler: F) -> ListenerId
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.of("/").on_connection(handler)
    }

    /// Node's `io.use(...)`: a connect middleware of the main namespace
    /// (see [`Namespace::use_middleware`]).
    pub fn use_middleware<F, Fut>(&self, middleware: F) -> ListenerId
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        self.of("/").use_middleware(middleware)
    }

    /// Node's `io.emit(ev, data)`: emits to every socket of the main namespace.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.of("/").emit(event, data)
    }

    /// Node's `io.sockets` as a broadcast operator (for `emit_args`, `fetchSockets`, `socketsJoin`...): a broadcast on the main namespace.
    pub fn broadcast(&self) -> BroadcastOperator {
        self.of("/").broadcast()
    }

    /// Node's `io.to(room)`: a broadcast to rooms of the main namespace.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// Node's `io.in(room)`: same as [`SocketIo::to`].
    pub fn within(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.to(rooms)
    }

    /// Node's `io.except(room)`: a broadcast skipping rooms.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().except(rooms)
    }

    /// Node's `io.local`: a broadcast to this node only.
    pub fn local(&self) -> BroadcastOperator {
        self.broadcast().local()
    }

    /// Node's `io.volatile`: a volatile broadcast.
    pub fn volatile(&self) -> BroadcastOperator {
        self.broadcast().volatile()
    }

    /// Node's `io.timeout(ms)`: a broadcast with an acknowledgement timeout.
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperator {
        self.broadcast().timeout(timeout)
    }

    /// Node's `io.on(ev, listener)` for `serverSideEmit` events: listens to events that other nodes send with
    /// [`SocketIo::server_side_emit`] on the main namespace.
    pub fn on_server_side(
        &self,
        event: impl Into<String>,
        f: impl Fn(Vec<serde_json::Value>) + Send + Sync + 'static,
    ) {
        self.of("/").on_server_side(event, f);
    }

    /// Node's `io.on(ev, (...args, ack) => ...)` for `serverSideEmitWithAck` events: listens to events that other nodes send with an ack on the main
    /// namespace (see [`Namespace::on_server_side_with_ack`]).
    pub fn on_server_side_with_ack(
        &self,
        event: impl Into<String>,
        f: impl Fn(Vec<serde_json::Value>, sockeye_adapter::ServerSideAck) + Send + Sync + 'static,
    ) {
        self.of("/").on_server_side_with_ack(event, f);
    }

    /// Node's `io.serverSideEmit(ev, data)`: sends an event to the other nodes of the cluster (main namespace).
    pub fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), sockeye_adapter::AdapterError> {
        self.of("/").server_side_emit(event, data)
    }

    /// Node's `io.serverSideEmitWithAck(ev, data)`: sends an event to the other nodes and collects one answer per node
    /// within `timeout`.
    pub async fn server_side_emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> Result<Vec<serde_json::Value>, sockeye_adapter::AdapterError> {
        self.of("/")
            .server_side_emit_with_ack(event, data, timeout)
            .await
    }

    /// How often each bound and rate limit tripped since the server was
    /// built (counters that only grow; cheap to call).
    pub fn stats(&self) -> Stats {
        self.0.config.stats.snapshot()
    }

    /// What the Socket.IO layer did (connects, disconnects by reason,
    /// broadcasts, acknowledgements, adapter requests), when
    /// [`SocketIoBuilder::metrics`] is on; the engine's own counters are
    /// [`Engine::metrics`].
    pub fn metrics(&self) -> Option<crate::Metrics> {
        self.0.config.activity.as_ref().map(|a| a.snapshot())
    }
}

/// Node's `ServerOptions`: builds a [`SocketIo`].
pub struct SocketIoBuilder {
    engine: EngineConfig,
    connect_timeout: Duration,
    parser: Parser,
    ack_timeout: Duration,
    max_pending_acks: usize,
    decode_limits: DecodeLimits,
    max_dynamic_namespaces: usize,
    max_rooms_per_socket: usize,
    rate_limits: Limits,
    adapter: Option<AdapterFactory>,
    cleanup_empty_child_namespaces: bool,
    recovery: Option<sockeye_adapter::RecoveryConfig>,
    serve_client: Option<PathBuf>,
}

impl fmt::Debug for SocketIoBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIoBuilder")
            .field("engine", &self.engine)
            .field("connect_timeout", &self.connect_timeout)
            .field("parser", &self.parser)
            .finish_non_exhaustive()
    }
}

impl Default for SocketIoBuilder {
    fn default() -> Self {
        SocketIoBuilder {
            engine: EngineConfig::default().with_path("/socket.io/"),
            connect_timeout: Duration::from_secs(45),
            parser: Parser::Json,
            ack_timeout: Duration::from_secs(10),
            max_pending_acks: 1024,
            decode_limits: DecodeLimits::default(),
            max_dynamic_namespaces: DEFAULT_MAX_DYNAMIC_NAMESPACES,
            max_rooms_per_socket: DEFAULT_MAX_ROOMS_PER_SOCKET,
            rate_limits: Limits::default(),
            adapter: None,
            cleanup_empty_child_namespaces: false,
            recovery: None,
            serve_client: None,
        }
    }
}

impl SocketIoBuilder {
    /// Changes the Engine.IO options (every option of [`EngineConfig`]).
    pub fn engine(mut self, f: impl FnOnce(EngineConfig) -> EngineConfig) -> Self {
        self.engine = f(self.engine);
        self
    }

    /// Node's option `path`: the path (default `/socket.io/`).
    pub fn path(self, path: impl Into<String>) -> Self {
        self.engine(|c| c.with_path(path))
    }

    /// Node's option `pingInterval`: heartbeat interval (default 25 s).
    pub fn ping_interval(self, d: Duration) -> Self {
        self.engine(|c| c.with_ping_interval(d))
    }

    /// Node's option `pingTimeout`: heartbeat timeout (default 20 s).
    pub fn ping_timeout(self, d: Duration) -> Self {
        self.engine(|c| c.with_ping_timeout(d))
    }

    /// Node's option `maxHttpBufferSize`: largest message in bytes (default 1,000,000).
    pub fn max_payload(self, bytes: usize) -> Self {
        self.engine(|c| c.with_max_payload(bytes))
    }

    /// Node's option `connectTimeout`: how long a connection may stay without joining a namespace (default
    /// 45 s; zero is replaced by the default, as in the reference).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = if d.is_zero() {
            Duration::from_secs(45)
        } else {
            d
        };
        self
    }

    /// Node's option `parser`: the parser: JSON (default) or msgpack, as every client must use.
    pub fn parser(mut self, parser: Parser) -> Self {
        self.parser = parser;
        self
    }

    /// Default wait for acknowledgements (default 10 s; the reference has
    /// none, which lets pending acks pile up forever).
    pub fn ack_timeout(mut self, d: Duration) -> Self {
        self.ack_timeout = d;
        self
    }

    /// Most acknowledgements one socket may wait for at once (default
    /// 1024): an emit with ack over it fails at once with
    /// [`crate::AckError::TooManyPending`], and a broadcast with ack skips
    /// the socket (reported missing). Each pending ack ends at its timeout.
    pub fn max_pending_acks(mut self, n: usize) -> Self {
        self.max_pending_acks = n.max(1);
        self
    }

    /// Most binary attachments in one packet (default 10, as the
    /// reference). A packet announcing more closes the connection
    /// (`parse error`).
    pub fn max_attachments(mut self, n: usize) -> Self {
        self.decode_limits = self.decode_limits.max_attachments(n);
        self
    }

    /// Most bytes in the binary attachments of one packet together
    /// (default 10 MB; each one is also bounded by
    /// [`max_payload`](Self::max_payload)). Going over closes the
    /// connection (`parse error`). Applies to the default parser's binary
    /// attachments; with [`crate::Parser::MsgPack`] binary data is inside the
    /// packet, bounded by `max_payload` alone.
    pub fn max_attachment_bytes(mut self, bytes: usize) -> Self {
        self.decode_limits = self.decode_limits.max_attachment_bytes(bytes);
        self
    }

    /// Deepest nesting of arrays and objects in an incoming payload, with
    /// either parser (default 64: `["ev",{"a":[1]}]` is 3 deep; at most
    /// 127, the recursion limit of serde_json). A deeper payload closes the
    /// connection (`parse error`) without being parsed further, so no
    /// input can exhaust the stack.
    pub fn max_payload_depth(mut self, depth: usize) -> Self {
        self.decode_limits = self.decode_limits.max_depth(depth);
        self
    }

    /// Most namespaces that dynamic parents ([`SocketIo::of_regex`],
    /// [`SocketIo::of_fn`]) may have created from client CONNECTs and not
    /// yet removed (default 1000). A CONNECT that would create one more
    /// gets a `connect_error` with the message `Too many namespaces`;
    /// namespaces that exist already stay joinable. A child whose CONNECT
    /// was refused (by a connect middleware, or because the connection
    /// closed meanwhile) and that has no socket is removed at once. Without
    /// [`cleanup_empty_child_namespaces`](Self::cleanup_empty_child_namespaces)
    /// children that had a socket are never removed, so the cap can be
    /// reached for good by clients that pass the middlewares.
    /// [`SocketIo::of`] (server code) is never refused, though the children
    /// it creates count towards the cap. Parents are not asked about names
    /// longer than 1,024 bytes (`Invalid namespace`).
    pub fn max_dynamic_namespaces(mut self, n: usize) -> Self {
        self.max_dynamic_namespaces = n;
        self
    }

    /// Most rooms one socket may be in through [`Socket::join`], its own
    /// room aside (default 1000). A join that would go over joins nothing
    /// and is reported to the socket's error handlers
    /// ([`crate::SocketError::TooManyRooms`]);
    /// [`Socket::try_join`] returns it.
    pub fn max_rooms_per_socket(mut self, n: usize) -> Self {
        self.max_rooms_per_socket = n;
        self
    }

    /// Counts activity for a metrics exporter (default off, and then
    /// free): [`SocketIo::metrics`] and [`Engine::metrics`] (with
    /// [`EngineConfig::with_metrics`]). The `sockeye-metrics` crate exports
    /// them for Prometheus.
    pub fn metrics(self, on: bool) -> Self {
        self.engine(|c| c.with_metrics(on))
    }

    /// A rate limit on all the events of each socket (default none); see
    /// [`RateLimit`] for the policy when a client exceeds it.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limits.all = Some(limit);
        self
    }

    /// A rate limit on one event of each socket (default none), on top of
    /// [`rate_limit`](Self::rate_limit); setting it again for the same
    /// event replaces it.
    pub fn event_rate_limit(mut self, event: impl Into<String>, limit: RateLimit) -> Self {
        let event = event.into();
        self.rate_limits.events.retain(|(name, _)| *name != event);
        self.rate_limits.events.push((event, limit));
        self
    }

    /// Node's option `adapter`: the adapter factory (default: in memory).
    pub fn adapter(mut self, factory: AdapterFactory) -> Self {
        self.adapter = Some(factory);
        self
    }

    /// Node's option `connectionStateRecovery`: connection state recovery: a client that reconnects within the
    /// configured duration gets its socket id, rooms and data back, and the
    /// packets it missed. With the default adapter this switches to the
    /// in-memory adapter that keeps those (as the reference does).
    pub fn connection_state_recovery(mut self, config: sockeye_adapter::RecoveryConfig) -> Self {
        self.recovery = Some(config);
        self
    }

    /// Serves the official client bundles, as the reference's `serveClient`:
    /// `dist` is the `dist/` folder of the npm package `socket.io-client`
    /// (for example `node_modules/socket.io-client/dist`). Its files are
    /// read into memory when the server is built (a missing bundle or
    /// package.json fails [`build`](Self::build)) and answered at
    /// `<path>socket.io.js`, `socket.io.min.js`, `socket.io.esm.min.js`,
    /// `socket.io.msgpack.min.js` and their `.map`s, with the package
    /// version as ETag (304 on `If-None-Match`), `Cache-Control: public,
    /// max-age=0`, gzip when accepted and the engine's CORS headers.
    pub fn serve_client(mut self, dist: impl Into<PathBuf>) -> Self {
        self.serve_client = Some(dist.into());
        self
    }

    /// Node's option `cleanupEmptyChildNamespaces`: remove children of dynamic namespaces once their last socket left.
    pub fn cleanup_empty_child_namespaces(mut self, cleanup: bool) -> Self {
        self.cleanup_empty_child_namespaces = cleanup;
        self
    }

    /// Builds the server (the main namespace `/` exists from the start).
    pub fn build(self) -> Result<SocketIo, Error> {
        let client_files = match &self.serve_client {
            Some(dist) => Some(Arc::new(
                ClientFiles::load(dist, self.engine.path())
                    .map_err(|e| EngineError::Config(e.to_string()))?,
            )),
            None => None,
        };
        let config = Arc::new(Config {
            parser: self.parser,
            ack_timeout: self.ack_timeout,
            max_pending_acks: self.max_pending_acks,
            decode_limits: self.decode_limits,
            max_dynamic_namespaces: self.max_dynamic_namespaces,
            max_rooms_per_socket: self.max_rooms_per_socket,
            rate_limits: self.rate_limits,
            stats: Counters::default(),
            activity: self.engine.metrics_enabled().then(Default::default),
            adapter: self.adapter.unwrap_or_else(|| match self.recovery {
                Some(r) => LocalAdapter::factory_with_recovery(r),
                None => LocalAdapter::factory(),
            }),
            cleanup_empty_child_namespaces: self.cleanup_empty_child_namespaces,
            recovery: self.recovery,
            disconnect_tasks: Default::default(),
        });
        let inner = Arc::new(ServerInner {
            config,
            namespaces: RwLock::new(HashMap::new()),
            parents: RwLock::new(Vec::new()),
            connect_deadlines: Arc::new(ConnectDeadlines::new(self.connect_timeout)),
            engine: OnceLock::new(),
            client_files,
            dynamic_count: AtomicUsize::new(0),
            new_namespace: Default::default(),
        });
        let handler = SioHandler {
            server: inner.clone(),
        };
        let engine = Engine::new(self.engine, handler)?;
        let _ = inner.engine.set(engine);
        let io = SocketIo(inner);
        io.of("/");
        Ok(io)
    }
}
