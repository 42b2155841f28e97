//! Unit tests of `cookie.rs` (kept apart to keep that file short).

use super::*;

const SID: &str = "lv_VI97HAXpY6yYWAAAC";

fn render(config: &CookieConfig) -> String {
    let value = config.header_value(SID);
    value.to_str().map(str::to_owned).unwrap_or_default()
}

fn ok(config: &CookieConfig) -> String {
    assert_eq!(config.validate(), Ok(()), "{config:?}");
    render(config)
}

fn err(config: &CookieConfig) -> CookieError {
    match config.validate() {
        Ok(()) => panic!("expected an error for {config:?}"),
        Err(e) => e,
    }
}

// The table of reference-behaviour.md 1.4 (engine.io test/server.js, "handshake").

#[test]
fn reference_cookie_true() {
    assert_eq!(
        ok(&CookieConfig::default()),
        format!("io={SID}; Path=/; HttpOnly; SameSite=Lax")
    );
}

#[test]
fn reference_custom_name() {
    let c = CookieConfig::default().with_name("woot");
    assert_eq!(
        ok(&c),
        format!("woot={SID}; Path=/; HttpOnly; SameSite=Lax")
    );
}

#[test]
fn reference_custom_path() {
    let c = CookieConfig::default().with_path(Some("/custom".to_owned()));
    assert_eq!(
        ok(&c),
        format!("io={SID}; Path=/custom; HttpOnly; SameSite=Lax")
    );
}

#[test]
fn reference_no_path() {
    let c = CookieConfig::default().with_path(None);
    assert_eq!(ok(&c), format!("io={SID}; HttpOnly; SameSite=Lax"));
}

#[test]
fn reference_same_site_strict() {
    let c = CookieConfig::default().with_same_site(Some(SameSite::Strict));
    assert_eq!(
        ok(&c),
        format!("io={SID}; Path=/; HttpOnly; SameSite=Strict")
    );
}

#[test]
fn reference_http_only_false() {
    let c = CookieConfig::default().with_http_only(false);
    assert_eq!(ok(&c), format!("io={SID}; Path=/; SameSite=Lax"));
}

// Every attribute, and the cookie@0.7.2 order.

#[test]
fn every_attribute_in_reference_order() {
    let c = CookieConfig::default()
        .with_name("srv")
        .with_path(Some("/socket.io/".to_owned()))
        .with_domain("example.com")
        .with_max_age(Duration::from_millis(3_600_900))
        .with_expires(UNIX_EPOCH + Duration::from_secs(784_111_777))
        .with_secure(true)
        .with_partitioned(true)
        .with_priority(Some(Priority::High))
        .with_same_site(Some(SameSite::None));
    assert_eq!(
        ok(&c),
        format!(
            "srv={SID}; Max-Age=3600; Domain=example.com; Path=/socket.io/; \
             Expires=Sun, 06 Nov 1994 08:49:37 GMT; HttpOnly; Secure; Partitioned; \
             Priority=High; SameSite=None"
        )
    );
}

#[test]
fn no_optional_attribute() {
    let c = CookieConfig::default()
        .with_path(None)
        .with_http_only(false)
        .with_same_site(None);
    assert_eq!(ok(&c), format!("io={SID}"));
}

#[test]
fn priority_and_same_site_spellings() {
    for (p, text) in [
        (Priority::Low, "Low"),
        (Priority::Medium, "Medium"),
        (Priority::High, "High"),
    ] {
        let c = CookieConfig::default().with_priority(Some(p));
        let want = format!("io={SID}; Path=/; HttpOnly; Priority={text}; SameSite=Lax");
        assert_eq!(ok(&c), want);
        assert_eq!(p.to_string(), text);
    }
    for (s, text) in [
        (SameSite::Strict, "Strict"),
        (SameSite::Lax, "Lax"),
        (SameSite::None, "None"),
    ] {
        let c = CookieConfig::default()
            .with_secure(true)
            .with_same_site(Some(s));
        assert_eq!(
            ok(&c),
            format!("io={SID}; Path=/; HttpOnly; Secure; SameSite={text}")
        );
        assert_eq!(s.to_string(), text);
    }
}

