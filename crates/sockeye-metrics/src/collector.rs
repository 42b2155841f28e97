//! [`SockeyeCollector`]: reads the server's counters at scrape time and
//! writes them as OpenMetrics families.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use sockeye::engine::proto::eio::ProtocolVersion;
use sockeye::engine::{CLOSE_REASONS, PROTOCOLS, TRANSPORTS};
use sockeye::{DISCONNECT_REASONS, SocketIo};
use std::fmt;
use std::sync::Arc;

/// What a Redis probe reports at each scrape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedisHealth {
    /// Whether Redis answered the last exchange.
    pub up: bool,
    /// How many times it stopped answering since the node connected.
    pub outages: u64,
}

pub(crate) type RedisProbe = Arc<dyn Fn() -> RedisHealth + Send + Sync>;

pub(crate) struct SockeyeCollector {
    io: SocketIo,
    redis: Option<RedisProbe>,
}

impl fmt::Debug for SockeyeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SockeyeCollector")
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

impl SockeyeCollector {
    pub fn new(io: SocketIo, redis: Option<RedisProbe>) -> Self {
        SockeyeCollector { io, redis }
    }
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

/// Writes one counter family.
fn counters<'a>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels<'a>, u64)>,
) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        ConstCounter::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes one counter without labels.
fn counter(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> fmt::Result {
    let m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(v).encode(m)
}

/// Writes one gauge family.
fn gauges<'a>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels<'a>, i64)>,
) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        ConstGauge::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn protocol_label(p: ProtocolVersion) -> &'static str {
    match p {
        ProtocolVersion::V3 => "3",
        ProtocolVersion::V4 => "4",
    }
}

