//! `cluster --ports P1,P2,P3 --n 10000 --duration 4 --batch 10 --probes 2000
//! [--redis-port R]`: nodes of one cluster (one Redis), `n` connections
//! spread round-robin over them.
//!
//! - `cluster_<n>`: a controller on the first node sends `bcast` rounds (as
//!   in `broadcast`); every connection counts its ticks: deliveries/s over
//!   the whole cluster. With `--server-pid` (the first node) also the RSS
//!   per connection of that node (after 100 warm-up connections, as
//!   `idle`; read before the other nodes' connections are made).
//! - the probe: a client on the first node (A) and one on the second (B)
//!   join room `probe`; A emits `probe` `seq`, the node broadcasts it to
//!   the room; arrival at B minus arrival at A is the added latency of a
//!   cross-node message (p50/p99), one probe at a time.
//! - with `--redis-port`: the Redis `PUBLISH` calls made for one
//!   `bcast {n: 1}` (`CONFIG RESETSTAT`, then `INFO commandstats`).

use super::broadcast::broadcast_phase;
use super::{kb_per, label, percentile, settle};
use crate::cli::{Args, arg, list};
use crate::connect::connect_and_hold;
use crate::ctx::Ctx;
use crate::ws::{Ws, sio_connect};
use serde_json::{Value, json};
use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Waits for `prefix` on `ws` and returns when it arrived.
async fn arrival(ws: &mut Ws, prefix: &[u8]) -> Result<Instant, String> {
    let none = Cell::new(0);
    ws.wait_for(prefix, &none)
        .await
        .map_err(|e| format!("probe: {e}"))?;
    Ok(Instant::now())
}

async fn probe_client(ctx: &Ctx) -> Result<Ws, String> {
    let mut ws = sio_connect(ctx.target, ctx.next_src())
        .await
        .map_err(|e| format!("probe connect: {e}"))?;
    let none = Cell::new(0);
    ws.send(b"421[\"probe-join\"]")
        .await
        .map_err(|e| format!("probe-join: {e}"))?;
    ws.wait_for(b"431[", &none)
        .await
        .map_err(|e| format!("probe-join ack: {e}"))?;
    Ok(ws)
}

/// One probe at a time: (A's latency, B's latency, B minus A) in ns.
async fn probe_phase(a_ctx: &Ctx, b_ctx: &Ctx, probes: usize) -> Result<Value, String> {
    let mut a = probe_client(a_ctx).await?;
    let mut b = probe_client(b_ctx).await?;
    // B's node learns of the room through its own subscription: no wait
    // needed for the classic adapter (every node gets every broadcast).
    let (mut la, mut lb, mut added) = (Vec::new(), Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    for seq in 0..probes + 50 {
        let msg = format!("42[\"probe\",{seq}]");
        let want = format!("42[\"probe\",{seq}]");
        let t0 = Instant::now();
        a.send(msg.as_bytes())
            .await
            .map_err(|e| format!("probe send: {e}"))?;
        let both = async {
            tokio::join!(
                arrival(&mut a, want.as_bytes()),
                arrival(&mut b, want.as_bytes())
            )
        };
        let (ta, tb) = tokio::time::timeout(Duration::from_secs(5), both)
            .await
            .map_err(|_| format!("probe {seq}: no arrival within 5 s"))?;
        let (ta, tb) = (ta?, tb?);
        // The first 50 warm the connections up.
        if seq >= 50 {
            let da = ta.duration_since(t0).as_nanos() as u64;
            let db = tb.duration_since(t0).as_nanos() as u64;
            la.push(da);
            lb.push(db);
            added.push(db.saturating_sub(da));
        }
        if Instant::now() > deadline {
            break;
        }
    }
    for v in [&mut la, &mut lb, &mut added] {
        v.sort_unstable();
    }
    let us = |v: &[u64], p: f64| percentile(v, p) / 1e3;
    Ok(json!({
        "name": "cluster_probe",
        "probes": added.len(),
        "same_node_p50_us": us(&la, 0.5),
        "same_node_p99_us": us(&la, 0.99),
        "cross_node_p50_us": us(&lb, 0.5),
        "cross_node_p99_us": us(&lb, 0.99),
        "added_p50_us": us(&added, 0.5),
        "added_p99_us": us(&added, 0.99),
    }))
}

/// `INFO commandstats`' `cmdstat_publish:calls=N` of the Redis on `port`.
fn publish_calls(port: u16) -> Result<u64, String> {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "INFO", "commandstats"])
        .output()
        .map_err(|e| format!("redis-cli: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "redis-cli INFO commandstats failed ({})",
            out.status
        ));
    }
    Ok(parse_publish_calls(&String::from_utf8_lossy(&out.stdout)))
}

