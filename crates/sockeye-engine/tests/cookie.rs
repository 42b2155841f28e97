//! The `io` session cookie: off by default, on the polling handshake only,
//! every attribute rendered in the reference's order, and invalid or
//! header-injecting options refused when the engine is built.

mod common;

use common::*;
use http::StatusCode;
use sockeye_engine::{
    CloseReason, CookieConfig, CookieError, Engine, EngineConfig, EngineError, EngineHandler,
    Message, Priority, SameSite, Session,
};
use std::time::{Duration, UNIX_EPOCH};

struct Nop;

impl EngineHandler for Nop {
    fn on_open(&self, _: &Session) {}
    fn on_message(&self, _: &Session, _: Message) {}
    fn on_close(&self, _: &Session, _: CloseReason) {}
}

/// The `Set-Cookie` values of a polling handshake with this cookie, and the
/// session's sid.
async fn handshake_cookies(cookie: CookieConfig) -> (Vec<String>, String) {
    let server = TestServer::start(EngineConfig::default().with_cookie(Some(cookie))).await;
    let client = Polling::open(server.addr).await;
    let cookies = client
        .handshake
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    (cookies, client.sid)
}

#[tokio::test]
async fn no_cookie_by_default() {
    let server = TestServer::start(EngineConfig::default()).await;
    let client = Polling::open(server.addr).await;
    assert!(client.handshake.header("set-cookie").is_none());
    client.send("4x").await;
    assert!(client.get().await.header("set-cookie").is_none());
    let (_ws, res) = ws_connect(&ws_url(server.addr)).await;
    assert!(res.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn default_cookie_on_the_polling_handshake_only() {
    let server =
        TestServer::start(EngineConfig::default().with_cookie(Some(CookieConfig::default()))).await;
    let client = Polling::open(server.addr).await;
    let cookies: Vec<_> = client
        .handshake
        .headers
        .get_all("set-cookie")
        .iter()
        .collect();
    assert_eq!(
        cookies,
        [format!("io={}; Path=/; HttpOnly; SameSite=Lax", client.sid).as_str()]
    );

    // Later requests of the session carry no cookie.
    let res = client.post("4hello").await;
    res.assert_ok();
    assert!(res.header("set-cookie").is_none());
    let res = client.get().await;
    assert_eq!(res.text(), "4hello");
    assert!(res.header("set-cookie").is_none());
    // Nor do error responses.
    let res = get(server.addr, "/engine.io/?EIO=4&transport=nope").await;
    assert!(res.header("set-cookie").is_none());

    // Nor a WebSocket 101, direct or upgrade.
    let (_ws, res) = ws_connect(&ws_url(server.addr)).await;
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert!(res.headers().get("set-cookie").is_none());
    let (_up, res) = ws_connect(&client.ws_url()).await;
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert!(res.headers().get("set-cookie").is_none());

    // Each handshake gets its own sid in its cookie.
    let other = Polling::open(server.addr).await;
    assert_eq!(
        other.handshake.header("set-cookie"),
        Some(format!("io={}; Path=/; HttpOnly; SameSite=Lax", other.sid).as_str())
    );
}

#[tokio::test]
async fn reference_cookie_variants() {
    let d = CookieConfig::default;
    let cases: Vec<(CookieConfig, &str)> = vec![
        (
            d().with_name("woot"),
            "woot={sid}; Path=/; HttpOnly; SameSite=Lax",
        ),
        (
            d().with_path(Some("/custom".into())),
            "io={sid}; Path=/custom; HttpOnly; SameSite=Lax",
        ),
        (d().with_path(None), "io={sid}; HttpOnly; SameSite=Lax"),
        (
            d().with_same_site(Some(SameSite::Strict)),
            "io={sid}; Path=/; HttpOnly; SameSite=Strict",
        ),
        (d().with_http_only(false), "io={sid}; Path=/; SameSite=Lax"),
        (d().with_same_site(None), "io={sid}; Path=/; HttpOnly"),
        (
            d().with_secure(true),
            "io={sid}; Path=/; HttpOnly; Secure; SameSite=Lax",
        ),
        (
            d().with_secure(true).with_same_site(Some(SameSite::None)),
            "io={sid}; Path=/; HttpOnly; Secure; SameSite=None",
        ),
        (
            d().with_secure(true).with_partitioned(true),
            "io={sid}; Path=/; HttpOnly; Secure; Partitioned; SameSite=Lax",
        ),
        (
            d().with_priority(Some(Priority::Low)),
            "io={sid}; Path=/; HttpOnly; Priority=Low; SameSite=Lax",
        ),
        (
            d().with_priority(Some(Priority::Medium)),
            "io={sid}; Path=/; HttpOnly; Priority=Medium; SameSite=Lax",
        ),
        (
            d().with_max_age(Duration::from_millis(90_500)),
            "io={sid}; Max-Age=90; Path=/; HttpOnly; SameSite=Lax",
        ),
        (
            d().with_domain("example.com"),
            "io={sid}; Domain=example.com; Path=/; HttpOnly; SameSite=Lax",
        ),
        (
            d().with_expires(UNIX_EPOCH + Duration::from_secs(1_000_000_000)),
            "io={sid}; Path=/; Expires=Sun, 09 Sep 2001 01:46:40 GMT; HttpOnly; SameSite=Lax",
        ),
        (
            d().with_name("__Host-io").with_secure(true),
            "__Host-io={sid}; Path=/; HttpOnly; Secure; SameSite=Lax",
        ),
        (
            d().with_name("__Secure-io")
                .with_secure(true)
                .with_path(Some("/x".into()))
                .with_domain("a.example"),
            "__Secure-io={sid}; Domain=a.example; Path=/x; HttpOnly; Secure; SameSite=Lax",
        ),
        (
            d().with_name("sess")
                .with_max_age(Duration::from_secs(3600))
                .with_domain(".example.com")
                .with_path(Some("/p".into()))
                .with_expires(UNIX_EPOCH + Duration::from_secs(1_000_000_000))
                .with_secure(true)
                .with_partitioned(true)
                .with_priority(Some(Priority::High))
                .with_same_site(Some(SameSite::None)),
            "sess={sid}; Max-Age=3600; Domain=.example.com; Path=/p; Expires=Sun, 09 Sep 2001 01:46:40 GMT; \
             HttpOnly; Secure; Partitioned; Priority=High; SameSite=None",
        ),
    ];
    for (cookie, expected) in cases {
        let (cookies, sid) = handshake_cookies(cookie).await;
        assert_eq!(cookies, [expected.replace("{sid}", &sid)]);
    }
}

#[tokio::test]
async fn cookie_and_hook_cookie_side_by_side() {
    let config = EngineConfig::default()
        .with_cookie(Some(CookieConfig::default()))
        .with_handshake_headers(|_, h| {
            h.append("set-cookie", http::HeaderValue::from_static("mine=1"));
        });
    let server = TestServer::start(config).await;
    let client = Polling::open(server.addr).await;
    let cookies: Vec<_> = client
        .handshake
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        cookies,
        [
            format!("io={}; Path=/; HttpOnly; SameSite=Lax", client.sid).as_str(),
            "mine=1"
        ]
    );
    // The WebSocket 101 gets the hook's cookie only, as in the reference.
    let (_ws, res) = ws_connect(&ws_url(server.addr)).await;
    let cookies: Vec<_> = res.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["mine=1"]);
}

