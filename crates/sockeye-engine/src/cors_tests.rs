//! Unit tests of `cors.rs` (kept apart to keep that file short).

use super::*;

fn hv(s: &'static str) -> HeaderValue {
    HeaderValue::from_static(s)
}

fn request(pairs: &[(HeaderName, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(name.clone(), hv(value));
    }
    map
}

fn get<'a>(map: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    map.get(name).and_then(|v| v.to_str().ok())
}

fn all(map: &HeaderMap, name: &HeaderName) -> Vec<Vec<u8>> {
    map.get_all(name)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect()
}

fn my_header() -> HeaderName {
    HeaderName::from_static("my-header")
}

// Reference tests (engine.io test/server.js, describe("cors")).

fn reference_config() -> CorsConfig {
    CorsConfig::new(AllowedOrigins::Reflect)
        .with_allowed_headers([my_header()])
        .with_credentials(true)
}

#[test]
fn reference_preflight_from_current_origin() {
    let c = reference_config();
    let h = c.preflight_headers(&request(&[(ORIGIN, "http://engine.io")]));
    assert_eq!(c.preflight_status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get(&h, &ACCESS_CONTROL_ALLOW_ORIGIN),
        Some("http://engine.io")
    );
    assert_eq!(
        get(&h, &ACCESS_CONTROL_ALLOW_METHODS),
        Some("GET,HEAD,PUT,PATCH,POST,DELETE")
    );
    assert_eq!(get(&h, &ACCESS_CONTROL_ALLOW_HEADERS), Some("my-header"));
    assert_eq!(get(&h, &ACCESS_CONTROL_ALLOW_CREDENTIALS), Some("true"));
    assert_eq!(get(&h, &VARY), Some("Origin"));
    assert_eq!(get(&h, &CONTENT_LENGTH), Some("0"));
    assert_eq!(h.get(ACCESS_CONTROL_MAX_AGE), None);
    assert_eq!(h.get(ACCESS_CONTROL_EXPOSE_HEADERS), None);
    assert_eq!(h.len(), 6);
}

#[test]
fn reference_actual_request_from_current_origin() {
    let c = reference_config();
    let mut resp = HeaderMap::new();
    c.apply_actual(&request(&[(ORIGIN, "http://engine.io")]), &mut resp);
    assert_eq!(
        get(&resp, &ACCESS_CONTROL_ALLOW_ORIGIN),
        Some("http://engine.io")
    );
    assert_eq!(get(&resp, &ACCESS_CONTROL_ALLOW_CREDENTIALS), Some("true"));
    assert_eq!(get(&resp, &VARY), Some("Origin"));
    assert_eq!(resp.get(ACCESS_CONTROL_ALLOW_METHODS), None);
    assert_eq!(resp.get(ACCESS_CONTROL_ALLOW_HEADERS), None);
    assert_eq!(resp.len(), 3);
}

#[test]
fn reference_bad_origin_gets_no_allow_origin() {
    let c = CorsConfig::new(AllowedOrigins::list(["http://good-domain.com"]));
    let h = c.preflight_headers(&request(&[(ORIGIN, "http://bad-domain.com")]));
    assert_eq!(h.get(ACCESS_CONTROL_ALLOW_ORIGIN), None);
    assert_eq!(h.get(ACCESS_CONTROL_ALLOW_CREDENTIALS), None);
    assert_eq!(
        get(&h, &VARY),
        Some("Origin, Access-Control-Request-Headers")
    );
    let mut resp = HeaderMap::new();
    c.apply_actual(&request(&[(ORIGIN, "http://bad-domain.com")]), &mut resp);
    assert_eq!(resp.get(ACCESS_CONTROL_ALLOW_ORIGIN), None);
    assert_eq!(get(&resp, &VARY), Some("Origin"));
}

