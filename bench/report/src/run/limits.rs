//! The machine's limits (open files, local ports) and what they allow: the
//! most connections per process, source addresses, the notes on them, and
//! the scenarios' connection counts shrunk to fit.

use crate::machine;
use serde_json::{Value, json};

/// The connection counts of the scenarios, shrunk to fit the limits.
#[derive(Clone, Copy)]
pub struct Sizes {
    pub idle_n: usize,
    pub idle_max: usize,
    pub b_small: usize,
    pub b_large: usize,
    pub upgrade_n: usize,
    pub echo_n: usize,
}

/// The open-files and port limits, what they allow, and the notes on them.
pub struct Limits {
    pub soft: u64,
    pub hard: u64,
    pub lo: u64,
    pub hi: u64,
    pub max_conns: usize,
    pub addrs: usize,
    pub notes: Vec<String>,
    pub shrunk: Vec<Value>,
    pub sizes: Sizes,
}

impl Limits {
    /// Reads the limits and sizes the scenarios (`q`: the quick run's sizes).
    pub fn read(q: bool) -> Limits {
        let (soft, hard) = machine::nofile();
        let (lo, hi) = machine::port_range();
        let ports = hi.saturating_sub(lo) + 1;
        // As the load generator does: a quarter of the range per source address.
        let per_addr = (ports / 4).max(1000);
        // Room for the runtime's own descriptors and the connect window.
        let max_conns = soft.saturating_sub(1000).max(100) as usize;
        let addrs = max_conns.div_ceil(per_addr as usize);
        let mut notes = vec![
            format!(
                "open files: soft {soft}, hard {hard} (soft raised to hard): at most {max_conns} connections per process"
            ),
            format!(
                "local port range {lo}-{hi} ({ports} ports): {per_addr} connections per loopback source address (a quarter of the range: connect()'s port search slows down as a range fills), so {addrs} source addresses for {max_conns}; every run uses its own (127.0.0.B, B+1, ...), away from the TIME_WAIT ports of the runs before"
            ),
        ];
        let mut shrunk = Vec::new();
        let mut fit = |what: &str, want: usize, extra: usize| -> usize {
            if want + extra <= max_conns {
                want
            } else {
                let got = max_conns.saturating_sub(extra);
                shrunk.push(json!({"scenario": what, "wanted": want, "ran": got, "why": format!("open-files limit {soft}")}));
                got
            }
        };
        let idle_n = fit("idle_10k", if q { 2000 } else { 10_000 }, 101);
        let idle_max = if q { 0 } else { max_conns };
        let b_small = fit("broadcast_1k", 1000, 1);
        let b_large = fit("broadcast_10k", 10_000, 1);
        let upgrade_n = fit("upgrade_5k", if q { 1000 } else { 5000 }, 1 + 400);
        let echo_n = fit("echo_loaded", 1000, 1);
        for s in &shrunk {
            notes.push(format!(
                "shrunk {}: {} -> {} connections ({})",
                s["scenario"].as_str().unwrap_or(""),
                s["wanted"],
                s["ran"],
                s["why"].as_str().unwrap_or("")
            ));
        }
        if !q {
            notes.push(format!(
                "idle_max: {idle_max} connections (the most this machine allows one process)"
            ));
        }
        Limits {
            soft,
            hard,
            lo,
            hi,
            max_conns,
            addrs,
            notes,
            shrunk,
            sizes: Sizes {
                idle_n,
                idle_max,
                b_small,
                b_large,
                upgrade_n,
                echo_n,
            },
        }
    }
}
