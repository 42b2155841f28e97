//! The chat as one node of a cluster (`--redis`): the same events as on one
//! node, with the state where every node (Sockeye's or Node's) sees it.
//!
//! * Logged-in sockets are in the room `chat-users` with their nickname in
//!   their data (`{"username": ...}`): the user list and `numUsers` come
//!   from `fetch_sockets` on that room, across nodes.
//! * Nicknames are unique across the cluster through the Redis hash
//!   `sockeye-chat:users` (folded nickname → socket id, `HSETNX`); an entry
//!   whose socket no node has any more (a node that died) is taken over.
//! * The history is the Redis list `sockeye-chat:history`: `RPUSH` of the
//!   message as broadcast, then `LTRIM` to the last 50.
//! * A private message reaches its recipient on whatever node it is.

use crate::chat::{CHAT_ERROR, Nick, refuse, text_of};
use crate::state::{
    HISTORY, PrivateMessage, PublicMessage, Refused, check_message, check_nickname, now_ms,
};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde_json::{Value, json};
use sockeye::{AckSender, Data, Socket, SocketIo};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::{info, warn};

const USERS_ROOM: &str = "chat-users";
const USERS_KEY: &str = "sockeye-chat:users";
const HISTORY_KEY: &str = "sockeye-chat:history";

/// What the cluster chat shares between its handlers.
struct Node {
    io: SocketIo,
    redis: ConnectionManager,
    /// Makes message ids unique across nodes and restarts.
    prefix: String,
    next_id: AtomicU64,
}

impl Node {
    fn new_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{}-{n:x}", self.prefix)
    }

    fn redis(&self) -> ConnectionManager {
        self.redis.clone()
    }

    /// The nicknames of every logged-in socket of the cluster, except
    /// `leaving`.
    async fn users(&self, leaving: Option<&str>) -> Result<Vec<String>, Refused> {
        let sockets = self
            .io
            .to(USERS_ROOM)
            .fetch_sockets()
            .await
            .map_err(|e| Refused(format!("the cluster did not answer: {e}")))?;
        Ok(sockets
            .iter()
            .filter(|s| Some(s.id()) != leaving)
            .filter_map(|s| {
                s.data::<Value>()
                    .ok()?
                    .get("username")?
                    .as_str()
                    .map(str::to_owned)
            })
            .collect())
    }

    async fn history(&self) -> Vec<Value> {
        let raw: Vec<String> = self
            .redis()
            .lrange(HISTORY_KEY, 0, -1)
            .await
            .unwrap_or_default();
        raw.iter()
            .filter_map(|s| serde_json::from_str(s).ok())
            .collect()
    }

    /// Claims a nickname for `id`; an entry left by a socket that no node
    /// has any more is taken over.
    async fn claim(&self, folded: &str, id: &str) -> Result<bool, Refused> {
        let mut r = self.redis();
        let redis_err = |e: redis::RedisError| Refused(format!("the chat store failed: {e}"));
        if r.hset_nx(USERS_KEY, folded, id).await.map_err(redis_err)? {
            return Ok(true);
        }
        let holder: Option<String> = r.hget(USERS_KEY, folded).await.map_err(redis_err)?;
        let Some(holder) = holder else {
            return r.hset_nx(USERS_KEY, folded, id).await.map_err(redis_err);
        };
        let alive = self
            .io
            .to(holder.clone())
            .fetch_sockets()
            .await
            .map(|s| !s.is_empty())
            .unwrap_or(true);
        if alive {
            return Ok(false);
        }
        warn!(nickname = folded, %holder, "nickname held by a socket gone from the cluster: taken over");
        let _: () = r.hset(USERS_KEY, folded, id).await.map_err(redis_err)?;
        Ok(true)
    }

    async fn release(&self, folded: &str, id: &str) {
        let mut r = self.redis();
        let holder: Option<String> = r.hget(USERS_KEY, folded).await.unwrap_or(None);
        if holder.as_deref() == Some(id) {
            let _: Result<(), _> = r.hdel(USERS_KEY, folded).await;
        }
    }
}