fn refused(cookie: CookieConfig) -> CookieError {
    match Engine::new(EngineConfig::default().with_cookie(Some(cookie)), Nop) {
        Err(EngineError::Cookie(e)) => e,
        other => panic!("expected a cookie error, got {other:?}"),
    }
}

fn prefix_rule(name: &str, prefix: &'static str, requires: &'static str) -> CookieError {
    CookieError::PrefixRule {
        name: name.into(),
        prefix,
        requires,
    }
}

#[test]
fn engine_refuses_cookies_browsers_would_drop() {
    let d = CookieConfig::default;
    assert_eq!(
        refused(d().with_same_site(Some(SameSite::None))),
        CookieError::SameSiteNoneWithoutSecure
    );
    assert_eq!(
        refused(d().with_partitioned(true)),
        CookieError::PartitionedWithoutSecure
    );
    assert_eq!(
        refused(d().with_max_age(Duration::from_millis(999))),
        CookieError::MaxAgeTooShort
    );
    let far = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
    assert_eq!(
        refused(d().with_expires(far)),
        CookieError::ExpiresOutOfRange
    );
    assert_eq!(
        refused(d().with_expires(UNIX_EPOCH - Duration::from_secs(1))),
        CookieError::ExpiresOutOfRange
    );

    // __Host-: Secure, Path=/, no Domain.
    assert_eq!(
        refused(d().with_name("__Host-io")),
        prefix_rule("__Host-io", "__Host-", "Secure")
    );
    let host = || d().with_name("__Host-io").with_secure(true);
    assert_eq!(
        refused(host().with_path(Some("/x".into()))),
        prefix_rule("__Host-io", "__Host-", "Path=/")
    );
    assert_eq!(
        refused(host().with_path(None)),
        prefix_rule("__Host-io", "__Host-", "Path=/")
    );
    assert_eq!(
        refused(host().with_domain("example.com")),
        prefix_rule("__Host-io", "__Host-", "no Domain attribute")
    );
    // Prefixes are recognised in any case.
    assert_eq!(
        refused(d().with_name("__host-io")),
        prefix_rule("__host-io", "__Host-", "Secure")
    );
    assert_eq!(
        refused(d().with_name("__Secure-io")),
        prefix_rule("__Secure-io", "__Secure-", "Secure")
    );
    assert_eq!(
        refused(
            d().with_name("__Http-io")
                .with_secure(true)
                .with_http_only(false)
        ),
        prefix_rule("__Http-io", "__Http-", "HttpOnly")
    );

    // The valid ones build.
    for ok in [
        d(),
        host(),
        d().with_secure(true)
            .with_same_site(Some(SameSite::None))
            .with_partitioned(true),
    ] {
        Engine::new(EngineConfig::default().with_cookie(Some(ok)), Nop).expect("valid cookie");
    }
}

