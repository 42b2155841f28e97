//! The live feed of development mode, broadcast to the admin namespace:
//! sockets connected, updated (transport, data) and disconnected, rooms
//! joined and left, events received and sent.

use crate::Shared;
use crate::serialize;
use crate::time::now_iso;
use parking_lot::Mutex;
use serde_json::{Value, json};
use sockeye::{Args, Event, Namespace, Socket, SocketId};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

/// The sockets of each Engine.IO session (namespace, socket id), to report
/// their transport when the session upgrades.
#[derive(Debug, Default)]
pub(crate) struct BySession(Mutex<HashMap<sockeye::Sid, Vec<(String, String)>>>);

/// Hooks every namespace, now and to come.
pub(crate) fn install(shared: &Arc<Shared>) {
    let seen = Arc::new(Mutex::new(HashSet::<String>::new()));
    let weak = Arc::downgrade(shared);
    let s = seen.clone();
    shared.io.on_new_namespace(move |ns: &Namespace| {
        if let Some(shared) = weak.upgrade() {
            hook_namespace(&shared, &s, ns);
        }
    });
    for ns in shared.io.namespaces() {
        hook_namespace(shared, &seen, &ns);
    }
    let weak = Arc::downgrade(shared);
    shared.io.engine().on_upgrade(move |session, to| {
        let Some(shared) = weak.upgrade() else { return };
        let sockets = shared.by_session.0.lock().get(&session.sid()).cloned();
        for (nsp, id) in sockets.unwrap_or_default() {
            let _ = shared.admin.emit(
                "socket_updated",
                &json!({"id": id, "nsp": nsp, "transport": to.as_str()}),
            );
        }
    });
}

fn send(shared: &Shared, event: &str, args: Value) {
    let Value::Array(args) = args else { return };
    let _ = shared.admin.broadcast().emit_args(event, args);
}

fn hook_namespace(shared: &Arc<Shared>, seen: &Mutex<HashSet<String>>, ns: &Namespace) {
    if !seen.lock().insert(ns.name().to_string()) {
        return;
    }
    let nsp = ns.name().to_string();
    let weak = Arc::downgrade(shared);
    let n = nsp.clone();
    ns.on_join_room(move |room: &str, id: &SocketId| {
        if let Some(shared) = weak.upgrade() {
            send(
                &shared,
                "room_joined",
                json!([n, room, id.to_string(), now_iso()]),
            );
        }
    });
    let weak = Arc::downgrade(shared);
    let n = nsp.clone();
    ns.on_leave_room(move |room: &str, id: &SocketId| {
        if let Some(shared) = weak.upgrade() {
            send(
                &shared,
                "room_left",
                json!([n, room, id.to_string(), now_iso()]),
            );
        }
    });
    let weak = Arc::downgrade(shared);
    let is_admin = nsp == shared.options.namespace;
    ns.on_connection(move |socket: Socket| {
        let weak = weak.clone();
        async move {
            if let Some(shared) = weak.upgrade() {
                on_socket(&shared, &weak, &socket, is_admin);
            }
        }
    });
}

/// The last data reported for a socket, to send `socket_updated` when it
/// changes.
type LastData = Arc<Mutex<Value>>;

fn data_changed(shared: &Shared, socket: &Socket, last: &LastData) {
    let now = socket.data_json();
    let mut last = last.lock();
    if *last != now {
        *last = now.clone();
        drop(last);
        let _ = shared.admin.emit(
            "socket_updated",
            &json!({"id": socket.id().to_string(), "nsp": socket.namespace().name().to_string(), "data": now}),
        );
    }
}

fn on_socket(shared: &Arc<Shared>, weak: &Weak<Shared>, socket: &Socket, is_admin: bool) {
    send(
        shared,
        "socket_connected",
        json!([serialize::local(socket), now_iso()]),
    );
    let entry = (
        socket.namespace().name().to_string(),
        socket.id().to_string(),
    );
    shared
        .by_session
        .0
        .lock()
        .entry(socket.session().sid())
        .or_default()
        .push(entry.clone());
    let w = weak.clone();
    socket.on_disconnecting(move |socket: &Socket, reason| {
        if let Some(shared) = w.upgrade() {
            let sid = socket.session().sid();
            let mut by_session = shared.by_session.0.lock();
            if let Some(list) = by_session.get_mut(&sid) {
                list.retain(|e| *e != entry);
                if list.is_empty() {
                    by_session.remove(&sid);
                }
            }
            drop(by_session);
            send(
                &shared,
                "socket_disconnected",
                json!([
                    socket.namespace().name().to_string(),
                    socket.id().to_string(),
                    reason.as_str(),
                    now_iso()
                ]),
            );
        }
    });
    if is_admin {
        return;
    }
    let last: LastData = Arc::new(Mutex::new(socket.data_json()));
    let (w, l) = (weak.clone(), last.clone());
    socket.on_any(
        move |socket: Socket, Event(event): Event, Args(args): Args<Vec<sockeye::Value>>| {
            let (w, l) = (w.clone(), l.clone());
            async move {
                let Some(shared) = w.upgrade() else { return };
                let mut all = vec![sockeye::Value::String(event)];
                all.extend(args);
                let nsp = socket.namespace().name().to_string();
                let _ = shared.admin.broadcast().emit_args(
                    "event_received",
                    (nsp, socket.id().to_string(), all, now_iso()),
                );
                data_changed(&shared, &socket, &l);
            }
        },
    );
    let w = weak.clone();
    socket.on_any_outgoing(
        move |socket: &Socket, event: &str, args: &[sockeye::Value]| {
            let Some(shared) = w.upgrade() else { return };
            // The data an event handler set before answering shows up now.
            data_changed(&shared, socket, &last);
            let mut all = Vec::with_capacity(args.len() + 1);
            all.push(sockeye::Value::String(event.to_owned()));
            all.extend_from_slice(args);
            let nsp = socket.namespace().name().to_string();
            let _ = shared
                .admin
                .broadcast()
                .emit_args("event_sent", (nsp, socket.id().to_string(), all, now_iso()));
        },
    );
}
