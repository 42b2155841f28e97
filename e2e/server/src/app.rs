//! `sockeye-testserver socketio-app`: a Socket.IO application for the Node
//! end-to-end tests of the Socket.IO layer. Every feature is reachable
//! through an event, so the tests drive it with the official clients only.
//!
//! Namespaces: `/`, `/admin` (a connect middleware refuses the connection
//! unless `auth.token == "secret"`, with the message `not authorized` and
//! the data `{"code":42}`), and every `/dyn-<digits>` (a dynamic namespace).
//! Each namespace has the same handlers:
//!
//! | event | arguments | what the server does |
//! |---|---|---|
//! | (on connect) | | emits `welcome` `{id, nsp}` |
//! | `handshake` | | acks `{id, nsp, auth, sid, transport}` (`sid`: the Engine.IO session) |
//! | `echo` | any | acks all the arguments back; without an ack, emits `echo` with them |
//! | `binary` | any | acks all the arguments back, then emits `binary-back` `{echoed: [args], server: <bytes 0..=255>}` |
//! | `join`, `leave` | room or `[rooms]` | joins/leaves; acks the sorted room list |
//! | `rooms` | | acks the sorted room list |
//! | `to-room` | room or `[rooms]`, event, ...args | emits `event` with `args` to the rooms (a union), the sender excluded; acks `"ok"` |
//! | `broadcast` | event, ...args | emits `event` with `args` to every other socket; acks `"ok"` |
//! | `emit-all` | event, ...args | emits `event` with `args` to every socket, the sender included; acks `"ok"` |
//! | `broadcast-with-ack` | timeout ms, payload | emits `question` `payload` with an ack to every socket of the namespace (the sender included) and acks `{ok: true, answers}` or `{ok: false, error, answers, missing}` (`missing`: how many did not answer) |
//! | `server-ack` | payload, timeout ms (default 5000) | emits `ping-me` `payload` with an ack to the sender; acks `{ok: true, answer}` or `{ok: false, error}` |
//! | `server-ack-all` | payload | emits `ping-me` `payload` with an ack to the sender; acks `{ok: true, args}` with every argument of the answer, or `{ok: false, error}` |
//! | `volatile` | n | emits `vol` 0..n as volatile events, then `volatile-done` `n` |
//! | `disconnect-me` | `true` to close the whole connection | `socket.disconnect()` (`disconnect_all()` with `true`) |
//! | `close-transport` | | closes the Engine.IO session (the client sees `transport close`) |
//!
//! When a socket disconnects, `left` `{id, nsp, reason}` goes to the room
//! `watchers` of its namespace. `--recovery` turns on connection state
//! recovery.

use serde_json::json;
use sockeye::{AckSender, Args, ConnectError, Data, Socket, SocketIo, Value};
use sockeye_engine::{Engine, EngineConfig, TransportKind};
use std::time::Duration;

/// Builds the application server on `config` with the common CLI options.
pub(crate) fn build(
    args: &crate::Args,
    mut config: EngineConfig,
) -> Result<Engine, sockeye::Error> {
    if args.path.is_none() {
        config = config.with_path("/socket.io/");
    }
    let mut builder = SocketIo::builder().engine(|_| config);
    if let Some(ms) = args.connect_timeout {
        builder = builder.connect_timeout(Duration::from_millis(ms));
    }
    if args.msgpack {
        builder = builder.parser(sockeye::Parser::MsgPack);
    }
    if args.recovery {
        builder = builder.connection_state_recovery(sockeye::RecoveryConfig::default());
    }
    let io = builder.build()?;

    io.on_connection(|socket: Socket| async move { register(&socket) });

    let admin = io.of("/admin");
    admin.use_middleware(|socket: Socket| async move {
        match socket.handshake().auth.get("token").and_then(Value::as_str) {
            Some("secret") => Ok(()),
            _ => Err(ConnectError::new("not authorized").with_data(&json!({ "code": 42 }))),
        }
    });
    admin.on_connection(|socket: Socket| async move { register(&socket) });

    let dynamic = regex::Regex::new(r"^/dyn-\d+$").expect("a valid regex");
    io.of_regex(dynamic)
        .on_connection(|socket: Socket| async move { register(&socket) });

    Ok(io.engine().clone())
}

