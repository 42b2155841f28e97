//! The handshake: the exact open packet, `upgrades`, the initial packet,
//! path matching, what falls through to the inner service, and the header
//! hooks.

mod common;

use bytes::Bytes;
use common::*;
use http::header::HeaderValue;
use http::{Method, StatusCode};
use http_body_util::Full;
use sockeye_engine::{EngineConfig, TransportKind, Transports};
use std::time::Duration;

#[tokio::test]
async fn polling_handshake_is_the_exact_open_packet() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let res = get(server.addr, "/engine.io/?EIO=4&transport=polling&t=N1a2b3").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; charset=UTF-8")
    );
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(
        res.header("content-length"),
        Some(res.body.len().to_string().as_str())
    );
    assert!(res.header("set-cookie").is_none());
    assert!(res.header("x-xss-protection").is_none());
    let (json, rest) = parse_open(res.text());
    assert!(rest.is_empty());
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "maxPayload",
            "pingInterval",
            "pingTimeout",
            "sid",
            "upgrades"
        ]
    );
    let sid = json["sid"].as_str().unwrap();
    assert_eq!(sid.len(), 20);
    assert!(
        sid.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{sid}"
    );
    assert_eq!(
        res.text(),
        open_packet(sid, &["websocket"], 25000, 20000, 1_000_000)
    );

    let opened = server.events.opened().await;
    assert_eq!(opened, sid);
    assert_eq!(server.session(sid).transport(), TransportKind::Polling);
    assert!(server.knows(sid));

    // Two handshakes, two different sessions.
    let other = Polling::open(server.addr).await;
    assert_ne!(other.sid, sid);
    assert_eq!(server.engine.session_count(), 2);
}

#[tokio::test]
async fn options_are_announced() {
    let config = EngineConfig::default()
        .with_ping_interval(Duration::from_millis(1234))
        .with_ping_timeout(Duration::from_millis(567))
        .with_max_payload(4096);
    let server = TestServer::start(config).await;
    let client = Polling::open(server.addr).await;
    assert_eq!(
        client.handshake.text(),
        open_packet(&client.sid, &["websocket"], 1234, 567, 4096)
    );
    let (_ws, sid, open) = ws_open(server.addr).await;
    let expected = open_packet(&sid, &[], 1234, 567, 4096);
    assert_eq!(open, expected);
}

#[tokio::test]
async fn old_internet_explorer_gets_x_xss_protection() {
    let server = TestServer::start(EngineConfig::default()).await;
    let ua = "Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko";
    let res = send(
        server.addr,
        req(Method::GET, "/engine.io/?EIO=4&transport=polling")
            .header("user-agent", ua)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("x-xss-protection"), Some("0"));
}

#[tokio::test]
async fn websocket_handshake_announces_no_upgrades() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let (mut ws, sid, open) = ws_open(server.addr).await;
    assert_eq!(open, open_packet(&sid, &[], 25000, 20000, 1_000_000));
    match server.events.open_event(&sid).await {
        Event::Open {
            transport, secure, ..
        } => {
            assert_eq!(transport, TransportKind::WebSocket);
            assert!(!secure);
        }
        other => panic!("{other:?}"),
    }
    assert_ws_echo(&mut ws, "hi").await;
}