#[test]
fn reference_configuration_is_forwarded() {
    let c = CorsConfig::new(AllowedOrigins::list(["http://good-domain.com"]))
        .with_methods([Method::GET, Method::PUT, Method::POST])
        .with_allowed_headers([my_header()])
        .with_exposed_headers([HeaderName::from_static("my-exposed-header")])
        .with_credentials(true)
        .with_max_age(Duration::from_secs(123))
        .with_preflight_status(StatusCode::OK);
    let h = c.preflight_headers(&request(&[(ORIGIN, "http://good-domain.com")]));
    assert_eq!(c.preflight_status(), StatusCode::OK);
    assert_eq!(
        get(&h, &ACCESS_CONTROL_ALLOW_ORIGIN),
        Some("http://good-domain.com")
    );
    assert_eq!(get(&h, &ACCESS_CONTROL_ALLOW_METHODS), Some("GET,PUT,POST"));
    assert_eq!(get(&h, &ACCESS_CONTROL_ALLOW_HEADERS), Some("my-header"));
    assert_eq!(
        get(&h, &ACCESS_CONTROL_EXPOSE_HEADERS),
        Some("my-exposed-header")
    );
    assert_eq!(get(&h, &ACCESS_CONTROL_ALLOW_CREDENTIALS), Some("true"));
    assert_eq!(get(&h, &ACCESS_CONTROL_MAX_AGE), Some("123"));
}

// Preflight branches.

