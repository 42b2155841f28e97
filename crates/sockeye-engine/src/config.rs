//! [`EngineConfig`]: every option of the Engine.IO server, with the
//! reference server's defaults.

use crate::cookie::CookieConfig;
use crate::cors::{CorsConfig, OriginPolicy};
use crate::request::HandshakeRequest;
use http::HeaderMap;
use http::request::Parts;
use sockeye_proto::Str;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed, sendable future, as returned by [`AllowRequest`] hooks.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Decides whether a handshake may proceed. `Err(message)` refuses it with
/// HTTP 403 and `{"code":4,"message":<message>}` (`"Forbidden"` when the
/// message is empty). Called for handshakes only (polling and direct
/// WebSocket), never for requests of an existing session.
pub type AllowRequest =
    Arc<dyn Fn(&HandshakeRequest) -> BoxFuture<Result<(), String>> + Send + Sync>;

/// Chooses the id of a new session, from its handshake request (Node's
/// `engine.generateId`); see [`EngineConfig::with_generate_id`].
pub type GenerateId = Arc<dyn Fn(&HandshakeRequest) -> sockeye_proto::Sid + Send + Sync>;

/// A hook that may add headers to a response. It gets the request's parts
/// and the response headers built so far.
pub type HeadersHook = Arc<dyn Fn(&Parts, &mut HeaderMap) + Send + Sync>;

/// Which transports the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transports {
    /// HTTP long-polling.
    pub polling: bool,
    /// WebSocket.
    pub websocket: bool,
}

impl Default for Transports {
    fn default() -> Self {
        Transports {
            polling: true,
            websocket: true,
        }
    }
}

impl Transports {
    /// Parses a comma-separated list such as `polling,websocket`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut t = Transports {
            polling: false,
            websocket: false,
        };
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name {
                "polling" => t.polling = true,
                "websocket" => t.websocket = true,
                other => return Err(format!("unknown transport {other:?}")),
            }
        }
        if !t.polling && !t.websocket {
            return Err("at least one transport is needed".into());
        }
        Ok(t)
    }
}

/// HTTP compression of polling responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpCompression {
    /// Bodies shorter than this many bytes are sent as they are.
    pub threshold: usize,
}

impl Default for HttpCompression {
    fn default() -> Self {
        HttpCompression { threshold: 1024 }
    }
}

impl HttpCompression {
    /// Node's `httpCompression: { threshold }`: compress polling bodies of
    /// at least `bytes` bytes (default 1024).
    ///
    /// ```
    /// use sockeye_engine::{EngineConfig, HttpCompression};
    /// let config = EngineConfig::default()
    ///     .with_http_compression(Some(HttpCompression::with_threshold(4096)));
    /// # let _ = config;
    /// assert_eq!(HttpCompression::with_threshold(4096).threshold, 4096);
    /// ```
    pub fn with_threshold(bytes: usize) -> Self {
        HttpCompression { threshold: bytes }
    }
}

