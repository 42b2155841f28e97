//! Tests on real sockets (127.0.0.1, port 0): plain and TLS listeners sharing
//! one service, upgrades, graceful and forced shutdown, limits, PEM errors.

mod keep_alive;
pub(super) mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use http::header::CONNECTION;
use http_body_util::{BodyExt, Empty};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

use super::{ServeError, Server, ShutdownOutcome, TlsConfig};
use support::*;

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn http_and_https_listeners_share_one_service() {
    let pki = pki();
    let app = App::default();
    let builder = Server::builder()
        .listen(LOCAL)
        .listen_tls(LOCAL, tls_config(&pki));
    let server = builder.bind().await.expect("bind");
    let addrs = server.local_addrs().to_vec();
    assert_eq!(addrs.len(), 2);
    assert!(!addrs[0].tls && addrs[1].tls);
    assert!(addrs.iter().all(|a| a.addr.port() != 0));
    let handle = server.serve(app.clone());
    assert_eq!(handle.local_addrs(), &addrs[..]);
    fn send_sync<T: Send + Sync>(_: &T) {}
    send_sync(&handle);
    send_sync(&handle.wait());
    let (plain, secure) = (addrs[0].addr, addrs[1].addr);

    let tcp = TcpStream::connect(plain).await.expect("connect");
    let peer = tcp.local_addr().expect("addr");
    let mut sender = handshake(tcp).await;
    let (status, body) = fetch(&mut sender, "/count").await.expect("plain");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("1 false {peer} {plain}"));

    let tls = tls_connect(&pki, secure).await;
    let tls_peer = tls.get_ref().0.local_addr().expect("addr");
    let mut tls_sender = handshake(tls).await;
    let (_, body) = fetch(&mut tls_sender, "/count").await.expect("tls");
    assert_eq!(body, format!("2 true {tls_peer} {secure}"));

    // Keep-alive on both, same shared counter.
    assert!(
        fetch(&mut sender, "/count")
            .await
            .expect("plain")
            .1
            .starts_with("3 false")
    );
    assert!(
        fetch(&mut tls_sender, "/count")
            .await
            .expect("tls")
            .1
            .starts_with("4 true")
    );
    let (status, _) = fetch(&mut sender, "/missing").await.expect("404");
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.count.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn upgrade_echoes_raw_bytes_over_plain_and_tls() {
    let pki = pki();
    let app = App::default();
    let builder = Server::builder()
        .listen(LOCAL)
        .listen_tls(LOCAL, tls_config(&pki));
    let handle = serve(builder, &app).await;
    let addrs = handle.local_addrs();
    let mut plain = echo_through(TcpStream::connect(addrs[0].addr).await.expect("tcp")).await;
    let mut tls = echo_through(tls_connect(&pki, addrs[1].addr).await).await;
    assert_echo(&mut plain, b"second round").await;
    assert_echo(&mut tls, &[7; 64 * 1024]).await;
}

