//! The crate-root example (`src/lib.rs`), run for real on a free port:
//! what it documents is what a client sees.

mod common;

use common::*;
use sockeye::{AckSender, Data, Socket, SocketIo};

/// The handlers of the crate-root example, verbatim (only the port differs:
/// the example listens on port 0 and stops at once).
fn example_io() -> SocketIo {
    let io = SocketIo::builder().build().unwrap();
    io.on_connection(|socket: Socket| async move {
        socket.join("lobby");
        // `socket.emit("echo", data, ack)` on the client: answer through the ack.
        socket.on(
            "echo",
            |_s: Socket, Data(v): Data<serde_json::Value>, ack: AckSender| async move {
                let _ = ack.send(&v);
            },
        );
        // Everyone else in the lobby gets the message.
        socket.on(
            "chat",
            |socket: Socket, Data(text): Data<String>| async move {
                let _ = socket.to("lobby").emit("chat", &text);
            },
        );
    });
    io
}

#[tokio::test]
async fn crate_root_example_behaves_as_documented() {
    let srv = serve(example_io()).await;
    let mut a = WsClient::open(srv.addr).await;
    a.connect("/").await;
    let mut b = WsClient::open(srv.addr).await;
    b.connect("/").await;
    assert!(
        srv.io
            .of("/")
            .adapter()
            .rooms()
            .iter()
            .any(|r| r == "lobby")
    );
    a.send(r#"42["chat","hello lobby"]"#).await;
    assert_eq!(b.recv().await, r#"42["chat","hello lobby"]"#);
    // The sender is skipped: its next frame is its own ack.
    a.send(r#"421["echo",{"a":[1,"x"]}]"#).await;
    assert_eq!(a.recv().await, r#"431[{"a":[1,"x"]}]"#);
    b.send(r#"42["chat","back"]"#).await;
    assert_eq!(a.recv().await, r#"42["chat","back"]"#);
}
