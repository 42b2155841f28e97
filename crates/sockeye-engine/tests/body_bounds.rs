//! Polling POST bodies within their bounds: one over `max_payload` gets a
//! clean `413` (announced or chunked) on a connection that stays usable, one
//! that stalls gets `408` at the body deadline and frees the session's POST
//! slot. The session and every other session live on.

mod common;

use bytes::Bytes;
use common::*;
use http::{Method, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use sockeye_engine::EngineConfig;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const MAX: usize = 100_000;

/// A keep-alive client connection for several requests in a row.
async fn connection<B>(addr: std::net::SocketAddr) -> SendRequest<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let tcp = within("connect", TcpStream::connect(addr))
        .await
        .expect("connect");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

/// Sends on `sender`; the response, or the error hyper saw (a reset).
async fn try_send<B>(sender: &mut SendRequest<B>, req: http::Request<B>) -> Result<Resp, String>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    within("a response", async {
        sender.ready().await.map_err(|e| e.to_string())?;
        let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let (parts, body) = res.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    })
    .await
}

#[tokio::test]
async fn announced_body_over_max_payload_gets_413_on_a_clean_connection() {
    let mut server = TestServer::start(EngineConfig::default().with_max_payload(MAX)).await;
    let client = Polling::open(server.addr).await;
    let mut sender = connection(server.addr).await;
    let body = Bytes::from(format!("4{}", "x".repeat(MAX)));
    assert_eq!(body.len(), MAX + 1);
    let res = try_send(
        &mut sender,
        req(Method::POST, &client.url(""))
            .body(Full::new(body))
            .unwrap(),
    )
    .await
    .expect("a 413, not a reset");
    res.assert_empty(413);
    // The same connection serves the next request: nothing was reset.
    let res = try_send(
        &mut sender,
        req(Method::POST, &client.url(""))
            .body(Full::new(Bytes::from_static(b"4after")))
            .unwrap(),
    )
    .await
    .expect("the connection is still usable");
    res.assert_ok();
    // The data was dropped, the session lives on (as the reference).
    assert_eq!(client.poll().await, "4after");
    server.events.assert_open(&client.sid);
    assert_eq!(server.engine.stats().payloads_too_large(), 1);
}

/// Reads one HTTP/1.1 response (head and `Content-Length` body) from `tcp`,
/// lowercased; an error if the connection ends or resets first.
async fn read_response(tcp: &mut TcpStream) -> Result<String, String> {
    let mut buf = Vec::new();
    loop {
        let text = String::from_utf8_lossy(&buf).to_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Ok(text);
            }
        }
        let mut chunk = [0u8; 4096];
        match tcp.read(&mut chunk).await {
            Ok(0) => return Err(format!("connection ended after {text:?}")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("{e} after {text:?}")),
        }
    }
}

/// An announced body between `max_payload` and twice that is drained to its
/// announced end, not only `max_payload` of it: the 413 goes out without
/// `Connection: close` and the connection serves the next request.
#[tokio::test]
async fn announced_body_of_one_and_a_half_max_payload_is_drained_whole() {
    let mut server = TestServer::start(EngineConfig::default().with_max_payload(MAX)).await;
    let client = Polling::open(server.addr).await;
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    let len = MAX + MAX / 2;
    let tail = 1_000;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n4",
        client.url("")
    );
    // All but the last bytes of the body: the server answers from the
    // announced length and drains what arrives.
    tcp.write_all(head.as_bytes()).await.expect("write");
    tcp.write_all("x".repeat(len - 1 - tail).as_bytes())
        .await
        .expect("write");
    let answer = within("the 413", read_response(&mut tcp))
        .await
        .expect("a 413, not a reset");
    assert!(answer.starts_with("http/1.1 413 "), "{answer}");
    assert!(!answer.contains("connection: close"), "{answer}");
    // The rest of the body, then the next request on the same connection.
    let next = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n4after",
        client.url("")
    );
    let rest = format!("{}{next}", "x".repeat(tail));
    // A write error is the reset this test looks for; the read reports it.
    let _ = tcp.write_all(rest.as_bytes()).await;
    let answer = within("the next answer", read_response(&mut tcp))
        .await
        .expect("the connection is still usable");
    assert!(answer.starts_with("http/1.1 200 "), "{answer}");
    assert!(answer.ends_with("\r\n\r\nok"), "{answer}");
    assert_eq!(client.poll().await, "4after");
    server.events.assert_open(&client.sid);
    assert_eq!(server.engine.stats().payloads_too_large(), 1);
}

