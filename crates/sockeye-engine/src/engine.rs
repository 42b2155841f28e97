//! [`Engine`]: the session table and the routing of every request under the
//! engine's path.

use crate::config::EngineConfig;
use crate::cors::origin_is_valid;
use crate::error::{EngineError, ErrorCode, Refusal};
use crate::handler::{CloseReason, EngineHandler};
use crate::request::{EioQuery, HandshakeRequest};
use crate::response::{self, EngineResponse};
use crate::serve::ConnectionInfo;
use crate::session::{Session, TransportKind};
use crate::stats::EngineStats;
use crate::transport::{polling, ws};
use http::{Method, Request};
use http_body::Body;
use parking_lot::RwLock;
use sockeye_proto::eio::ProtocolVersion;
use sockeye_proto::{Sid, SidMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

/// A boxed error, for request bodies of any type.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

const SHARDS: usize = 32;

/// State shared by the engine handle, its sessions and their tasks.
pub(crate) struct Shared {
    pub config: EngineConfig,
    pub handler: Arc<dyn EngineHandler>,
    /// The session table, sharded by sid so that handshakes and lookups on
    /// different sessions rarely meet on one lock.
    sessions: Box<[RwLock<SidMap<Session>>]>,
    count: AtomicUsize,
    pub closing: AtomicBool,
    all_closed: Notify,
    /// Drives the heartbeats of polling sessions.
    pub polling_timer: crate::timer::PollingTimer,
    /// Counters of tripped bounds.
    pub stats: EngineStats,
    /// Admission under the session caps.
    pub limits: crate::limits::Limits,
    /// Cluster mode: forwarding to and from the other nodes.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Listeners added at run time (`connection_error`...).
    pub events: crate::events::EngineEvents,
}

impl Shared {
    fn shard(&self, sid: &Sid) -> &RwLock<SidMap<Session>> {
        // The last byte is random (the first four carry the node tag in
        // cluster mode): it spreads evenly.
        let b = sid.as_str().as_bytes()[Sid::LEN - 1] as usize;
        &self.sessions[b % SHARDS]
    }

    pub fn insert(&self, session: &Session) {
        self.shard(&session.sid())
            .write()
            .insert(session.sid(), session.clone());
    }

    /// Tells the handler, then the engine's `connection` listeners, that
    /// `session` opened.
    pub fn announce_open(&self, session: &Session) {
        self.handler.on_open(session);
        self.events.opened(session);
    }

    /// Tells the handler, then the engine's `close` listeners, that
    /// `session` closed.
    pub fn announce_close(&self, session: &Session, reason: CloseReason) {
        self.handler.on_close(session, reason);
        self.events.closed(session, reason);
    }

    pub fn remove(&self, sid: &Sid) {
        self.shard(sid).write().remove(sid);
    }

    pub fn get(&self, sid: &Sid) -> Option<Session> {
        self.shard(sid).read().get(sid).cloned()
    }

    /// Whether a session with this id is in the table.
    pub fn contains(&self, sid: &Sid) -> bool {
        self.shard(sid).read().contains_key(sid)
    }

    /// Sessions open now (not yet finished).
    pub fn live(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

/// Node's engine.io `Server` (`io.engine`): the Engine.IO server: a cheap, clonable handle.
///
/// Requests reach it through [`crate::EngineService`] / [`crate::EngineLayer`]
/// (for axum, hyper or any tower stack) or through [`Engine::handle`].
#[derive(Clone)]
pub struct Engine(pub(crate) Arc<Shared>);

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("path", &self.0.config.path)
            .field("sessions", &self.session_count())
            .finish()
    }
}

impl Engine {
    /// Node's `new engine.Server(opts)`: builds an engine; checks the options first.
    pub fn new(config: EngineConfig, handler: impl EngineHandler) -> Result<Engine, EngineError> {
        Self::with_handler(config, Arc::new(handler))
    }

    /// Builds an engine around a shared handler.
    pub fn with_handler(
        config: EngineConfig,
        handler: Arc<dyn EngineHandler>,
    ) -> Result<Engine, EngineError> {
        if let Some(cookie) = &config.cookie {
            cookie.validate()?;
        }
        if config.max_payload == 0 {
            return Err(EngineError::Config(
                "max_payload must be at least 1 byte".into(),
            ));
        }
        if config.ping_interval.is_zero() || config.ping_timeout.is_zero() {
            return Err(EngineError::Config(
                "ping_interval and ping_timeout must be positive".into(),
            ));
        }
        if config.max_buffered_bytes < config.max_payload {
            tracing::warn!(
                max_buffered_bytes = config.max_buffered_bytes,
                max_payload = config.max_payload,
                "max_buffered_bytes is below max_payload: a session sent one \
                 message of the largest size clients may send is closed as a slow consumer"
            );
        }
        let stats = EngineStats::default();
        let cluster = config
            .cluster
            .as_ref()
            .map(|c| crate::cluster::Cluster::new(c, stats.cluster_arc()));
        let shared = Arc::new(Shared {
            config,
            handler,
            sessions: (0..SHARDS)
                .map(|_| RwLock::new(SidMap::default()))
                .collect(),
            count: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            all_closed: Notify::new(),
            polling_timer: Default::default(),
            stats,
            limits: Default::default(),
            cluster,
            events: Default::default(),
        });
        if let Some(cluster) = &shared.cluster {
            cluster.start(&shared).map_err(EngineError::Config)?;
        }
        Ok(Engine(shared))
    }

    /// Node's `engine.opts`: the options.
    pub fn config(&self) -> &EngineConfig {
        &self.0.config
    }

    /// Whether a request path belongs to the engine (a prefix match, as the
    /// reference server does).
    pub fn matches_path(&self, path: &str) -> bool {
        path.starts_with(self.0.config.path.as_str())
    }

    /// How often each bound tripped (sessions closed as slow consumers,
    /// bodies too large or too slow, handshakes refused by a limit).
    pub fn stats(&self) -> &EngineStats {
        &self.0.stats
    }

    /// The activity counters, when [`EngineConfig::with_metrics`] is on.
    pub fn metrics(&self) -> Option<&crate::EngineMetrics> {
        self.0.config.metrics.as_deref()
    }

    /// Node's `engine.clients[id]`: the session with this id, if open.
    pub fn session(&self, sid: Sid) -> Option<Session> {
        self.0.get(&sid)
    }

    /// Node's `engine.clientsCount`: how many sessions are open (their tasks still running).
    pub fn session_count(&self) -> usize {
        self.0.count.load(Ordering::Acquire)
    }

    /// Refuses new handshakes from now on (`Server is shutting down`, as
    /// during [`Engine::close`]); the open sessions carry on. The first
    /// step of a shutdown that has work to do before the sessions close
    /// (the Socket.IO layer's disconnect handlers); [`Engine::close`]
    /// follows.
    pub fn stop_accepting(&self) {
        self.0.closing.store(true, Ordering::Release);
    }

    /// Node's `engine.close()`: graceful shutdown: refuses new handshakes, closes every session
    /// ([`CloseReason::ServerShuttingDown`]; polling clients get a `close`
    /// packet, WebSockets a close frame once their queue is flushed) and
    /// waits until all are gone or `deadline` has passed. Returns the number
    /// of sessions still open at the deadline.
    ///
    /// In cluster mode, WebSockets this node relays for other nodes close
    /// too, and once the local sessions are gone the node says goodbye to
    /// its peers and gives up its lease.
    pub async fn close(&self, deadline: Duration) -> usize {
        self.0.closing.store(true, Ordering::Release);
        if let Some(cluster) = &self.0.cluster {
            cluster.begin_close();
        }
        let sessions: Vec<Session> = self
            .0
            .sessions
            .iter()
            .flat_map(|s| s.read().values().cloned().collect::<Vec<_>>())
            .collect();
        for s in &sessions {
            s.close_with(CloseReason::ServerShuttingDown);
        }
        let wait = async {
            loop {
                let notified = self.0.all_closed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.session_count() == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(deadline, wait).await;
        if let Some(cluster) = &self.0.cluster {
            cluster.finish_close().await;
        }
        self.session_count()
    }

    /// Cluster mode: how many forwards this node waits for, how many GETs
    /// of other nodes it holds, and how many of its sessions are upgrading
    /// or relayed through another node (all zero when idle).
    pub fn cluster_backlog(&self) -> Option<(usize, usize, usize)> {
        self.0.cluster.as_ref().map(|c| c.backlog())
    }

    /// This node's tag in cluster mode (the first 4 characters of its sids).
    pub fn node_tag(&self) -> Option<sockeye_proto::NodeTag> {
        self.0.cluster.as_ref().map(|c| c.tag)
    }

    /// Answers one request under the engine's path.
    ///
    /// Refusals follow the reference (`{"code":N,"message":...}` JSON for
    /// polling requests, the message as text for upgrade requests), with
    /// these differences:
    /// - a method other than GET/POST on a live polling session: `405`,
    ///   `Allow: GET, POST`, `{"code":3,"message":"Method not allowed"}`, the
    ///   session untouched (the reference: 500);
    /// - an upgrade request whose query says `transport=polling`: `400`
    ///   `Bad request`, no session opened or touched (the reference
    ///   upgrades and closes the socket);
    /// - a body over `max_payload`: `413`; a body too slow: `408` (see
    ///   [`EngineConfig::with_request_body_timeout`]);
    /// - a handshake over a connection limit: `429` or `503` (see
    ///   `EngineConfig::with_max_connections_per_address` and the others).
    ///
    /// A `sid` that names no session, whatever it holds (percent-encoded
    /// NUL, invalid UTF-8, markup), gets `400 {"code":1,"message":"Session
    /// ID unknown"}`; nothing of the request is ever reflected. Bytes that
    /// are not legal in a request target at all (a raw NUL, `<`, bytes over
    /// 0x7f) are refused by hyper's HTTP parser before the engine sees the
    /// request: `400` with an empty body and `Connection: close`.
    pub async fn handle<B>(&self, mut req: Request<B>) -> EngineResponse
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let on_upgrade =
            ws::is_websocket_request(req.headers()).then(|| hyper::upgrade::on(&mut req));
        let (parts, body) = req.into_parts();
        let shared = &self.0;
        let config = &shared.config;
        let query = EioQuery::parse(parts.uri.query().unwrap_or(""));

        if parts.method == Method::OPTIONS {
            if let Some(cors) = &config.cors {
                return response::preflight(cors, &parts);
            }
        }

        // The shape of a refusal follows the request, as in the reference:
        // an upgrade request gets the plain-text answer, any other request
        // (even with `transport=websocket`) the JSON one.
        let is_upgrade = on_upgrade.is_some();
        let refuse = |r: Refusal| {
            if is_upgrade {
                response::ws_refusal(shared, &parts, &r)
            } else {
                response::refusal(shared, &parts, &r)
            }
        };

        // 1. Transport.
        let transport = match query.transport {
            Some("polling") if config.transports.polling => TransportKind::Polling,
            Some("websocket") if config.transports.websocket => TransportKind::WebSocket,
            _ => return refuse(Refusal::new(ErrorCode::UnknownTransport)),
        };
        // A request means one thing: a WebSocket upgrade that asks for
        // polling is refused (400, before any 101) rather than answered as
        // a poll or handshake. (The reference upgrades it and closes the
        // socket at once.)
        if is_upgrade && transport == TransportKind::Polling {
            return refuse(Refusal::new(ErrorCode::BadRequest));
        }
        // 2. Origin: valid characters (as the reference), then the enforced
        // allowlist (beyond the reference), for every request.
        let origin = parts.headers.get(http::header::ORIGIN);
        if origin.is_some_and(|o| !origin_is_valid(o)) {
            return refuse(Refusal::new(ErrorCode::BadRequest));
        }
        if let Some(policy) = &config.origin_policy {
            if let Err(why) = policy.check(origin) {
                tracing::debug!(?why, "origin refused");
                return refuse(Refusal::with_message(
                    ErrorCode::Forbidden,
                    "Origin not allowed".into(),
                ));
            }
        }

        if let Some(sid) = query.sid {
            let sid = sid.parse::<Sid>().ok();
            let Some(session) = sid.and_then(|sid| shared.get(&sid)) else {
                // Cluster mode: a session of another (live) node is served
                // through it; anything else is unknown, at once.
                if let (Some(cluster), Some(sid)) = (&shared.cluster, sid) {
                    if sid.tag() != cluster.tag {
                        return crate::cluster::forward(
                            self, cluster, sid, transport, parts, body, on_upgrade,
                        )
                        .await;
                    }
                }
                return refuse(Refusal::new(ErrorCode::UnknownSid));
            };
            return match transport {
                TransportKind::Polling => {
                    if session.transport() != TransportKind::Polling {
                        return refuse(Refusal::new(ErrorCode::BadRequest));
                    }
                    let timing = config
                        .metrics
                        .as_ref()
                        .map(|m| (m, std::time::Instant::now()));
                    let res = match parts.method {
                        Method::GET => polling::get(&session, &parts).await,
                        Method::POST => polling::post(&session, &parts, body).await,
                        _ => return method_not_allowed(shared, &parts),
                    };
                    if let Some((m, t)) = timing {
                        m.polled(parts.method == Method::POST, t.elapsed());
                    }
                    res
                }
                TransportKind::WebSocket => match on_upgrade {
                    Some(on_upgrade) if config.allow_upgrades => {
                        ws::upgrade(&session, &parts, on_upgrade).unwrap_or_else(&refuse)
                    }
                    _ => refuse(Refusal::new(ErrorCode::BadRequest)),
                },
            };
        }

        // A handshake.
        if parts.method != Method::GET {
            return refuse(Refusal::new(ErrorCode::BadHandshakeMethod));
        }
        if transport == TransportKind::WebSocket && on_upgrade.is_none() {
            return refuse(Refusal::new(ErrorCode::BadRequest));
        }
        if shared.closing.load(Ordering::Acquire) {
            return refuse(Refusal::with_message(
                ErrorCode::BadRequest,
                "Server is shutting down".into(),
            ));
        }
        if let Some(cluster) = &shared.cluster {
            // Peers hold this node dead and would refuse its sids: a client
            // is better off on another node (a load balancer retries there).
            if !cluster.bus.is_member() {
                crate::cluster::count_membership_refusal(shared);
                return refuse(
                    Refusal::with_message(ErrorCode::BadRequest, "Cluster membership lost".into())
                        .with_status(http::StatusCode::SERVICE_UNAVAILABLE),
                );
            }
        }
        let conn = parts.extensions.get::<ConnectionInfo>().copied();
        let peer = crate::request::peer_addr(&parts);
        let admission = match crate::limits::admit(shared, peer.map(|p| p.ip())) {
            Ok(admission) => admission,
            Err(refusal) => return refuse(refusal),
        };
        let request = HandshakeRequest {
            method: parts.method.clone(),
            uri: detach_uri(&parts.uri),
            headers: detach_headers(&parts.headers),
            peer_addr: peer,
            secure: conn.is_some_and(|c| c.tls),
            time: SystemTime::now(),
        };
        if let Some(allow) = &config.allow_request {
            if let Err(message) = allow(&request).await {
                let message = if message.is_empty() {
                    ErrorCode::Forbidden.message().to_owned()
                } else {
                    message
                };
                return refuse(Refusal::with_message(ErrorCode::Forbidden, message));
            }
        }
        let protocol = match query.eio.and_then(ProtocolVersion::from_query) {
            Some(ProtocolVersion::V4) => ProtocolVersion::V4,
            Some(ProtocolVersion::V3) if config.allow_eio3 => ProtocolVersion::V3,
            _ => return refuse(Refusal::new(ErrorCode::UnsupportedProtocolVersion)),
        };
        match (transport, on_upgrade) {
            (TransportKind::Polling, _) => {
                polling::handshake(self, &parts, request, protocol, query.b64, admission)
            }
            (TransportKind::WebSocket, Some(on_upgrade)) => {
                ws::handshake(self, &parts, request, protocol, on_upgrade, admission)
            }
            (TransportKind::WebSocket, None) => refuse(Refusal::new(ErrorCode::BadRequest)),
        }
    }
}

/// A method other than GET and POST on a polling session: `405` with an
/// `Allow` header and `{"code":3,"message":"Method not allowed"}`; the
/// session is left as it was. (The reference answers 500.)
pub(crate) fn method_not_allowed(shared: &Shared, parts: &http::request::Parts) -> EngineResponse {
    let refusal = Refusal::with_message(ErrorCode::BadRequest, "Method not allowed".into())
        .with_status(http::StatusCode::METHOD_NOT_ALLOWED);
    let mut res = response::refusal(shared, parts, &refusal);
    let allow = if shared.config.cors.is_some() {
        "GET, POST, OPTIONS"
    } else {
        "GET, POST"
    };
    res.headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
    res
}

/// Puts a new session in the table and tells the handler. The session ends
/// with [`finish_session`].
pub(crate) fn open_session(shared: &Arc<Shared>, session: &Session) {
    shared.count.fetch_add(1, Ordering::AcqRel);
    if let Some(m) = &shared.config.metrics {
        m.opened(session.transport(), session.protocol());
    }
    shared.insert(session);
    if session.0.announce.load(Ordering::Acquire) == crate::cluster::handover::OPEN {
        // The handler's work for the new session (its Socket.IO client) is
        // logged within the session's span.
        let _span = tracing::info_span!("session", sid = %session.sid()).entered();
        tracing::info!(
            sid = %session.sid(),
            transport = session.transport().as_str(),
            protocol = session.protocol().as_u8(),
            "session opened"
        );
        shared.announce_open(session);
    } else if let Some(cluster) = &shared.cluster {
        // Cluster hand-over window: opened later (see `cluster::handover`).
        crate::cluster::handover::arm_window(session, cluster.handover_window);
    }
}

/// Ends a session (once; later calls do nothing): out of the table, and
/// no longer counted by [`Engine::session_count`].
pub(crate) fn finish_session(session: &Session) {
    if session.0.finished.swap(true, Ordering::AcqRel) {
        return;
    }
    let shared = &session.0.shared;
    shared.remove(&session.sid());
    // Its place under the session caps is free again.
    let admission = session.0.state.lock().admission.take();
    drop(admission);
    if shared.count.fetch_sub(1, Ordering::AcqRel) == 1 {
        shared.all_closed.notify_waiters();
    }
}

/// Copies header values into their own buffers. hyper's values are slices
/// of the connection's 8 KiB read buffer: keeping them for the session's
/// lifetime would keep that whole buffer alive per session.
///
/// The headers that only carried the HTTP-to-WebSocket switch
/// (`Connection`, `Upgrade`, `Sec-WebSocket-Key`, `-Version`,
/// `-Extensions`) are left out: spent once the 101 is sent, they were
/// about 600 bytes of every WebSocket session's map.
fn detach_headers(headers: &http::HeaderMap) -> http::HeaderMap {
    use http::header;
    let spent = |name: &header::HeaderName| {
        [
            header::CONNECTION,
            header::UPGRADE,
            header::SEC_WEBSOCKET_KEY,
            header::SEC_WEBSOCKET_VERSION,
            header::SEC_WEBSOCKET_EXTENSIONS,
        ]
        .contains(name)
    };
    let kept = headers.iter().filter(|(name, _)| !spent(name)).count();
    let mut out = http::HeaderMap::with_capacity(kept);
    for (name, value) in headers.iter().filter(|(name, _)| !spent(name)) {
        let mut copy =
            http::HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        out.append(name.clone(), copy);
    }
    out
}

/// Copies the URI for the same reason as [`detach_headers`].
fn detach_uri(uri: &http::Uri) -> http::Uri {
    uri.to_string().parse().unwrap_or_else(|_| uri.clone())
}

#[cfg(test)]
mod tests {
    use super::detach_headers;
    use http::{HeaderMap, HeaderValue};

    #[test]
    fn detached_headers_leave_out_only_the_spent_websocket_switch() {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("host", "example.com"),
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-version", "13"),
            ("sec-websocket-extensions", "permessage-deflate"),
            ("sec-websocket-protocol", "chat"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
        ] {
            h.append(name, HeaderValue::from_static(value));
        }
        let mut auth = HeaderValue::from_static("Bearer x");
        auth.set_sensitive(true);
        h.insert("authorization", auth);
        let out = detach_headers(&h);
        let names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            ["host", "sec-websocket-protocol", "cookie", "authorization"]
        );
        assert_eq!(out.get_all("cookie").iter().count(), 2);
        assert!(out["authorization"].is_sensitive());
    }
}