/// Installs the cluster chat on the main namespace of `io`.
pub fn install(io: &SocketIo, redis: ConnectionManager) {
    let node = Arc::new(Node {
        io: io.clone(),
        redis,
        prefix: format!("{:x}-{:x}", now_ms(), std::process::id()),
        next_id: AtomicU64::new(0),
    });
    io.on_connection(move |socket: Socket| {
        let node = node.clone();
        async move { on_connection(socket, node) }
    });
}

/// The nickname of a logged-in socket (for a recovered socket, from its
/// restored data).
fn username(socket: &Socket) -> Option<String> {
    socket
        .data::<Nick>()
        .map(|n| n.username.clone())
        .or_else(|| {
            socket
                .data_json()
                .get("username")?
                .as_str()
                .map(str::to_owned)
        })
}

fn on_connection(socket: Socket, node: Arc<Node>) {
    let n = node.clone();
    socket.on(
        "add user",
        move |socket: Socket, Data(name): Data<Value>, ack: AckSender| {
            let node = n.clone();
            async move {
                match add_user(&socket, &node, &name).await {
                    Ok(()) => {
                        let _ = ack.send(&json!({ "ok": true }));
                    }
                    Err(refused) => refuse(&socket, ack, "login error", &refused),
                }
            }
        },
    );
    let n = node.clone();
    socket.on(
        "new message",
        move |socket: Socket, Data(text): Data<Value>, ack: AckSender| {
            let node = n.clone();
            async move {
                match new_message(&socket, &node, &text).await {
                    Ok(msg) => {
                        let _ = ack.send(&json!({ "id": msg.id, "at": msg.at }));
                    }
                    Err(refused) => refuse(&socket, ack, CHAT_ERROR, &refused),
                }
            }
        },
    );
    let n = node.clone();
    socket.on(
        "private message",
        move |socket: Socket, Data(payload): Data<Value>, ack: AckSender| {
            let node = n.clone();
            async move {
                match private_message(&socket, &node, &payload).await {
                    Ok(id) => {
                        let _ = ack.send(&json!({ "ok": true, "id": id }));
                    }
                    Err(refused) => refuse(&socket, ack, CHAT_ERROR, &refused),
                }
            }
        },
    );
    for event in ["typing", "stop typing"] {
        socket.on(event, move |socket: Socket| async move {
            if let Some(username) = username(&socket) {
                let _ = socket
                    .broadcast()
                    .emit(event, &json!({ "username": username }));
            }
        });
    }
    if socket.recovered() {
        let (socket, node) = (socket.clone(), node.clone());
        tokio::spawn(async move { rejoin(&socket, &node).await });
    }
    socket.on_disconnect(move |socket: Socket, reason| async move {
        let Some(name) = username(&socket) else {
            return;
        };
        let id = socket.id();
        node.release(&name.to_lowercase(), id.as_str()).await;
        let num_users = node
            .users(Some(id.as_str()))
            .await
            .map(|u| u.len())
            .unwrap_or(0);
        info!(username = %name, num_users, %reason, "user left");
        let _ = node.io.except(id.as_str().to_owned()).emit(
            "user left",
            &json!({ "username": name, "numUsers": num_users }),
        );
    });
}

/// A socket restored by connection state recovery (on this node or another)
/// comes back logged in: its nickname is in its restored data and it is in
/// the users room again. Its nickname was released when it dropped off, so
/// it is claimed again (private messages find it) and the others, who saw it
/// leave, see it join. If someone took the nickname meanwhile, the socket is
/// logged out instead.
async fn rejoin(socket: &Socket, node: &Node) {
    let Some(name) = username(socket) else {
        return;
    };
    let id = socket.id();
    match node.claim(&name.to_lowercase(), id.as_str()).await {
        Ok(true) => {
            let num_users = node.users(None).await.map(|u| u.len()).unwrap_or(0);
            info!(username = %name, num_users, "user back (session recovered)");
            let _ = socket.broadcast().emit(
                "user joined",
                &json!({ "username": name, "numUsers": num_users }),
            );
        }
        Ok(false) => {
            warn!(username = %name, "nickname taken while the session was away: logged out");
            socket.leave(USERS_ROOM);
            socket.set_data(Value::Null);
        }
        Err(e) => {
            warn!(username = %name, error = %e.0, "nickname not claimed again after recovery")
        }
    }
}

