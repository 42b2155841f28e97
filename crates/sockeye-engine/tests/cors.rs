//! CORS headers (the npm `cors` semantics of the reference) and the
//! enforced origin policy (beyond the reference).

mod common;

use bytes::Bytes;
use common::*;
use http::header::HeaderName;
use http::{Method, StatusCode};
use http_body_util::Full;
use sockeye_engine::{AllowedOrigins, CorsConfig, EngineConfig, OriginPolicy};
use std::time::Duration;

const HANDSHAKE: &str = "/engine.io/?EIO=4&transport=polling";

fn with_origin(method: Method, path: &str, origin: &str) -> http::Request<Full<Bytes>> {
    req(method, path)
        .header("origin", origin)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// The response's header names, `date` left out.
fn names(res: &Resp) -> Vec<&str> {
    let mut v: Vec<&str> = res
        .headers
        .keys()
        .map(HeaderName::as_str)
        .filter(|n| *n != "date")
        .collect();
    v.sort_unstable();
    v
}

fn reference_cors() -> CorsConfig {
    CorsConfig::new(AllowedOrigins::Reflect)
        .with_allowed_headers([HeaderName::from_static("my-header")])
        .with_credentials(true)
}

#[tokio::test]
async fn cors_off_sends_nothing_and_options_is_a_bad_handshake() {
    let server = TestServer::start(EngineConfig::default()).await;
    let res = send(
        server.addr,
        with_origin(Method::OPTIONS, HANDSHAKE, "http://engine.io"),
    )
    .await;
    res.assert_error(400, 2, "Bad handshake method");
    assert!(
        names(&res)
            .iter()
            .all(|n| !n.starts_with("access-control-") && *n != "vary"),
        "{res:?}"
    );
    let res = send(
        server.addr,
        with_origin(Method::GET, HANDSHAKE, "http://engine.io"),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        names(&res),
        ["cache-control", "content-length", "content-type"]
    );
    // With a sid, OPTIONS reaches the polling transport: 405 (the
    // reference answers 500).
    let client = Polling::open(server.addr).await;
    send(
        server.addr,
        with_origin(Method::OPTIONS, &client.url(""), "http://engine.io"),
    )
    .await
    .assert_error(405, 3, "Method not allowed");
}

#[tokio::test]
async fn preflight_matches_the_reference() {
    let server = TestServer::start(EngineConfig::default().with_cors(Some(reference_cors()))).await;
    let res = send(
        server.addr,
        with_origin(
            Method::OPTIONS,
            "/engine.io/?transport=polling",
            "http://engine.io",
        ),
    )
    .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert!(res.body.is_empty());
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("http://engine.io")
    );
    assert_eq!(
        res.header("access-control-allow-methods"),
        Some("GET,HEAD,PUT,PATCH,POST,DELETE")
    );
    assert_eq!(
        res.header("access-control-allow-headers"),
        Some("my-header")
    );
    assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(res.header("vary"), Some("Origin"));
    assert_eq!(
        names(&res),
        [
            "access-control-allow-credentials",
            "access-control-allow-headers",
            "access-control-allow-methods",
            "access-control-allow-origin",
            "vary"
        ]
    );
    // (No Content-Length on a 204: HTTP forbids it and hyper drops it.)
    // The preflight opens no session.
    assert_eq!(server.engine.session_count(), 0);
}