#[tokio::test]
async fn websocket_handshake_works_over_tls() {
    let pki = pki();
    let app = App::default();
    let handle = serve(Server::builder().listen_tls(LOCAL, tls_config(&pki)), &app).await;
    let tls = tls_connect(&pki, handle.local_addrs()[0].addr).await;
    let (mut ws, res) = tokio_tungstenite::client_async("wss://localhost/ws", tls)
        .await
        .expect("websocket handshake");
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws.send(Message::text("hello")).await.expect("send");
    let back = timeout(SECOND, ws.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("msg");
    assert_eq!(back, Message::text("hello"));
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_request_and_refuses_new_connections() {
    let hooks = Arc::new(AtomicUsize::new(0));
    let app = App::default();
    let counted = Arc::clone(&hooks);
    let builder = Server::builder()
        .listen(LOCAL)
        .shutdown_timeout(Duration::from_secs(10))
        .on_shutdown(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
    let handle = serve(builder, &app).await;
    let addr = handle.local_addrs()[0].addr;
    assert!(
        timeout(Duration::from_millis(50), handle.wait())
            .await
            .is_err()
    );

    let slow = tokio::spawn(async move {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let mut sender = handshake(tcp).await;
        let req = request("/slow").body(Empty::new()).expect("req");
        let res = sender.send_request(req).await.expect("slow response");
        let close = res.headers().get(CONNECTION).cloned();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        (close, body)
    });
    app.started.notified().await;
    let started = Instant::now();
    handle.shutdown();
    handle.shutdown();
    assert!(handle.is_shutting_down());
    assert_eq!(hooks.load(Ordering::SeqCst), 1, "hook runs once, at once");

    // The listener closes while the slow request is still running.
    let mut refused = false;
    while started.elapsed() < SECOND / 2 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "new connections are still accepted");
    assert!(!slow.is_finished());

    let (close, body) = slow.await.expect("slow task");
    assert_eq!(body, "slow done");
    assert_eq!(close.as_ref().map(|v| v.as_bytes()), Some(&b"close"[..]));
    let other = handle.clone();
    let (a, b) = tokio::join!(handle.wait(), other.wait());
    assert_eq!(
        (a, b),
        (ShutdownOutcome::Graceful, ShutdownOutcome::Graceful)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn shutdown_deadline_drops_stuck_connections() {
    let app = App::default();
    let builder = Server::builder()
        .listen(LOCAL)
        .shutdown_timeout(Duration::from_millis(200));
    let handle = serve(builder, &app).await;
    let addr = handle.local_addrs()[0].addr;
    let hang = tokio::spawn(get(addr, "/hang"));
    app.started.notified().await;
    let started = Instant::now();
    handle.shutdown();
    let outcome = timeout(Duration::from_secs(5), handle.wait())
        .await
        .expect("wait");
    assert_eq!(outcome, ShutdownOutcome::Forced { connections: 1 });
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(2));
    let res = timeout(SECOND, hang)
        .await
        .expect("client sees the close")
        .expect("task");
    assert!(res.is_err(), "the hung request got a response: {res:?}");
}

#[tokio::test]
async fn idle_and_upgraded_connections_do_not_delay_shutdown() {
    let app = App::default();
    let builder = Server::builder()
        .listen(LOCAL)
        .shutdown_timeout(Duration::from_secs(10));
    let handle = serve(builder, &app).await;
    let addr = handle.local_addrs()[0].addr;
    let mut idle = handshake(TcpStream::connect(addr).await.expect("tcp")).await;
    fetch(&mut idle, "/count").await.expect("first request");
    let mut upgraded = echo_through(TcpStream::connect(addr).await.expect("tcp")).await;

    handle.shutdown();
    let outcome = timeout(SECOND, handle.wait())
        .await
        .expect("shutdown is quick");
    assert_eq!(outcome, ShutdownOutcome::Graceful);
    // The upgraded stream is the application's now: it still works.
    assert_echo(&mut upgraded, b"after shutdown").await;
    assert!(
        fetch(&mut idle, "/count").await.is_err(),
        "idle connection was closed"
    );
}

#[tokio::test]
async fn header_read_and_tls_handshake_timeouts_close_silent_connections() {
    let pki = pki();
    let app = App::default();
    let builder = Server::builder()
        .listen(LOCAL)
        .listen_tls(LOCAL, tls_config(&pki))
        .header_read_timeout(Duration::from_millis(200))
        .tls_handshake_timeout(Duration::from_millis(200));
    let handle = serve(builder, &app).await;
    for bound in handle.local_addrs() {
        let tcp = TcpStream::connect(bound.addr).await.expect("connect");
        assert_closed_by_server(tcp, Duration::from_secs(3)).await;
    }
    // A half-sent request head is cut off too.
    let mut tcp = TcpStream::connect(handle.local_addrs()[0].addr)
        .await
        .expect("tcp");
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    assert_closed_by_server(tcp, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn max_connections_pauses_accepting_until_one_closes() {
    let app = App::default();
    let builder = Server::builder()
        .listen(LOCAL)
        .max_connections(1)
        .header_read_timeout(None);
    let handle = serve(builder, &app).await;
    let addr = handle.local_addrs()[0].addr;
    let mut first = handshake(TcpStream::connect(addr).await.expect("tcp")).await;
    fetch(&mut first, "/count").await.expect("first");

    let mut second = tokio::spawn(get(addr, "/count"));
    assert!(
        timeout(Duration::from_millis(300), &mut second)
            .await
            .is_err()
    );
    drop(first); // closes the first connection, freeing its slot
    let (status, body) = timeout(Duration::from_secs(3), second)
        .await
        .expect("served once a slot frees")
        .expect("task")
        .expect("response");
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with("2 "));

    // An upgraded connection keeps its slot after leaving hyper.
    let upgraded = echo_through(TcpStream::connect(addr).await.expect("tcp")).await;
    let mut third = tokio::spawn(get(addr, "/count"));
    assert!(
        timeout(Duration::from_millis(300), &mut third)
            .await
            .is_err()
    );
    drop(upgraded);
    let served = timeout(Duration::from_secs(3), third)
        .await
        .expect("served")
        .expect("task");
    assert!(served.expect("response").1.starts_with("3 "));
}

#[tokio::test]
async fn max_connections_per_address_closes_extra_connections_at_once() {
    let app = App::default();
    let builder = Server::builder()
        .listen(LOCAL)
        .max_connections_per_address(Some(2))
        .header_read_timeout(None);
    let handle = serve(builder, &app).await;
    let addr = handle.local_addrs()[0].addr;
    let mut first = handshake(TcpStream::connect(addr).await.expect("tcp")).await;
    fetch(&mut first, "/count").await.expect("first");
    // An upgraded connection keeps its place.
    let _upgraded = echo_through(TcpStream::connect(addr).await.expect("tcp")).await;

    // A third from 127.0.0.1 is closed before anything is read.
    let mut third = TcpStream::connect(addr).await.expect("tcp");
    let _ = third
        .write_all(b"GET /count HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    let _ = timeout(SECOND, third.read_to_end(&mut answer))
        .await
        .expect("closed at once");
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    assert_eq!(handle.connections_refused_per_address(), 1);

    // Another address is not affected.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.2:0".parse().expect("addr"))
        .expect("bind 127.0.0.2");
    let mut other = handshake(socket.connect(addr).await.expect("tcp")).await;
    fetch(&mut other, "/count").await.expect("another address");

    // Once the first closes, its place is free again (the server sees the
    // close a moment later: retried until then, within a deadline).
    drop(first);
    let served = timeout(Duration::from_secs(3), async {
        loop {
            if get(addr, "/count").await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(served.is_ok(), "a place frees when a connection closes");
}

#[tokio::test]
async fn bind_errors_name_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("std bind");
    let addr = taken.local_addr().expect("addr");
    let err = Server::builder()
        .listen(LOCAL)
        .listen(addr)
        .bind()
        .await
        .expect_err("in use");
    assert!(
        matches!(err, ServeError::Bind { addr: a, .. } if a == addr),
        "{err:?}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    let err = Server::builder().bind().await.expect_err("no listeners");
    assert!(matches!(err, ServeError::NoListeners), "{err:?}");
}

#[test]
fn bind_outside_a_runtime_is_an_error_not_a_panic() {
    let bind = Server::builder().listen(LOCAL).bind();
    let err = futures_util::FutureExt::now_or_never(bind)
        .expect("ready")
        .expect_err("no runtime");
    assert!(matches!(err, ServeError::NoRuntime), "{err:?}");
}

#[test]
fn bad_pem_is_reported_clearly() {
    let pki = pki();
    let (cert, key) = (pki.cert_pem.as_bytes(), pki.key_pem.as_bytes());
    type Case<'a> = (&'a [u8], &'a [u8], fn(&ServeError) -> bool, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            b"",
            key,
            |e| matches!(e, ServeError::NoCertificate),
            "no certificate",
        ),
        (
            b"not pem at all",
            key,
            |e| matches!(e, ServeError::NoCertificate),
            "BEGIN CERTIFICATE",
        ),
        (
            key,
            key,
            |e| matches!(e, ServeError::NoCertificate),
            "no certificate",
        ),
        (
            cert,
            b"",
            |e| matches!(e, ServeError::NoPrivateKey),
            "no private key",
        ),
        (
            cert,
            cert,
            |e| matches!(e, ServeError::NoPrivateKey),
            "PRIVATE KEY",
        ),
        (
            b"-----BEGIN CERTIFICATE-----\nMIIB\n",
            key,
            |e| {
                matches!(
                    e,
                    ServeError::InvalidPem {
                        what: "certificate",
                        ..
                    }
                )
            },
            "malformed certificate PEM",
        ),
        (
            cert,
            b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
            |e| {
                matches!(
                    e,
                    ServeError::InvalidPem {
                        what: "private key",
                        ..
                    }
                )
            },
            "malformed private key PEM",
        ),
        (
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            key,
            |e| matches!(e, ServeError::Tls(_)),
            "invalid TLS certificate",
        ),
        (
            cert,
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            |e| matches!(e, ServeError::Tls(_)),
            "invalid TLS certificate or key",
        ),
    ];
    for (cert, key, expected, message) in cases {
        let err = TlsConfig::from_pem(cert, key).expect_err("bad pem");
        assert!(expected(&err), "{err:?}");
        assert!(err.to_string().contains(message), "{err}");
    }
    let other = self::pki();
    let err = TlsConfig::from_pem(cert, other.key_pem.as_bytes()).expect_err("mismatch");
    assert!(matches!(err, ServeError::KeyMismatch), "{err:?}");
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[test]
fn pem_files_are_read_and_missing_files_named() {
    let pki = pki();
    let dir = std::env::temp_dir().join(format!("sockeye-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let (cert, key, both) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("both.pem"),
    );
    std::fs::write(&cert, &pki.cert_pem).expect("write");
    std::fs::write(&key, &pki.key_pem).expect("write");
    std::fs::write(&both, format!("{}{}", pki.key_pem, pki.cert_pem)).expect("write");
    let separate = TlsConfig::from_pem_files(&cert, &key);
    let combined = TlsConfig::from_pem_files(&both, &both);
    let missing = dir.join("missing.pem");
    let err = TlsConfig::from_pem_files(&cert, &missing).expect_err("missing key");
    let _ = std::fs::remove_dir_all(&dir);

    assert!(format!("{:?}", separate.expect("separate files")).contains("http/1.1"));
    combined.expect("one file with both");
    assert!(
        matches!(&err, ServeError::ReadFile { what: "private key", path, .. } if *path == missing)
    );
    assert!(err.to_string().contains("missing.pem"), "{err}");
}
