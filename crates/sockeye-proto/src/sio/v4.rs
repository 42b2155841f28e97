//! Socket.IO protocol v4: what a server needs for Socket.IO 2.x clients
//! (Engine.IO 3, `EIO=3`).
//!
//! The packet format is the same as v5's (the same JSON decoder reads it);
//! the differences are in what the packets mean:
//!
//! * the server connects the client to `/` by itself, and answers every
//!   successful CONNECT with a bare `0` (`0/admin,` for a namespace), no
//!   `sid` payload ([`connect_reply`]);
//! * the client's auth data is the query string of the CONNECT namespace,
//!   `0/admin?token=1234` ([`split_connect_nsp`], [`query_to_auth`]);
//! * the refusal (`ERROR`, type 4) carries a JSON string:
//!   `4/admin,"Not authorized"` ([`connect_error`]);
//! * the socket id is the Engine.IO id for `/` and `<nsp>#<id>` otherwise
//!   ([`socket_id`]).

use super::{Encoded, PacketKind, Value, json};
use crate::Str;
use std::collections::HashMap;

/// Splits the namespace of a v4 CONNECT into its path and its query
/// parameters, as the reference does with `new URL(nsp, base)`: the path
/// ends at `?` or `#`, the query at `#`; names and values are
/// form-decoded (`+` is a space, `%XX` a byte).
///
/// ```
/// use sockeye_proto::sio::v4::split_connect_nsp;
/// let (nsp, query) = split_connect_nsp(&"/admin?token=12%2034&x".into());
/// assert_eq!(nsp, "/admin");
/// assert_eq!(query, vec![("token".into(), "12 34".into()), ("x".into(), "".into())]);
/// ```
pub fn split_connect_nsp(nsp: &Str) -> (Str, Vec<(String, String)>) {
    let without_fragment = nsp.find('#').unwrap_or(nsp.len());
    let Some(q) = nsp[..without_fragment].find('?') else {
        return (nsp.slice(0, without_fragment), Vec::new());
    };
    let query = nsp[q + 1..without_fragment]
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
        .collect();
    (nsp.slice(0, q), query)
}

/// `application/x-www-form-urlencoded` decoding of one name or value.
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The auth object of a v4 client: its query parameters as an object of
/// strings (a repeated name keeps its first position and last value, as
/// `Object.fromEntries` does).
pub fn query_to_auth(query: &[(String, String)]) -> Value {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(query.len());
    let mut entries: Vec<(String, Value)> = Vec::with_capacity(query.len());
    for (k, v) in query {
        match index.get(k.as_str()) {
            Some(&i) => entries[i].1 = Value::String(v.clone()),
            None => {
                index.insert(k, entries.len());
                entries.push((k.clone(), Value::String(v.clone())));
            }
        }
    }
    Value::Object(entries)
}

/// The v4 answer to a successful CONNECT: `0`, or `0/admin,`.
pub fn connect_reply(nsp: &str) -> Encoded {
    // A packet without data always encodes.
    json::encode_value(PacketKind::Connect, nsp, None, None)
        .unwrap_or_else(|_| unreachable_encoded())
}

/// The v4 refusal of a CONNECT: `4/admin,"Not authorized"` (the server
/// sends `err.data` when set, else `err.message`; for other data use
/// [`json::encode_with`] with [`PacketKind::ConnectError`]).
pub fn connect_error(nsp: &str, message: &str) -> Encoded {
    json::encode_with(PacketKind::ConnectError, nsp, None, Some(message))
        .unwrap_or_else(|_| unreachable_encoded())
}

fn unreachable_encoded() -> Encoded {
    Encoded {
        head: crate::eio::Packet::Message(Str::from_static("4")),
        attachments: Vec::new(),
    }
}

/// The socket id a v4 client gets: the Engine.IO session id for `/`,
/// `<nsp>#<sid>` for other namespaces.
pub fn socket_id(nsp: &str, sid: &str) -> String {
    if nsp == "/" {
        sid.to_owned()
    } else {
        format!("{nsp}#{sid}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_with_query() {
        let (p, _) = json::decode_packet(Str::from_static("0/admin?token=1234"), 10).unwrap();
        assert_eq!(p.nsp, "/admin?token=1234");
        let (nsp, query) = split_connect_nsp(&p.nsp);
        assert_eq!(nsp, "/admin");
        assert_eq!(query, vec![("token".to_owned(), "1234".to_owned())]);
        let auth = query_to_auth(&query);
        assert_eq!(serde_json::to_string(&auth).unwrap(), r#"{"token":"1234"}"#);

        let (nsp, query) = split_connect_nsp(&Str::from_static("/"));
        assert_eq!((nsp.as_str(), query.len()), ("/", 0));
        let (nsp, query) = split_connect_nsp(&Str::from_static("/a#frag?x=1"));
        assert_eq!((nsp.as_str(), query.len()), ("/a", 0));
        let (nsp, query) = split_connect_nsp(&Str::from_static("/a?x=%zz%41+b&&y=1&x=2#h"));
        assert_eq!(nsp, "/a");
        assert_eq!(query[0], ("x".to_owned(), "%zzA b".to_owned()));
        let auth = query_to_auth(&query);
        assert_eq!(
            serde_json::to_string(&auth).unwrap(),
            r#"{"x":"2","y":"1"}"#
        );
        assert_eq!(form_decode("%C3%A9%"), "é%");
    }

    #[test]
    fn replies() {
        assert_eq!(connect_reply("/").text().unwrap(), "0");
        assert_eq!(connect_reply("/admin").text().unwrap(), "0/admin,");
        assert_eq!(
            connect_error("/admin", "Not authorized").text().unwrap(),
            r#"4/admin,"Not authorized""#
        );
        assert_eq!(connect_error("/", "x\"y").text().unwrap(), r#"4"x\"y""#);
        assert_eq!(socket_id("/", "abc"), "abc");
        assert_eq!(socket_id("/admin", "abc"), "/admin#abc");
    }

    #[test]
    fn spec_examples_decode() {
        for (text, nsp) in [("0", "/"), ("0/admin,", "/admin"), ("1/admin,", "/admin")] {
            let (p, _) = json::decode_packet(Str::from_static(text), 10).unwrap();
            assert_eq!(p.nsp, nsp);
            assert_eq!(json::encode(&p).unwrap().text().unwrap(), text);
        }
        let (p, _) =
            json::decode_packet(Str::from_static(r#"4/admin,"Not authorized""#), 10).unwrap();
        assert_eq!(
            p.data.unwrap().deserialize::<String>(&[]).unwrap(),
            "Not authorized"
        );
    }
}
