//! Process figures from /proc: CPU (utime + stime) and RSS.

use std::time::Instant;

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// utime + stime of a process (all its threads), in seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// VmRSS of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// This process's CPU time (user + system), in seconds, with microsecond
/// resolution.
pub fn self_cpu() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The local port range (`net.ipv4.ip_local_port_range`).
pub fn port_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|v| v.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999))
}

/// Measures one phase: wall time, server CPU, generator CPU.
pub struct Meter {
    pid: Option<u32>,
    t0: Instant,
    server0: f64,
    gen0: f64,
}

#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub wall: f64,
    pub server_cpu: f64,
    pub gen_cpu: f64,
}

impl Measured {
    /// Share of one core the generator used.
    pub fn gen_util(&self) -> f64 {
        if self.wall > 0.0 {
            self.gen_cpu / self.wall
        } else {
            0.0
        }
    }
}

impl Meter {
    pub fn start(pid: Option<u32>) -> Meter {
        Meter {
            pid,
            server0: pid.and_then(cpu_secs).unwrap_or(0.0),
            gen0: self_cpu(),
            t0: Instant::now(),
        }
    }

    pub fn stop(&self) -> Measured {
        self.stop_at(Instant::now())
    }

    /// Stops with the wall time ending at `end` (CPU read now).
    pub fn stop_at(&self, end: Instant) -> Measured {
        Measured {
            wall: end.duration_since(self.t0).as_secs_f64(),
            server_cpu: self.pid.and_then(cpu_secs).unwrap_or(0.0) - self.server0,
            gen_cpu: self_cpu() - self.gen0,
        }
    }
}
