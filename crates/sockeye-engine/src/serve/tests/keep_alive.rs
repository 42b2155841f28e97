//! Keep-alive connections served in rounds: hyper's buffers are released
//! while a connection waits for its next request (`release_idle_after`),
//! and nothing a client sends is lost or misread across that gap.

use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::super::{Server, ShutdownOutcome};
use super::support::*;

/// Reads one response: its status and its body (by `content-length`).
async fn read_response<R: AsyncRead + Unpin>(rd: &mut BufReader<R>) -> (u16, String) {
    let mut line = String::new();
    let read = timeout(SECOND, rd.read_line(&mut line))
        .await
        .expect("in time");
    assert!(read.expect("status line") > 0, "connection closed");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut len = 0;
    loop {
        line.clear();
        rd.read_line(&mut line).await.expect("header");
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            assert!(
                !(name.eq_ignore_ascii_case("connection") && value.trim() == "close"),
                "the server gave up keep-alive: {header}"
            );
            if name.eq_ignore_ascii_case("content-length") {
                len = value.trim().parse().expect("length");
            }
        }
    }
    let mut body = vec![0; len];
    rd.read_exact(&mut body).await.expect("body");
    (status, String::from_utf8(body).expect("utf-8"))
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n")
}

fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Every kind of request, one after the other on one connection, each
/// after the previous round ended: GET, POST with a body, a pipelined pair,
/// a head larger than the first read between rounds, and a request split
/// across two writes.
async fn exchanges<IO: AsyncRead + AsyncWrite + Unpin>(io: IO) {
    let (rd, mut wr) = tokio::io::split(io);
    let mut rd = BufReader::new(rd);
    let mut roundtrip = async |request: String| {
        wr.write_all(request.as_bytes()).await.expect("write");
        read_response(&mut rd).await
    };
    let (status, first) = roundtrip(get("/count")).await;
    assert_eq!(status, 200);
    let peer = first.split(' ').nth(2).expect("peer").to_owned();
    let (_, again) = roundtrip(get("/count")).await;
    assert!(again.contains(&peer), "same connection: {again}");
    assert_eq!(
        roundtrip(post("/len", "hello world")).await,
        (200, "11".into())
    );
    let long = "x".repeat(6000);
    let big_head = format!("GET /count HTTP/1.1\r\nhost: localhost\r\nx-long: {long}\r\n\r\n");
    assert_eq!(roundtrip(big_head).await.0, 200);
    // Two requests in one write: both answered, in order.
    let pair = format!("{}{}", post("/len", "abc"), post("/len", "abcdef"));
    wr.write_all(pair.as_bytes()).await.expect("write");
    assert_eq!(read_response(&mut rd).await, (200, "3".into()));
    assert_eq!(read_response(&mut rd).await, (200, "6".into()));
    // A request in two pieces.
    let whole = post("/len", "split body");
    let (head, tail) = whole.split_at(20);
    wr.write_all(head.as_bytes()).await.expect("write");
    wr.flush().await.expect("flush");
    tokio::task::yield_now().await;
    wr.write_all(tail.as_bytes()).await.expect("write");
    assert_eq!(read_response(&mut rd).await, (200, "10".into()));
}

#[tokio::test]
async fn requests_on_a_released_connection_are_served_whole_over_plain_and_tls() {
    let pki = pki();
    for release in [Duration::ZERO, Duration::from_millis(20)] {
        let app = App::default();
        let builder = Server::builder()
            .listen(LOCAL)
            .listen_tls(LOCAL, tls_config(&pki))
            .release_idle_after(release);
        let handle = serve(builder, &app).await;
        let addrs = handle.local_addrs();
        exchanges(TcpStream::connect(addrs[0].addr).await.expect("tcp")).await;
        exchanges(tls_connect(&pki, addrs[1].addr).await).await;
    }
}

#[tokio::test]
async fn connections_over_the_linger_cap_are_released_and_served_whole() {
    let pki = pki();
    let app = App::default();
    // An hour's linger for one connection: the others wait with no
    // buffers from their first response on.
    let builder = Server::builder()
        .listen(LOCAL)
        .listen_tls(LOCAL, tls_config(&pki))
        .release_idle_after(Duration::from_secs(3600))
        .max_lingering(1);
    let handle = serve(builder, &app).await;
    let addrs = handle.local_addrs();
    let plain =
        |_| async { exchanges(TcpStream::connect(addrs[0].addr).await.expect("tcp")).await };
    let tls = |_| async { exchanges(tls_connect(&pki, addrs[1].addr).await).await };
    futures_util::future::join_all((0..4).map(plain)).await;
    futures_util::future::join_all((0..4).map(tls)).await;
}

