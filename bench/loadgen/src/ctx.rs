//! What every scenario shares: the target, the server's PID, the connect
//! window, the source addresses handed out so far, the phase hook and the
//! `tick` counter.

use crate::procfs;
use std::cell::Cell;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;

pub struct Ctx {
    pub target: SocketAddr,
    pub pid: Option<u32>,
    pub in_flight: usize,
    /// Connections per source address.
    pub per_addr: usize,
    /// Connections made so far (to choose source addresses).
    pub made: Cell<usize>,
    /// The last byte of the first source address (127.0.0.B).
    pub src_base: usize,
    /// `--phase-hook CMD`: run `CMD start` before and `CMD stop` after each
    /// measured phase (outside the timing), e.g. to switch a profiler on.
    pub phase_hook: Option<String>,
    pub ticks: Rc<Cell<u64>>,
}

impl Ctx {
    /// The source address of the next connection: 127.0.0.B for the first
    /// `per_addr`, then 127.0.0.B+1, ... The orchestrator gives every run
    /// its own B, so that no run meets the TIME_WAIT ports of the one
    /// before (their search made connects slow once a range was mostly used).
    pub fn next_src(&self) -> Option<Ipv4Addr> {
        let i = self.made.get();
        self.made.set(i + 1);
        let last = (self.src_base + i / self.per_addr).clamp(2, 254);
        Some(Ipv4Addr::new(127, 0, 0, last as u8))
    }

    pub fn hook(&self, what: &str) {
        if let Some(cmd) = &self.phase_hook {
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{cmd} {what}"))
                .status();
        }
    }

    pub fn rss(&self) -> Option<u64> {
        self.pid.and_then(procfs::rss_kib)
    }

    /// The context of node `i` of a cluster: its target,
    /// the same tick counter, and its own block of source addresses (so
    /// that the nodes' connections do not share one address's ports).
    pub fn for_node(&self, target: SocketAddr, i: usize) -> Ctx {
        Ctx {
            target,
            pid: None,
            in_flight: self.in_flight,
            per_addr: self.per_addr,
            made: Cell::new(0),
            src_base: self.src_base + i,
            phase_hook: None,
            ticks: self.ticks.clone(),
        }
    }
}