/// `cmdstat_publish:calls=N,...` of an `INFO commandstats` answer; 0 when
/// the line is absent (no PUBLISH since the last reset).
fn parse_publish_calls(info: &str) -> u64 {
    info.lines()
        .find_map(|l| l.trim().strip_prefix("cmdstat_publish:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// PUBLISH calls for one `bcast {n: 1}` from `ctl`, once all `conns`
/// connections got its tick.
async fn publishes_per_broadcast(
    ctx: &Ctx,
    ctl: &mut Ws,
    conns: usize,
    redis_port: u16,
) -> Result<Value, String> {
    let reset = std::process::Command::new("redis-cli")
        .args(["-p", &redis_port.to_string(), "CONFIG", "RESETSTAT"])
        .output()
        .map_err(|e| format!("redis-cli: {e}"))?;
    if !reset.status.success() {
        return Err("redis-cli CONFIG RESETSTAT failed".into());
    }
    let before = publish_calls(redis_port)?;
    ctx.ticks.set(0);
    ctl.send(b"42[\"bcast\",{\"n\":1,\"size\":32}]")
        .await
        .map_err(|e| format!("bcast: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while ctx.ticks.get() < conns as u64 && Instant::now() < deadline {
        tokio::select! {
            r = ctl.next() => {
                if let Ok(Some(span)) = r
                    && ctl.data(span).starts_with(crate::ws::TICK)
                {
                    ctx.ticks.set(ctx.ticks.get() + 1);
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(2)) => {}
        }
    }
    let after = publish_calls(redis_port)?;
    Ok(json!({
        "publish_per_broadcast": after.saturating_sub(before),
        "delivered": ctx.ticks.get(),
    }))
}

pub async fn cluster(ctx: &Ctx, args: &Args) -> Result<Value, String> {
    let ports = list(args, "ports", "");
    if ports.len() < 2 {
        return Err("cluster needs --ports with two nodes or more".into());
    }
    let n: usize = arg(args, "n", 10_000);
    let batch: u64 = arg(args, "batch", 10);
    let probes: usize = arg(args, "probes", 2000);
    let duration = Duration::from_secs_f64(arg(args, "duration", 4.0));
    let redis_port: u16 = arg(args, "redis-port", 0);
    // One context per node, each with its own source addresses.
    let nodes: Vec<Ctx> = ports
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let target = SocketAddr::new(ctx.target.ip(), p as u16);
            ctx.for_node(target, i)
        })
        .collect();
    let mut ctl = sio_connect(nodes[0].target, nodes[0].next_src())
        .await
        .map_err(|e| format!("controller connect: {e}"))?;
    // The first node's RSS per connection, measured as `idle` measures it
    // (100 warm-up connections first), to compare with the in-memory
    // adapter's figure for the same count.
    let (warm, _, _) = connect_and_hold(&nodes[0], 100).await;
    settle(300).await;
    let rss0 = ctx.rss();
    let mut conns = 1 + warm;
    let rest = n.saturating_sub(conns);
    let mut on_first = 0usize;
    let mut rss1 = None;
    for (i, node) in nodes.iter().enumerate() {
        let share = rest / nodes.len() + usize::from(i < rest % nodes.len());
        let (ok, failed, err) = connect_and_hold(node, share).await;
        conns += ok;
        if failed > 0 {
            eprintln!("cluster: {failed} connects to node {i} failed: {err:?}");
        }
        if i == 0 {
            on_first = ok;
            settle(1000).await;
            rss1 = ctx.rss();
        }
    }
    settle(500).await;
    let rss_per_conn = match (rss0, rss1) {
        (Some(a), Some(b)) => Some(kb_per(b as i64 - a as i64, on_first)),
        _ => None,
    };
    let mut phase = broadcast_phase(ctx, &mut ctl, conns, batch, duration).await;
    // The meter saw the first node's CPU only: no per-delivery CPU here.
    if let Some(o) = phase.as_object_mut() {
        o.remove("cpu_per_delivery_ns");
        o.remove("cpu_per_emit_us");
    }
    phase["name"] = json!(format!("cluster_{}", label(n)));
    phase["nodes"] = json!(nodes.len());
    phase["rss_per_conn_kb"] = json!(rss_per_conn);
    phase["first_node_connections"] = json!(on_first);
    settle(300).await;
    if redis_port != 0 {
        let p = publishes_per_broadcast(ctx, &mut ctl, conns, redis_port).await?;
        phase["publish_per_broadcast"] = p["publish_per_broadcast"].clone();
    }
    let probe = probe_phase(&nodes[0], &nodes[1], probes).await?;
    Ok(json!([phase, probe]))
}

#[cfg(test)]
mod tests {
    use super::parse_publish_calls;

    #[test]
    fn publish_calls_are_read_from_commandstats() {
        let info = "# Commandstats\r\n\
            cmdstat_psubscribe:calls=3,usec=10,usec_per_call=3.33,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_publish:calls=17,usec=85,usec_per_call=5.00,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_pubsub|numsub:calls=2,usec=4,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n";
        assert_eq!(parse_publish_calls(info), 17);
    }

    #[test]
    fn no_publish_line_means_none_since_the_reset() {
        assert_eq!(
            parse_publish_calls("# Commandstats\r\ncmdstat_info:calls=1\r\n"),
            0
        );
    }
}