#[tokio::test]
async fn upgrades_are_empty_without_upgrades_or_websocket() {
    let no_upgrades = TestServer::start(EngineConfig::default().with_allow_upgrades(false)).await;
    let client = Polling::open(no_upgrades.addr).await;
    assert_eq!(
        client.handshake.text(),
        open_packet(&client.sid, &[], 25000, 20000, 1_000_000)
    );
    // An upgrade is then refused before any 101, and the session lives on.
    let res = send(
        no_upgrades.addr,
        ws_req(&client.url("").replace("polling", "websocket"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        (res.status, res.text()),
        (StatusCode::BAD_REQUEST, "Bad request")
    );
    client.send("4x").await;
    assert_eq!(client.poll().await, "4x");

    let polling_only = TestServer::start(EngineConfig::default().with_transports(Transports {
        polling: true,
        websocket: false,
    }))
    .await;
    let client = Polling::open(polling_only.addr).await;
    assert_eq!(
        client.handshake.text(),
        open_packet(&client.sid, &[], 25000, 20000, 1_000_000)
    );

    let ws_only = TestServer::start(EngineConfig::default().with_transports(Transports {
        polling: false,
        websocket: true,
    }))
    .await;
    let (_ws, sid, open) = ws_open(ws_only.addr).await;
    assert_eq!(open, open_packet(&sid, &[], 25000, 20000, 1_000_000));
}

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

#[tokio::test]
async fn initial_packet_follows_the_open_packet() {
    let server = TestServer::start(EngineConfig::default().with_initial_packet("welcome")).await;
    let client = Polling::open(server.addr).await;
    let expected = format!(
        "{}\u{1e}4welcome",
        open_packet(&client.sid, &["websocket"], 25000, 20000, 1_000_000)
    );
    assert_eq!(client.handshake.text(), expected);

    let (mut ws, sid, _) = ws_open(server.addr).await;
    assert_eq!(recv_text(&mut ws).await, "4welcome");
    assert_ws_echo(&mut ws, &sid).await;
}

#[tokio::test]
async fn default_path_is_a_prefix_with_trailing_slash() {
    let server = TestServer::start(EngineConfig::default()).await;
    // Without the slash the request is not the engine's: the inner
    // service (NotFound) answers.
    let res = get(server.addr, "/engine.io?EIO=4&transport=polling").await;
    assert_eq!(
        (res.status, res.text()),
        (StatusCode::NOT_FOUND, "Not Found")
    );
    // A raw prefix match, as the reference: deeper paths are the engine's.
    let res = get(server.addr, "/engine.io/foo/bar/?EIO=4&transport=polling").await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.text().starts_with("0{\"sid\":"));
    for path in [
        "/",
        "/socket.io/?EIO=4&transport=polling",
        "/engine",
        "/other/engine.io/",
    ] {
        let res = get(server.addr, path).await;
        assert_eq!(
            (res.status, res.text()),
            (StatusCode::NOT_FOUND, "Not Found"),
            "{path}"
        );
    }
    // Outside the path, even an engine error stays a 404.
    let res = post(server.addr, "/nope?EIO=4&transport=polling", "4x").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(server.engine.session_count(), 1);
}

#[tokio::test]
async fn custom_path_and_path_without_trailing_slash() {
    let server = TestServer::start(EngineConfig::default().with_path("/realtime/")).await;
    let client = Polling::open_at(server.addr, "/realtime/", 4).await;
    client.send("4hey").await;
    assert_eq!(client.poll().await, "4hey");
    assert_eq!(
        get(server.addr, "/engine.io/?EIO=4&transport=polling")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(server.addr, "/realtime?EIO=4&transport=polling")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let url = format!("ws://{}/realtime/?EIO=4&transport=websocket", server.addr);
    let (mut ws, _, _) = ws_open_url(&url).await;
    assert_ws_echo(&mut ws, "ws").await;

    // `/engine.io` (no slash): `/engine.io?EIO=4` matches too.
    let server = TestServer::start(EngineConfig::default().with_path("/engine.io")).await;
    for base in ["/engine.io", "/engine.io/"] {
        let client = Polling::open_at(server.addr, base, 4).await;
        client.send("4q").await;
        assert_eq!(client.poll().await, "4q");
    }
    // A path given without its leading slash gets one.
    let config = EngineConfig::default().with_path("io/");
    assert_eq!(config.path(), "/io/");
    let server = TestServer::start(config).await;
    Polling::open_at(server.addr, "/io/", 4).await;
}

#[tokio::test]
async fn handshake_hook_runs_on_the_first_response_only() {
    let config = EngineConfig::default()
        .with_handshake_headers(|parts, headers| {
            assert!(
                !parts.uri.query().unwrap_or("").contains("sid="),
                "the hook sees the handshake request"
            );
            headers.append("set-cookie", HeaderValue::from_static("mine=1; Path=/"));
            headers.insert("x-first", HeaderValue::from_static("yes"));
        })
        .with_headers(|parts, headers| {
            let kind = if parts.method == Method::POST {
                "post"
            } else {
                "get"
            };
            headers.insert("x-every", HeaderValue::from_static(kind));
        });
    let server = TestServer::start(config).await;
    let client = Polling::open(server.addr).await;
    let h = &client.handshake;
    assert_eq!(h.header("x-first"), Some("yes"));
    assert_eq!(h.header("x-every"), Some("get"));
    assert_eq!(h.header("set-cookie"), Some("mine=1; Path=/"));

    let res = client.post("4a").await;
    res.assert_ok();
    assert_eq!(res.header("x-every"), Some("post"));
    assert!(res.header("x-first").is_none());
    let res = client.get().await;
    assert_eq!(res.text(), "4a");
    assert_eq!(res.header("x-every"), Some("get"));
    assert!(res.header("x-first").is_none());
    assert!(res.header("set-cookie").is_none());
    // Error responses go through the every-response hook too.
    let res = get(server.addr, "/engine.io/?EIO=4&transport=polling&sid=nope").await;
    res.assert_error(400, 1, "Session ID unknown");
    assert_eq!(res.header("x-every"), Some("get"));

    // The direct WebSocket 101 is a first response; the upgrade 101 is not.
    let (_ws, res) = ws_connect(&ws_url(server.addr)).await;
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(res.headers().get("x-first").unwrap(), "yes");
    assert_eq!(res.headers().get("x-every").unwrap(), "get");
    assert_eq!(res.headers().get_all("set-cookie").iter().count(), 1);
    let (_up, res) = ws_connect(&client.ws_url()).await;
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert!(res.headers().get("x-first").is_none());
    assert_eq!(res.headers().get("x-every").unwrap(), "get");
}
