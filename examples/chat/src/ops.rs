//! The operations flags: logging format, Prometheus metrics, Admin UI. Kept apart
//! from cli.rs (flattened into it) so that the chat's own flags stay there.

use clap::Args;
use std::net::SocketAddr;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (fields flattened, with the span's fields).
    Json,
}

/// Logging and metrics options.
#[derive(Debug, Args)]
pub struct OpsArgs {
    /// Log line format. Which lines: RUST_LOG, with tracing-subscriber's
    /// filter syntax (default `info`; for example
    /// `RUST_LOG=info,sockeye_engine=debug`).
    #[arg(
        long = "log-format",
        value_enum,
        value_name = "FORMAT",
        env = "SOCKEYE_CHAT_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,

    /// Serve Prometheus metrics (OpenMetrics text) at `GET /metrics` on the
    /// main listeners.
    #[arg(long = "metrics", env = "SOCKEYE_CHAT_METRICS")]
    pub metrics: bool,

    /// Serve `GET /metrics` on this address instead (printed as `metrics on
    /// http://ADDR`; port 0 picks a free port); implies counting.
    #[arg(
        long = "metrics-listen",
        value_name = "ADDR",
        env = "SOCKEYE_CHAT_METRICS_LISTEN"
    )]
    pub metrics_listen: Option<SocketAddr>,

    /// The Socket.IO Admin UI.
    #[command(flatten)]
    pub admin: crate::admin::AdminArgs,
}

impl OpsArgs {
    /// Whether the server counts its activity.
    pub fn metrics_on(&self) -> bool {
        self.metrics || self.metrics_listen.is_some()
    }
}

/// Installs the log subscriber: RUST_LOG filters (default `info`), text or
/// JSON lines on stderr.
pub fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
}
