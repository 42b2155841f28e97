//! The server side of the official Socket.IO Admin UI
//! (`@socket.io/admin-ui` 0.5.1): what its Node `instrument(io, opts)` does,
//! for a Sockeye server. The browser UI (the npm package's `ui/dist`, or
//! the hosted one) connects to the admin namespace and shows the server's
//! stats, sockets, rooms and events, and can join, leave, disconnect and
//! emit.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sockeye_admin_ui::{AdminUiOptions, Auth};
//! let io = sockeye::SocketIo::builder().build()?;
//! let hash = "$2b$10$heqvAkYMez.Va6Et2uXInOnkCT6/uQj1brkrbyG3LpopDklcq7ZOS";
//! let admin = sockeye_admin_ui::instrument(&io, AdminUiOptions::new(Auth::basic("admin", hash)?))?;
//! // Keep `admin` for as long as the UI should be served.
//! # drop(admin); Ok(()) }
//! ```
//!
//! Protocol notes: docs/design/admin-ui-protocol.md. Differences from the
//! Node package, all tolerated by the UI: the `session` event is sent right
//! after the namespace CONNECT (the 0.5.1 UI misses it otherwise), sessions
//! expire (24 h, at most 10,000 kept), commands naming an unknown namespace
//! are ignored instead of creating it, and a socket's `handshake.auth` is
//! never sent.

mod auth;
mod commands;
mod feed;
mod serialize;
mod stats;
mod time;

pub use auth::Auth;

use sockeye::{Socket, SocketIo};
use std::fmt;
use std::sync::Arc;

/// Why [`instrument`] or [`Auth::basic`] refused its options.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminUiError {
    /// The password hash is not a bcrypt hash (`$2a$`, `$2b$`, `$2y$`).
    #[error("the admin password hash is not a bcrypt hash: {0}")]
    BadHash(String),
    /// The namespace name does not start with `/`.
    #[error("the admin namespace must start with '/': {0:?}")]
    BadNamespace(String),
}

/// What is reported: everything (`Development`) or only the aggregated
/// stats (`Production`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Sockets, rooms, and every event sent and received are reported
    /// (the cost grows with the traffic).
    #[default]
    Development,
    /// Only the server stats (every 2 s): a few counters per packet.
    Production,
}

/// The options of [`instrument`] (Node's `instrument(io, opts)`).
#[derive(Debug, Clone)]
pub struct AdminUiOptions {
    pub(crate) namespace: String,
    pub(crate) auth: Auth,
    pub(crate) readonly: bool,
    pub(crate) mode: Mode,
    pub(crate) server_id: Option<String>,
}

impl AdminUiOptions {
    /// Namespace `/admin`, not read-only, development mode, server id
    /// `hostname#pid`. `auth` is required, as in Node ([`Auth::None`] to opt out).
    pub fn new(auth: Auth) -> Self {
        AdminUiOptions {
            namespace: "/admin".into(),
            auth,
            readonly: false,
            mode: Mode::Development,
            server_id: None,
        }
    }

    /// The admin namespace (`namespaceName`).
    pub fn namespace(mut self, name: impl Into<String>) -> Self {
        self.namespace = name.into();
        self
    }

    /// No command (join, leave, disconnect, emit) is accepted (`readonly`).
    pub fn readonly(mut self, readonly: bool) -> Self {
        self.readonly = readonly;
        self
    }

    /// What is reported (`mode`).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// This node's id in the UI (`serverId`; default: `hostname#pid`, so
    /// that two nodes on one machine are two rows). Each node of a cluster
    /// needs its own.
    pub fn server_id(mut self, id: impl Into<String>) -> Self {
        self.server_id = Some(id.into());
        self
    }
}

/// The running instrumentation: the stats timer stops when it is dropped.
pub struct AdminUi {
    stats_task: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for AdminUi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminUi").finish_non_exhaustive()
    }
}

impl Drop for AdminUi {
    fn drop(&mut self) {
        self.stats_task.abort();
    }
}

/// What every part shares.
pub(crate) struct Shared {
    pub io: SocketIo,
    pub options: AdminUiOptions,
    pub admin: sockeye::Namespace,
    pub stats: stats::Counters,
    pub sessions: auth::Sessions,
    pub by_session: feed::BySession,
}

/// Instruments `io` for the Admin UI: creates the admin namespace with its
/// authentication, starts the 2-second stats, and in development mode
/// reports every socket, room and event. Must be called within a Tokio
/// runtime, best right after the server is built (sockets connected before
/// are listed, but their earlier events are not).
pub fn instrument(io: &SocketIo, options: AdminUiOptions) -> Result<AdminUi, AdminUiError> {
    if !options.namespace.starts_with('/') {
        return Err(AdminUiError::BadNamespace(options.namespace));
    }
    let shared = Arc::new(Shared {
        io: io.clone(),
        admin: io.of(&options.namespace),
        options,
        stats: stats::Counters::default(),
        sessions: auth::Sessions::default(),
        by_session: feed::BySession::default(),
    });
    stats::hook_engine(&shared);
    auth::install(&shared);
    if shared.options.mode == Mode::Development {
        feed::install(&shared);
    }
    let s = shared.clone();
    shared.admin.on_connection(move |socket: Socket| {
        let shared = s.clone();
        async move { on_admin_connection(&shared, socket).await }
    });
    let stats_task = tokio::spawn(stats::run(shared));
    Ok(AdminUi { stats_task })
}

/// `session` (after a password login), `config`, then in development mode
/// `all_sockets`; the commands unless read-only.
async fn on_admin_connection(shared: &Arc<Shared>, socket: Socket) {
    if let Some(id) = shared.sessions.take_new(&socket.id()) {
        let _ = socket.emit("session", &id);
    }
    if !shared.options.readonly {
        commands::install(shared, &socket);
    }
    let mut features: Vec<&str> = Vec::new();
    if !shared.options.readonly {
        features.extend([
            "EMIT",
            "JOIN",
            "LEAVE",
            "DISCONNECT",
            "MJOIN",
            "MLEAVE",
            "MDISCONNECT",
        ]);
    }
    features.push("AGGREGATED_EVENTS");
    if shared.options.mode == Mode::Development {
        features.push("ALL_EVENTS");
    }
    let _ = socket.emit(
        "config",
        &serde_json::json!({ "supportedFeatures": features }),
    );
    if shared.options.mode == Mode::Development {
        let sockets = serialize::all_sockets(&shared.io).await;
        let _ = socket.emit("all_sockets", &sockets);
    }
}
