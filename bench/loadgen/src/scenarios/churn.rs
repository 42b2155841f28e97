//! The churn actions of the soak: each one opens something against the
//! server and abandons it the way a hostile or broken client would. Every
//! action is bounded in time (it gives up after [`ACTION_DEADLINE`]) and in
//! bytes.

use super::PAYLOAD;
use crate::poll::{self, Http};
use crate::ws::{Ws, sio_connect, tcp_connect};
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The longest any single action may take.
pub const ACTION_DEADLINE: Duration = Duration::from_secs(15);

/// The kinds of churn, run in turn by every worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Polling session + CONNECT + one echo, then dropped without a close.
    Polling,
    /// WebSocket session + CONNECT + one echo, then the TCP connection dropped.
    WebSocket,
    /// Polling, then the upgrade to WebSocket, one echo, then dropped.
    Upgrade,
    /// Polling session, WebSocket probe (`2probe`/`3probe`), never `5`.
    AbandonedProbe,
    /// WebSocket session that sends echoes and never reads the answers.
    NeverReading,
    /// A POST that announces more body than it sends, held, then dropped.
    StalledBody,
    /// A TCP connection with half a request line, held, then dropped.
    HalfOpen,
}

pub const KINDS: [Kind; 7] = [
    Kind::Polling,
    Kind::WebSocket,
    Kind::Upgrade,
    Kind::AbandonedProbe,
    Kind::NeverReading,
    Kind::StalledBody,
    Kind::HalfOpen,
];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Polling => "polling",
            Kind::WebSocket => "websocket",
            Kind::Upgrade => "upgrade",
            Kind::AbandonedProbe => "abandoned_probe",
            Kind::NeverReading => "never_reading",
            Kind::StalledBody => "stalled_body",
            Kind::HalfOpen => "half_open",
        }
    }
}

/// How long the holding actions keep their connection before dropping it.
const HOLD: Duration = Duration::from_secs(3);
/// Echo payload of the never-reading clients, and how many each sends.
const UNREAD_BYTES: usize = 16 * 1024;
const UNREAD_COUNT: usize = 20;

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

async fn echo_ws(ws: &mut Ws) -> io::Result<()> {
    ws.send(format!("421[\"echo\",\"{PAYLOAD}\"]").as_bytes())
        .await?;
    ws.wait_for(b"431[", &Cell::new(0)).await
}

/// Runs one action of `kind` against `target`.
pub async fn run(kind: Kind, target: SocketAddr) -> io::Result<()> {
    match tokio::time::timeout(ACTION_DEADLINE, run_inner(kind, target)).await {
        Ok(r) => r,
        Err(_) => Err(err(format!(
            "{} took over {ACTION_DEADLINE:?}",
            kind.name()
        ))),
    }
}

async fn run_inner(kind: Kind, target: SocketAddr) -> io::Result<()> {
    match kind {
        Kind::Polling => {
            let mut http = Http::connect(target, None).await?;
            let path = poll::open_session(&mut http).await?;
            http.post(&path, b"421[\"echo\",\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]")
                .await?;
            let body = http.get(&path).await?;
            if !poll::packets(&body).any(|p| p.starts_with(b"431[")) {
                // The ack may come with the next GET.
                let body = http.get(&path).await?;
                if !poll::packets(&body).any(|p| p.starts_with(b"431[")) {
                    return Err(err("polling echo not answered"));
                }
            }
            Ok(())
        }
        Kind::WebSocket => {
            let mut ws = sio_connect(target, None).await?;
            echo_ws(&mut ws).await
        }
        Kind::Upgrade => {
            let mut ws = poll::polling_then_upgrade(target, None, None).await?;
            echo_ws(&mut ws).await
        }
        Kind::AbandonedProbe => {
            let mut http = Http::connect(target, None).await?;
            let path = poll::open_session(&mut http).await?;
            let sid = &path[path.find("sid=").map(|i| i + 4).unwrap_or(0)..];
            let mut ws = Ws::connect(
                target,
                None,
                &format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"),
            )
            .await?;
            ws.send(b"2probe").await?;
            ws.wait_for(b"3probe", &Cell::new(0)).await
        }
        Kind::NeverReading => {
            let mut ws = sio_connect(target, None).await?;
            let blob = "n".repeat(UNREAD_BYTES);
            let msg = format!("42[\"echo\",\"{blob}\"]");
            for _ in 0..UNREAD_COUNT {
                ws.send(msg.as_bytes()).await?;
            }
            tokio::time::sleep(HOLD).await;
            Ok(())
        }
        Kind::StalledBody => {
            let mut http = Http::connect(target, None).await?;
            let path = poll::open_session(&mut http).await?;
            let mut s = tcp_connect(target, None).await?;
            let req = format!(
                "POST {path} HTTP/1.1\r\nHost: {target}\r\nContent-Type: text/plain\r\n\
                 Content-Length: 1000\r\n\r\n42[\"echo\","
            );
            s.write_all(req.as_bytes()).await?;
            tokio::time::sleep(HOLD).await;
            Ok(())
        }
        Kind::HalfOpen => {
            let mut s = tcp_connect(target, None).await?;
            s.write_all(b"GET /socket.io/?EIO=4&transport=pol").await?;
            tokio::time::sleep(HOLD).await;
            Ok(())
        }
    }
}
