//! Every Engine.IO error code, with its exact status and JSON body on
//! polling, and the plain-text refusals of WebSocket requests.

mod common;

use bytes::Bytes;
use common::*;
use http::{Method, StatusCode};
use http_body_util::Full;
use sockeye_engine::{EngineConfig, Transports};

const SOME_SID: &str = "AAAAAAAAAAAAAAAAAAAA";

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

/// Sends a WebSocket handshake with hyper and reads the full refusal.
async fn ws_refusal(addr: std::net::SocketAddr, path: &str) -> Resp {
    send(addr, ws_req(path).body(empty()).unwrap()).await
}

#[track_caller]
fn assert_ws_refusal(res: &Resp, status: u16, message: &str) {
    assert_eq!(res.status.as_u16(), status, "{res:?}");
    assert_eq!(res.text(), message);
    assert_eq!(res.header("content-type"), Some("text/html"));
    assert_eq!(res.header("connection"), Some("close"));
    assert_eq!(
        res.header("content-length"),
        Some(message.len().to_string().as_str())
    );
    assert!(res.header("sec-websocket-accept").is_none());
}

#[tokio::test]
async fn code_0_unknown_missing_or_disabled_transport() {
    let server = TestServer::start(EngineConfig::default()).await;
    for q in [
        "EIO=4",
        "EIO=4&transport=abc",
        "EIO=4&transport=",
        "EIO=4&transport=webtransport",
    ] {
        get(server.addr, &format!("/engine.io/?{q}"))
            .await
            .assert_error(400, 0, "Transport unknown");
    }
    // A POST with an unknown transport is refused for the transport first.
    post(server.addr, "/engine.io/?EIO=4&transport=xhr", "4hi")
        .await
        .assert_error(400, 0, "Transport unknown");

    let ws_only = TestServer::start(EngineConfig::default().with_transports(Transports {
        polling: false,
        websocket: true,
    }))
    .await;
    get(ws_only.addr, "/engine.io/?EIO=4&transport=polling")
        .await
        .assert_error(400, 0, "Transport unknown");

    let polling_only = TestServer::start(EngineConfig::default().with_transports(Transports {
        polling: true,
        websocket: false,
    }))
    .await;
    let res = ws_refusal(polling_only.addr, "/engine.io/?EIO=4&transport=websocket").await;
    assert_ws_refusal(&res, 400, "Transport unknown");
}

#[tokio::test]
async fn code_1_unknown_sid() {
    let server = TestServer::start(EngineConfig::default()).await;
    let base = "/engine.io/?EIO=4&transport=polling";
    for sid in [SOME_SID, "abc", ""] {
        get(server.addr, &format!("{base}&sid={sid}"))
            .await
            .assert_error(400, 1, "Session ID unknown");
        post(server.addr, &format!("{base}&sid={sid}"), "4hi")
            .await
            .assert_error(400, 1, "Session ID unknown");
    }
    let res = ws_refusal(
        server.addr,
        &format!("/engine.io/?EIO=4&transport=websocket&sid={SOME_SID}"),
    )
    .await;
    assert_ws_refusal(&res, 400, "Session ID unknown");
}

#[tokio::test]
async fn code_2_handshake_method_other_than_get() {
    let server = TestServer::start(EngineConfig::default()).await;
    let path = "/engine.io/?EIO=4&transport=polling";
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let res = send(
            server.addr,
            req(method.clone(), path)
                .body(Full::new(Bytes::from("4hi")))
                .unwrap(),
        )
        .await;
        res.assert_error(400, 2, "Bad handshake method");
        assert!(
            res.header("access-control-allow-origin").is_none(),
            "no CORS when off: {method}"
        );
    }
    assert_eq!(server.engine.session_count(), 0);
}

#[tokio::test]
async fn code_3_transport_mismatch_and_websocket_without_upgrade() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    // `transport=websocket` on a plain GET (no upgrade headers): a polling
    // style JSON error, as the reference (`TRANSPORT_HANDSHAKE_ERROR`).
    get(server.addr, "/engine.io/?EIO=4&transport=websocket")
        .await
        .assert_error(400, 3, "Bad request");

    // A polling session asked for over `transport=websocket` without an
    // upgrade: `TRANSPORT_MISMATCH`, JSON; the session lives on.
    let client = Polling::open(server.addr).await;
    let path = format!("/engine.io/?EIO=4&transport=websocket&sid={}", client.sid);
    get(server.addr, &path)
        .await
        .assert_error(400, 3, "Bad request");
    post(server.addr, &path, "4hi")
        .await
        .assert_error(400, 3, "Bad request");
    client.send("4still here").await;
    assert_eq!(client.poll().await, "4still here");
    server.events.assert_open(&client.sid);

    // A WebSocket handshake without a key is refused before any 101.
    let res = send(
        server.addr,
        req(Method::GET, "/engine.io/?EIO=4&transport=websocket")
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_ws_refusal(&res, 400, "Bad request");
}

