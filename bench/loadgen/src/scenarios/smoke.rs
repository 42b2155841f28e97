//! `smoke --n 5`: a few connections and messages over every transport
//! (WebSocket echo and broadcast, polling, polling then upgrade); exits
//! non-zero unless all of them work.

use super::PAYLOAD;
use super::broadcast::broadcast_phase;
use super::upgrade::check_live;
use crate::cli::{Args, arg};
use crate::connect::{connect_and_hold, hold, upgrade_sessions};
use crate::ctx::Ctx;
use crate::poll;
use crate::ws::sio_connect;
use serde_json::{Value, json};
use std::cell::Cell;
use std::time::Duration;
use tokio::task::spawn_local;

/// A tiny run over every transport; any failure is an error.
pub async fn smoke(ctx: &Ctx, args: &Args) -> Result<Value, String> {
    let n: usize = arg(args, "n", 5);
    let mut ctl = sio_connect(ctx.target, ctx.next_src())
        .await
        .map_err(|e| format!("WebSocket connect: {e}"))?;
    let (held, failed, err) = connect_and_hold(ctx, n - 1).await;
    if failed > 0 {
        return Err(format!("{failed} WebSocket connects failed: {err:?}"));
    }
    // Echo by ack.
    let ticks = Cell::new(0);
    for id in 1..=3u64 {
        ctl.send(format!("42{id}[\"echo\",\"{PAYLOAD}\"]").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        tokio::time::timeout(
            Duration::from_secs(5),
            ctl.wait_for(format!("43{id}[\"{PAYLOAD}\"]").as_bytes(), &ticks),
        )
        .await
        .map_err(|_| "no echo ack within 5 s".to_string())?
        .map_err(|e| format!("echo: {e}"))?;
    }
    // Broadcast: 3 ticks to every connection.
    let conns = held + 1;
    let b = broadcast_phase(ctx, &mut ctl, conns, 3, Duration::from_millis(1)).await;
    if b["losses"].as_u64() != Some(0) || b["delivered"].as_u64().unwrap_or(0) == 0 {
        return Err(format!("broadcast lost messages: {b}"));
    }
    // Long-polling sessions.
    let mut http = poll::Http::connect(ctx.target, None)
        .await
        .map_err(|e| e.to_string())?;
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(10), poll::session(&mut http))
            .await
            .map_err(|_| "polling session timed out".to_string())?
            .map_err(|e| format!("polling session: {e}"))?;
    }
    // Polling then upgrade.
    let (up, failed, err) = upgrade_sessions(ctx, 2).await;
    if failed > 0 {
        return Err(format!("upgrade failed: {err:?}"));
    }
    for ws in up {
        spawn_local(hold(ws, ctx.ticks.clone()));
    }
    let expected = conns as u64 + 2;
    let live = check_live(ctx, &mut ctl, expected, Duration::from_secs(5)).await;
    if live != expected {
        return Err(format!(
            "after upgrade, {live} of {expected} connections got a broadcast"
        ));
    }
    Ok(json!({"ok": true, "connections": expected, "broadcast": b}))
}
