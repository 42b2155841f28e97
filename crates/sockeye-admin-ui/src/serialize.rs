//! The UI's view of a socket (`socket_connected`, `all_sockets`): id, a
//! non-secret client id, transport, namespace, data, handshake (never its
//! `auth`) and rooms.

use serde_json::{Value, json};
use sockeye::{RemoteSocket, Socket, SocketIo};

/// The first 12 characters of the Engine.IO id: groups a client's sockets
/// without giving away the id (which would let a viewer take over a polling
/// session).
fn client_id(sid: &str) -> String {
    sid.chars().take(12).collect()
}

/// The handshake without `auth`, with the address as the UI shows it.
fn handshake(mut h: Value) -> Value {
    if let Some(map) = h.as_object_mut() {
        map.remove("auth");
        let header = |name: &str| {
            map.get("headers")
                .and_then(|hs| hs.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        if let Some(address) = header("cf-connecting-ip").or_else(|| header("x-forwarded-for")) {
            map.insert("address".into(), Value::from(address));
        }
    }
    h
}

/// The application's data, `{}` when there is none.
fn data(v: Value) -> Value {
    if v.is_null() { json!({}) } else { v }
}

/// A socket of this node.
pub(crate) fn local(socket: &Socket) -> Value {
    json!({
        "id": socket.id().to_string(),
        "clientId": client_id(socket.session().sid().as_str()),
        "transport": socket.transport().as_str(),
        "nsp": socket.namespace().name().to_string(),
        "data": data(socket.data_json()),
        "handshake": handshake(socket.handshake_json()),
        "rooms": socket.rooms().iter().map(|r| r.to_string()).collect::<Vec<_>>(),
    })
}

/// A socket of another node (from `fetch_sockets`): its Engine.IO id and
/// transport are not known here, so its client is named after the socket.
fn remote(nsp: &str, socket: &RemoteSocket) -> Value {
    json!({
        "id": socket.id(),
        "clientId": client_id(socket.id()),
        "transport": "websocket",
        "nsp": nsp,
        "data": data(socket.data::<Value>().unwrap_or(Value::Null)),
        "handshake": handshake(socket.handshake().clone()),
        "rooms": socket.rooms(),
    })
}

/// Every socket of every namespace, across the cluster (this node's as
/// [`local`], the others' as fetched).
pub(crate) async fn all_sockets(io: &SocketIo) -> Vec<Value> {
    let mut out = Vec::new();
    for ns in io.namespaces() {
        let locals = ns.sockets();
        for s in &locals {
            out.push(local(s));
        }
        let Ok(fetched) = ns.broadcast().fetch_sockets().await else {
            continue;
        };
        let nsp = ns.name().to_string();
        for r in fetched {
            if !locals.iter().any(|l| l.id() == r.id()) {
                out.push(remote(&nsp, &r));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_drops_auth_and_prefers_forwarded_addresses() {
        let h = handshake(json!({
            "auth": {"password": "x"},
            "address": "127.0.0.1",
            "headers": {"x-forwarded-for": "10.0.0.1, 10.0.0.2"},
        }));
        assert!(h.get("auth").is_none());
        assert_eq!(h["address"], "10.0.0.1, 10.0.0.2");
        assert_eq!(client_id("abcdefghijklmnopqrst"), "abcdefghijkl");
        assert_eq!(data(Value::Null), json!({}));
    }
}
