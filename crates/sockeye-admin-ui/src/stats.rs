//! `server_stats`, every 2 s to the admin namespace: this node's id, host,
//! uptime, Engine.IO connections (and how many still poll), namespaces
//! with their local socket counts, and the traffic of each second since the
//! last message (`aggregatedEvents`), counted through the engine's hooks.

use crate::Shared;
use parking_lot::Mutex;
use serde::Serialize;
use sockeye::engine::proto::eio::Packet;
use sockeye::engine::{Session, TransportKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// How often the stats go out.
const INTERVAL: Duration = Duration::from_secs(2);
/// Most buckets kept between two messages (distinct second x type).
const MAX_BUCKETS: usize = 4096;

/// One `aggregatedEvents` item.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Bucket {
    timestamp: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "subType", skip_serializing_if = "Option::is_none")]
    sub_type: Option<&'static str>,
    count: u64,
}

/// The traffic buckets since the last message, and the polling count.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    buckets: Mutex<Vec<Bucket>>,
    polling: AtomicI64,
}

impl Counters {
    fn add(&self, kind: &'static str, sub_type: Option<&'static str>, n: u64) {
        self.add_all(&[(kind, sub_type, n)]);
    }

    /// Counts several kinds at once: one clock read and one lock (a
    /// packet's count and bytes, on every packet each way).
    fn add_all(&self, counts: &[(&'static str, Option<&'static str>, u64)]) {
        let timestamp = crate::time::now_ms() / 1000 * 1000;
        let mut buckets = self.buckets.lock();
        for &(kind, sub_type, n) in counts {
            if let Some(b) = buckets
                .iter_mut()
                .rev()
                .take(16)
                .find(|b| b.timestamp == timestamp && b.kind == kind && b.sub_type == sub_type)
            {
                b.count += n;
            } else if buckets.len() < MAX_BUCKETS {
                buckets.push(Bucket {
                    timestamp,
                    kind,
                    sub_type,
                    count: n,
                });
            }
        }
    }

    fn drain(&self) -> Vec<Bucket> {
        std::mem::take(&mut *self.buckets.lock())
    }
}

/// The payload size of a packet, for those that have one.
fn payload_len(p: &Packet) -> Option<usize> {
    match p {
        Packet::Message(text) => Some(text.len()),
        Packet::Binary(data) => Some(data.len()),
        _ => None,
    }
}

/// Counts connections, closes, upgrades and payload packets each way.
pub(crate) fn hook_engine(shared: &Arc<Shared>) {
    let engine = shared.io.engine();
    let s = Arc::downgrade(shared);
    engine.on_connection(move |session: &Session| {
        if let Some(s) = s.upgrade() {
            s.stats.add("rawConnection", None, 1);
            if session.transport() == TransportKind::Polling {
                s.stats.polling.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let s = Arc::downgrade(shared);
    engine.on_upgrade(move |_, _| {
        if let Some(s) = s.upgrade() {
            s.stats.polling.fetch_sub(1, Ordering::Relaxed);
        }
    });
    let s = Arc::downgrade(shared);
    engine.on_session_close(move |session: &Session, reason| {
        if let Some(s) = s.upgrade() {
            s.stats.add("rawDisconnection", Some(reason.as_str()), 1);
            if session.transport() == TransportKind::Polling {
                s.stats.polling.fetch_sub(1, Ordering::Relaxed);
            }
        }
    });
    let s = Arc::downgrade(shared);
    engine.on_packet(move |_, packet: &Packet| {
        if let (Some(s), Some(len)) = (s.upgrade(), payload_len(packet)) {
            s.stats
                .add_all(&[("packetsIn", None, 1), ("bytesIn", None, len as u64)]);
        }
    });
    let s = Arc::downgrade(shared);
    engine.on_packet_create(move |_, packet: &Packet| {
        if let (Some(s), Some(len)) = (s.upgrade(), payload_len(packet)) {
            s.stats
                .add_all(&[("packetsOut", None, 1), ("bytesOut", None, len as u64)]);
        }
    });
}

/// The host name, as the OS reports it.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NamespaceCount {
    name: String,
    sockets_count: usize,
}

/// Sends `server_stats` every [`INTERVAL`] until the instrumentation is
/// dropped.
pub(crate) async fn run(shared: Arc<Shared>) {
    let started = Instant::now();
    let hostname = hostname();
    let server_id = shared
        .options
        .server_id
        .clone()
        .unwrap_or_else(|| format!("{hostname}#{}", std::process::id()));
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut namespaces: Vec<NamespaceCount> = shared
            .io
            .namespaces()
            .into_iter()
            .map(|ns| NamespaceCount {
                name: ns.name().to_string(),
                sockets_count: ns.socket_count(),
            })
            .collect();
        namespaces.sort_by(|a, b| a.name.cmp(&b.name));
        let stats = serde_json::json!({
            "serverId": server_id,
            "hostname": hostname,
            "pid": std::process::id(),
            "uptime": started.elapsed().as_secs_f64(),
            "clientsCount": shared.io.engine().session_count(),
            "pollingClientsCount": shared.stats.polling.load(Ordering::Relaxed).max(0),
            "aggregatedEvents": shared.stats.drain(),
            "namespaces": namespaces,
        });
        let _ = shared.admin.emit("server_stats", &stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_add_up_per_second_and_type_and_drain() {
        let c = Counters::default();
        c.add("bytesIn", None, 10);
        c.add("bytesIn", None, 5);
        c.add("rawDisconnection", Some("ping timeout"), 1);
        let drained = c.drain();
        // Two seconds may have been crossed; the totals still hold.
        let bytes: u64 = drained
            .iter()
            .filter(|b| b.kind == "bytesIn")
            .map(|b| b.count)
            .sum();
        assert_eq!(bytes, 15);
        let json = serde_json::to_value(&drained).expect("json");
        assert!(json[0].get("subType").is_none());
        assert!(c.drain().is_empty());
    }
}