#[tokio::test]
async fn code_4_allow_request_with_and_without_message() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    let config = EngineConfig::default().with_allow_request(move |req| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let deny = req
            .headers
            .get("x-deny")
            .map(|v| v.to_str().unwrap().to_owned());
        async move {
            match deny {
                Some(message) => Err(message),
                None => Ok(()),
            }
        }
    });
    let mut server = TestServer::start(config).await;
    let path = "/engine.io/?EIO=4&transport=polling";
    let denied = |message: &str| {
        req(Method::GET, path)
            .header("x-deny", message)
            .body(empty())
            .unwrap()
    };
    send(server.addr, denied("not today"))
        .await
        .assert_error(403, 4, "not today");
    send(server.addr, denied(""))
        .await
        .assert_error(403, 4, "Forbidden");
    assert_eq!(server.engine.session_count(), 0);

    // Direct WebSocket: 403 text, no 101.
    let ws_path = "/engine.io/?EIO=4&transport=websocket";
    let res = send(
        server.addr,
        ws_req(ws_path)
            .header("x-deny", "no sockets")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_ws_refusal(&res, 403, "no sockets");
    let res = send(
        server.addr,
        ws_req(ws_path).header("x-deny", "").body(empty()).unwrap(),
    )
    .await;
    assert_ws_refusal(&res, 403, "Forbidden");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 4);

    // Allowed handshake; the hook is never asked about requests with a sid.
    let client = Polling::open(server.addr).await;
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 5);
    let with_sid = |method: Method, body: &'static str| {
        req(method, &client.url(""))
            .header("x-deny", "nope")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    send(server.addr, with_sid(Method::POST, "4hello"))
        .await
        .assert_ok();
    let res = send(server.addr, with_sid(Method::GET, "")).await;
    assert_eq!((res.status, res.text()), (StatusCode::OK, "4hello"));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 5);
    server.events.assert_open(&client.sid);
}

#[tokio::test]
async fn code_5_missing_invalid_or_unsupported_eio() {
    let server = TestServer::start(EngineConfig::default()).await;
    for q in [
        "transport=polling",
        "EIO=&transport=polling",
        "EIO=abc&transport=polling",
        "EIO=5&transport=polling",
    ] {
        get(server.addr, &format!("/engine.io/?{q}"))
            .await
            .assert_error(400, 5, "Unsupported protocol version");
    }
    // v3 is refused unless allowed.
    get(server.addr, "/engine.io/?EIO=3&transport=polling")
        .await
        .assert_error(400, 5, "Unsupported protocol version");
    for q in [
        "EIO=3&transport=websocket",
        "transport=websocket",
        "EIO=x&transport=websocket",
    ] {
        let res = ws_refusal(server.addr, &format!("/engine.io/?{q}")).await;
        assert_ws_refusal(&res, 400, "Unsupported protocol version");
    }
    assert_eq!(server.engine.session_count(), 0);

    let v3 = TestServer::start(EngineConfig::default().with_allow_eio3(true)).await;
    let res = get(v3.addr, "/engine.io/?EIO=3&transport=polling").await;
    assert_eq!(res.status, StatusCode::OK);
    get(v3.addr, "/engine.io/?EIO=2&transport=polling")
        .await
        .assert_error(400, 5, "Unsupported protocol version");
    get(v3.addr, "/engine.io/?transport=polling")
        .await
        .assert_error(400, 5, "Unsupported protocol version");
}

/// Methods other than GET and POST on a live session are a client error:
/// 405 with `Allow` and a JSON body (the reference answers 500), and the
/// session goes on as if nothing happened.
#[tokio::test]
async fn unknown_method_with_a_sid_is_405_and_keeps_the_session() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    for method in [
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::from_bytes(b"FOO").unwrap(),
    ] {
        let res = send(
            server.addr,
            req(method.clone(), &client.url("")).body(empty()).unwrap(),
        )
        .await;
        res.assert_error(405, 3, "Method not allowed");
        assert_eq!(res.header("allow"), Some("GET, POST"), "{method}");
    }
    client.send("4ok").await;
    assert_eq!(client.poll().await, "4ok");
    server.events.assert_open(&client.sid);
}

/// With CORS on, OPTIONS is a preflight (answered as such) and `Allow`
/// names it too.
#[tokio::test]
async fn method_refusal_names_options_when_cors_is_on() {
    let config = EngineConfig::default().with_cors(Some(sockeye_engine::CorsConfig::default()));
    let server = TestServer::start(config).await;
    let client = Polling::open(server.addr).await;
    let res = send(
        server.addr,
        req(Method::DELETE, &client.url("")).body(empty()).unwrap(),
    )
    .await;
    res.assert_error(405, 3, "Method not allowed");
    assert_eq!(res.header("allow"), Some("GET, POST, OPTIONS"));
    assert!(server.knows(&client.sid));
}

#[tokio::test]
async fn websocket_client_sees_the_refusal_status() {
    let server = TestServer::start(EngineConfig::default()).await;
    let url = format!("ws://{}/engine.io/?EIO=9&transport=websocket", server.addr);
    match ws_connect_with(&url, &[]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), StatusCode::BAD_REQUEST)
        }
        other => panic!("refusal expected, got {:?}", other.map(|(_, r)| r)),
    }
    let url = format!(
        "ws://{}/engine.io/?EIO=4&transport=websocket&sid={SOME_SID}",
        server.addr
    );
    match ws_connect_with(&url, &[]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), StatusCode::BAD_REQUEST)
        }
        other => panic!("refusal expected, got {:?}", other.map(|(_, r)| r)),
    }
    assert_eq!(server.engine.session_count(), 0);
}