/// Node's engine.io `ServerOptions` and `AttachOptions`: the Engine.IO
/// server's options.
///
/// Built with `Default` and chained `with_*` setters; checked by
/// [`crate::Engine::new`], which refuses inconsistent options (for example a
/// cookie with `SameSite=None` but without `Secure`).
///
/// ```
/// use sockeye_engine::EngineConfig;
/// use std::time::Duration;
///
/// let config = EngineConfig::default()
///     .with_path("/realtime/")
///     .with_ping_interval(Duration::from_secs(10))
///     .with_max_payload(64 * 1024);
/// assert_eq!(config.path(), "/realtime/");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    pub(crate) path: String,
    pub(crate) transports: Transports,
    pub(crate) allow_upgrades: bool,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) upgrade_timeout: Duration,
    pub(crate) max_payload: usize,
    pub(crate) initial_packet: Option<Str>,
    pub(crate) http_compression: Option<HttpCompression>,
    pub(crate) allow_eio3: bool,
    pub(crate) cookie: Option<CookieConfig>,
    pub(crate) cors: Option<CorsConfig>,
    pub(crate) origin_policy: Option<OriginPolicy>,
    pub(crate) allow_request: Option<AllowRequest>,
    pub(crate) on_handshake_headers: Option<HeadersHook>,
    pub(crate) on_headers: Option<HeadersHook>,
    pub(crate) generate_id: Option<GenerateId>,
    pub(crate) max_buffered_packets: usize,
    pub(crate) max_buffered_bytes: usize,
    pub(crate) request_body_timeout: Duration,
    pub(crate) max_sessions: Option<usize>,
    pub(crate) max_connections_per_address: Option<usize>,
    pub(crate) max_handshakes_per_second_per_address: Option<u32>,
    pub(crate) ipv6_address_prefix: u8,
    pub(crate) close_grace: Duration,
    pub(crate) cluster: Option<crate::cluster::ClusterConfig>,
    pub(crate) metrics: Option<std::sync::Arc<crate::metrics::EngineMetrics>>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            path: "/engine.io/".into(),
            transports: Transports::default(),
            allow_upgrades: true,
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 1_000_000,
            initial_packet: None,
            http_compression: Some(HttpCompression::default()),
            allow_eio3: false,
            cookie: None,
            cors: None,
            origin_policy: None,
            allow_request: None,
            on_handshake_headers: None,
            on_headers: None,
            generate_id: None,
            max_buffered_packets: 10_000,
            max_buffered_bytes: 4 * 1024 * 1024,
            request_body_timeout: Duration::from_secs(10),
            max_sessions: None,
            max_connections_per_address: None,
            max_handshakes_per_second_per_address: None,
            ipv6_address_prefix: crate::address::DEFAULT_IPV6_PREFIX,
            close_grace: Duration::from_secs(30),
            cluster: None,
            metrics: None,
        }
    }
}

