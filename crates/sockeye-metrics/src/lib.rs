//! Prometheus / OpenMetrics export of a Sockeye server's counters.
//!
//! ```no_run
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let io = sockeye::SocketIo::builder().metrics(true).build()?;
//! let exporter = sockeye_metrics::Exporter::new(&io);
//! // Serve this at /metrics with [`CONTENT_TYPE`].
//! let text = exporter.render()?;
//! # let _ = text; Ok(()) }
//! ```
//!
//! The counters live in the server as relaxed atomics
//! ([`sockeye::SocketIo::metrics`], [`sockeye::engine::Engine::metrics`],
//! [`sockeye::SocketIo::stats`], [`sockeye::engine::Engine::stats`]); this
//! crate reads them at scrape time through a `prometheus-client`
//! [`Collector`](prometheus_client::collector::Collector), so a server
//! that is never scraped pays nothing here.
//!
//! Why `prometheus-client`: it is the Prometheus project's own Rust client,
//! writes the OpenMetrics text format, and its collector interface fits
//! counters that already exist elsewhere (no second copy to keep in step),
//! with no global registry and no extra runtime.

mod collector;

pub use collector::RedisHealth;

use collector::SockeyeCollector;
use prometheus_client::registry::Registry;
use sockeye::SocketIo;
use std::fmt;
use std::sync::Arc;

/// The `Content-Type` of [`Exporter::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A registry holding one server's metrics, every name prefixed `sockeye_`.
pub struct Exporter {
    registry: Registry,
}

impl fmt::Debug for Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporter").finish_non_exhaustive()
    }
}

impl Exporter {
    /// The metrics of `io`. Counters of activity need
    /// [`sockeye::SocketIoBuilder::metrics`]; without it only the live
    /// gauges and the bounds that tripped are exported.
    pub fn new(io: &SocketIo) -> Exporter {
        Self::build(io, None)
    }

    /// Also exports whether the cluster's Redis answers and how many
    /// outages it had (`probe` is called at each scrape; for example
    /// `move || RedisHealth { up: f.is_connected(), outages: f.outages() }`
    /// around a `sockeye_redis` factory).
    pub fn with_redis(
        io: &SocketIo,
        probe: impl Fn() -> RedisHealth + Send + Sync + 'static,
    ) -> Exporter {
        Self::build(io, Some(Arc::new(probe)))
    }

    fn build(io: &SocketIo, redis: Option<collector::RedisProbe>) -> Exporter {
        let mut registry = Registry::with_prefix("sockeye");
        registry.register_collector(Box::new(SockeyeCollector::new(io.clone(), redis)));
        Exporter { registry }
    }

    /// The OpenMetrics text of every metric now (ends with `# EOF`).
    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut out = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
