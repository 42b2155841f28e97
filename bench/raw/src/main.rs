//! The ceiling: a raw tokio-tungstenite WebSocket server, one worker thread,
//! that speaks just enough Engine.IO v4 / Socket.IO v5 framing for the bench
//! scenarios over WebSocket (no polling, no heartbeats, no namespaces but `/`):
//!
//! - on connect: the Engine.IO open packet `0{...}`;
//! - `40` -> `40{"sid":...}`;  `3` (pong) is ignored;
//! - `42<id>["echo",X]` -> `43<id>[X]` (X copied without parsing);
//! - `42["bcast",{"n":N,"size":S}]` -> N text frames `42["tick","xxx..."]` to
//!   every connection, back to back, each frame built once and shared (the
//!   payload bytes are reference counted), written in one flush per wake-up.
//!
//! Prints `listening on ADDR`; takes `--port P`.

use futures_util::{SinkExt, StreamExt};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::Write;
use std::rc::Rc;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

type Peers = Rc<RefCell<HashMap<u64, mpsc::UnboundedSender<Utf8Bytes>>>>;

fn port_arg() -> u16 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .map(|p| p.parse().expect("--port takes a number"))
        .unwrap_or(0)
}

fn sid(n: u64) -> String {
    format!("raw{n:017}")
}

/// The answer to one incoming text frame, if any.
fn answer(text: &str, id: u64, peers: &Peers) -> Option<String> {
    if text == "40" || text.starts_with("40{") {
        return Some(format!("40{{\"sid\":\"{}\"}}", sid(id)));
    }
    let rest = text.strip_prefix("42")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (ack, body) = rest.split_at(digits);
    if let Some(args) = body.strip_prefix("[\"echo\",") {
        let x = args.strip_suffix(']')?;
        return Some(format!("43{ack}[{x}]"));
    }
    if let Some(args) = body.strip_prefix("[\"bcast\",") {
        let cmd: serde_json::Value = serde_json::from_str(args.strip_suffix(']')?).ok()?;
        let n = cmd.get("n").and_then(|v| v.as_u64()).unwrap_or(0);
        let size = cmd.get("size").and_then(|v| v.as_u64()).unwrap_or(32) as usize;
        let frame = Utf8Bytes::from(format!("42[\"tick\",\"{}\"]", "x".repeat(size)));
        for _ in 0..n {
            for tx in peers.borrow().values() {
                let _ = tx.send(frame.clone());
            }
        }
    }
    None
}

async fn connection(stream: tokio::net::TcpStream, id: u64, peers: Peers) {
    let _ = stream.set_nodelay(true);
    // tungstenite's default 128 KiB read buffer costs a large memset per
    // read; 4 KiB suits many small messages.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let open = format!(
        "0{{\"sid\":\"{}\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}}",
        sid(id)
    );
    if ws.send(Message::text(open)).await.is_err() {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    peers.borrow_mut().insert(id, tx);
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Some(reply) = answer(text.as_str(), id, &peers)
                        && ws.send(Message::text(reply)).await.is_err()
                    {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            Some(frame) = rx.recv() => {
                // Batch: everything queued goes out with one flush.
                let mut ok = ws.feed(Message::Text(frame)).await.is_ok();
                while ok {
                    match rx.try_recv() {
                        Ok(f) => ok = ws.feed(Message::Text(f)).await.is_ok(),
                        Err(_) => break,
                    }
                }
                if !ok || ws.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    peers.borrow_mut().remove(&id);
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port_arg()));
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        println!("listening on {}", listener.local_addr().expect("addr"));
        let _ = std::io::stdout().flush();
        let peers: Peers = Rc::new(RefCell::new(HashMap::new()));
        let next = Cell::new(0u64);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let id = next.get();
            next.set(id + 1);
            tokio::task::spawn_local(connection(stream, id, peers.clone()));
        }
    });
}
