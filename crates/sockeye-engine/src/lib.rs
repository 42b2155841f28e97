//! Sockeye's Engine.IO server, on hyper 1.x.
//!
//! The engine speaks Engine.IO v4 (and v3 behind
//! [`EngineConfig::with_allow_eio3`]) over HTTP long-polling and WebSocket,
//! with upgrades, server-driven heartbeats, the `io` session cookie, CORS and
//! an enforced origin allowlist. It knows nothing about Socket.IO: the layer
//! above implements [`EngineHandler`].
//!
//! ```no_run
//! use sockeye_engine::{CloseReason, Engine, EngineConfig, EngineHandler, EngineService, Message, Session};
//!
//! /// Echoes every message back to its sender.
//! struct Echo;
//!
//! impl EngineHandler for Echo {
//!     fn on_open(&self, session: &Session) {
//!         println!("{} connected", session.sid());
//!     }
//!     fn on_message(&self, session: &Session, message: Message) {
//!         let _ = session.send_many([message]);
//!     }
//!     fn on_close(&self, session: &Session, reason: CloseReason) {
//!         println!("{} left: {reason}", session.sid());
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::new(EngineConfig::default(), Echo)?;
//! let server = sockeye_engine::serve::Server::builder()
//!     .listen("127.0.0.1:3000".parse()?)
//!     .serve(EngineService::new(engine))
//!     .await?;
//! server.wait().await;
//! # Ok(()) }
//! ```

mod address;
mod cluster;
mod config;
mod cookie;
mod cors;
mod engine;
mod error;
mod events;
mod handler;
mod heartbeat;
mod limits;
mod listeners;
mod metrics;
mod request;
mod response;
pub mod serve;
mod service;
mod session;
mod stats;
mod timer;
mod transport;

pub use cluster::{
    BusError, ClusterBus, ClusterConfig, ClusterStats, Inbox, InboxFrame, InboxSender, MemoryBus,
    MemoryHub,
};
pub use config::{
    AllowRequest, BoxFuture, EngineConfig, GenerateId, HeadersHook, HttpCompression, Transports,
};
pub use cookie::{CookieConfig, CookieError, Priority, SameSite};
pub use cors::{AllowedOrigins, CorsConfig, OriginPolicy, OriginRefused, RefusalReason};
pub use engine::Engine;
pub use error::{EngineError, ErrorCode, SendError};
pub use events::{
    CloseListener, ConnectionError, ConnectionErrorListener, PacketListener, SessionListener,
    TransportListener,
};
pub use handler::{CloseReason, EngineHandler, Message};
pub use listeners::{ListenerId, Listeners};
pub use metrics::{
    CLOSE_REASONS, EngineMetrics, LatencyHistogram, POLLING_LATENCY_BUCKETS, PROTOCOLS, TRANSPORTS,
};
pub use request::HandshakeRequest;
pub use response::{EngineBody, EngineResponse};
pub use serve::ConnectionInfo;
pub use service::{EngineLayer, EngineService, NotFound, ResponseBody};
pub use session::{Frame, Session, TransportKind};
pub use sockeye_proto as proto;
pub use sockeye_proto::NodeTag;
pub use stats::EngineStats;