#[tokio::test]
async fn chunked_body_over_max_payload_gets_413_on_a_clean_connection() {
    let mut server = TestServer::start(EngineConfig::default().with_max_payload(MAX)).await;
    let client = Polling::open(server.addr).await;
    let mut sender = connection(server.addr).await;
    let (tx, rx) = mpsc::unbounded_channel();
    tx.send(Bytes::from(format!("4{}", "x".repeat(MAX / 2))))
        .unwrap();
    tx.send(Bytes::from("x".repeat(MAX / 2))).unwrap();
    tx.send(Bytes::from("x".repeat(100))).unwrap();
    drop(tx);
    let res = try_send(
        &mut sender,
        req(Method::POST, &client.url(""))
            .body(ChannelBody(rx))
            .unwrap(),
    )
    .await
    .expect("a 413, not a reset");
    res.assert_empty(413);
    let (tx, rx) = mpsc::unbounded_channel();
    tx.send(Bytes::from_static(b"4after")).unwrap();
    drop(tx);
    let res = try_send(
        &mut sender,
        req(Method::POST, &client.url(""))
            .body(ChannelBody(rx))
            .unwrap(),
    )
    .await
    .expect("the connection is still usable");
    res.assert_ok();
    assert_eq!(client.poll().await, "4after");
    server.events.assert_open(&client.sid);
    assert_eq!(server.engine.stats().payloads_too_large(), 1);
}

#[tokio::test]
async fn huge_announced_body_gets_413_and_connection_close() {
    let server = TestServer::start(EngineConfig::default().with_max_payload(MAX)).await;
    let client = Polling::open(server.addr).await;
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n4xxxx",
        client.url("")
    );
    tcp.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    within("the 413", tcp.read_to_end(&mut answer))
        .await
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 413 "), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(server.knows(&client.sid));
}

#[tokio::test]
async fn stalled_body_gets_408_and_frees_the_session() {
    let config = EngineConfig::default().with_request_body_timeout(Duration::from_millis(300));
    let mut server = TestServer::start(config).await;
    let bystander = Polling::open(server.addr).await;
    let client = Polling::open(server.addr).await;
    // 10 of the 1,000 announced bytes, then nothing.
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n4xxxxxxxxx",
        client.url("")
    );
    tcp.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    within("the 408", tcp.read_to_end(&mut answer))
        .await
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 408 "), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert_eq!(server.engine.stats().body_timeouts(), 1);
    // The POST slot is free again: the session takes the next POST.
    client.send("4after").await;
    assert_eq!(client.poll().await, "4after");
    server.events.assert_open(&client.sid);
    bystander.send("4fine").await;
    assert_eq!(bystander.poll().await, "4fine");
}

#[tokio::test]
async fn body_within_the_bounds_in_many_chunks_is_delivered_whole() {
    let mut server = TestServer::start(EngineConfig::default().with_max_payload(MAX)).await;
    let client = Polling::open(server.addr).await;
    let (tx, rx) = mpsc::unbounded_channel();
    let text = "é".repeat(MAX / 2 - 1);
    let bytes = format!("4{text}").into_bytes();
    assert!(bytes.len() <= MAX);
    // Chunk borders inside a two-byte character.
    for chunk in bytes.chunks(999) {
        tx.send(Bytes::copy_from_slice(chunk)).unwrap();
    }
    drop(tx);
    send(
        server.addr,
        req(Method::POST, &client.url(""))
            .body(ChannelBody(rx))
            .unwrap(),
    )
    .await
    .assert_ok();
    assert_eq!(
        server.events.message(&client.sid).await,
        sockeye_engine::Message::Text(text.clone().into())
    );
    let res = client.get().await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.text(), format!("4{text}"));
}