impl fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineConfig")
            .field("path", &self.path)
            .field("transports", &self.transports)
            .field("allow_upgrades", &self.allow_upgrades)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("upgrade_timeout", &self.upgrade_timeout)
            .field("max_payload", &self.max_payload)
            .field("initial_packet", &self.initial_packet)
            .field("http_compression", &self.http_compression)
            .field("allow_eio3", &self.allow_eio3)
            .field("cookie", &self.cookie)
            .field("cors", &self.cors)
            .field("origin_policy", &self.origin_policy)
            .field("allow_request", &self.allow_request.is_some())
            .field("generate_id", &self.generate_id.is_some())
            .field("max_buffered_packets", &self.max_buffered_packets)
            .field("max_buffered_bytes", &self.max_buffered_bytes)
            .field("request_body_timeout", &self.request_body_timeout)
            .field("max_sessions", &self.max_sessions)
            .field(
                "max_connections_per_address",
                &self.max_connections_per_address,
            )
            .field(
                "max_handshakes_per_second_per_address",
                &self.max_handshakes_per_second_per_address,
            )
            .field("ipv6_address_prefix", &self.ipv6_address_prefix)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl EngineConfig {
    /// The path the server answers under (default `/engine.io/`).
    ///
    /// As in the reference, matching is a prefix match on the request path:
    /// with `/engine.io/`, `/engine.io/?EIO=4` matches and `/engine.io?EIO=4`
    /// does not. A path given without a trailing slash (`/engine.io`) also
    /// matches `/engine.io?EIO=4` (the reference's `addTrailingSlash: false`).
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        let mut p: String = path.into();
        if !p.starts_with('/') {
            p.insert(0, '/');
        }
        self.path = p;
        self
    }

    /// The configured path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The transports accepted (default: polling and WebSocket).
    pub fn with_transports(mut self, transports: Transports) -> Self {
        self.transports = transports;
        self
    }

    /// Whether polling clients may upgrade to WebSocket (default true).
    pub fn with_allow_upgrades(mut self, allow: bool) -> Self {
        self.allow_upgrades = allow;
        self
    }

    /// Interval between server pings (default 25 s).
    pub fn with_ping_interval(mut self, d: Duration) -> Self {
        self.ping_interval = d;
        self
    }

    /// How long to wait for a pong after a ping (default 20 s).
    pub fn with_ping_timeout(mut self, d: Duration) -> Self {
        self.ping_timeout = d;
        self
    }

    /// How long an upgrading WebSocket may take to send `5` (default 10 s).
    pub fn with_upgrade_timeout(mut self, d: Duration) -> Self {
        self.upgrade_timeout = d;
        self
    }

    /// Largest polling body and WebSocket message, in bytes (default
    /// 1,000,000). Announced to clients as `maxPayload`.
    ///
    /// Checked before anything is buffered: a polling POST announcing more
    /// (`Content-Length`) is answered at once, a chunked one as soon as it
    /// goes over, with `413 Payload Too Large` and an empty body, as the
    /// reference; its data is dropped and the session lives on, as in
    /// engine.io up to 6.6.9 (6.6.13 also closes the session; the official
    /// clients close on the failed POST anyway, and a raw client may go
    /// on). Up to
    /// `max_payload` more bytes of the refused body are read and discarded
    /// (within [`EngineConfig::with_request_body_timeout`]) so that the
    /// client reads the 413 instead of a reset; a bigger body gets the 413
    /// with `Connection: close`. A WebSocket frame or message announcing more
    /// is refused from its header: the socket is closed with `1009` (message
    /// too big) and the session with `transport error`. Both are logged
    /// (warn) and counted in [`crate::EngineStats::payloads_too_large`].
    pub fn with_max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// A text message sent right after the `open` packet.
    pub fn with_initial_packet(mut self, message: impl Into<Str>) -> Self {
        self.initial_packet = Some(message.into());
        self
    }

    /// gzip/deflate compression of polling responses over a threshold, by
    /// `Accept-Encoding` (default on, 1024 bytes); `None` turns it off.
    pub fn with_http_compression(mut self, compression: Option<HttpCompression>) -> Self {
        self.http_compression = compression;
        self
    }

    /// Accept Engine.IO v3 clients (Socket.IO 2.x) as well (default false).
    /// Even then, only `EIO=3` and `EIO=4` are accepted.
    pub fn with_allow_eio3(mut self, allow: bool) -> Self {
        self.allow_eio3 = allow;
        self
    }

    /// Sets the session cookie (off by default); see [`CookieConfig`].
    pub fn with_cookie(mut self, cookie: Option<CookieConfig>) -> Self {
        self.cookie = cookie;
        self
    }

    /// CORS headers on polling responses and preflights (off by default).
    pub fn with_cors(mut self, cors: Option<CorsConfig>) -> Self {
        self.cors = cors;
        self
    }

    /// The CORS options, when CORS is on.
    pub fn cors(&self) -> Option<&CorsConfig> {
        self.cors.as_ref()
    }

    /// An enforced origin allowlist: handshakes and WebSocket requests from
    /// other origins are refused with 403 (off by default). This is the
    /// defence against cross-site WebSocket hijacking; see [`OriginPolicy`].
    pub fn with_origin_policy(mut self, policy: Option<OriginPolicy>) -> Self {
        self.origin_policy = policy;
        self
    }

    /// An async check run on every handshake; see [`AllowRequest`].
    pub fn with_allow_request<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(&HandshakeRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.allow_request = Some(Arc::new(move |req| Box::pin(f(req))));
        self
    }

    /// Node's `generateId`: chooses the id of each new session from its
    /// handshake request (default: 15 random bytes, URL-safe base64).
    ///
    /// Ids are [`Sid`](sockeye_proto::Sid)s, 20 characters among `A-Z`,
    /// `a-z`, `0-9`, `-` and `_` (build one with `"...".parse::<Sid>()`):
    /// the engine keys its session table by them, and the Socket.IO layer
    /// uses them as socket ids. Node accepts any string; a fixed shape keeps
    /// ids cheap to copy
    /// and safe to put in URLs and logs. The generator must not block, and
    /// must give unique ids: one that is taken by a live session is
    /// replaced by a random id (with a warning). Unguessable ids are what
    /// keeps one client from taking over another's session: derive them
    /// from a cryptographic random source.
    pub fn with_generate_id(
        mut self,
        f: impl Fn(&HandshakeRequest) -> sockeye_proto::Sid + Send + Sync + 'static,
    ) -> Self {
        self.generate_id = Some(Arc::new(f));
        self
    }

    /// Node's `initial_headers` event: a hook on the first response of a
    /// session (the polling handshake or the WebSocket 101), able to add
    /// headers such as an own cookie.
    pub fn with_handshake_headers(
        mut self,
        f: impl Fn(&Parts, &mut HeaderMap) + Send + Sync + 'static,
    ) -> Self {
        self.on_handshake_headers = Some(Arc::new(f));
        self
    }

    /// Node's `headers` event: a hook on every response of the engine
    /// (polling responses, refusals and 101s; after the
    /// [`with_handshake_headers`](Self::with_handshake_headers) hook on the
    /// first one).
    pub fn with_headers(
        mut self,
        f: impl Fn(&Parts, &mut HeaderMap) + Send + Sync + 'static,
    ) -> Self {
        self.on_headers = Some(Arc::new(f));
        self
    }

    /// Most packets queued for one session before it is closed as a slow
    /// consumer (default 10,000). The reference has no bound.
    ///
    /// See [`EngineConfig::with_max_buffered_bytes`] for what happens then.
    pub fn with_max_buffered_packets(mut self, n: usize) -> Self {
        self.max_buffered_packets = n.max(1);
        self
    }

    /// Most bytes of outgoing packets held for one session before it is
    /// closed as a slow consumer (default 4 MiB; at least 1). The reference
    /// has no bound.
    ///
    /// What counts: the packets waiting for a poll (polling) or for the
    /// socket (WebSocket, including the batch being written), at their
    /// encoded size (binary at its raw size). A peer that neither polls nor
    /// reads while it keeps sending, or an application that sends faster
    /// than the client reads, reaches it. The send that would go over it
    /// fails with [`crate::SendError::QueueFull`], the session closes with
    /// [`crate::CloseReason::TransportError`] (`transport error`, the
    /// slow-consumer reason), a warning is logged once for the session and
    /// [`crate::EngineStats::send_queue_overflows`] counts it. A polling
    /// client's next request gets `400 {"code":1,...}`, a WebSocket is closed
    /// once what is queued is written (or after a second).
    ///
    /// It must exceed the largest message the application sends: a single
    /// packet bigger than the bound closes the session too. With the default
    /// `max_payload` (1 MB), an echo of the largest message fits four times.
    pub fn with_max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.max_buffered_bytes = bytes.max(1);
        self
    }

    /// How long a polling POST may take to deliver its whole body, from the
    /// moment the engine starts reading it (default 10 s). A body that
    /// stalls is answered `408 Request Timeout` (empty body, `Connection:
    /// close`), its partial data is dropped, the session's POST slot is
    /// free again and the session lives on, as after a `413`; the trip is
    /// logged (warn) and counted in [`crate::EngineStats::body_timeouts`].
    /// (engine.io 6.6.13 has the same deadline, `httpRequestBodyTimeout`,
    /// 30 s there, and closes the session; 6.6.9 has none.) (Headers have
    /// their own deadline,
    /// [`crate::serve::ServerBuilder::header_read_timeout`].)
    pub fn with_request_body_timeout(mut self, d: Duration) -> Self {
        self.request_body_timeout = d;
        self
    }

    /// Most sessions open at once (default `None`: no cap beyond the
    /// listener's [`crate::serve::ServerBuilder::max_connections`]). A
    /// handshake over it is refused with `503` and
    /// `{"code":4,"message":"Too many sessions"}` (a WebSocket handshake:
    /// `503`, that message as text), logged (warn) and counted in
    /// [`crate::EngineStats::sessions_refused`]; open sessions are untouched.
    pub fn with_max_sessions(mut self, max: Option<usize>) -> Self {
        self.max_sessions = max;
        self
    }

    /// Most sessions open at once from one client address (default `None`:
    /// off). A handshake over it is refused with `429` and
    /// `{"code":4,"message":"Too many connections from this address"}` (as
    /// text for a WebSocket handshake), counted in
    /// [`crate::EngineStats::address_connections_refused`] and logged (warn)
    /// once per address and second. Requests of open sessions are never
    /// refused by it.
    ///
    /// The address is the peer's IP (any port; an IPv6 one counts with its
    /// whole /64, see [`EngineConfig::with_ipv6_address_prefix`]), read
    /// from the request's extensions: a [`std::net::SocketAddr`] if one is
    /// there, else the [`crate::ConnectionInfo`] that [`crate::serve`]
    /// inserts. A tower/axum user serving the engine with another server
    /// must insert one of them
    /// (axum: map `ConnectInfo<SocketAddr>` to a `SocketAddr` extension);
    /// without either, only the total cap applies. Behind a reverse proxy
    /// the peer is the proxy: insert the client's address taken from the
    /// proxy's header (for example the last `X-Forwarded-For` entry the
    /// proxy appended) as a `SocketAddr` extension, and only when the
    /// request comes from that proxy.
    ///
    /// ```
    /// use sockeye_engine::EngineConfig;
    ///
    /// // At most 20 sessions and 10 handshakes per second per address.
    /// let config = EngineConfig::default()
    ///     .with_max_connections_per_address(Some(20))
    ///     .with_max_handshakes_per_second_per_address(Some(10));
    /// # let _ = config;
    /// ```
    pub fn with_max_connections_per_address(mut self, max: Option<usize>) -> Self {
        self.max_connections_per_address = max;
        self
    }

    /// Most handshakes (polling or WebSocket, refused ones included) one
    /// client address may start per second (default `None`: off). Over it:
    /// `429` and `{"code":4,"message":"Too many handshakes from this
    /// address"}`, counted in
    /// [`crate::EngineStats::address_handshakes_refused`] and logged (warn)
    /// once per address and second. The address is found as for
    /// [`EngineConfig::with_max_connections_per_address`].
    pub fn with_max_handshakes_per_second_per_address(mut self, max: Option<u32>) -> Self {
        self.max_handshakes_per_second_per_address = max;
        self
    }

    /// How many leading bits of an IPv6 address name one client for the
    /// per-address caps (default 64, at most 128). A client usually holds a
    /// whole IPv6 /64 (often more), so capping single IPv6 addresses would
    /// let one client pick as many as it likes. Every address of a prefix
    /// shares one count; IPv4 addresses are counted one by one (a /32) and
    /// an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as its IPv4 address.
    /// Use 128 to count IPv6 addresses one by one, a shorter prefix (48,
    /// 56) to count whole sites. Values over 128 count as 128.
    ///
    /// ```
    /// use sockeye_engine::EngineConfig;
    ///
    /// let config = EngineConfig::default()
    ///     .with_max_connections_per_address(Some(20))
    ///     .with_ipv6_address_prefix(56);
    /// # let _ = config;
    /// ```
    pub fn with_ipv6_address_prefix(mut self, bits: u8) -> Self {
        self.ipv6_address_prefix = bits.min(crate::address::MAX_IPV6_PREFIX);
        self
    }

    /// How long a closed polling session waits for its last GET to collect
    /// the close packet (default 30 s, as the reference).
    pub fn with_close_grace(mut self, d: Duration) -> Self {
        self.close_grace = d;
        self
    }

    /// Cluster mode: this engine is one node of a cluster whose nodes
    /// serve each other's sessions (default off). Its sids carry the node's
    /// tag; a polling request or WebSocket upgrade for a session of another
    /// node is forwarded to that node over the bus (see
    /// [`crate::ClusterConfig`]). The engine must then be built within a
    /// Tokio runtime. All nodes must use the same options.
    pub fn with_cluster(mut self, cluster: Option<crate::cluster::ClusterConfig>) -> Self {
        self.cluster = cluster;
        self
    }

    /// Counts the engine's activity for a metrics exporter (off by
    /// default, and then free): see [`crate::EngineMetrics`] and
    /// [`crate::Engine::metrics`].
    pub fn with_metrics(mut self, on: bool) -> Self {
        self.metrics = on.then(Default::default);
        self
    }

    /// Whether [`EngineConfig::with_metrics`] is on.
    pub fn metrics_enabled(&self) -> bool {
        self.metrics.is_some()
    }

    pub(crate) fn upgrades(&self) -> &'static [&'static str] {
        if self.allow_upgrades && self.transports.websocket {
            &["websocket"]
        } else {
            &[]
        }
    }
}