impl SockeyeCollector {
    fn engine(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let engine = self.io.engine();
        let stats = engine.stats();
        counter(
            e,
            "engine_slow_consumer_disconnects",
            "Sessions closed because their send queue went over its bound",
            stats.send_queue_overflows(),
        )?;
        counters(
            e,
            "engine_limits_tripped",
            "Requests and handshakes refused by an engine bound",
            [
                ("payload_too_large", stats.payloads_too_large()),
                ("body_timeout", stats.body_timeouts()),
                ("max_sessions", stats.sessions_refused()),
                (
                    "connections_per_address",
                    stats.address_connections_refused(),
                ),
                ("handshakes_per_address", stats.address_handshakes_refused()),
            ]
            .map(|(l, v)| (vec![("limit", l)], v)),
        )?;
        let Some(m) = engine.metrics() else {
            return Ok(());
        };
        let by_transport = |f: &dyn Fn(_, _) -> u64| {
            let mut rows = Vec::new();
            for t in TRANSPORTS {
                for p in PROTOCOLS {
                    rows.push((
                        vec![("transport", t.as_str()), ("protocol", protocol_label(p))],
                        f(t, p),
                    ));
                }
            }
            rows
        };
        counters(
            e,
            "engine_handshakes",
            "Engine.IO sessions opened, by first transport and protocol revision",
            by_transport(&|t, p| m.handshakes(t, p)),
        )?;
        gauges(
            e,
            "engine_sessions",
            "Engine.IO sessions open now, by transport and protocol revision",
            by_transport(&|t, p| m.open_sessions(t, p))
                .into_iter()
                .map(|(l, v)| (l, v as i64)),
        )?;
        counter(
            e,
            "engine_upgrades",
            "Sessions upgraded from polling to WebSocket",
            m.upgrades(),
        )?;
        counters(
            e,
            "engine_closes",
            "Engine.IO sessions closed, by reason",
            CLOSE_REASONS.map(|r| (vec![("reason", r.as_str())], m.closes(r))),
        )?;
        let (pin, bin) = m.received_totals();
        let (pout, bout) = m.sent_totals();
        counter(
            e,
            "engine_packets_received",
            "Engine.IO packets received",
            pin,
        )?;
        counter(
            e,
            "engine_received_bytes",
            "Bytes of the packets received",
            bin,
        )?;
        counter(
            e,
            "engine_packets_sent",
            "Engine.IO packets queued for clients",
            pout,
        )?;
        counter(
            e,
            "engine_sent_bytes",
            "Bytes of the packets queued for clients",
            bout,
        )?;
        let mut hist = e.encode_descriptor(
            "engine_polling_request_duration_seconds",
            "Time to answer a polling request (a GET waits for data up to the ping interval)",
            None,
            MetricType::Histogram,
        )?;
        for (method, post) in [("GET", false), ("POST", true)] {
            let (sum, count, buckets) = m.polling_latency(post).snapshot();
            hist.encode_family(&[("method", method)])?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
        Ok(())
    }

    fn sockets(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let mut namespaces: Vec<_> = self
            .io
            .namespaces()
            .into_iter()
            .map(|ns| (ns.name().to_string(), ns.socket_count()))
            .collect();
        namespaces.sort();
        gauges(
            e,
            "sockets",
            "Sockets connected to this node now, by namespace",
            namespaces
                .iter()
                .map(|(name, n)| (vec![("namespace", name.as_str())], *n as i64)),
        )?;
        let s = self.io.stats();
        counters(
            e,
            "limits_tripped",
            "Packets, joins, emits and events refused by a Socket.IO bound or rate limit",
            [
                ("parse_error", s.parse_errors),
                ("too_many_attachments", s.too_many_attachments),
                ("attachments_too_large", s.attachments_too_large),
                ("payload_too_deep", s.payloads_too_deep),
                ("namespace_refused", s.namespaces_refused),
                ("rooms_per_socket", s.rooms_refused),
                ("pending_acks", s.acks_refused),
                ("event_rate_limited", s.events_rate_limited),
                ("rate_limit_disconnect", s.rate_limit_disconnects),
            ]
            .map(|(l, v)| (vec![("limit", l)], v)),
        )?;
        let Some(m) = self.io.metrics() else {
            return Ok(());
        };
        counter(e, "connects", "Sockets that joined a namespace", m.connects)?;
        counters(
            e,
            "disconnects",
            "Sockets that left a namespace, by reason",
            DISCONNECT_REASONS.map(|r| (vec![("reason", r.as_str())], m.disconnects_for(r))),
        )?;
        counter(
            e,
            "broadcasts",
            "Broadcasts sent from this node",
            m.broadcasts,
        )?;
        counter(
            e,
            "broadcast_recipients",
            "Local sockets that broadcasts were handed to",
            m.broadcast_recipients,
        )?;
        counter(
            e,
            "volatile_drops",
            "Volatile packets dropped because the socket could not take them",
            m.volatile_drops,
        )?;
        counter(
            e,
            "acks_sent",
            "Emits to one socket waiting for an acknowledgement",
            m.acks_sent,
        )?;
        counter(
            e,
            "acks_answered",
            "Acknowledgements received in time",
            m.acks_answered,
        )?;
        counter(
            e,
            "acks_timed_out",
            "Acknowledgements that did not come in time",
            m.acks_timed_out,
        )?;
        counter(
            e,
            "adapter_requests",
            "Adapter requests that may cross the cluster (fetch sockets, server-side emits)",
            m.adapter_requests,
        )?;
        counter(
            e,
            "adapter_errors",
            "Adapter requests that failed",
            m.adapter_errors,
        )
    }
}

impl SockeyeCollector {
    /// Sessions served from any node (only in cluster mode): what this node
    /// forwarded and served for others, what failed, and what waits now.
    fn cluster(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let engine = self.io.engine();
        let Some((forwards, parked, relayed)) = engine.cluster_backlog() else {
            return Ok(());
        };
        let c = engine.stats().cluster();
        counters(
            e,
            "engine_cluster_forwards",
            "Requests forwarded to another node (out) or served for one (in), by kind",
            [
                ("out", "get", c.forwarded_out_get()),
                ("out", "post", c.forwarded_out_post()),
                ("out", "upgrade", c.forwarded_out_upgrade()),
                ("in", "get", c.forwarded_in_get()),
                ("in", "post", c.forwarded_in_post()),
                ("in", "upgrade", c.forwarded_in_upgrade()),
            ]
            .map(|(d, k, v)| (vec![("direction", d), ("kind", k)], v)),
        )?;
        counters(
            e,
            "engine_cluster_failures",
            "Forwards that failed or were refused, by cause",
            [
                ("timeout", c.timeouts()),
                ("busy", c.busy()),
                ("dead_node", c.dead_tag_refusals()),
                ("refused_by_owner", c.nacks()),
                ("inbox_dropped", c.inbox_dropped()),
                ("membership_lost", c.membership_refusals()),
            ]
            .map(|(l, v)| (vec![("cause", l)], v)),
        )?;
        counters(
            e,
            "engine_cluster_upgrades",
            "WebSocket upgrades of this node's sessions, by where they landed",
            [
                ("local", c.upgrades_local()),
                ("relay", c.upgrades_relay()),
                ("handover", c.upgrades_handover()),
            ]
            .map(|(l, v)| (vec![("path", l)], v)),
        )?;
        counter(
            e,
            "engine_cluster_dead_nodes",
            "Peers this node found dead (lease gone, or a goodbye)",
            c.dead_tags(),
        )?;
        gauges(
            e,
            "engine_cluster_backlog",
            "What waits now: forwards sent, GETs parked here, sessions upgrading or relayed through others",
            [
                ("forwards", forwards),
                ("parked_gets", parked),
                ("relayed", relayed),
            ]
            .map(|(l, v)| (vec![("what", l)], v as i64)),
        )
    }
}

impl Collector for SockeyeCollector {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        self.engine(&mut e)?;
        self.cluster(&mut e)?;
        self.sockets(&mut e)?;
        if let Some(probe) = &self.redis {
            let h = probe();
            gauges(
                &mut e,
                "redis_up",
                "Whether the cluster's Redis answered the last exchange",
                [(Vec::new(), i64::from(h.up))],
            )?;
            counter(
                &mut e,
                "redis_outages",
                "Times the cluster's Redis stopped answering",
                h.outages,
            )?;
        }
        Ok(())
    }
}