#[tokio::test]
async fn actual_requests_carry_allow_origin_and_vary() {
    let mut server =
        TestServer::start(EngineConfig::default().with_cors(Some(reference_cors()))).await;
    let origin = "http://engine.io";
    let res = send(server.addr, with_origin(Method::GET, HANDSHAKE, origin)).await;
    assert_eq!(res.status, StatusCode::OK);
    let sid = parse_open(res.text()).0["sid"].as_str().unwrap().to_owned();
    let check = |res: &Resp| {
        assert_eq!(
            res.header("access-control-allow-origin"),
            Some(origin),
            "{res:?}"
        );
        assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(res.header("vary"), Some("Origin"));
        assert!(res.header("access-control-allow-methods").is_none());
        assert!(res.header("access-control-allow-headers").is_none());
    };
    check(&res);
    let url = format!("{HANDSHAKE}&sid={sid}");
    let res = send(
        server.addr,
        req(Method::POST, &url)
            .header("origin", origin)
            .body(Full::new(Bytes::from("4cors")))
            .unwrap(),
    )
    .await;
    res.assert_ok();
    check(&res);
    let res = send(server.addr, with_origin(Method::GET, &url, origin)).await;
    assert_eq!(res.text(), "4cors");
    check(&res);
    // Error responses too.
    let res = send(
        server.addr,
        with_origin(Method::GET, "/engine.io/?EIO=4&transport=abc", origin),
    )
    .await;
    res.assert_error(400, 0, "Transport unknown");
    check(&res);
    let res = send(
        server.addr,
        with_origin(Method::GET, &format!("{HANDSHAKE}&sid=unknown"), origin),
    )
    .await;
    res.assert_error(400, 1, "Session ID unknown");
    check(&res);
    server.events.assert_open(&sid);
}

#[tokio::test]
async fn disallowed_origin_gets_no_allow_origin_but_is_not_refused() {
    let cors = CorsConfig::new(AllowedOrigins::list(["http://good-domain.com"]));
    let mut server = TestServer::start(EngineConfig::default().with_cors(Some(cors))).await;
    let bad = "http://bad-domain.com";
    let res = send(
        server.addr,
        with_origin(Method::OPTIONS, "/engine.io/?transport=polling", bad),
    )
    .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert!(res.body.is_empty());
    assert!(res.header("access-control-allow-origin").is_none());
    assert!(res.header("access-control-allow-credentials").is_none());
    assert_eq!(
        res.header("vary"),
        Some("Origin, Access-Control-Request-Headers")
    );

    // CORS is no access control: the handshake still opens a session.
    let res = send(server.addr, with_origin(Method::GET, HANDSHAKE, bad)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.header("access-control-allow-origin").is_none());
    assert_eq!(res.header("vary"), Some("Origin"));
    server.events.opened().await;

    let res = send(
        server.addr,
        with_origin(Method::GET, HANDSHAKE, "http://good-domain.com"),
    )
    .await;
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("http://good-domain.com")
    );
}

#[tokio::test]
async fn configuration_is_forwarded_like_the_cors_module() {
    let cors = CorsConfig::new(AllowedOrigins::list(["http://good-domain.com"]))
        .with_methods([Method::GET, Method::PUT, Method::POST])
        .with_allowed_headers([HeaderName::from_static("my-header")])
        .with_exposed_headers([HeaderName::from_static("my-exposed-header")])
        .with_credentials(true)
        .with_max_age(Duration::from_secs(123))
        .with_preflight_status(StatusCode::OK);
    let server = TestServer::start(EngineConfig::default().with_cors(Some(cors))).await;
    let good = "http://good-domain.com";
    let res = send(
        server.addr,
        with_origin(Method::OPTIONS, "/engine.io/?transport=polling", good),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.body.is_empty());
    assert_eq!(res.header("access-control-allow-origin"), Some(good));
    assert_eq!(
        res.header("access-control-allow-methods"),
        Some("GET,PUT,POST")
    );
    assert_eq!(
        res.header("access-control-allow-headers"),
        Some("my-header")
    );
    assert_eq!(
        res.header("access-control-expose-headers"),
        Some("my-exposed-header")
    );
    assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(res.header("access-control-max-age"), Some("123"));
    assert_eq!(res.header("content-length"), Some("0"));
    // Exposed headers also go on actual responses.
    let res = send(server.addr, with_origin(Method::GET, HANDSHAKE, good)).await;
    assert_eq!(
        res.header("access-control-expose-headers"),
        Some("my-exposed-header")
    );
}

