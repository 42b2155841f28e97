//! `sockeye-testserver`: the server that the official protocol test suites
//! and the Node end-to-end tests talk to.
//!
//! `sockeye-testserver engineio` runs an Engine.IO server that echoes every
//! text and binary message back to its sender; the text message `__close__`
//! makes it close that session instead. It prints `listening on ADDR` once
//! ready and shuts down gracefully on SIGINT/SIGTERM.
//!
//! `sockeye-testserver socketio` runs the Socket.IO server of the v5 test
//! suite: on connection to `/` or `/custom` it emits `auth` with the
//! handshake auth; on `/`, `message` is echoed as `message-back` with all its
//! arguments and `message-with-ack` is acknowledged with its arguments.
//!
//! `sockeye-testserver socketio-app` runs the application of the Socket.IO
//! e2e tests (see `app.rs`).

mod app;

use clap::{Parser, Subcommand};
use sockeye::{AckSender, Socket, SocketIo, Value};
use sockeye_engine::serve::Server;
use sockeye_engine::{
    AllowedOrigins, CloseReason, CorsConfig, Engine, EngineConfig, EngineHandler, EngineService,
    Message, Session, Transports,
};
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Sockeye's test server for the protocol suites and e2e tests"
)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
    /// Address to bind.
    #[arg(long, global = true, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to bind (0 picks a free one).
    #[arg(long, global = true, default_value_t = 3000)]
    port: u16,
    /// Path the server answers under (default: the protocol's).
    #[arg(long, global = true)]
    path: Option<String>,
    /// Heartbeat interval in milliseconds.
    #[arg(long, global = true)]
    ping_interval: Option<u64>,
    /// Heartbeat timeout in milliseconds.
    #[arg(long, global = true)]
    ping_timeout: Option<u64>,
    /// Largest payload in bytes.
    #[arg(long, global = true)]
    max_payload: Option<usize>,
    /// Accept Engine.IO v3 clients.
    #[arg(long, global = true)]
    allow_eio3: bool,
    /// CORS for any origin (as the protocol suites' reference setup).
    #[arg(long, global = true)]
    cors_any: bool,
    /// Transports, comma-separated.
    #[arg(long, global = true)]
    transports: Option<String>,
    /// Socket.IO connect timeout in milliseconds.
    #[arg(long, global = true)]
    connect_timeout: Option<u64>,
    /// Use the msgpack parser (socket.io-msgpack-parser clients).
    #[arg(long, global = true)]
    msgpack: bool,
    /// Turn on connection state recovery (socketio-app mode).
    #[arg(long, global = true)]
    recovery: bool,
    /// Upgrade timeout in milliseconds (a probed WebSocket that never sends `5`).
    #[arg(long, global = true)]
    upgrade_timeout: Option<u64>,
    /// How long a closed polling session waits for its last GET, in milliseconds.
    #[arg(long, global = true)]
    close_grace: Option<u64>,
    /// How long a client may take to send a request's headers, in milliseconds.
    #[arg(long, global = true)]
    header_read_timeout: Option<u64>,
    /// The most connections open at once.
    #[arg(long, global = true)]
    max_connections: Option<usize>,
    /// How long an idle keep-alive connection keeps its HTTP buffers, in
    /// milliseconds (`ServerBuilder::release_idle_after`).
    #[arg(long, global = true)]
    release_idle_ms: Option<u64>,
    /// The most idle keep-alive connections that keep their HTTP buffers at
    /// once (`ServerBuilder::max_lingering`).
    #[arg(long, global = true)]
    max_lingering: Option<usize>,
    /// The most Engine.IO sessions open at once from one client address.
    #[arg(long, global = true)]
    max_connections_per_address: Option<usize>,
    /// The most handshakes per second from one client address.
    #[arg(long, global = true)]
    max_handshakes_per_second: Option<u32>,
}

#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Engine.IO echo server.
    Engineio,
    /// Socket.IO server of the protocol test suite.
    Socketio,
    /// Socket.IO application of the e2e tests (every feature behind an event).
    SocketioApp,
}

/// Echoes messages; `__close__` closes the session.
struct Echo;