#[test]
fn leading_dot_domain_and_ip_address_are_accepted() {
    let c = CookieConfig::default().with_domain(".example.com");
    assert_eq!(
        ok(&c),
        format!("io={SID}; Domain=.example.com; Path=/; HttpOnly; SameSite=Lax")
    );
    assert_eq!(
        CookieConfig::default().with_domain("10.0.0.1").validate(),
        Ok(())
    );
}

#[test]
fn getters_and_defaults() {
    let d = CookieConfig::default();
    assert_eq!(d.name(), "io");
    assert_eq!(d.path(), Some("/"));
    assert_eq!(d.domain(), None);
    assert_eq!(d.max_age(), None);
    assert_eq!(d.expires(), None);
    assert!(d.http_only());
    assert!(!d.secure());
    assert_eq!(d.same_site(), Some(SameSite::Lax));
    assert!(!d.partitioned());
    assert_eq!(d.priority(), None);

    let t = UNIX_EPOCH + Duration::from_secs(1);
    let c = d
        .with_name("n")
        .with_path(None)
        .with_domain("d.example")
        .with_max_age(Duration::from_secs(5))
        .with_expires(t)
        .with_http_only(false)
        .with_secure(true)
        .with_same_site(None)
        .with_partitioned(true)
        .with_priority(Some(Priority::Low));
    assert_eq!(c.name(), "n");
    assert_eq!(c.path(), None);
    assert_eq!(c.domain(), Some("d.example"));
    assert_eq!(c.max_age(), Some(Duration::from_secs(5)));
    assert_eq!(c.expires(), Some(t));
    assert!(!c.http_only());
    assert!(c.secure());
    assert_eq!(c.same_site(), None);
    assert!(c.partitioned());
    assert_eq!(c.priority(), Some(Priority::Low));
}

#[test]
fn from_str_is_case_insensitive() {
    assert_eq!("STRICT".parse::<SameSite>(), Ok(SameSite::Strict));
    assert_eq!("lax".parse::<SameSite>(), Ok(SameSite::Lax));
    assert_eq!("None".parse::<SameSite>(), Ok(SameSite::None));
    assert_eq!("low".parse::<Priority>(), Ok(Priority::Low));
    assert_eq!("MeDiUm".parse::<Priority>(), Ok(Priority::Medium));
    assert_eq!("HIGH".parse::<Priority>(), Ok(Priority::High));
    let e = "true".parse::<SameSite>().unwrap_err();
    assert_eq!(
        e,
        CookieError::UnknownSameSite {
            value: "true".to_owned()
        }
    );
    assert!(e.to_string().contains("strict, lax or none"));
    let e = "".parse::<Priority>().unwrap_err();
    assert_eq!(
        e,
        CookieError::UnknownPriority {
            value: String::new()
        }
    );
    assert!(e.to_string().contains("low, medium or high"));
}

// Validation errors.

#[test]
fn empty_name() {
    assert_eq!(
        err(&CookieConfig::default().with_name("")),
        CookieError::EmptyName
    );
}

