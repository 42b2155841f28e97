//! The UI's commands (unless read-only): `emit`, `join`, `leave`,
//! `_disconnect`, each on a namespace and an optional room filter (a
//! socket id targets one socket), cluster-wide through the adapter.
//! Unknown namespaces are ignored.

use crate::Shared;
use serde_json::Value;
use sockeye::{Args, BroadcastOperator, Socket};
use std::sync::{Arc, Weak};

/// The sockets a command targets: the namespace `nsp` (if it exists), in
/// room `filter` when it is a non-empty string.
fn target(
    shared: &Shared,
    nsp: Option<&Value>,
    filter: Option<&Value>,
) -> Option<BroadcastOperator> {
    let name = nsp?.as_str()?;
    let ns = shared
        .io
        .namespaces()
        .into_iter()
        .find(|n| n.name().as_ref() as &str == name)?;
    Some(
        match filter.and_then(Value::as_str).filter(|f| !f.is_empty()) {
            Some(room) => ns.to(room.to_owned()),
            None => ns.broadcast(),
        },
    )
}

fn room(v: Option<&Value>) -> Option<String> {
    v?.as_str().map(str::to_owned)
}

/// Installs the four handlers on an admin socket.
pub(crate) fn install(shared: &Arc<Shared>, socket: &Socket) {
    let on = |event: &'static str, f: fn(&Shared, &[Value])| {
        let weak: Weak<Shared> = Arc::downgrade(shared);
        socket.on(event, move |_s: Socket, Args(args): Args<Vec<Value>>| {
            let weak = weak.clone();
            async move {
                if let Some(shared) = weak.upgrade() {
                    tracing::info!(command = event, ?args, "admin UI command");
                    f(&shared, &args);
                }
            }
        });
    };
    on("join", |shared, a| {
        if let (Some(op), Some(room)) = (target(shared, a.first(), a.get(2)), room(a.get(1))) {
            op.sockets_join(room);
        }
    });
    on("leave", |shared, a| {
        if let (Some(op), Some(room)) = (target(shared, a.first(), a.get(2)), room(a.get(1))) {
            op.sockets_leave(room);
        }
    });
    on("_disconnect", |shared, a| {
        let close = a.get(1).and_then(Value::as_bool).unwrap_or(false);
        if let Some(op) = target(shared, a.first(), a.get(2)) {
            op.disconnect_sockets(close);
        }
    });
    on("emit", |shared, a| {
        let Some(event) = a.get(2).and_then(Value::as_str) else {
            return;
        };
        if let Some(op) = target(shared, a.first(), a.get(1)) {
            let _ = op.emit_args(event, a[3..].to_vec());
        }
    });
}