#[test]
fn default_preflight_allows_any_and_reflects_request_headers() {
    let c = CorsConfig::default();
    let req = request(&[
        (ORIGIN, "https://a.example"),
        (ACCESS_CONTROL_REQUEST_HEADERS, "x-a,x-b"),
    ]);
    let h = c.preflight_headers(&req);
    assert_eq!(get(&h, &ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
    assert_eq!(get(&h, &ACCESS_CONTROL_ALLOW_HEADERS), Some("x-a,x-b"));
    assert_eq!(get(&h, &VARY), Some("Access-Control-Request-Headers"));
    assert_eq!(h.get(ACCESS_CONTROL_ALLOW_CREDENTIALS), None);
    assert_eq!(
        get(&h, &ACCESS_CONTROL_ALLOW_METHODS),
        Some("GET,HEAD,PUT,PATCH,POST,DELETE")
    );
}

#[test]
fn any_sends_a_literal_star_even_with_credentials_and_without_origin() {
    let c = CorsConfig::default().with_credentials(true);
    let h = c.preflight_headers(&HeaderMap::new());
    assert_eq!(get(&h, &ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
    assert_eq!(get(&h, &ACCESS_CONTROL_ALLOW_CREDENTIALS), Some("true"));
    let mut resp = HeaderMap::new();
    c.apply_actual(&HeaderMap::new(), &mut resp);
    assert_eq!(get(&resp, &ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
    assert_eq!(resp.get(VARY), None);
}

#[test]
fn missing_or_non_text_origin_is_never_reflected() {
    let c = CorsConfig::new(AllowedOrigins::Reflect);
    let h = c.preflight_headers(&HeaderMap::new());
    assert_eq!(h.get(ACCESS_CONTROL_ALLOW_ORIGIN), None);
    assert_eq!(
        get(&h, &VARY),
        Some("Origin, Access-Control-Request-Headers")
    );
    let mut req = HeaderMap::new();
    req.insert(
        ORIGIN,
        HeaderValue::from_bytes(b"http://\xe9.example").unwrap(),
    );
    let h = c.preflight_headers(&req);
    assert_eq!(h.get(ACCESS_CONTROL_ALLOW_ORIGIN), None);
    let p = CorsConfig::new(AllowedOrigins::predicate(|_| true));
    assert_eq!(
        p.preflight_headers(&req).get(ACCESS_CONTROL_ALLOW_ORIGIN),
        None
    );
}

#[test]
fn request_headers_absent_or_on_several_lines() {
    let c = CorsConfig::default();
    let h = c.preflight_headers(&HeaderMap::new());
    assert_eq!(h.get(ACCESS_CONTROL_ALLOW_HEADERS), None);
    assert_eq!(get(&h, &VARY), Some("Access-Control-Request-Headers"));
    let req = request(&[
        (ACCESS_CONTROL_REQUEST_HEADERS, "x-a"),
        (ACCESS_CONTROL_REQUEST_HEADERS, "x-b"),
    ]);
    let h = c.preflight_headers(&req);
    assert_eq!(get(&h, &ACCESS_CONTROL_ALLOW_HEADERS), Some("x-a, x-b"));
    let h = c.preflight_headers(&request(&[(ACCESS_CONTROL_REQUEST_HEADERS, "")]));
    assert_eq!(h.get(ACCESS_CONTROL_ALLOW_HEADERS), None);
}

#[test]
fn empty_lists_send_no_header() {
    let c = CorsConfig::default()
        .with_methods([])
        .with_allowed_headers([])
        .with_exposed_headers([]);
    let req = request(&[(ACCESS_CONTROL_REQUEST_HEADERS, "x-a")]);
    let h = c.preflight_headers(&req);
    assert_eq!(h.get(ACCESS_CONTROL_ALLOW_METHODS), None);
    assert_eq!(h.get(ACCESS_CONTROL_ALLOW_HEADERS), None);
    assert_eq!(h.get(ACCESS_CONTROL_EXPOSE_HEADERS), None);
    assert_eq!(h.get(VARY), None);
    assert_eq!(h.len(), 2); // Allow-Origin: * and Content-Length: 0
}

#[test]
fn several_headers_and_methods_are_joined_with_commas() {
    let c = CorsConfig::default()
        .with_methods([Method::GET, Method::from_bytes(b"PURGE").unwrap()])
        .with_allowed_headers([my_header(), HeaderName::from_static("x-other")])
        .with_exposed_headers([
            HeaderName::from_static("x-e1"),
            HeaderName::from_static("x-e2"),
        ])
        .with_max_age(Duration::from_millis(1999));
    let h = c.preflight_headers(&HeaderMap::new());
    assert_eq!(get(&h, &ACCESS_CONTROL_ALLOW_METHODS), Some("GET,PURGE"));
    assert_eq!(
        get(&h, &ACCESS_CONTROL_ALLOW_HEADERS),
        Some("my-header,x-other")
    );
    assert_eq!(get(&h, &ACCESS_CONTROL_EXPOSE_HEADERS), Some("x-e1,x-e2"));
    assert_eq!(get(&h, &ACCESS_CONTROL_MAX_AGE), Some("1"));
    let mut resp = HeaderMap::new();
    c.apply_actual(&HeaderMap::new(), &mut resp);
    assert_eq!(
        get(&resp, &ACCESS_CONTROL_EXPOSE_HEADERS),
        Some("x-e1,x-e2")
    );
}

// Actual requests and Vary merging.

#[test]
fn actual_request_extends_an_existing_vary() {
    let c = CorsConfig::new(AllowedOrigins::Reflect);
    let req = request(&[(ORIGIN, "https://a.example")]);
    let mut resp = request(&[(VARY, "Accept-Encoding")]);
    c.apply_actual(&req, &mut resp);
    assert_eq!(get(&resp, &VARY), Some("Accept-Encoding, Origin"));
    let mut resp = request(&[(VARY, "Accept-Encoding"), (VARY, "User-Agent")]);
    c.apply_actual(&req, &mut resp);
    assert_eq!(
        all(&resp, &VARY),
        vec![b"Accept-Encoding, User-Agent, Origin".to_vec()]
    );
    let mut resp = request(&[(VARY, "")]);
    c.apply_actual(&req, &mut resp);
    assert_eq!(all(&resp, &VARY), vec![b"Origin".to_vec()]);
}

#[test]
fn vary_already_listed_or_star_is_left_alone() {
    let c = CorsConfig::new(AllowedOrigins::Reflect);
    let req = request(&[(ORIGIN, "https://a.example")]);
    for existing in ["origin", "Accept-Encoding, ORIGIN", "*"] {
        let mut resp = request(&[(VARY, existing)]);
        c.apply_actual(&req, &mut resp);
        assert_eq!(all(&resp, &VARY), vec![existing.as_bytes().to_vec()]);
    }
}

#[test]
fn non_text_vary_is_kept_and_origin_added_on_its_own_line() {
    let c = CorsConfig::new(AllowedOrigins::Reflect);
    let mut resp = HeaderMap::new();
    resp.insert(VARY, HeaderValue::from_bytes(b"X-\xe9").unwrap());
    c.apply_actual(&HeaderMap::new(), &mut resp);
    assert_eq!(
        all(&resp, &VARY),
        vec![b"X-\xe9".to_vec(), b"Origin".to_vec()]
    );
}

#[test]
fn matching_origin_replaces_an_existing_allow_origin() {
    let c = CorsConfig::new(AllowedOrigins::list(["https://a.example"]));
    let mut resp = request(&[(ACCESS_CONTROL_ALLOW_ORIGIN, "https://old.example")]);
    c.apply_actual(&request(&[(ORIGIN, "https://a.example")]), &mut resp);
    assert_eq!(
        all(&resp, &ACCESS_CONTROL_ALLOW_ORIGIN),
        vec![b"https://a.example".to_vec()]
    );
}

// AllowedOrigins.

#[test]
fn list_is_exact_and_case_sensitive() {
    let o = AllowedOrigins::list(["https://a.example", "null"]);
    assert!(o.matches("https://a.example"));
    assert!(o.matches("null"));
    assert!(!o.matches("https://A.example"));
    assert!(!o.matches("https://a.example/"));
    assert!(!o.matches("https://a.example:443"));
    assert!(!o.matches("http://a.example"));
    assert!(!o.matches(""));
    assert!(!AllowedOrigins::List(Vec::new()).matches("https://a.example"));
}

#[test]
fn pattern_is_unanchored_unless_anchored() {
    let loose = AllowedOrigins::Pattern(regex::Regex::new(r"https://a\.example").unwrap());
    assert!(loose.matches("https://a.example"));
    assert!(loose.matches("https://a.example.evil.net"));
    let strict =
        AllowedOrigins::Pattern(regex::Regex::new(r"^https://([a-z0-9-]+\.)?a\.example$").unwrap());
    assert!(strict.matches("https://a.example"));
    assert!(strict.matches("https://app.a.example"));
    assert!(!strict.matches("https://a.example.evil.net"));
}

#[test]
fn any_reflect_and_predicate() {
    assert!(AllowedOrigins::Any.matches("anything"));
    assert!(AllowedOrigins::Reflect.matches(""));
    let p = AllowedOrigins::predicate(|o| o.ends_with(".example"));
    assert!(p.matches("https://b.example"));
    assert!(!p.matches("https://b.test"));
    assert!(matches!(AllowedOrigins::default(), AllowedOrigins::Any));
}

#[test]
fn debug_output() {
    let re = regex::Regex::new("^x$").unwrap();
    assert_eq!(format!("{:?}", AllowedOrigins::Any), "Any");
    assert_eq!(format!("{:?}", AllowedOrigins::Reflect), "Reflect");
    assert_eq!(
        format!("{:?}", AllowedOrigins::list(["a"])),
        r#"List(["a"])"#
    );
    assert_eq!(
        format!("{:?}", AllowedOrigins::Pattern(re)),
        r#"Pattern("^x$")"#
    );
    assert_eq!(
        format!("{:?}", AllowedOrigins::predicate(|_| false)),
        "Predicate(<fn>)"
    );
    let policy = OriginPolicy::new(AllowedOrigins::predicate(|_| false));
    assert!(format!("{policy:?}").contains("Predicate(<fn>)"));
    assert!(format!("{:?}", CorsConfig::default()).contains("Any"));
}

#[test]
fn cors_defaults_and_getters() {
    let c = CorsConfig::default();
    assert!(matches!(c.origins(), AllowedOrigins::Any));
    let methods: Vec<&str> = c.methods().iter().map(Method::as_str).collect();
    assert_eq!(methods, ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"]);
    assert_eq!(c.allowed_headers(), None);
    assert!(c.exposed_headers().is_empty());
    assert!(!c.credentials());
    assert_eq!(c.max_age(), None);
    assert_eq!(c.preflight_status(), StatusCode::NO_CONTENT);
    let c = c
        .with_allowed_headers([my_header()])
        .with_exposed_headers([my_header()])
        .with_max_age(Duration::from_secs(9));
    assert_eq!(c.allowed_headers(), Some(&[my_header()][..]));
    assert_eq!(c.exposed_headers(), &[my_header()][..]);
    assert_eq!(c.max_age(), Some(Duration::from_secs(9)));
}

// OriginPolicy.

#[test]
fn missing_origin_is_allowed_by_default_and_refusable() {
    let p = OriginPolicy::new(AllowedOrigins::list(["https://a.example"]));
    assert!(p.allow_missing());
    assert_eq!(p.check(None), Ok(()));
    let p = p.with_allow_missing(false);
    assert!(!p.allow_missing());
    let e = p.check(None).unwrap_err();
    assert_eq!(e.reason(), RefusalReason::Missing);
    assert_eq!(e.origin(), None);
    assert_eq!(
        e.to_string(),
        "request without an Origin header refused by the origin policy"
    );
    let any = OriginPolicy::new(AllowedOrigins::Any).with_allow_missing(false);
    assert_eq!(
        any.check(None).unwrap_err().reason(),
        RefusalReason::Missing
    );
}

#[test]
fn listed_origin_passes_and_others_are_refused() {
    let p = OriginPolicy::new(AllowedOrigins::list(["https://a.example"]));
    assert!(matches!(p.allowed(), AllowedOrigins::List(l) if l.len() == 1));
    assert_eq!(p.check(Some(&hv("https://a.example"))), Ok(()));
    let e = p.check(Some(&hv("https://evil.example"))).unwrap_err();
    assert_eq!(e.reason(), RefusalReason::NotAllowed);
    assert_eq!(e.origin(), Some("https://evil.example"));
    assert_eq!(
        e.to_string(),
        r#"origin "https://evil.example" is not allowed"#
    );
}

#[test]
fn null_origin_only_passes_when_listed() {
    let p = OriginPolicy::new(AllowedOrigins::list(["https://a.example"]));
    let e = p.check(Some(&hv("null"))).unwrap_err();
    assert_eq!(e.reason(), RefusalReason::NotAllowed);
    let p = OriginPolicy::new(AllowedOrigins::list(["https://a.example", "null"]));
    assert_eq!(p.check(Some(&hv("null"))), Ok(()));
}

#[test]
fn non_text_origin_is_refused_unless_all_are_allowed() {
    let origin = HeaderValue::from_bytes(b"https://\xe9.example").unwrap();
    let p = OriginPolicy::new(AllowedOrigins::predicate(|_| true));
    let e = p.check(Some(&origin)).unwrap_err();
    assert_eq!(e.reason(), RefusalReason::NotText);
    assert_eq!(e.origin(), None);
    assert_eq!(e.to_string(), "Origin header is not visible ASCII text");
    for everything in [AllowedOrigins::Any, AllowedOrigins::Reflect] {
        let p = OriginPolicy::new(everything).with_allow_missing(false);
        assert_eq!(p.check(Some(&origin)), Ok(()));
        assert_eq!(p.check(Some(&hv("https://whatever.example"))), Ok(()));
    }
}

#[test]
fn pattern_and_predicate_policies() {
    let re = regex::Regex::new(r"^https://[a-z]+\.example$").unwrap();
    let p = OriginPolicy::new(AllowedOrigins::Pattern(re));
    assert_eq!(p.check(Some(&hv("https://b.example"))), Ok(()));
    assert!(p.check(Some(&hv("https://b.example.evil"))).is_err());
    let p = OriginPolicy::new(AllowedOrigins::predicate(|o| o == "https://c.example"));
    assert_eq!(p.check(Some(&hv("https://c.example"))), Ok(()));
    assert!(p.check(Some(&hv(""))).is_err());
}

#[test]
fn refused_origin_is_truncated_on_a_char_boundary() {
    let long = format!("https://{}", "a".repeat(400));
    let p = OriginPolicy::new(AllowedOrigins::List(Vec::new()));
    let value = HeaderValue::try_from(long.clone()).unwrap();
    let e = p.check(Some(&value)).unwrap_err();
    assert_eq!(e.origin(), Some(&long[..256]));
    let text = format!("{}\u{e9}", "a".repeat(255));
    let e = OriginRefused::new(RefusalReason::NotAllowed, Some(&text));
    assert_eq!(e.origin(), Some(&text[..255]));
    let e = OriginRefused::new(RefusalReason::NotAllowed, None);
    assert_eq!(e.to_string(), "origin is not allowed");
}

// INVALID_ORIGIN.

#[test]
fn origin_validity_follows_the_reference_table() {
    assert!(origin_is_valid(&hv("https://a.example")));
    assert!(origin_is_valid(&hv("")));
    assert!(origin_is_valid(
        &HeaderValue::from_bytes(b"a\tb \x80\xff").unwrap()
    ));
    assert!(valid_header_bytes(b"\t ~"));
    assert!(valid_header_bytes(
        &(0x20..=0x7e).chain(0x80..=0xff).collect::<Vec<u8>>()
    ));
    for bad in (0x00..0x09).chain(0x0a..0x20).chain([0x7f]) {
        assert!(!valid_header_bytes(&[b'a', bad]), "{bad:#x}");
    }
    assert!(!valid_header_bytes(b"http://a\r\nx: y"));
}
