//! Inbound bounds, each exceeded: request header count and size, the
//! header read deadline against a trickling client, and the WebSocket frame
//! and message limits, which must refuse from a frame's header, before its
//! payload is buffered. Other clients are served throughout.

mod common;

use common::*;
use futures_util::SinkExt;
use sockeye_engine::serve::Server;
use sockeye_engine::{CloseReason, EngineConfig, EngineService};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Sends `head` on a new connection and reads until the server closes it.
async fn raw_exchange(addr: std::net::SocketAddr, head: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(head).await.expect("write");
    let mut answer = Vec::new();
    within("the server's answer", tcp.read_to_end(&mut answer))
        .await
        .expect("read");
    String::from_utf8_lossy(&answer).to_lowercase()
}

#[tokio::test]
async fn too_many_or_too_big_headers_get_431() {
    let builder = Server::builder()
        .listen(LOCAL)
        .max_headers(20)
        .max_header_size(4096);
    let server =
        TestServer::start_full(builder, EngineConfig::default(), true, EngineService::new).await;
    let path = "/engine.io/?EIO=4&transport=polling";
    let mut many = format!("GET {path} HTTP/1.1\r\nHost: x\r\n");
    for i in 0..30 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let answer = raw_exchange(server.addr, many.as_bytes()).await;
    assert!(answer.starts_with("http/1.1 431 "), "{answer}");

    let big = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(8000)
    );
    let answer = raw_exchange(server.addr, big.as_bytes()).await;
    assert!(answer.starts_with("http/1.1 431 "), "{answer}");

    // Within both limits, a handshake goes through.
    let client = Polling::open(server.addr).await;
    client.send("4fine").await;
    assert_eq!(client.poll().await, "4fine");
}

/// The header deadline counts from the request's first byte: a client that
/// trickles a byte at a time does not extend it.
#[tokio::test]
async fn trickled_headers_hit_the_header_read_deadline() {
    let builder = Server::builder()
        .listen(LOCAL)
        .header_read_timeout(Duration::from_millis(300));
    let server =
        TestServer::start_full(builder, EngineConfig::default(), true, EngineService::new).await;
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    let head = b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nx-slow: ";
    tcp.write_all(head).await.expect("write");
    // One byte every 50 ms, for up to 5 s: the connection must be closed
    // long before (at about 300 ms).
    let trickle = async {
        for _ in 0..100 {
            if tcp.write_all(b"a").await.is_err() {
                return true;
            }
            let mut byte = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_millis(50), tcp.read(&mut byte));
            if read.await.is_ok() {
                return true; // closed (or answered); a timeout: still open
            }
        }
        false
    };
    assert!(
        within("the deadline", trickle).await,
        "the trickling client was never cut off"
    );
    // Others are served.
    let client = Polling::open(server.addr).await;
    client.send("4fine").await;
    assert_eq!(client.poll().await, "4fine");
}

/// A frame that announces more than `max_payload` is refused from its
/// header: the server closes with 1009 without waiting for (or buffering)
/// the payload, which is never sent.
#[tokio::test]
async fn websocket_frame_over_max_payload_is_refused_from_its_header() {
    let mut server = TestServer::start(EngineConfig::default().with_max_payload(1000)).await;
    let (mut bystander, _, _) = ws_open(server.addr).await;
    let (ws, sid, _) = ws_open(server.addr).await;
    let mut tcp = ws.into_inner();
    let tcp = match &mut tcp {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp,
        _ => unreachable!("plain TCP"),
    };
    // A masked text frame announcing 100 MB (64-bit length), and no payload.
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&100_000_000u64.to_be_bytes());
    header.extend_from_slice(&[0, 0, 0, 0]);
    tcp.write_all(&header).await.expect("write");
    let mut answer = Vec::new();
    within("the close", tcp.read_to_end(&mut answer))
        .await
        .expect("read");
    // A close frame: 0x88, length, then the code 1009 (0x03f1).
    assert_eq!(answer.first(), Some(&0x88), "{answer:?}");
    assert_eq!(&answer[2..4], &1009u16.to_be_bytes(), "{answer:?}");
    assert_eq!(
        server.events.closed(&sid).await,
        CloseReason::TransportError
    );
    assert_eq!(server.engine.stats().payloads_too_large(), 1);
    assert_ws_echo(&mut bystander, "still here").await;
}

/// A message sent in fragments that are each small but add up to more than
/// `max_payload` is refused too.
#[tokio::test]
async fn fragmented_websocket_message_over_max_payload_is_refused() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let mut server = TestServer::start(EngineConfig::default().with_max_payload(1000)).await;
    let (mut ws, sid, _) = ws_open(server.addr).await;
    let part = |op, fin| Frame::message(vec![b'x'; 400], op, fin);
    let frames = [
        part(OpCode::Data(Data::Text), false),
        part(OpCode::Data(Data::Continue), false),
        part(OpCode::Data(Data::Continue), false),
        part(OpCode::Data(Data::Continue), true),
    ];
    for frame in frames {
        if ws.send(WsMessage::Frame(frame)).await.is_err() {
            break;
        }
    }
    let (frame, _) = expect_close(&mut ws).await;
    assert_eq!(frame.map(|f| f.code), Some(CloseCode::Size));
    assert_eq!(
        server.events.closed(&sid).await,
        CloseReason::TransportError
    );
}
