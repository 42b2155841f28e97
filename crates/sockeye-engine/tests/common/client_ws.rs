//! The WebSocket side of the test clients (tokio-tungstenite).

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use http::header::{self, HeaderValue};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{parse_open, within};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket to `url` with extra request headers.
pub async fn ws_connect_with(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<(Ws, tungstenite::handshake::client::Response), tungstenite::Error> {
    let mut request = url.into_client_request().expect("ws url");
    for (k, v) in headers {
        request.headers_mut().append(
            header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    within(
        &format!("ws connect {url}"),
        tokio_tungstenite::connect_async(request),
    )
    .await
}

/// Opens a WebSocket that must be accepted.
pub async fn ws_connect(url: &str) -> (Ws, tungstenite::handshake::client::Response) {
    ws_connect_with(url, &[]).await.expect("websocket accepted")
}

/// The direct WebSocket URL of a new v4 session.
pub fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/engine.io/?EIO=4&transport=websocket")
}

/// A direct WebSocket session: the socket, its sid and its open packet.
pub async fn ws_open(addr: SocketAddr) -> (Ws, String, String) {
    ws_open_url(&ws_url(addr)).await
}

pub async fn ws_open_url(url: &str) -> (Ws, String, String) {
    let (mut ws, res) = ws_connect(url).await;
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    let open = recv_text(&mut ws).await;
    let (json, rest) = parse_open(&open);
    assert!(rest.is_empty());
    let sid = json["sid"].as_str().expect("sid").to_owned();
    (ws, sid, open)
}

/// The next data or close frame (control frames skipped).
pub async fn recv<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) -> WsMessage {
    within("a websocket frame", async {
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                Some(Ok(m)) => return m,
                other => panic!("websocket ended: {other:?}"),
            }
        }
    })
    .await
}

/// The next frame, which must be text.
pub async fn recv_text<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) -> String {
    match recv(ws).await {
        WsMessage::Text(t) => t.as_str().to_owned(),
        other => panic!("text frame expected, got {other:?}"),
    }
}

pub async fn send_text<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>, text: &str) {
    within("a websocket send", ws.send(WsMessage::text(text)))
        .await
        .expect("send");
}

pub async fn send_binary<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    data: &[u8],
) {
    within(
        "a websocket send",
        ws.send(WsMessage::binary(data.to_vec())),
    )
    .await
    .expect("send");
}

/// Reads until the server closes: the close frame (if any) and the data
/// frames that came before it.
pub async fn expect_close<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
) -> (Option<CloseFrame>, Vec<WsMessage>) {
    within("the websocket to close", async {
        let mut before = Vec::new();
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Close(frame))) => return (frame, before),
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                Some(Ok(m)) => before.push(m),
                Some(Err(_)) | None => return (None, before),
            }
        }
    })
    .await
}

/// Echo check over an established v4 WebSocket session.
pub async fn assert_ws_echo<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    text: &str,
) {
    send_text(ws, &format!("4{text}")).await;
    assert_eq!(recv_text(ws).await, format!("4{text}"));
}