#[test]
fn name_must_be_a_token() {
    for (name, ch) in [
        ("a b", ' '),
        ("a=b", '='),
        ("a;b", ';'),
        ("a,b", ','),
        ("a\"b", '"'),
        ("a\tb", '\t'),
        ("a\u{7f}", '\u{7f}'),
        ("(x)", '('),
        ("caf\u{e9}", '\u{e9}'),
    ] {
        let e = err(&CookieConfig::default().with_name(name));
        assert_eq!(
            e,
            CookieError::InvalidName {
                name: name.to_owned(),
                ch
            }
        );
        assert!(e.to_string().contains("RFC 6265 token"), "{e}");
    }
    let c = CookieConfig::default().with_name("!#$%&'*+-.^_`|~Az09");
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn invalid_paths() {
    for (path, reason) in [
        ("/a;b", "';'"),
        ("/a\r\nSet-Cookie: x=y", "control"),
        ("/\u{0}", "control"),
        ("/\u{7f}", "control"),
        ("/caf\u{e9}", "non-ASCII"),
        ("", "start with '/'"),
        ("socket.io", "start with '/'"),
    ] {
        let e = err(&CookieConfig::default().with_path(Some(path.to_owned())));
        assert!(
            matches!(&e, CookieError::InvalidPath { path: p, .. } if p == path),
            "{e:?}"
        );
        assert!(e.to_string().contains(reason), "{path:?}: {e}");
    }
}

#[test]
fn invalid_domains() {
    for (domain, reason) in [
        ("a.com;b", "';'"),
        ("a.com\r\n", "control"),
        ("b\u{fc}cher.de", "non-ASCII"),
        ("", "empty"),
        (".", "empty"),
        ("a..com", "empty label"),
        ("a.com.", "empty label"),
        ("..a.com", "empty label"),
        ("a_b.com", "letters, digits"),
        ("a b.com", "letters, digits"),
        ("-a.com", "'-'"),
        ("a-.com", "'-'"),
        ("[::1]", "letters, digits"),
    ] {
        let e = err(&CookieConfig::default().with_domain(domain));
        assert!(
            matches!(&e, CookieError::InvalidDomain { domain: d, .. } if d == domain),
            "{e:?}"
        );
        assert!(e.to_string().contains(reason), "{domain:?}: {e}");
    }
    let long_label = "a".repeat(64);
    let e = err(&CookieConfig::default().with_domain(format!("{long_label}.com")));
    assert!(e.to_string().contains("63"), "{e}");
    let long_name = ["abcdefghi"; 26].join(".");
    let e = err(&CookieConfig::default().with_domain(long_name));
    assert!(e.to_string().contains("253"), "{e}");
    let ok_label = "a".repeat(63);
    let c = CookieConfig::default().with_domain(format!("{ok_label}.x-y.com"));
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn max_age_under_one_second() {
    let c = CookieConfig::default().with_max_age(Duration::from_millis(999));
    assert_eq!(err(&c), CookieError::MaxAgeTooShort);
    let c = CookieConfig::default().with_max_age(Duration::from_secs(1));
    assert_eq!(
        ok(&c),
        format!("io={SID}; Max-Age=1; Path=/; HttpOnly; SameSite=Lax")
    );
}

#[test]
fn expires_out_of_range_is_refused_and_never_panics() {
    let before = UNIX_EPOCH - Duration::from_secs(1);
    let after = UNIX_EPOCH + Duration::from_secs(MAX_HTTP_DATE_SECS);
    for t in [before, after] {
        let c = CookieConfig::default().with_expires(t);
        assert_eq!(err(&c), CookieError::ExpiresOutOfRange);
        assert_eq!(
            render(&c),
            format!("io={SID}; Path=/; HttpOnly; SameSite=Lax")
        );
    }
    let last = UNIX_EPOCH + Duration::from_secs(MAX_HTTP_DATE_SECS - 1);
    let c = CookieConfig::default().with_expires(last);
    assert!(ok(&c).contains("; Expires=Fri, 31 Dec 9999 23:59:59 GMT;"));
    let c = CookieConfig::default().with_expires(UNIX_EPOCH);
    assert!(ok(&c).contains("; Expires=Thu, 01 Jan 1970 00:00:00 GMT;"));
}

#[test]
fn same_site_none_requires_secure() {
    let c = CookieConfig::default().with_same_site(Some(SameSite::None));
    let e = err(&c);
    assert_eq!(e, CookieError::SameSiteNoneWithoutSecure);
    assert!(e.to_string().contains("requires Secure"));
    assert_eq!(c.with_secure(true).validate(), Ok(()));
}

#[test]
fn partitioned_requires_secure() {
    let c = CookieConfig::default().with_partitioned(true);
    assert_eq!(err(&c), CookieError::PartitionedWithoutSecure);
    assert_eq!(c.with_secure(true).validate(), Ok(()));
}

fn prefix_rule(name: &str, prefix: &'static str, requires: &'static str) -> CookieError {
    CookieError::PrefixRule {
        name: name.to_owned(),
        prefix,
        requires,
    }
}

#[test]
fn host_prefix_rules() {
    let base = CookieConfig::default().with_name("__Host-io");
    assert_eq!(err(&base), prefix_rule("__Host-io", "__Host-", "Secure"));
    let secure = base.with_secure(true);
    assert_eq!(secure.validate(), Ok(()));
    let c = secure.clone().with_path(Some("/socket.io/".to_owned()));
    assert_eq!(err(&c), prefix_rule("__Host-io", "__Host-", "Path=/"));
    let c = secure.clone().with_path(None);
    assert_eq!(err(&c), prefix_rule("__Host-io", "__Host-", "Path=/"));
    let c = secure.with_domain("example.com");
    let e = err(&c);
    assert_eq!(
        e,
        prefix_rule("__Host-io", "__Host-", "no Domain attribute")
    );
    assert_eq!(
        e.to_string(),
        "cookie name \"__Host-io\" has the __Host- prefix, which requires no Domain attribute"
    );
}

#[test]
fn secure_prefix_rules_and_case_insensitivity() {
    let c = CookieConfig::default().with_name("__Secure-io");
    assert_eq!(err(&c), prefix_rule("__Secure-io", "__Secure-", "Secure"));
    let c = c
        .with_secure(true)
        .with_path(Some("/x".to_owned()))
        .with_domain("a.b");
    assert_eq!(c.validate(), Ok(()));
    let c = CookieConfig::default().with_name("__secure-io");
    assert_eq!(err(&c), prefix_rule("__secure-io", "__Secure-", "Secure"));
    let c = CookieConfig::default()
        .with_name("__HOST-io")
        .with_secure(true)
        .with_path(None);
    assert_eq!(err(&c), prefix_rule("__HOST-io", "__Host-", "Path=/"));
    // Not a prefix: no rule applies.
    assert_eq!(
        CookieConfig::default().with_name("_Host-io").validate(),
        Ok(())
    );
    assert_eq!(
        CookieConfig::default().with_name("__Host").validate(),
        Ok(())
    );
}

#[test]
fn http_prefix_rules() {
    let c = CookieConfig::default()
        .with_name("__Http-io")
        .with_http_only(false);
    assert_eq!(err(&c), prefix_rule("__Http-io", "__Http-", "Secure"));
    let c = c.with_secure(true);
    assert_eq!(err(&c), prefix_rule("__Http-io", "__Http-", "HttpOnly"));
    assert_eq!(c.with_http_only(true).validate(), Ok(()));
    let c = CookieConfig::default()
        .with_name("__Host-Http-io")
        .with_secure(true)
        .with_http_only(false);
    assert_eq!(
        err(&c),
        prefix_rule("__Host-Http-io", "__Host-Http-", "HttpOnly")
    );
    let c = c.with_http_only(true).with_domain("a.b");
    let e = err(&c);
    assert_eq!(
        e,
        prefix_rule("__Host-Http-io", "__Host-Http-", "no Domain attribute")
    );
}

// header_value is safe even for configurations validate() refuses.

#[test]
fn value_is_percent_encoded_like_encode_uri_component() {
    let c = CookieConfig::default().with_path(None).with_same_site(None);
    let v = c.header_value("a;b=c d\r\n%é-_.!~*'()");
    assert_eq!(
        v.to_str().ok(),
        Some("io=a%3Bb%3Dc%20d%0D%0A%25%C3%A9-_.!~*'(); HttpOnly")
    );
}

#[test]
fn unsafe_attributes_are_dropped_by_header_value() {
    let c = CookieConfig::default()
        .with_name("x y;\r\n")
        .with_path(Some("/a\r\nSet-Cookie: evil=1".to_owned()))
        .with_domain("evil.com; Secure")
        .with_same_site(None);
    assert!(c.validate().is_err());
    assert_eq!(render(&c), format!("x%20y%3B%0D%0A={SID}; HttpOnly"));
    let c = CookieConfig::default().with_name("").with_http_only(false);
    assert_eq!(render(&c), format!("={SID}; Path=/; SameSite=Lax"));
}

#[test]
fn errors_have_clear_messages() {
    let e = err(&CookieConfig::default().with_name("a b"));
    assert_eq!(
        e.to_string(),
        "cookie name \"a b\" is not an RFC 6265 token: ' ' is not allowed \
         (use letters, digits and !#$%&'*+-.^_`|~)"
    );
    let e = err(&CookieConfig::default().with_path(Some("x".to_owned())));
    assert_eq!(
        e.to_string(),
        "cookie path \"x\" is invalid: it must start with '/' (browsers ignore any other path)"
    );
    assert_eq!(
        CookieError::EmptyName.to_string(),
        "the cookie name is empty"
    );
    assert!(CookieError::ExpiresOutOfRange.to_string().contains("9999"));
    assert!(
        CookieError::MaxAgeTooShort
            .to_string()
            .contains("Max-Age=0")
    );
    assert!(
        CookieError::PartitionedWithoutSecure
            .to_string()
            .contains("Partitioned requires Secure")
    );
}
