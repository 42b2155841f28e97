//! The scenarios, one module each, and what their figures share: the
//! payload, the measurement's JSON, settling pauses, KB per connection and
//! `10k`-style labels.

mod broadcast;
mod churn;
mod cluster;
mod echo;
mod forwarding;
mod idle;
mod polling;
mod polling_idle;
mod smoke;
mod soak;
mod upgrade;

use crate::cli::Args;
use crate::ctx::Ctx;
use crate::procfs::Measured;
use serde_json::{Value, json};
use std::time::Duration;

pub const PAYLOAD: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// Runs the scenario `name`: its phases, or an error (a failed smoke run or
/// an unknown name).
pub async fn run(name: &str, ctx: &Ctx, args: &Args) -> Result<Value, String> {
    match name {
        "idle" => Ok(idle::idle(ctx, args).await),
        "idle_nick" => Ok(idle::idle_nick(ctx, args).await),
        "broadcast" => Ok(broadcast::broadcast(ctx, args).await),
        "cluster" => cluster::cluster(ctx, args).await,
        "echo" => Ok(echo::echo(ctx, args).await),
        "forwarding" => forwarding::forwarding(ctx, args).await,
        "polling" => Ok(polling::polling(ctx, args).await),
        "polling_idle" => {
            Ok(polling_idle::polling_idle(ctx, crate::cli::arg(args, "n", 2500)).await)
        }
        "upgrade" => Ok(upgrade::upgrade(ctx, args).await),
        "smoke" => smoke::smoke(ctx, args).await,
        "soak" => soak::soak(ctx, args).await,
        other => Err(format!("unknown scenario {other:?}")),
    }
}

pub fn measured(m: &Measured) -> Value {
    json!({
        "wall_s": m.wall,
        "server_cpu_s": m.server_cpu,
        "generator_cpu_s": m.gen_cpu,
        "generator_util": m.gen_util(),
        "invalid": m.gen_util() > 0.9,
    })
}

pub async fn settle(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

pub fn kb_per(delta_kib: i64, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        delta_kib as f64 * 1024.0 / 1000.0 / n as f64
    }
}

/// The `p` quantile (0..=1) of `sorted`, by nearest rank; 0 when empty.
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64
}

pub fn label(n: usize) -> String {
    if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}