#[tokio::test]
async fn default_cors_is_any_origin_and_reflects_requested_headers() {
    let server =
        TestServer::start(EngineConfig::default().with_cors(Some(CorsConfig::default()))).await;
    let preflight = req(Method::OPTIONS, "/engine.io/?EIO=4&transport=polling")
        .header("origin", "http://x.test")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-a, x-b")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = send(server.addr, preflight).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    assert_eq!(res.header("access-control-allow-headers"), Some("x-a, x-b"));
    assert_eq!(res.header("vary"), Some("Access-Control-Request-Headers"));
    assert!(res.header("access-control-allow-credentials").is_none());
    let res = send(
        server.addr,
        with_origin(Method::GET, HANDSHAKE, "http://x.test"),
    )
    .await;
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    assert!(res.header("vary").is_none());
}

// ------------------------------------------------------------ origin policy

fn policy_config(policy: OriginPolicy) -> EngineConfig {
    EngineConfig::default().with_origin_policy(Some(policy))
}

const GOOD: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example.net";

fn policy() -> OriginPolicy {
    OriginPolicy::new(AllowedOrigins::list([GOOD]))
}

#[tokio::test]
async fn origin_policy_refuses_polling_handshakes_and_requests() {
    let mut server = TestServer::start(policy_config(policy())).await;
    send(server.addr, with_origin(Method::GET, HANDSHAKE, EVIL))
        .await
        .assert_error(403, 4, "Origin not allowed");
    send(server.addr, with_origin(Method::GET, HANDSHAKE, "null"))
        .await
        .assert_error(403, 4, "Origin not allowed");
    // Close but not equal: the list is exact.
    send(
        server.addr,
        with_origin(Method::GET, HANDSHAKE, "https://app.example.com/"),
    )
    .await
    .assert_error(403, 4, "Origin not allowed");
    assert_eq!(server.engine.session_count(), 0);

    // Allowed origin, and no Origin at all (allowed by default).
    let res = send(server.addr, with_origin(Method::GET, HANDSHAKE, GOOD)).await;
    assert_eq!(res.status, StatusCode::OK);
    let sid = parse_open(res.text()).0["sid"].as_str().unwrap().to_owned();
    let no_origin = Polling::open(server.addr).await;

    // Requests of an existing session are checked too.
    let url = format!("{HANDSHAKE}&sid={sid}");
    let res = send(
        server.addr,
        req(Method::POST, &url)
            .header("origin", EVIL)
            .body(Full::new(Bytes::from("4stolen")))
            .unwrap(),
    )
    .await;
    res.assert_error(403, 4, "Origin not allowed");
    send(server.addr, with_origin(Method::GET, &url, EVIL))
        .await
        .assert_error(403, 4, "Origin not allowed");
    // Nothing was delivered, the session lives on.
    let res = send(
        server.addr,
        req(Method::POST, &url)
            .header("origin", GOOD)
            .body(Full::new(Bytes::from("4mine")))
            .unwrap(),
    )
    .await;
    res.assert_ok();
    assert_eq!(
        server.events.message(&sid).await,
        sockeye_engine::Message::Text("4mine"[1..].into())
    );
    let res = send(server.addr, with_origin(Method::GET, &url, GOOD)).await;
    assert_eq!(res.text(), "4mine");
    no_origin.send("4plain").await;
    assert_eq!(no_origin.poll().await, "4plain");
    server.events.assert_open(&sid);
}

