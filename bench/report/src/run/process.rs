//! Process control: the open-files limit, free ports, servers and the
//! generator started pinned (taskset) and niced, stopped by PID.

use super::say;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Raises the open-files soft limit to the hard limit (children inherit it).
pub fn raise_nofile() {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn pinned(core: usize, program: &[String], env: &Env) -> Command {
    let mut full: Vec<String> = Vec::new();
    if env.nice {
        full.extend(["nice".into(), "-n".into(), "-10".into()]);
    }
    if env.pin {
        full.extend(["taskset".into(), "-c".into(), core.to_string()]);
    }
    full.extend(program.iter().cloned());
    let mut c = Command::new(&full[0]);
    c.args(&full[1..]);
    c
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a child's pid.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Stops a server by PID: SIGTERM, then SIGKILL after 5 s.
pub fn stop(child: &mut Child) {
    let pid = child.id();
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    signal(pid, libc::SIGTERM);
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(pid, libc::SIGKILL);
    let _ = child.wait();
}

pub struct Env {
    pub bin: PathBuf,
    pub tmp: PathBuf,
    pub pin: bool,
    /// Raise the bench processes' priority over other work (`nice -n -10`).
    pub nice: bool,
    runs: std::cell::Cell<usize>,
}

impl Env {
    /// Pins the server and the generator to cores 0 and 1 when taskset is
    /// there and the machine has two cores; raises their priority when run
    /// as root, unless `no_nice`.
    pub fn new(bin: PathBuf, tmp: PathBuf, no_nice: bool) -> Env {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let taskset = Command::new("taskset")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        let pin = taskset && cores >= 2;
        if !pin {
            say(format!(
                "not pinning (taskset: {taskset}, cores: {cores}): figures are less stable"
            ));
        }
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let nice = root
            && !no_nice
            && Command::new("nice")
                .arg("true")
                .status()
                .is_ok_and(|s| s.success());
        Env {
            bin,
            tmp,
            pin,
            nice,
            runs: std::cell::Cell::new(0),
        }
    }

    /// Every run gets its own block of four source addresses 127.0.0.B...
    pub fn next_src_base(&self) -> usize {
        let n = self.runs.get();
        self.runs.set(n + 1);
        2 + (n * 4) % 248
    }
}
