//! Hostile and broken input: garbage queries, huge sids, invalid base64,
//! bodies and frames that are not UTF-8, raw malformed requests, a full
//! send queue. Never a panic, always a clean error, and bystander sessions
//! never notice.

mod common;

use bytes::Bytes;
use common::*;
use http::header::HeaderValue;
use http::{Method, StatusCode};
use http_body_util::Full;
use sockeye_engine::{
    AllowedOrigins, CloseReason, CorsConfig, EngineConfig, OriginPolicy, SendError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// A WebSocket and a polling session that must live through the test.
struct Bystanders {
    ws: Ws,
    ws_sid: String,
    polling: Polling,
}

impl Bystanders {
    async fn open(server: &TestServer) -> Self {
        let (ws, ws_sid, _) = ws_open(server.addr).await;
        Bystanders {
            ws,
            ws_sid,
            polling: Polling::open(server.addr).await,
        }
    }

    async fn check(&mut self, server: &mut TestServer) {
        assert_ws_echo(&mut self.ws, "bystander").await;
        self.polling.send("4bystander").await;
        assert_eq!(self.polling.poll().await, "4bystander");
        server.events.assert_open(&self.ws_sid);
        server.events.assert_open(&self.polling.sid);
    }
}

/// Any engine error: 400, JSON `{code, message}` with a known code.
#[track_caller]
fn assert_clean_error(res: &Resp, what: &str) {
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{what}: {res:?}");
    let json = res.json();
    let code = json["code"]
        .as_u64()
        .unwrap_or_else(|| panic!("{what}: {json}"));
    assert!(code <= 5, "{what}: {json}");
    assert!(json["message"].is_string(), "{what}: {json}");
}

#[tokio::test]
async fn garbage_query_strings() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let mut bystanders = Bystanders::open(&server).await;
    let long_sid = "A".repeat(8000);
    let cases: Vec<(String, Option<(u8, &str)>)> = vec![
        ("".into(), Some((0, "Transport unknown"))),
        ("&&&===&=&".into(), Some((0, "Transport unknown"))),
        ("%ff%fe%00%zz".into(), Some((0, "Transport unknown"))),
        (
            "EIO=4%00&transport=polling".into(),
            Some((5, "Unsupported protocol version")),
        ),
        (
            "EIO=4&EIO=4&transport=polling&sid".into(),
            Some((1, "Session ID unknown")),
        ),
        (
            "EIO=4&transport=polling&sid=%00%0d%0aSet-Cookie:x".into(),
            Some((1, "Session ID unknown")),
        ),
        (
            format!("EIO=4&transport=polling&sid={long_sid}"),
            Some((1, "Session ID unknown")),
        ),
        (
            format!(
                "EIO=4&transport=polling&sid={}",
                &bystanders.polling.sid[..19]
            ),
            Some((1, "Session ID unknown")),
        ),
        (
            format!("EIO=4&transport=polling&sid={}x", bystanders.polling.sid),
            Some((1, "Session ID unknown")),
        ),
        ("EIO=4&transport=polling&transport=websocket".into(), None),
        (
            "transport=polling&EIO=99999999999999999999999".into(),
            Some((5, "Unsupported protocol version")),
        ),
        (
            "EIO=4&transport=POLLING".into(),
            Some((0, "Transport unknown")),
        ),
    ];
    for (query, expected) in cases {
        let path = format!("/engine.io/?{query}");
        for method in [Method::GET, Method::POST] {
            let request = req(method.clone(), &path)
                .body(Full::new(Bytes::from_static(b"4x")))
                .unwrap();
            let res = send(server.addr, request).await;
            match expected {
                // Without a sid, a POST is a bad handshake once the
                // transport and origin are fine.
                Some((code, _)) if method == Method::POST && code == 5 => {
                    res.assert_error(400, 2, "Bad handshake method")
                }
                Some((code, message)) => res.assert_error(400, code, message),
                None => assert_clean_error(&res, &query),
            }
        }
    }
    // The same garbage on WebSocket handshakes: plain-text refusals.
    for query in [
        String::new(),
        format!("EIO=4&transport=websocket&sid={long_sid}"),
        "EIO=4%00&transport=websocket".into(),
    ] {
        let res = send(
            server.addr,
            ws_req(&format!("/engine.io/?{query}"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(res.header("content-type"), Some("text/html"));
    }
    bystanders.check(&mut server).await;
}

#[tokio::test]
async fn malformed_requests_are_refused_by_http_itself() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let mut bystanders = Bystanders::open(&server).await;
    let raw: [&[u8]; 4] = [
        b"GET /engine.io/?EIO=4&transport=polling&sid=\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: a\x01b\r\n\r\n",
        b"POST /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n4abcd",
        b"BREW /engine.io/ HTCPCP/1.0\r\n\r\n",
    ];
    for bytes in raw {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(bytes).await.unwrap();
        let mut response = Vec::new();
        within("the refusal", tcp.read_to_end(&mut response))
            .await
            .unwrap();
        let head = String::from_utf8_lossy(&response);
        assert!(
            head.starts_with("HTTP/1.1 400"),
            "{:?}: {head}",
            String::from_utf8_lossy(bytes)
        );
    }
    bystanders.check(&mut server).await;
}

#[tokio::test]
async fn invalid_base64_and_non_utf8_bodies_are_parse_errors() {
    let mut server = TestServer::start(EngineConfig::default().with_allow_eio3(true)).await;
    let mut bystanders = Bystanders::open(&server).await;
    let bodies: [&[u8]; 6] = [
        b"b!!!!",
        b"bAQI=extra",
        b"4ok\x1ebA=Q",
        b"4\xff\xfe",
        b"\xc3\x28",
        b"\x80",
    ];
    for body in bodies {
        let client = Polling::open(server.addr).await;
        client.post(Bytes::from_static(body)).await.assert_ok();
        assert_eq!(
            server.events.closed(&client.sid).await,
            CloseReason::ParseError,
            "{body:?}"
        );
        client
            .get()
            .await
            .assert_error(400, 1, "Session ID unknown");
    }
    // v3 payloads: bad lengths, bad UTF-8, bad binary framing.
    let v3_bodies: [(&[u8], bool); 6] = [
        (b"abc", false),
        (b"5:4hi", false),
        (b"99999999999999999999:4", false),
        (b"3:4\xff\xfe", false),
        (b"\x00\x09\xff4", true),
        (b"\x07\x01\xff", true),
    ];
    for (body, binary) in v3_bodies {
        let client = Polling::open_at(server.addr, "/engine.io/", 3).await;
        let mut builder = req(Method::POST, &client.url(""));
        if binary {
            builder = builder.header("content-type", "application/octet-stream");
        }
        send(
            server.addr,
            builder.body(Full::new(Bytes::from_static(body))).unwrap(),
        )
        .await
        .assert_ok();
        assert_eq!(
            server.events.closed(&client.sid).await,
            CloseReason::ParseError,
            "{body:?}"
        );
    }
    bystanders.check(&mut server).await;
}

#[tokio::test]
async fn bad_websocket_frames() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let mut bystanders = Bystanders::open(&server).await;

    // A text frame that is not UTF-8.
    let (mut ws, sid, _) = ws_open(server.addr).await;
    let frame = Frame::message(
        Bytes::from_static(b"4\xff\xfe"),
        OpCode::Data(Data::Text),
        true,
    );
    within(
        "send",
        futures_util::SinkExt::send(&mut ws, WsMessage::Frame(frame)),
    )
    .await
    .unwrap();
    let reason = server.events.closed(&sid).await;
    assert!(
        matches!(
            reason,
            CloseReason::TransportError | CloseReason::ParseError
        ),
        "{reason:?}"
    );
    expect_close(&mut ws).await;

    // Invalid base64 in a text frame, and an empty binary frame (fine).
    let (mut ws, sid, _) = ws_open(server.addr).await;
    send_binary(&mut ws, &[]).await;
    assert_eq!(recv(&mut ws).await, WsMessage::binary(Vec::new()));
    send_text(&mut ws, "b%%%").await;
    assert_eq!(server.events.closed(&sid).await, CloseReason::ParseError);
    expect_close(&mut ws).await;

    // Garbage bytes instead of a WebSocket handshake on the engine path.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\x00\x01\x02garbage").await.unwrap();
    // The 101 and the open packet come first; then the garbage closes it.
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("maxPayload") {
        let n = within("101 and open", tcp.read(&mut buf)).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    let at = text.find("{\"sid\":\"").unwrap() + 8;
    let sid = text[at..at + 20].to_owned();
    assert_eq!(
        server.events.closed(&sid).await,
        CloseReason::TransportError
    );

    bystanders.check(&mut server).await;
}

#[tokio::test]
async fn origins_that_are_not_text_match_nothing() {
    let policy = OriginPolicy::new(AllowedOrigins::list(["https://ok.example"]));
    let cors = CorsConfig::new(AllowedOrigins::Reflect);
    let server = TestServer::start(
        EngineConfig::default()
            .with_origin_policy(Some(policy))
            .with_cors(Some(cors)),
    )
    .await;
    let origin = HeaderValue::from_bytes(b"https://ok.example\xff").unwrap();
    let request = req(Method::GET, "/engine.io/?EIO=4&transport=polling")
        .header("origin", origin.clone())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = send(server.addr, request).await;
    res.assert_error(403, 4, "Origin not allowed");
    // Never echoed back.
    assert!(res.header("access-control-allow-origin").is_none());
    let request = req(Method::OPTIONS, "/engine.io/")
        .header("origin", origin)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = send(server.addr, request).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert!(res.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_full_send_queue_closes_the_slow_session_only() {
    let mut server =
        TestServer::start_silent(EngineConfig::default().with_max_buffered_packets(5)).await;
    let mut bystanders = Bystanders::open(&server).await;
    let client = Polling::open(server.addr).await;
    let session = server.session(&client.sid);
    for i in 0..5 {
        session.send_text(format!("m{i}")).unwrap();
    }
    assert_eq!(session.send_text("one too many"), Err(SendError::QueueFull));
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::TransportError
    );
    assert_eq!(session.send_text("after"), Err(SendError::Closed));
    client
        .get()
        .await
        .assert_error(400, 1, "Session ID unknown");
    // A batch that does not fit is refused whole as well.
    let client = Polling::open(server.addr).await;
    let session = server.session(&client.sid);
    let batch = (0..6).map(|i| sockeye_engine::Message::Text(format!("b{i}").into()));
    assert_eq!(session.send_many(batch), Err(SendError::QueueFull));
    assert_eq!(
        server.events.closed(&client.sid).await,
        CloseReason::TransportError
    );
    // The bystanders echo through the silent handler: send from the server.
    let ws_session = server.session(&bystanders.ws_sid);
    ws_session.send_text("still fine").unwrap();
    assert_eq!(recv_text(&mut bystanders.ws).await, "4still fine");
    server.events.assert_open(&bystanders.ws_sid);
    server.events.assert_open(&bystanders.polling.sid);
}