#[tokio::test]
async fn a_regular_clients_connection_lingers_over_the_cap() {
    let app = App::default();
    let builder = Server::builder()
        .listen(LOCAL)
        .release_idle_after(Duration::from_secs(3600))
        .max_lingering(1);
    let handle = serve(builder, &app).await;
    let addr = handle.local_addrs()[0].addr;
    let lingering = || handle.shared.lingering.count();
    let until = |n: usize| async move {
        timeout(Duration::from_secs(5), async {
            while lingering() != n {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("lingering: {} instead of {n}", lingering()));
    };
    // A new client's connection takes the one place.
    let _first = answered_once(addr).await;
    until(1).await;
    // Another client's eighth response: it lingers over the cap.
    let mut regular = handshake(TcpStream::connect(addr).await.expect("tcp")).await;
    for n in 1..=8 {
        let (status, body) = fetch(&mut regular, "/count").await.expect("fetch");
        assert_eq!(status, StatusCode::OK);
        assert!(body.starts_with(&format!("{} ", n + 1)), "{body}");
    }
    until(2).await;
    // Its next request takes it out of the count; lingering again after.
    let (status, _) = fetch(&mut regular, "/count").await.expect("fetch");
    assert_eq!(status, StatusCode::OK);
    until(2).await;
    drop(regular);
    until(1).await;
}

#[tokio::test]
async fn a_connection_idle_past_the_release_keeps_serving() {
    let app = App::default();
    let builder = Server::builder()
        .listen(LOCAL)
        .release_idle_after(Duration::from_millis(10));
    let handle = serve(builder, &app).await;
    let addr = handle.local_addrs()[0].addr;
    let mut sender = handshake(TcpStream::connect(addr).await.expect("tcp")).await;
    for n in 1..=3 {
        // Idle past the release: the next request starts a new round.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (status, body) = fetch(&mut sender, "/count").await.expect("fetch");
        assert_eq!(status, StatusCode::OK);
        assert!(body.starts_with(&format!("{n} ")), "{body}");
    }
    // An upgrade after a released round still hands over the stream.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut io = upgrade_to_echo(&mut sender).await;
    assert_echo(&mut io, b"raw bytes after released rounds").await;
}

#[tokio::test]
async fn a_response_sent_before_its_body_was_read_never_turns_the_rest_into_a_request() {
    let app = App::default();
    let builder = Server::builder()
        .listen(LOCAL)
        .release_idle_after(Duration::ZERO);
    let handle = serve(builder, &app).await;
    let mut tcp = TcpStream::connect(handle.local_addrs()[0].addr)
        .await
        .expect("tcp");
    // The body announced is sent late: the service answers without it.
    tcp.write_all(b"POST /early HTTP/1.1\r\nhost: localhost\r\ncontent-length: 40\r\n\r\n")
        .await
        .expect("write");
    let mut rd = BufReader::new(tcp);
    let mut status = String::new();
    rd.read_line(&mut status).await.expect("status");
    assert!(status.contains(" 200 "), "{status}");
    rd.get_mut()
        .write_all(b"GET /count HTTP/1.1\r\nhost: x\r\n\r\n0123456")
        .await
        .expect("write");
    // Whatever the server does with the connection, the bytes of the body
    // are not answered as a request of their own.
    let mut rest = String::new();
    let _ = timeout(Duration::from_secs(3), rd.read_to_string(&mut rest)).await;
    assert!(
        !rest.contains("HTTP/1.1 400"),
        "body read as a request: {rest}"
    );
    assert_eq!(rest.matches("HTTP/1.1").count(), 0, "{rest}");
}

#[tokio::test]
async fn idle_connections_close_at_shutdown_and_at_the_header_read_timeout() {
    let app = App::default();
    let builder = Server::builder()
        .listen(LOCAL)
        .release_idle_after(Duration::ZERO)
        .header_read_timeout(Duration::from_millis(200));
    let handle = serve(builder, &app).await;
    let addr = handle.local_addrs()[0].addr;
    // Released and silent: closed at the header read timeout.
    let answered = answered_once(addr).await;
    assert_closed_by_server(answered, Duration::from_secs(3)).await;

    let answered = answered_once(addr).await;
    handle.shutdown();
    let outcome = timeout(SECOND, handle.wait()).await.expect("quick");
    assert_eq!(outcome, ShutdownOutcome::Graceful);
    assert_closed_by_server(answered, SECOND).await;
}

/// A connection whose one request (`GET /count`) was answered.
async fn answered_once(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.expect("tcp");
    tcp.write_all(get("/count").as_bytes())
        .await
        .expect("write");
    let mut rd = BufReader::new(tcp);
    read_response(&mut rd).await;
    rd.into_inner()
}
