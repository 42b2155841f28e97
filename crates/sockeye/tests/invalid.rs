//! Invalid packets: every decoding error closes the connection (type,
//! payload, ack id, attachments, binary/text interleaving, reserved names).

mod common;

use common::*;
use sockeye::{DisconnectReason, Socket, SocketError, SocketIo};
use tokio::sync::mpsc;

#[tokio::test]
async fn invalid_packets_close_the_connection() {
    let srv = serve(echo_io()).await;
    let too_many: String = (0..11).map(|n| format!(",{}", placeholder(n))).collect();
    let cases = [
        "4abc".to_owned(),
        "48".to_owned(),
        "42{}".to_owned(),
        "42[]".to_owned(),
        "42abc[\"message-with-ack\",1,\"2\",{\"3\":[false]}]".to_owned(),
        "42[\"message\"".to_owned(),
        "42[\"disconnect\"]".to_owned(),
        "42[true]".to_owned(),
        "41{\"a\":1}".to_owned(),
        "40/custom,\"token\"".to_owned(),
        "40/custom,[1]".to_owned(),
        "44/custom,{\"message\":\"x\"}".to_owned(),
        "4/custom,".to_owned(),
        format!("4511-[\"message\"{too_many}]"),
        "4a-[\"message\"]".to_owned(),
    ];
    for packet in &cases {
        let mut c = WsClient::open(srv.addr).await;
        c.connect("/").await;
        c.send(packet).await;
        assert!(c.expect_closed().await.is_empty(), "{packet}");
    }
}

#[tokio::test]
async fn binary_frames_out_of_place_close_the_connection() {
    let srv = serve(echo_io()).await;
    // A binary frame that no header announced.
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send_bin(&[1, 2]).await;
    assert!(c.expect_closed().await.is_empty());
    // Text while attachments are awaited.
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(&format!("451-[\"message\",{}]", placeholder(0)))
        .await;
    c.send(r#"42["message",1]"#).await;
    assert!(c.expect_closed().await.is_empty());
    // A placeholder beyond the attachments.
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(&format!("451-[\"message\",{}]", placeholder(1)))
        .await;
    c.send_bin(&[1]).await;
    assert!(c.expect_closed().await.is_empty());
}

#[tokio::test]
async fn max_attachments_is_configurable() {
    let io = SocketIo::builder().max_attachments(2).build().unwrap();
    io.on_connection(echo_handlers);
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send(&format!(
        "452-[\"message\",{},{}]",
        placeholder(0),
        placeholder(1)
    ))
    .await;
    c.send_bin(&[1]).await;
    c.send_bin(&[2]).await;
    assert_eq!(
        c.recv().await,
        format!(
            "452-[\"message-back\",{},{}]",
            placeholder(0),
            placeholder(1)
        )
    );
    c.recv_bin().await;
    c.recv_bin().await;
    let phs: String = (0..3).map(|n| format!(",{}", placeholder(n))).collect();
    c.send(&format!("453-[\"message\"{phs}]")).await;
    assert!(c.expect_closed().await.is_empty());
}

#[tokio::test]
async fn invalid_packet_reports_an_error_to_the_socket() {
    let io = echo_io();
    let (tx, mut errors) = mpsc::unbounded_channel();
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            socket.on_error(move |_s: &Socket, e: &SocketError| {
                let _ = tx.send(e.to_string());
            });
        }
    });
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send("42{}").await;
    next(&mut errors, "the socket's error").await;
    c.expect_closed().await;
}

/// Deliberate difference: the reference reports `forced close` (it closes
/// the engine socket); Sockeye names the cause, `parse error`.
#[tokio::test]
async fn invalid_packet_disconnect_reason_is_parse_error() {
    let io = echo_io();
    let mut gone = disconnects(&io.of("/"));
    let srv = serve(io).await;
    let mut c = WsClient::open(srv.addr).await;
    c.connect("/").await;
    c.send("42{}").await;
    c.expect_closed().await;
    let (_, reason) = next(&mut gone, "the disconnect").await;
    assert_eq!(reason, DisconnectReason::ParseError);
}
