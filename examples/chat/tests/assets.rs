//! The built `sockeye-chat` run from folders outside the source tree: it
//! serves its page and the socket.io-client bundle it finds, or exits 2
//! with one instruction.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_sockeye-chat");
const CHAT_DIR: &str = env!("CARGO_MANIFEST_DIR");
const DEADLINE: Duration = Duration::from_secs(20);
const BUNDLES: [&str; 4] = [
    "socket.io.js",
    "socket.io.min.js",
    "socket.io.esm.min.js",
    "socket.io.msgpack.min.js",
];

/// A fresh folder under the target's temporary folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "chat-assets-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// A new empty subfolder.
    fn dir(&self, name: &str) -> PathBuf {
        let dir = self.0.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The built binary, linked (or copied) into `dir`, as a user who
/// installed it elsewhere has it.
fn binary_in(dir: &Path) -> PathBuf {
    let exe = dir.join("sockeye-chat");
    if std::fs::hard_link(BIN, &exe).is_err() {
        std::fs::copy(BIN, &exe).unwrap();
    }
    exe
}

/// A socket.io-client package under `node_modules` whose bundles say
/// which file they are; returns the dist/ folder.
fn fake_client(node_modules: &Path) -> PathBuf {
    let dist = node_modules.join("socket.io-client").join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("..").join("package.json"),
        r#"{"name":"socket.io-client","version":"4.8.4"}"#,
    )
    .unwrap();
    for bundle in BUNDLES {
        std::fs::write(dist.join(bundle), format!("/* fake {bundle} */")).unwrap();
    }
    dist
}

/// `exe` started in `cwd` on a free port, with no SOCKEYE_CHAT_* variable
/// from this environment; killed on drop.
struct Chat {
    child: Child,
    /// All of stderr, once the process closed it.
    stderr: mpsc::Receiver<String>,
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(exe: &Path, cwd: &Path, args: &[&str]) -> Chat {
    let mut cmd = Command::new(exe);
    cmd.current_dir(cwd)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SOCKEYE_CHAT_") {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    Chat { child, stderr: rx }
}

impl Chat {
    /// The address of the `listening on http://ADDR` line.
    fn address(&mut self) -> SocketAddr {
        let stdout = self.child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = tx.send(addr.parse::<SocketAddr>().unwrap());
                }
            }
        });
        match rx.recv_timeout(DEADLINE) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = self.child.kill();
                let stderr = self.stderr.recv_timeout(DEADLINE).unwrap_or_default();
                panic!("sockeye-chat did not print its address; stderr:\n{stderr}");
            }
        }
    }

    /// Waits (bounded) for the exit; its status and stderr.
    fn exit(mut self) -> (ExitStatus, String) {
        // stderr ends when the process exits.
        let stderr = self
            .stderr
            .recv_timeout(DEADLINE)
            .expect("sockeye-chat did not exit");
        (self.child.wait().unwrap(), stderr)
    }
}

/// `GET path` over HTTP/1.1: the status and the body.
fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect_timeout(&addr, DEADLINE).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, raw[split + 4..].to_vec())
}

/// Checks the page, its script and the bundle served by a chat on `addr`;
/// `bundle` is the file `/socket.io/socket.io.js` must be.
fn assert_serves_the_chat(addr: SocketAddr, bundle: &Path) {
    let (status, page) = get(addr, "/");
    let page = String::from_utf8(page).unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<title>Sockeye chat</title>"), "{page}");
    assert!(
        page.contains(r#"<script src="/socket.io/socket.io.min.js""#),
        "{page}"
    );
    let (status, script) = get(addr, "/chat.js");
    assert_eq!(status, 200);
    assert_eq!(
        script,
        std::fs::read(Path::new(CHAT_DIR).join("static/chat.js")).unwrap()
    );
    let (status, served) = get(addr, "/socket.io/socket.io.js");
    assert_eq!(status, 200);
    assert_eq!(served, std::fs::read(bundle).unwrap());
}

#[test]
fn a_binary_elsewhere_serves_the_page_and_the_bundle_next_to_it_from_any_folder() {
    let scratch = Scratch::new("next-to-exe");
    let bin_dir = scratch.dir("bin");
    let exe = binary_in(&bin_dir);
    let dist = fake_client(&bin_dir.join("node_modules"));
    let cwd = scratch.dir("elsewhere");

    let mut chat = start(&exe, &cwd, &["--listen", "127.0.0.1:0"]);
    let addr = chat.address();
    // The copy next to the executable wins over the source tree's.
    assert_serves_the_chat(addr, &dist.join("socket.io.js"));
    let (status, min) = get(addr, "/socket.io/socket.io.min.js");
    assert_eq!(
        (status, min),
        (200, b"/* fake socket.io.min.js */".to_vec())
    );
}

#[test]
fn the_built_binary_finds_the_chat_s_own_bundle_from_any_folder_or_says_what_to_run() {
    let scratch = Scratch::new("in-place");
    let cwd = scratch.dir("elsewhere");
    let own = Path::new(CHAT_DIR).join("node_modules/socket.io-client/dist");
    let mut chat = start(Path::new(BIN), &cwd, &["--listen", "127.0.0.1:0"]);
    if own.join("socket.io.min.js").is_file() {
        // `npm ci` ran in examples/chat/ (scripts/chat and scripts/test do).
        let addr = chat.address();
        assert_serves_the_chat(addr, &own.join("socket.io.js"));
    } else {
        let (status, stderr) = chat.exit();
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(&format!("run `npm ci --prefix {CHAT_DIR}`")),
            "{stderr}"
        );
        assert!(stderr.contains("--client-dist DIR"), "{stderr}");
    }
}

#[test]
fn a_client_dist_without_the_bundle_exits_2_with_one_instruction() {
    let scratch = Scratch::new("unusable");
    let exe = binary_in(&scratch.dir("bin"));
    let empty = scratch.dir("empty");
    let cwd = scratch.dir("elsewhere");
    for args in [
        vec!["--client-dist".to_owned(), empty.display().to_string()],
        vec![format!("--client-dist={}", empty.join("nope").display())],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, stderr) = start(&exe, &cwd, &args).exit();
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.starts_with("sockeye-chat: error: --client-dist "),
            "{stderr}"
        );
        assert!(
            stderr.contains("socket.io.min.js") && stderr.contains("package.json"),
            "{stderr}"
        );
        assert!(stderr.contains("npm ci --prefix "), "{stderr}");
    }
    // The environment variable is the same option.
    let mut cmd = Command::new(&exe);
    cmd.current_dir(&cwd)
        .env("SOCKEYE_CHAT_CLIENT_DIST", &empty)
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--client-dist "), "{stderr}");
}
