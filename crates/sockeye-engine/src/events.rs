//! Engine events a program can listen to at run time: Node's
//! `connection_error` (every refused request), and the hook that chooses
//! session ids (`generateId`).

use crate::engine::Engine;
use crate::error::{ErrorCode, Refusal};
use crate::listeners::{ListenerId, Listeners};
use crate::serve::ConnectionInfo;
use http::StatusCode;
use http::request::Parts;
use std::net::SocketAddr;

/// A listener of [`Engine::on_connection_error`].
pub type ConnectionErrorListener = dyn Fn(&ConnectionError<'_>) + Send + Sync;

/// Node's `connection_error` event: a request the engine refused, with
/// the code and message sent back and the request it answered.
///
/// Reported for every refusal the client can see as an Engine.IO error
/// (`{"code":N,"message":...}`, or the plain-text answer to a WebSocket
/// upgrade): unknown transport or session id, bad method, bad request,
/// forbidden origin, `allow_request` refusals, the session caps, an
/// unsupported protocol version, and `Method not allowed` on a session.
#[derive(Debug)]
#[non_exhaustive]
pub struct ConnectionError<'a> {
    /// The Engine.IO error code (Node's `code`).
    pub code: ErrorCode,
    /// The message sent back (Node's `message`).
    pub message: &'a str,
    /// The HTTP status of the answer.
    pub status: StatusCode,
    /// The request (Node's `req`): method, URI with its query (`EIO`,
    /// `transport`, `sid`), headers and extensions.
    pub request: &'a Parts,
    /// Whether the request asked for a WebSocket upgrade.
    pub upgrade: bool,
}

impl ConnectionError<'_> {
    /// The peer's address, as the engine counts it (a `SocketAddr` in the
    /// request's extensions, else the connection's).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.request
            .extensions
            .get::<SocketAddr>()
            .copied()
            .or_else(|| {
                self.request
                    .extensions
                    .get::<ConnectionInfo>()
                    .map(|c| c.peer)
            })
    }

    /// A query parameter of the request (`"transport"`, `"sid"`, `"EIO"`),
    /// as sent: the context Node puts in `context`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.request
            .uri
            .query()?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// The run-time listeners of one engine.
#[derive(Debug, Default)]
pub(crate) struct EngineEvents {
    pub connection_error: Listeners<ConnectionErrorListener>,
}

impl EngineEvents {
    /// Tells the `connection_error` listeners about a refusal.
    pub fn refused(&self, parts: &Parts, r: &Refusal, upgrade: bool) {
        if self.connection_error.is_empty() {
            return;
        }
        let event = ConnectionError {
            code: r.code,
            message: &r.message,
            status: r.status,
            request: parts,
            upgrade,
        };
        for f in self.connection_error.snapshot() {
            f(&event);
        }
    }
}

impl Engine {
    /// Listens to Node's `connection_error`: called, synchronously and
    /// with no lock held, for each refused request (see
    /// [`ConnectionError`]). Meant for logging and metrics: it must not
    /// block. Returns the handle that [`Engine::remove_listener`] takes.
    pub fn on_connection_error(
        &self,
        f: impl Fn(&ConnectionError<'_>) + Send + Sync + 'static,
    ) -> ListenerId {
        self.0.events.connection_error.push(std::sync::Arc::new(f))
    }

    /// Removes a listener added by an `on_*` method of the engine
    /// (Node's `engine.off`); `false` if it is not registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.0.events.connection_error.remove(id)
    }
}