#[tokio::test]
async fn origin_policy_refuses_websockets_before_any_101() {
    let mut server = TestServer::start(policy_config(policy())).await;
    let ws_path = "/engine.io/?EIO=4&transport=websocket";
    let res = send(
        server.addr,
        ws_req(ws_path)
            .header("origin", EVIL)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(res.text(), "Origin not allowed");
    assert_eq!(res.header("content-type"), Some("text/html"));
    assert!(res.header("sec-websocket-accept").is_none());
    match ws_connect_with(&ws_url(server.addr), &[("origin", EVIL)]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), StatusCode::FORBIDDEN)
        }
        other => panic!("refusal expected, got {:?}", other.map(|(_, r)| r)),
    }
    assert_eq!(server.engine.session_count(), 0);

    // Allowed origin: a session.
    let (mut ws, _) = ws_connect_with(&ws_url(server.addr), &[("origin", GOOD)])
        .await
        .expect("allowed");
    let open = recv_text(&mut ws).await;
    assert!(open.starts_with("0{"));
    assert_ws_echo(&mut ws, "good").await;

    // The upgrade of a polling session from another origin: refused, and
    // the session stays on polling.
    let client = Polling::open(server.addr).await;
    match ws_connect_with(&client.ws_url(), &[("origin", EVIL)]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), StatusCode::FORBIDDEN)
        }
        other => panic!("refusal expected, got {:?}", other.map(|(_, r)| r)),
    }
    client.send("4still polling").await;
    assert_eq!(client.poll().await, "4still polling");
    assert_eq!(
        server.session(&client.sid).transport(),
        sockeye_engine::TransportKind::Polling
    );
    server.events.assert_open(&client.sid);
}

#[tokio::test]
async fn missing_origin_can_be_refused() {
    let server = TestServer::start(policy_config(policy().with_allow_missing(false))).await;
    get(server.addr, HANDSHAKE)
        .await
        .assert_error(403, 4, "Origin not allowed");
    let res = send(
        server.addr,
        ws_req("/engine.io/?EIO=4&transport=websocket")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(
        (res.status, res.text()),
        (StatusCode::FORBIDDEN, "Origin not allowed")
    );
    let res = send(server.addr, with_origin(Method::GET, HANDSHAKE, GOOD)).await;
    assert_eq!(res.status, StatusCode::OK);
    let sid = parse_open(res.text()).0["sid"].as_str().unwrap().to_owned();
    // A request of the session without Origin is refused as well.
    get(server.addr, &format!("{HANDSHAKE}&sid={sid}"))
        .await
        .assert_error(403, 4, "Origin not allowed");
    let (mut ws, _) = ws_connect_with(&ws_url(server.addr), &[("origin", GOOD)])
        .await
        .expect("allowed");
    assert!(recv_text(&mut ws).await.starts_with("0{"));
}

#[tokio::test]
async fn pattern_and_predicate_policies() {
    let re = regex::Regex::new(r"^https://([a-z0-9-]+\.)?example\.com$").unwrap();
    let server = TestServer::start(policy_config(OriginPolicy::new(AllowedOrigins::Pattern(
        re,
    ))))
    .await;
    for ok in ["https://example.com", "https://a-b.example.com"] {
        assert_eq!(
            send(server.addr, with_origin(Method::GET, HANDSHAKE, ok))
                .await
                .status,
            StatusCode::OK,
            "{ok}"
        );
    }
    for bad in ["https://example.com.evil.net", "http://example.com", "null"] {
        send(server.addr, with_origin(Method::GET, HANDSHAKE, bad))
            .await
            .assert_error(403, 4, "Origin not allowed");
    }
    let predicate = AllowedOrigins::predicate(|o| o.ends_with(":8443"));
    let server = TestServer::start(policy_config(OriginPolicy::new(predicate))).await;
    assert_eq!(
        send(
            server.addr,
            with_origin(Method::GET, HANDSHAKE, "https://h:8443")
        )
        .await
        .status,
        StatusCode::OK
    );
    send(
        server.addr,
        with_origin(Method::GET, HANDSHAKE, "https://h"),
    )
    .await
    .assert_error(403, 4, "Origin not allowed");
}

#[tokio::test]
async fn policy_refusals_carry_cors_headers() {
    let config = policy_config(policy()).with_cors(Some(CorsConfig::new(AllowedOrigins::Reflect)));
    let server = TestServer::start(config).await;
    let res = send(server.addr, with_origin(Method::GET, HANDSHAKE, EVIL)).await;
    res.assert_error(403, 4, "Origin not allowed");
    // The browser may read why it was refused.
    assert_eq!(res.header("access-control-allow-origin"), Some(EVIL));
    assert_eq!(res.header("vary"), Some("Origin"));
}
