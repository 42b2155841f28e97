//! The chat protocol on Socket.IO: the event names of the official socket.io
//! chat example (`add user`, `login`, `user joined`, `new message`,
//! `typing`, `stop typing`, `user left`), plus acknowledgements, the user
//! list, the history and private messages.
//!
//! Every message to everyone is one broadcast, encoded once for all the
//! sockets it reaches. Broadcasts happen while the state's lock is held, so
//! that what a newcomer gets in `login` and the events it receives after
//! it never overlap or leave a gap.

use crate::state::{Chat, Refused};
use parking_lot::Mutex;
use serde_json::{Value, json};
use sockeye::{AckSender, Data, Socket, SocketId, SocketIo};
use std::sync::Arc;
use tracing::{debug, info};

type Shared = Arc<Mutex<Chat<SocketId>>>;

/// The nickname stored with a logged-in socket (its data; in JSON, as
/// `fetch_sockets` and the Admin UI show it, `{"username": ...}`). A typed
/// value: about 100 bytes per socket where the same as a `serde_json`
/// object took about 780.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Nick {
    pub(crate) username: String,
}

/// Sent to a socket whose event was refused when it gave no ack callback
/// (`add user` has its own, `login error`).
pub const CHAT_ERROR: &str = "chat error";

/// Installs the chat on the main namespace of `io`.
pub fn install(io: &SocketIo) {
    let chat: Shared = Arc::new(Mutex::new(Chat::new()));
    io.on_connection(move |socket: Socket| {
        let chat = chat.clone();
        async move { on_connection(socket, chat) }
    });
}

/// Tells the client about a refusal: through its ack when it gave one,
/// otherwise with `event`.
pub(crate) fn refuse(socket: &Socket, ack: AckSender, event: &str, refused: &Refused) {
    debug!(sid = %socket.id(), error = %refused, "refused");
    if ack.is_expected() {
        let _ = ack.send(&json!({ "ok": false, "error": refused.0 }));
    } else {
        let _ = socket.emit(event, &json!({ "message": refused.0 }));
    }
}

/// The string argument `what` of an event, or why it is refused.
pub(crate) fn text_of(value: &Value, what: &str) -> Result<String, Refused> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Err(Refused(format!("the {what} is missing"))),
        _ => Err(Refused(format!("the {what} must be a string"))),
    }
}

fn on_connection(socket: Socket, chat: Shared) {
    debug!(sid = %socket.id(), transport = ?socket.transport(), "connected");

    let c = chat.clone();
    socket.on(
        "add user",
        move |socket: Socket, Data(name): Data<Value>, ack: AckSender| {
            let chat = c.clone();
            async move { add_user(&socket, &chat, &name, ack) }
        },
    );

    let c = chat.clone();
    socket.on(
        "new message",
        move |socket: Socket, Data(text): Data<Value>, ack: AckSender| {
            let chat = c.clone();
            async move { new_message(&socket, &chat, &text, ack) }
        },
    );

    let c = chat.clone();
    socket.on(
        "private message",
        move |socket: Socket, Data(payload): Data<Value>, ack: AckSender| {
            let chat = c.clone();
            async move { private_message(&socket, &chat, &payload, ack) }
        },
    );

    for event in ["typing", "stop typing"] {
        let c = chat.clone();
        socket.on(event, move |socket: Socket| {
            let chat = c.clone();
            async move {
                let chat = chat.lock();
                if let Some(username) = chat.username(&socket.id()) {
                    let _ = socket
                        .broadcast()
                        .emit(event, &json!({ "username": username }));
                }
            }
        });
    }

    socket.on_disconnect(move |socket: Socket, reason| async move {
        let mut chat = chat.lock();
        if let Some((username, num_users)) = chat.remove_user(&socket.id()) {
            info!(%username, num_users, %reason, "user left");
            let _ = socket.broadcast().emit(
                "user left",
                &json!({ "username": username, "numUsers": num_users }),
            );
        }
    });
}

fn add_user(socket: &Socket, chat: &Shared, name: &Value, ack: AckSender) {
    let mut chat = chat.lock();
    let accepted = text_of(name, "nickname").and_then(|n| chat.add_user(socket.id(), &n));
    match accepted {
        Ok((username, login)) => {
            info!(%username, num_users = login.num_users, transport = ?socket.transport(), "user joined");
            // Who is who in the Admin UI and in fetch_sockets.
            socket.set_data(Nick {
                username: username.clone(),
            });
            let _ = socket.emit("login", &login);
            let _ = socket.broadcast().emit(
                "user joined",
                &json!({ "username": username, "numUsers": login.num_users }),
            );
            let _ = ack.send(&json!({ "ok": true }));
        }
        Err(refused) => refuse(socket, ack, "login error", &refused),
    }
}

fn new_message(socket: &Socket, chat: &Shared, text: &Value, ack: AckSender) {
    let mut chat = chat.lock();
    let posted = text_of(text, "message").and_then(|t| chat.new_message(&socket.id(), &t));
    match posted {
        Ok(msg) => {
            let _ = socket.broadcast().emit("new message", &msg);
            let _ = ack.send(&json!({ "id": msg.id, "at": msg.at }));
        }
        Err(refused) => refuse(socket, ack, CHAT_ERROR, &refused),
    }
}

fn private_message(socket: &Socket, chat: &Shared, payload: &Value, ack: AckSender) {
    let mut chat = chat.lock();
    let sent = (|| {
        let Value::Object(fields) = payload else {
            return Err(Refused(
                "a private message is an object {to, message}".to_owned(),
            ));
        };
        let null = Value::Null;
        let to = text_of(fields.get("to").unwrap_or(&null), "recipient (to)")?;
        let text = text_of(fields.get("message").unwrap_or(&null), "message")?;
        let (recipient, msg) = chat.private_message(&socket.id(), &to, &text)?;
        let target = socket
            .namespace()
            .socket(&recipient)
            .ok_or_else(|| Refused(format!("no user named {}", to.trim())))?;
        target
            .emit("private message", &msg)
            .map_err(|e| Refused(format!("could not deliver the message: {e}")))?;
        Ok(msg.id)
    })();
    match sent {
        Ok(id) => {
            let _ = ack.send(&json!({ "ok": true, "id": id }));
        }
        Err(refused) => refuse(socket, ack, CHAT_ERROR, &refused),
    }
}
