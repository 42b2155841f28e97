//! [`EngineMetrics`]: activity counters for a metrics exporter, off unless
//! [`crate::EngineConfig::with_metrics`] turns them on.
//!
//! Off, each hook is one `Option` test on the engine's config; on, it is a
//! few relaxed atomic additions. Nothing is formatted or allocated here: an
//! exporter reads the counters at scrape time.

use crate::handler::CloseReason;
use crate::session::TransportKind;
use sockeye_proto::eio::ProtocolVersion;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// The upper bounds (seconds) of the polling request latency histogram.
/// A GET that waits for data lasts up to the ping interval (25 s by
/// default), hence the long tail.
pub const POLLING_LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 15.0, 30.0,
];

/// Every [`CloseReason`], in the order of [`EngineMetrics::closes`].
pub const CLOSE_REASONS: [CloseReason; 6] = [
    CloseReason::TransportClose,
    CloseReason::TransportError,
    CloseReason::PingTimeout,
    CloseReason::ParseError,
    CloseReason::ForcedClose,
    CloseReason::ServerShuttingDown,
];

/// Both transports, in the order of the per-transport counters.
pub const TRANSPORTS: [TransportKind; 2] = [TransportKind::Polling, TransportKind::WebSocket];
/// Both protocol revisions, in the order of the per-protocol counters.
pub const PROTOCOLS: [ProtocolVersion; 2] = [ProtocolVersion::V3, ProtocolVersion::V4];

fn t(transport: TransportKind) -> usize {
    match transport {
        TransportKind::Polling => 0,
        TransportKind::WebSocket => 1,
    }
}

fn p(protocol: ProtocolVersion) -> usize {
    match protocol {
        ProtocolVersion::V3 => 0,
        ProtocolVersion::V4 => 1,
    }
}

fn r(reason: CloseReason) -> usize {
    CLOSE_REASONS
        .iter()
        .position(|c| *c == reason)
        .unwrap_or(CLOSE_REASONS.len() - 1)
}

/// A latency histogram with fixed buckets ([`POLLING_LATENCY_BUCKETS`]).
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Per bucket (not cumulative), the last one for "over every bound".
    buckets: [AtomicU64; POLLING_LATENCY_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl LatencyHistogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = POLLING_LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(POLLING_LATENCY_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// `(sum in seconds, count, cumulative counts per upper bound)`, as an
    /// exporter writes a histogram.
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut total = 0;
        let mut out = Vec::with_capacity(self.buckets.len());
        for (i, b) in self.buckets.iter().enumerate() {
            total += b.load(Ordering::Relaxed);
            let bound = POLLING_LATENCY_BUCKETS
                .get(i)
                .copied()
                .unwrap_or(f64::INFINITY);
            out.push((bound, total));
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        (sum, total, out)
    }
}

/// The engine's activity since it started: handshakes, upgrades, closes,
/// packets and bytes each way, and polling request latency. Read at any
/// time through [`crate::Engine::metrics`].
#[derive(Debug, Default)]
pub struct EngineMetrics {
    handshakes: [[AtomicU64; 2]; 2],
    open: [[AtomicI64; 2]; 2],
    upgrades: AtomicU64,
    closes: [AtomicU64; CLOSE_REASONS.len()],
    packets_in: AtomicU64,
    bytes_in: AtomicU64,
    packets_out: AtomicU64,
    bytes_out: AtomicU64,
    polling_get: LatencyHistogram,
    polling_post: LatencyHistogram,
}

impl EngineMetrics {
    pub(crate) fn opened(&self, transport: TransportKind, protocol: ProtocolVersion) {
        self.handshakes[t(transport)][p(protocol)].fetch_add(1, Ordering::Relaxed);
        self.open[t(transport)][p(protocol)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn upgraded(&self, protocol: ProtocolVersion) {
        self.upgrades.fetch_add(1, Ordering::Relaxed);
        self.open[0][p(protocol)].fetch_sub(1, Ordering::Relaxed);
        self.open[1][p(protocol)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn closed(
        &self,
        transport: TransportKind,
        protocol: ProtocolVersion,
        reason: CloseReason,
    ) {
        self.closes[r(reason)].fetch_add(1, Ordering::Relaxed);
        self.open[t(transport)][p(protocol)].fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.packets_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn queued(&self, packets: usize, bytes: usize) {
        self.packets_out
            .fetch_add(packets as u64, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn polled(&self, post: bool, took: Duration) {
        if post {
            self.polling_post.observe(took);
        } else {
            self.polling_get.observe(took);
        }
    }

    /// Sessions opened (handshakes accepted) on this transport with this
    /// protocol revision.
    pub fn handshakes(&self, transport: TransportKind, protocol: ProtocolVersion) -> u64 {
        self.handshakes[t(transport)][p(protocol)].load(Ordering::Relaxed)
    }

    /// Sessions open now on this transport with this protocol revision
    /// (an upgraded session counts under `websocket`).
    pub fn open_sessions(&self, transport: TransportKind, protocol: ProtocolVersion) -> u64 {
        self.open[t(transport)][p(protocol)]
            .load(Ordering::Relaxed)
            .max(0) as u64
    }

    /// Sessions upgraded from polling to WebSocket.
    pub fn upgrades(&self) -> u64 {
        self.upgrades.load(Ordering::Relaxed)
    }

    /// Sessions closed for this reason.
    pub fn closes(&self, reason: CloseReason) -> u64 {
        self.closes[r(reason)].load(Ordering::Relaxed)
    }

    /// Engine.IO packets received from clients, and their encoded bytes.
    pub fn received_totals(&self) -> (u64, u64) {
        (
            self.packets_in.load(Ordering::Relaxed),
            self.bytes_in.load(Ordering::Relaxed),
        )
    }

    /// Engine.IO packets queued for clients, and their encoded bytes.
    pub fn sent_totals(&self) -> (u64, u64) {
        (
            self.packets_out.load(Ordering::Relaxed),
            self.bytes_out.load(Ordering::Relaxed),
        )
    }

    /// The latency of polling GET requests (`post: false`) or POST
    /// requests (`post: true`), from the engine's first look at the request
    /// to its response.
    pub fn polling_latency(&self, post: bool) -> &LatencyHistogram {
        if post {
            &self.polling_post
        } else {
            &self.polling_get
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_sessions_follow_upgrades_and_closes() {
        let m = EngineMetrics::default();
        let (poll, ws, v4) = (
            TransportKind::Polling,
            TransportKind::WebSocket,
            ProtocolVersion::V4,
        );
        m.opened(poll, v4);
        m.opened(poll, v4);
        m.upgraded(v4);
        m.closed(ws, v4, CloseReason::TransportClose);
        assert_eq!(m.handshakes(poll, v4), 2);
        assert_eq!(m.open_sessions(poll, v4), 1);
        assert_eq!(m.open_sessions(ws, v4), 0);
        assert_eq!(m.upgrades(), 1);
        assert_eq!(m.closes(CloseReason::TransportClose), 1);
        assert_eq!(m.closes(CloseReason::PingTimeout), 0);
    }

    #[test]
    fn histogram_is_cumulative() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(20));
        h.observe(Duration::from_secs(60));
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 3);
        assert!((sum - 60.0205).abs() < 1e-9);
        assert_eq!(buckets[0], (0.001, 1));
        assert_eq!(buckets[3], (0.025, 2));
        assert_eq!(buckets.last().copied(), Some((f64::INFINITY, 3)));
    }
}
