//! Sockeye: a Socket.IO server for Rust.
//!
//! Namespaces, rooms, broadcasts and acknowledgements over Engine.IO
//! (WebSocket and HTTP long-polling), compatible with the official
//! JavaScript clients, on hyper and tower.
//!
//! An echo server with a room broadcast:
//!
//! ```
//! use sockeye::{AckSender, Data, Socket, SocketIo};
//! use sockeye::serve::Server;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let io = SocketIo::builder().build()?;
//! io.on_connection(|socket: Socket| async move {
//!     socket.join("lobby");
//!     // `socket.emit("echo", data, ack)` on the client: answer through the ack.
//!     socket.on("echo", |_s: Socket, Data(v): Data<serde_json::Value>, ack: AckSender| async move {
//!         let _ = ack.send(&v);
//!     });
//!     // Everyone else in the lobby gets the message.
//!     socket.on("chat", |socket: Socket, Data(text): Data<String>| async move {
//!         let _ = socket.to("lobby").emit("chat", &text);
//!     });
//! });
//! let server = Server::builder()
//!     .listen("127.0.0.1:0".parse()?)
//!     .serve(io.service())
//!     .await?;
//! println!("listening on {}", server.local_addrs()[0].addr);
//! # server.shutdown();
//! server.wait().await;
//! # Ok(()) }
//! ```

mod ack;
mod activity;
mod args;
mod broadcast_ack;
mod client;
mod client_files;
mod deadlines;
mod dynamic;
mod error;
mod handler;
mod id;
mod namespace;
mod operators;
mod rate_limit;
mod reason;
mod remote;
mod room_events;
mod rooms;
mod server;
mod server_events;
mod service;
mod shutdown;
mod socket;
mod stats;

pub use ack::{AckReply, AckSender, FromAck};
pub use activity::{DISCONNECT_REASONS, Metrics};
pub use args::IntoArgs;
pub use broadcast_ack::AckResponse;
pub use error::{AckError, BroadcastAckError, EmitError, Error, TooManyRooms};
pub use handler::{
    Args, BoxFuture, Data, Event, EventHandler, EventParts, ExtractError, FromEvent,
};
pub use id::{InvalidSocketId, SocketId};
pub use namespace::{ConnectError, Namespace};
pub use operators::BroadcastOperator;
pub use rate_limit::{DEFAULT_DISCONNECT_AFTER, DEFAULT_WINDOW, RateLimit};
pub use reason::DisconnectReason;
pub use remote::RemoteSocket;
pub use rooms::IntoRooms;
pub use server::{
    DEFAULT_MAX_DYNAMIC_NAMESPACES, DEFAULT_MAX_ROOMS_PER_SOCKET, ParentNamespace, SocketIo,
    SocketIoBuilder,
};
pub use service::{SocketIoLayer, SocketIoService};
pub use socket::{Handshake, Socket, SocketEmitter, SocketError};
pub use sockeye_adapter::{AdapterError, RecoveryConfig};
pub use stats::Stats;

pub use sockeye_adapter as adapter;
pub use sockeye_engine as engine;
pub use sockeye_engine::serve;
pub use sockeye_engine::{ConnectionError, ListenerId};
pub use sockeye_proto::sio::{Parser, Value};
pub use sockeye_proto::{Sid, Str};