impl EngineHandler for Echo {
    fn on_open(&self, _session: &Session) {}

    fn on_message(&self, session: &Session, message: Message) {
        if matches!(&message, Message::Text(t) if t == "__close__") {
            session.close();
        } else {
            let _ = session.send_many([message]);
        }
    }

    fn on_close(&self, _session: &Session, _reason: CloseReason) {}
}

fn engine_config(args: &Args) -> Result<EngineConfig, String> {
    let mut config = EngineConfig::default().with_allow_eio3(args.allow_eio3);
    if let Some(path) = &args.path {
        config = config.with_path(path.clone());
    }
    if let Some(ms) = args.ping_interval {
        config = config.with_ping_interval(Duration::from_millis(ms));
    }
    if let Some(ms) = args.ping_timeout {
        config = config.with_ping_timeout(Duration::from_millis(ms));
    }
    if let Some(ms) = args.upgrade_timeout {
        config = config.with_upgrade_timeout(Duration::from_millis(ms));
    }
    if let Some(ms) = args.close_grace {
        config = config.with_close_grace(Duration::from_millis(ms));
    }
    if let Some(n) = args.max_payload {
        config = config.with_max_payload(n);
    }
    if let Some(list) = &args.transports {
        config = config.with_transports(Transports::parse(list)?);
    }
    if args.cors_any {
        config = config.with_cors(Some(CorsConfig::new(AllowedOrigins::Any)));
    }
    if let Some(n) = args.max_connections_per_address {
        config = config.with_max_connections_per_address(Some(n));
    }
    if let Some(n) = args.max_handshakes_per_second {
        config = config.with_max_handshakes_per_second_per_address(Some(n));
    }
    Ok(config)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = match engine_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let engine = match args.mode {
        Mode::Engineio => Engine::new(config, Echo).map_err(|e| e.to_string()),
        Mode::Socketio => socketio(&args, config).map_err(|e| e.to_string()),
        Mode::SocketioApp => app::build(&args, config).map_err(|e| e.to_string()),
    };
    let engine = match engine {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let mut builder = Server::builder().listen(SocketAddr::new(args.host, args.port));
    if let Some(ms) = args.header_read_timeout {
        builder = builder.header_read_timeout(Duration::from_millis(ms));
    }
    if let Some(n) = args.max_connections {
        builder = builder.max_connections(n);
    }
    if let Some(ms) = args.release_idle_ms {
        builder = builder.release_idle_after(Duration::from_millis(ms));
    }
    if let Some(n) = args.max_lingering {
        builder = builder.max_lingering(n);
    }
    let handle = match builder
        .shutdown_timeout(Duration::from_secs(5))
        .serve(EngineService::new(engine.clone()))
        .await
    {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    for bound in handle.local_addrs() {
        println!("listening on {}", bound.addr);
    }
    let _ = std::io::stdout().flush();
    shutdown_signal().await;
    handle.shutdown();
    engine.close(Duration::from_secs(3)).await;
    handle.wait().await;
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn socketio(args: &Args, mut config: EngineConfig) -> Result<Engine, sockeye::Error> {
    if args.path.is_none() {
        config = config.with_path("/socket.io/");
    }
    let mut builder = SocketIo::builder().engine(|_| config);
    if let Some(ms) = args.connect_timeout {
        builder = builder.connect_timeout(Duration::from_millis(ms));
    }
    if args.msgpack {
        builder = builder.parser(sockeye::Parser::MsgPack);
    }
    let io = builder.build()?;
    io.on_connection(|socket: Socket| async move {
        let _ = socket.emit("auth", &socket.handshake().auth);
        socket.on("message", |socket: Socket, sockeye::Args(args): sockeye::Args<Vec<Value>>| async move {
            let _ = socket.emit_args("message-back", args);
        });
        socket.on(
            "message-with-ack",
            |_socket: Socket, sockeye::Args(args): sockeye::Args<Vec<Value>>, ack: AckSender| async move {
                let _ = ack.send_args(args);
            },
        );
    });
    io.of("/custom").on_connection(|socket: Socket| async move {
        let _ = socket.emit("auth", &socket.handshake().auth);
    });
    Ok(io.engine().clone())
}