async fn add_user(socket: &Socket, node: &Node, name: &Value) -> Result<(), Refused> {
    if let Some(name) = username(socket) {
        return Err(Refused(format!("you are already logged in as {name}")));
    }
    let name = check_nickname(&text_of(name, "nickname")?)?;
    let id = socket.id();
    if !node.claim(&name.to_lowercase(), id.as_str()).await? {
        return Err(Refused(format!("the nickname {name} is taken")));
    }
    socket.set_data(Nick {
        username: name.clone(),
    });
    socket.join(USERS_ROOM);
    let mut users = node.users(None).await?;
    if !users.contains(&name) {
        // This node's own entry is seen at once; kept for safety.
        users.push(name.clone());
    }
    let num_users = users.len();
    let history = node.history().await;
    info!(username = %name, num_users, "user joined");
    let _ = socket.emit(
        "login",
        &json!({ "numUsers": num_users, "users": users, "history": history }),
    );
    let _ = socket.broadcast().emit(
        "user joined",
        &json!({ "username": name, "numUsers": num_users }),
    );
    Ok(())
}

async fn new_message(socket: &Socket, node: &Node, text: &Value) -> Result<PublicMessage, Refused> {
    let username = username(socket)
        .ok_or_else(|| Refused("log in (add user) before sending messages".to_owned()))?;
    let text = text_of(text, "message")?;
    check_message(&text)?;
    let msg = PublicMessage {
        username,
        message: text,
        id: node.new_id(),
        at: now_ms(),
    };
    let _ = socket.broadcast().emit("new message", &msg);
    let stored = serde_json::to_string(&msg).unwrap_or_default();
    let mut r = node.redis();
    let kept: redis::RedisResult<()> = redis::pipe()
        .rpush(HISTORY_KEY, stored)
        .ignore()
        .ltrim(HISTORY_KEY, -(HISTORY as isize), -1)
        .ignore()
        .query_async(&mut r)
        .await;
    if let Err(e) = kept {
        warn!(error = %e, "message not kept in the cluster history");
    }
    Ok(msg)
}

async fn private_message(socket: &Socket, node: &Node, payload: &Value) -> Result<String, Refused> {
    let from = username(socket)
        .ok_or_else(|| Refused("log in (add user) before sending messages".to_owned()))?;
    let Value::Object(fields) = payload else {
        return Err(Refused(
            "a private message is an object {to, message}".to_owned(),
        ));
    };
    let null = Value::Null;
    let to = text_of(fields.get("to").unwrap_or(&null), "recipient (to)")?;
    let text = text_of(fields.get("message").unwrap_or(&null), "message")?;
    check_message(&text)?;
    let no_user = || Refused(format!("no user named {}", to.trim()));
    let holder: Option<String> = node
        .redis()
        .hget(USERS_KEY, to.trim().to_lowercase())
        .await
        .map_err(|e| Refused(format!("the chat store failed: {e}")))?;
    let holder = holder.ok_or_else(no_user)?;
    if holder == socket.id().as_str() {
        return Err(Refused(
            "you cannot send a private message to yourself".to_owned(),
        ));
    }
    let target = node
        .io
        .to(holder)
        .fetch_sockets()
        .await
        .map_err(|e| Refused(format!("the cluster did not answer: {e}")))?
        .pop()
        .ok_or_else(no_user)?;
    let msg = PrivateMessage {
        from,
        message: text,
        id: node.new_id(),
        at: now_ms(),
    };
    target
        .emit("private message", &msg)
        .map_err(|e| Refused(format!("could not deliver the message: {e}")))?;
    Ok(msg.id)
}