/// The room names of a `join`/`leave` argument: a string or an array.
fn room_names(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn sorted_rooms(socket: &Socket) -> Vec<String> {
    let mut rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
    rooms.sort();
    rooms
}

/// `[event, ...args]` of the forwarding events (`event` must be a string).
fn split_event(mut args: Vec<Value>) -> Option<(String, Vec<Value>)> {
    if args.is_empty() {
        return None;
    }
    match args.remove(0) {
        Value::String(event) => Some((event, args)),
        _ => None,
    }
}

fn ok(ack: AckSender) {
    let _ = ack.send("ok");
}

/// The handlers of every namespace.
fn register(socket: &Socket) {
    let nsp = socket.namespace().name().to_string();
    let _ = socket.emit(
        "welcome",
        &json!({ "id": socket.id().as_str(), "nsp": nsp }),
    );

    socket.on("handshake", |socket: Socket, ack: AckSender| async move {
        let transport = match socket.transport() {
            TransportKind::Polling => "polling",
            TransportKind::WebSocket => "websocket",
        };
        let _ = ack.send(&json!({
            "id": socket.id().as_str(),
            "nsp": socket.namespace().name().as_str(),
            "auth": &socket.handshake().auth,
            "sid": socket.session().sid().as_str(),
            "transport": transport,
        }));
    });

    socket.on(
        "echo",
        |socket: Socket, Args(args): Args<Vec<Value>>, ack: AckSender| async move {
            if ack.is_expected() {
                let _ = ack.send_args(args);
            } else {
                let _ = socket.emit_args("echo", args);
            }
        },
    );

    socket.on(
        "binary",
        |socket: Socket, Args(args): Args<Vec<Value>>, ack: AckSender| async move {
            let back = Value::Object(vec![
                ("echoed".to_owned(), Value::Array(args.clone())),
                (
                    "server".to_owned(),
                    Value::Binary((0..=255u8).collect::<Vec<u8>>().into()),
                ),
            ]);
            let _ = ack.send_args(args);
            let _ = socket.emit("binary-back", &back);
        },
    );

    socket.on(
        "join",
        |socket: Socket, Data(rooms): Data<Value>, ack: AckSender| async move {
            socket.join(room_names(&rooms));
            let _ = ack.send(&sorted_rooms(&socket));
        },
    );

    socket.on(
        "leave",
        |socket: Socket, Data(rooms): Data<Value>, ack: AckSender| async move {
            socket.leave(room_names(&rooms));
            let _ = ack.send(&sorted_rooms(&socket));
        },
    );

    socket.on("rooms", |socket: Socket, ack: AckSender| async move {
        let _ = ack.send(&sorted_rooms(&socket));
    });

    socket.on(
        "to-room",
        |socket: Socket, Args(args): Args<Vec<Value>>, ack: AckSender| async move {
            let mut args = args.into_iter();
            let rooms = room_names(&args.next().unwrap_or_default());
            let Some((event, rest)) = split_event(args.collect()) else {
                return;
            };
            let _ = socket.to(rooms).emit_args(&event, rest);
            ok(ack);
        },
    );

    socket.on(
        "broadcast",
        |socket: Socket, Args(args): Args<Vec<Value>>, ack: AckSender| async move {
            let Some((event, rest)) = split_event(args) else {
                return;
            };
            let _ = socket.broadcast().emit_args(&event, rest);
            ok(ack);
        },
    );

    socket.on(
        "emit-all",
        |socket: Socket, Args(args): Args<Vec<Value>>, ack: AckSender| async move {
            let Some((event, rest)) = split_event(args) else {
                return;
            };
            let _ = socket.namespace().broadcast().emit_args(&event, rest);
            ok(ack);
        },
    );

    socket.on(
        "broadcast-with-ack",
        |socket: Socket, Args((timeout_ms, payload)): Args<(u64, Value)>, ack: AckSender| async move {
            let result = socket
                .namespace()
                .timeout(Duration::from_millis(timeout_ms))
                .emit_with_ack::<_, Value>("question", &payload)
                .await;
            let reply = match result {
                Ok(responses) => {
                    let answers: Vec<Value> = responses.into_iter().map(|r| r.value).collect();
                    json!({ "ok": true, "answers": answers })
                }
                Err(e) => {
                    let error = e.to_string();
                    let missing = e.missing.len() + e.missing_remote;
                    let answers: Vec<Value> = e.responses.into_iter().map(|r| r.value).collect();
                    json!({ "ok": false, "error": error, "answers": answers, "missing": missing })
                }
            };
            let _ = ack.send(&reply);
        },
    );

    socket.on(
        "server-ack",
        |socket: Socket, Args(args): Args<Vec<Value>>, ack: AckSender| async move {
            let mut args = args.into_iter();
            let payload = args.next().unwrap_or(Value::Null);
            let timeout_ms = match args.next() {
                Some(Value::Number(n)) => n.as_u64(),
                _ => None,
            };
            let timeout = Duration::from_millis(timeout_ms.unwrap_or(5_000));
            let result = socket
                .timeout(timeout)
                .emit_with_ack::<_, Value>("ping-me", &payload)
                .await;
            let reply = match result {
                Ok(answer) => Value::Object(vec![
                    ("ok".to_owned(), Value::Bool(true)),
                    ("answer".to_owned(), answer),
                ]),
                Err(e) => Value::from(json!({ "ok": false, "error": e.to_string() })),
            };
            let _ = ack.send(&reply);
        },
    );

    socket.on(
        "server-ack-all",
        |socket: Socket, Data(payload): Data<Value>, ack: AckSender| async move {
            let result = socket
                .timeout(Duration::from_millis(5_000))
                .emit_with_ack::<_, Args<Vec<Value>>>("ping-me", &payload)
                .await;
            let reply = match result {
                Ok(Args(args)) => Value::Object(vec![
                    ("ok".to_owned(), Value::Bool(true)),
                    ("args".to_owned(), Value::Array(args)),
                ]),
                Err(e) => Value::from(json!({ "ok": false, "error": e.to_string() })),
            };
            let _ = ack.send(&reply);
        },
    );

    socket.on(
        "volatile",
        |socket: Socket, Data(n): Data<u64>| async move {
            for i in 0..n {
                let _ = socket.volatile().emit("vol", &i);
            }
            let _ = socket.emit("volatile-done", &n);
        },
    );

    socket.on(
        "disconnect-me",
        |socket: Socket, Data(close): Data<Option<bool>>| async move {
            if close == Some(true) {
                socket.disconnect_all();
            } else {
                socket.disconnect();
            }
        },
    );

    socket.on("close-transport", |socket: Socket| async move {
        socket.session().close();
    });

    socket.on_disconnect(|socket: Socket, reason| async move {
        let _ = socket.namespace().to("watchers").emit(
            "left",
            &json!({
                "id": socket.id().as_str(),
                "nsp": socket.namespace().name().as_str(),
                "reason": reason.as_str(),
            }),
        );
    });
}
