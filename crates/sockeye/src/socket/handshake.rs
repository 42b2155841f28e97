//! The handshake's fields in Node's shapes: `time` as JavaScript's
//! `Date.toString()`, headers joined as Node's `IncomingMessage.headers`,
//! the query as Node's `querystring.parse`.

use super::Handshake;
use std::time::{SystemTime, UNIX_EPOCH};

impl Handshake {
    /// Node's `socket.handshake.time`: when the socket connected, as
    /// JavaScript's `Date.toString()` with the UTC time zone (the only one
    /// a server's log can be compared across machines with):
    /// `Thu Dec 03 2026 07:38:54 GMT+0000 (Coordinated Universal Time)`.
    pub fn time(&self) -> String {
        js_date_string(self.issued)
    }

    /// Node's `socket.handshake.issued`: when the socket connected, in
    /// milliseconds since the Unix epoch.
    pub fn issued_ms(&self) -> u64 {
        self.issued
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// `Date.toString()` in UTC, built from the HTTP date of the same second
/// (`Thu, 03 Dec 2026 07:38:54 GMT`), which has the same names.
pub(crate) fn js_date_string(t: SystemTime) -> String {
    let http = httpdate::fmt_http_date(t);
    // "Www, DD Mmm YYYY HH:MM:SS GMT"
    let mut parts = http.split([',', ' ']).filter(|p| !p.is_empty());
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some(wd), Some(day), Some(mon), Some(year), Some(time)) => {
            format!("{wd} {mon} {day} {year} {time} GMT+0000 (Coordinated Universal Time)")
        }
        _ => http,
    }
}

/// Headers whose repeats Node drops (the first one wins).
const SINGLE: &[&str] = &[
    "age",
    "authorization",
    "content-length",
    "content-type",
    "etag",
    "expires",
    "from",
    "host",
    "if-modified-since",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "proxy-authorization",
    "referer",
    "retry-after",
    "server",
    "user-agent",
];

/// The headers as Node's `req.headers`: names in lower case, `set-cookie`
/// an array, repeated `cookie` joined with `; `, the headers of [`SINGLE`]
/// once, any other repeated header joined with `, `.
pub(crate) fn headers_json(headers: &http::HeaderMap) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for name in headers.keys() {
        let mut values = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let key = name.as_str();
        let value = if key == "set-cookie" {
            serde_json::Value::from(values.collect::<Vec<_>>())
        } else if SINGLE.contains(&key) {
            serde_json::Value::from(values.next().unwrap_or_default())
        } else {
            let sep = if key == "cookie" { "; " } else { ", " };
            serde_json::Value::from(values.collect::<Vec<_>>().join(sep))
        };
        out.insert(key.to_owned(), value);
    }
    serde_json::Value::Object(out)
}

/// The query as Node's `querystring.parse`: a repeated parameter becomes an
/// array of its values, in order.
pub(crate) fn query_json(pairs: Vec<(String, String)>) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (k, v) in pairs {
        match out.get_mut(&k) {
            Some(serde_json::Value::Array(list)) => list.push(v.into()),
            Some(first) => {
                let prev = first.take();
                *first = serde_json::Value::Array(vec![prev, v.into()]);
            }
            None => {
                out.insert(k, v.into());
            }
        }
    }
    serde_json::Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn time_is_javascript_date_to_string_in_utc() {
        // 2026-12-03T07:38:54.123Z, a Thursday.
        let t = UNIX_EPOCH + Duration::from_millis(1_796_283_534_123);
        assert_eq!(
            js_date_string(t),
            "Thu Dec 03 2026 07:38:54 GMT+0000 (Coordinated Universal Time)"
        );
        assert_eq!(
            js_date_string(UNIX_EPOCH),
            "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)"
        );
    }

    #[test]
    fn repeated_headers_and_parameters_as_node() {
        let mut h = http::HeaderMap::new();
        for (k, v) in [
            ("x-a", "1"),
            ("x-a", "2"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
            ("set-cookie", "s=1"),
            ("user-agent", "first"),
            ("user-agent", "second"),
        ] {
            h.append(
                http::HeaderName::from_static(k),
                http::HeaderValue::from_static(v),
            );
        }
        assert_eq!(
            headers_json(&h),
            serde_json::json!({
                "x-a": "1, 2",
                "cookie": "a=1; b=2",
                "set-cookie": ["s=1"],
                "user-agent": "first",
            })
        );
        let pairs = [("a", "1"), ("b", "x"), ("a", "2"), ("a", "3")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            query_json(pairs),
            serde_json::json!({"a": ["1", "2", "3"], "b": "x"})
        );
    }
}
