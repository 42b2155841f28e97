//! `--rate-limit` end to end: the chat behind the limit the flag builds,
//! driven by a raw WebSocket client speaking the wire protocol.

use crate::chat;
use crate::cli::Cli;
use clap::Parser as _;
use futures_util::{SinkExt, StreamExt};
use sockeye::SocketIo;
use sockeye::serve::Server;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: Duration = Duration::from_secs(5);

/// The chat with the options of `args`, on a free port.
async fn chat_server(args: &[&str]) -> (SocketIo, sockeye::serve::ServerHandle, SocketAddr) {
    let cli = Cli::try_parse_from(std::iter::once("sockeye-chat").chain(args.iter().copied()))
        .expect("valid flags");
    let mut builder = SocketIo::builder();
    if let Some(limit) = cli.rate_limit() {
        builder = builder.rate_limit(limit);
    }
    let io = builder.build().expect("build");
    chat::install(&io);
    let server = Server::builder()
        .listen("127.0.0.1:0".parse().expect("address"))
        .serve(io.service())
        .await
        .expect("serve");
    let addr = server.local_addrs()[0].addr;
    (io, server, addr)
}

/// The next text frame (pings answered); `None` once the server closed.
async fn recv(ws: &mut Ws) -> Option<String> {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.as_str() == "2" => {
                    ws.send(Message::text("3")).await.expect("pong");
                }
                Some(Ok(Message::Text(t))) => return Some(t.as_str().to_owned()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("a frame in time")
}

/// A client logged in as `name` on `/`.
async fn logged_in(addr: SocketAddr, name: &str) -> Ws {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
    assert!(recv(&mut ws).await.expect("open").starts_with('0'));
    ws.send(Message::text("40")).await.expect("send");
    assert!(recv(&mut ws).await.expect("connect").starts_with("40{"));
    ws.send(Message::text(format!("420[\"add user\",\"{name}\"]")))
        .await
        .expect("send");
    // `login`, then the ack.
    loop {
        let frame = recv(&mut ws).await.expect("login");
        if frame.starts_with("430") {
            assert!(frame.contains("\"ok\":true"), "{frame}");
            return ws;
        }
    }
}

/// Sends `n` messages with acks 1..=n at once; returns the frames until
/// the server closed or `until` matched.
async fn burst(ws: &mut Ws, n: u32, until: &str) -> (Vec<String>, bool) {
    for i in 1..=n {
        ws.feed(Message::text(format!("42{i}[\"new message\",\"m{i}\"]")))
            .await
            .expect("feed");
    }
    ws.flush().await.expect("flush");
    let mut frames = Vec::new();
    while let Some(frame) = recv(ws).await {
        let done = frame.starts_with(until);
        frames.push(frame);
        if done {
            return (frames, false);
        }
    }
    (frames, true)
}

#[tokio::test]
async fn rate_limit_flag_drops_then_disconnects_a_flooding_client() {
    // Burst 3 (`add user` takes one token), then one event per 1,000 s:
    // nothing refills while the test runs, however slow the machine.
    let (io, _server, addr) =
        chat_server(&["--rate-limit", "0.001", "--rate-limit-burst", "3"]).await;
    let mut other = logged_in(addr, "calm").await;
    let mut ws = logged_in(addr, "flood").await;
    // Two messages pass, then 10 are dropped and the client is disconnected.
    let (frames, closed) = burst(&mut ws, 20, "never").await;
    assert!(closed);
    let acks: Vec<&String> = frames.iter().filter(|f| f.starts_with("43")).collect();
    assert_eq!(acks.len(), 2, "{frames:?}");
    assert!(acks[0].starts_with("431[") && acks[1].starts_with("432["));
    assert_eq!(frames.last().map(String::as_str), Some("41"));
    let stats = io.stats();
    assert_eq!(
        (stats.events_rate_limited, stats.rate_limit_disconnects),
        (10, 1)
    );
    // The other client saw the two messages and then `user left`.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let frame = recv(&mut other).await.expect("a broadcast");
        if frame.contains("new message") || frame.contains("user left") {
            seen.push(frame);
        }
    }
    assert!(seen[2].contains("user left"), "{seen:?}");
}

#[tokio::test]
async fn without_the_flag_nothing_is_limited() {
    let (io, _server, addr) = chat_server(&[]).await;
    let mut ws = logged_in(addr, "fast").await;
    let (frames, closed) = burst(&mut ws, 50, "4350[").await;
    assert!(!closed);
    assert_eq!(frames.iter().filter(|f| f.starts_with("43")).count(), 50);
    assert_eq!(io.stats().events_rate_limited, 0);
}