#[test]
fn engine_refuses_header_injection_in_cookie_options() {
    let d = CookieConfig::default;
    assert_eq!(refused(d().with_name("")), CookieError::EmptyName);
    for (name, ch) in [
        ("io\r\nX-Evil: 1", '\r'),
        ("a;b", ';'),
        ("a b", ' '),
        ("a=b", '='),
        ("é", 'é'),
        ("a\nb", '\n'),
    ] {
        assert_eq!(
            refused(d().with_name(name)),
            CookieError::InvalidName {
                name: name.into(),
                ch
            }
        );
    }
    let path = |p: &str, reason: &'static str| {
        (
            p.to_owned(),
            CookieError::InvalidPath {
                path: p.into(),
                reason,
            },
        )
    };
    for (p, expected) in [
        path("/\r\nSet-Cookie: evil=1", "it contains a control character"),
        path("/a\nb", "it contains a control character"),
        path("/a; Domain=evil.com", "it contains ';'"),
        path("/é", "it contains a non-ASCII character"),
        path(
            "relative",
            "it must start with '/' (browsers ignore any other path)",
        ),
    ] {
        assert_eq!(refused(d().with_path(Some(p))), expected);
    }
    let domain = |v: &str, reason: &'static str| {
        (
            v.to_owned(),
            CookieError::InvalidDomain {
                domain: v.into(),
                reason,
            },
        )
    };
    for (v, expected) in [
        domain("evil.com; Secure", "it contains ';'"),
        domain("a\r\nb", "it contains a control character"),
        domain(
            "exämple.com",
            "it contains a non-ASCII character (use the punycode form)",
        ),
        domain("", "it is empty"),
        domain(
            "a..b",
            "it has an empty label (two dots, or a trailing dot)",
        ),
        domain("a b", "labels may only hold letters, digits and '-'"),
        domain("-a.com", "a label starts or ends with '-'"),
    ] {
        assert_eq!(refused(d().with_domain(v)), expected);
    }
    // The error names the problem.
    let e = EngineError::Cookie(CookieError::SameSiteNoneWithoutSecure);
    assert_eq!(
        e.to_string(),
        "invalid cookie option: SameSite=None requires Secure: browsers reject SameSite=None cookies without it"
    );
}

#[test]
fn attribute_values_parse_in_any_case() {
    assert_eq!("LAX".parse::<SameSite>(), Ok(SameSite::Lax));
    assert_eq!("none".parse::<SameSite>(), Ok(SameSite::None));
    assert_eq!("hIgH".parse::<Priority>(), Ok(Priority::High));
    assert_eq!(
        "sometimes".parse::<SameSite>(),
        Err(CookieError::UnknownSameSite {
            value: "sometimes".into()
        })
    );
    assert_eq!(
        "urgent".parse::<Priority>(),
        Err(CookieError::UnknownPriority {
            value: "urgent".into()
        })
    );
}
