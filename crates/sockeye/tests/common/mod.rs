//! Shared fixtures of the Socket.IO integration tests: a real server on
//! 127.0.0.1 (port 0) and raw clients (tokio-tungstenite for WebSocket,
//! hyper 1 for long-polling) that speak the wire protocol by hand, so that
//! every test can assert exact frames.
//!
//! Tests wait for events (frames, values sent through channels by server
//! handlers), never for time: every await below is wrapped in a timeout only
//! as a safety net.

#![allow(dead_code, unreachable_pub, missing_debug_implementations)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use sockeye::serve::{Server, ServerHandle};
use sockeye::{AckSender, Args, DisconnectReason, Namespace, Socket, SocketId, SocketIo, Value};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
pub use tokio_tungstenite::tungstenite::client::IntoClientRequest;
pub use tokio_tungstenite::tungstenite::handshake::client::Request as WsRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Any free port on the loopback interface.
pub const LOCAL: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// The safety net around every await: far above what any step needs.
pub const WAIT: Duration = Duration::from_secs(5);

/// Awaits `f`, failing the test if it takes longer than [`WAIT`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(WAIT, f).await {
        Ok(out) => out,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

// ------------------------------------------------------------------ server

/// A running server: the Socket.IO handle and the bound address.
pub struct TestServer {
    pub io: SocketIo,
    pub addr: SocketAddr,
    handle: ServerHandle,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// Serves `io.service()` on a free port.
pub async fn serve(io: SocketIo) -> TestServer {
    let handle = Server::builder()
        .listen(LOCAL)
        .serve(io.service())
        .await
        .expect("the server starts");
    let addr = handle.local_addrs()[0].addr;
    TestServer { io, addr, handle }
}

/// The handlers of the protocol suite's reference server: `message` is
/// echoed as `message-back`, `message-with-ack` answers its ack with its
/// own arguments.
pub async fn echo_handlers(socket: Socket) {
    socket.on(
        "message",
        |socket: Socket, Args(args): Args<Vec<Value>>| async move {
            let _ = socket.emit_args("message-back", args);
        },
    );
    socket.on(
        "message-with-ack",
        |_s: Socket, Args(args): Args<Vec<Value>>, ack: AckSender| async move {
            let _ = ack.send_args(args);
        },
    );
}

/// A server whose `/` and `/custom` namespaces run [`echo_handlers`].
pub fn echo_io() -> SocketIo {
    let io = SocketIo::builder().build().expect("build");
    io.on_connection(echo_handlers);
    io.of("/custom").on_connection(echo_handlers);
    io
}

/// Every socket that connects to `ns`, in connection order.
pub fn capture(ns: &Namespace) -> mpsc::UnboundedReceiver<Socket> {
    let (tx, rx) = mpsc::unbounded_channel();
    ns.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(socket);
        }
    });
    rx
}

/// Every disconnection from `ns`: the socket id and the reason.
pub fn disconnects(ns: &Namespace) -> mpsc::UnboundedReceiver<(SocketId, DisconnectReason)> {
    let (tx, rx) = mpsc::unbounded_channel();
    ns.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            socket.on_disconnect(move |s: Socket, reason| async move {
                let _ = tx.send((s.id(), reason));
            });
        }
    });
    rx
}

/// The next value of a channel fed by server-side handlers.
pub async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    within(what, rx.recv())
        .await
        .unwrap_or_else(|| panic!("channel closed while waiting for {what}"))
}

/// Asserts that nothing more arrived on the channel (yet).
#[track_caller]
pub fn assert_empty<T: std::fmt::Debug>(rx: &mut mpsc::UnboundedReceiver<T>) {
    if let Ok(v) = rx.try_recv() {
        panic!("nothing expected, got {v:?}");
    }
}

// ------------------------------------------------------------------ frames

/// A WebSocket data frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

/// Checks a v5 CONNECT reply for `nsp`: exactly `40[<nsp>,]{"sid":"..."}`
/// with a 20-character sid and no other key. Returns the sid.
#[track_caller]
pub fn connect_reply_sid(frame: &str, nsp: &str) -> String {
    let prefix = if nsp == "/" {
        "40".to_owned()
    } else {
        format!("40{nsp},")
    };
    let body = frame
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("CONNECT reply for {nsp} expected, got {frame:?}"));
    let json: serde_json::Value = serde_json::from_str(body).expect("JSON CONNECT payload");
    let obj = json.as_object().expect("CONNECT payload is an object");
    assert_eq!(obj.len(), 1, "only `sid` expected in {frame:?}");
    let sid = obj["sid"].as_str().expect("sid is a string").to_owned();
    assert_eq!(sid.len(), 20, "sid {sid:?} has 20 characters");
    assert_eq!(frame, format!("{prefix}{{\"sid\":\"{sid}\"}}"));
    sid
}

/// The binary placeholder of attachment `n`.
pub fn placeholder(n: usize) -> String {
    format!("{{\"_placeholder\":true,\"num\":{n}}}")
}

// --------------------------------------------------------------- WebSocket

/// A raw Engine.IO WebSocket client.
pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The Engine.IO session id.
    pub sid: String,
    /// The open packet's JSON.
    pub open: serde_json::Value,
    /// Answer the server's pings (`2`) with pongs (`3`); otherwise pings
    /// are skipped silently.
    pub auto_pong: bool,
}

impl WsClient {
    /// A direct WebSocket session speaking Engine.IO v4.
    pub async fn open(addr: SocketAddr) -> Self {
        Self::open_url(&format!("ws://{addr}/socket.io/?EIO=4&transport=websocket")).await
    }

    /// A direct WebSocket session speaking Engine.IO v3 (Socket.IO 2.x).
    pub async fn open_eio3(addr: SocketAddr) -> Self {
        Self::open_url(&format!("ws://{addr}/socket.io/?EIO=3&transport=websocket")).await
    }

    /// Opens `url` and reads the Engine.IO open packet.
    pub async fn open_url(url: &str) -> Self {
        Self::open_request(url.into_client_request().expect("a websocket URL")).await
    }

    /// Opens a WebSocket request (with extra headers, say) and reads the
    /// Engine.IO open packet.
    pub async fn open_request(request: WsRequest) -> Self {
        let (ws, _) = within(
            "the websocket handshake",
            tokio_tungstenite::connect_async(request),
        )
        .await
        .expect("websocket accepted");
        let mut client = WsClient {
            ws,
            sid: String::new(),
            open: serde_json::Value::Null,
            auto_pong: true,
        };
        let open = client.recv().await;
        let json = open
            .strip_prefix('0')
            .unwrap_or_else(|| panic!("open packet expected, got {open:?}"));
        client.open = serde_json::from_str(json).expect("open packet JSON");
        client.sid = client.open["sid"].as_str().expect("sid").to_owned();
        client
    }

    /// Upgrades the polling session `sid` to WebSocket (`2probe`,
    /// `3probe`, `5`).
    pub async fn upgrade(addr: SocketAddr, sid: &str) -> Self {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket&sid={sid}");
        let (ws, _) = within(
            "the upgrade handshake",
            tokio_tungstenite::connect_async(url),
        )
        .await
        .expect("upgrade accepted");
        let mut client = WsClient {
            ws,
            sid: sid.to_owned(),
            open: serde_json::Value::Null,
            auto_pong: true,
        };
        client.send("2probe").await;
        assert_eq!(client.recv().await, "3probe");
        client.send("5").await;
        client
    }

    /// Sends one text frame (a complete Engine.IO packet, e.g. `40`).
    pub async fn send(&mut self, text: &str) {
        within("a websocket send", self.ws.send(WsMessage::text(text)))
            .await
            .expect("send");
    }

    /// Sends one binary frame (an attachment, or a msgpack packet).
    pub async fn send_bin(&mut self, data: &[u8]) {
        within(
            "a websocket send",
            self.ws.send(WsMessage::binary(data.to_vec())),
        )
        .await
        .expect("send");
    }

    /// Sends many text frames with one flush at the end.
    pub async fn send_all(&mut self, texts: impl IntoIterator<Item = String>) {
        within("websocket sends", async {
            for t in texts {
                self.ws.feed(WsMessage::text(t)).await.expect("feed");
            }
            self.ws.flush().await.expect("flush");
        })
        .await;
    }

    /// The next data frame; the server's pings are answered (or skipped).
    pub async fn next_frame(&mut self) -> Frame {
        let auto_pong = self.auto_pong;
        let ws = &mut self.ws;
        within("a websocket frame", async {
            loop {
                match ws.next().await {
                    Some(Ok(WsMessage::Text(t))) if t.as_str() == "2" => {
                        if auto_pong {
                            ws.send(WsMessage::text("3")).await.expect("pong");
                        }
                    }
                    Some(Ok(WsMessage::Text(t))) => return Frame::Text(t.as_str().to_owned()),
                    Some(Ok(WsMessage::Binary(b))) => return Frame::Binary(b.to_vec()),
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => {}
                    other => panic!("the websocket ended while a frame was expected: {other:?}"),
                }
            }
        })
        .await
    }

    /// The next text frame, Engine.IO pings (`2`) included.
    pub async fn recv_raw(&mut self) -> String {
        let ws = &mut self.ws;
        within("a websocket frame", async {
            loop {
                match ws.next().await {
                    Some(Ok(WsMessage::Text(t))) => return t.as_str().to_owned(),
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                    other => panic!("text frame expected, got {other:?}"),
                }
            }
        })
        .await
    }

    /// The next data frame, which must be text.
    pub async fn recv(&mut self) -> String {
        match self.next_frame().await {
            Frame::Text(t) => t,
            other => panic!("text frame expected, got {other:?}"),
        }
    }

    /// The next data frame, which must be binary.
    pub async fn recv_bin(&mut self) -> Vec<u8> {
        match self.next_frame().await {
            Frame::Binary(b) => b,
            other => panic!("binary frame expected, got {other:?}"),
        }
    }

    /// Sends CONNECT for `nsp` (no payload) and checks the reply; returns
    /// the socket id.
    pub async fn connect(&mut self, nsp: &str) -> String {
        let packet = if nsp == "/" {
            "40".to_owned()
        } else {
            format!("40{nsp},")
        };
        self.send(&packet).await;
        self.expect_connect(nsp).await
    }

    /// Reads a CONNECT reply for `nsp`; returns the socket id.
    pub async fn expect_connect(&mut self, nsp: &str) -> String {
        let frame = self.recv().await;
        connect_reply_sid(&frame, nsp)
    }

    /// A round trip through [`echo_handlers`] on `nsp`: proves that the
    /// connection is open and that nothing else was queued before.
    pub async fn assert_echo(&mut self, nsp: &str, marker: &str) {
        let prefix = if nsp == "/" {
            "42".to_owned()
        } else {
            format!("42{nsp},")
        };
        self.send(&format!("{prefix}[\"message\",\"{marker}\"]"))
            .await;
        assert_eq!(
            self.recv().await,
            format!("{prefix}[\"message-back\",\"{marker}\"]")
        );
    }

    /// Reads until the server closes the connection; returns the data
    /// frames received before.
    pub async fn expect_closed(&mut self) -> Vec<Frame> {
        let ws = &mut self.ws;
        within("the server to close the connection", async {
            let mut before = Vec::new();
            loop {
                match ws.next().await {
                    Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => return before,
                    Some(Ok(WsMessage::Text(t))) if t.as_str() == "2" => {}
                    Some(Ok(WsMessage::Text(t))) => before.push(Frame::Text(t.as_str().to_owned())),
                    Some(Ok(WsMessage::Binary(b))) => before.push(Frame::Binary(b.to_vec())),
                    Some(Ok(_)) => {}
                }
            }
        })
        .await
    }

    /// Closes the WebSocket from the client side.
    pub async fn close(mut self) {
        let _ = within("a websocket close", self.ws.close(None)).await;
        // Drain until the server's close frame (or the end).
        let _ = tokio::time::timeout(WAIT, async { while self.ws.next().await.is_some() {} }).await;
    }
}

// ----------------------------------------------------------------- polling

/// A raw Engine.IO v4 long-polling client: one request per connection.
pub struct Polling {
    pub addr: SocketAddr,
    pub sid: String,
}

/// One HTTP request on a new connection: status and body.
pub async fn http(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: &str,
) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, "127.0.0.1")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    within(&format!("HTTP {path}"), async {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .expect("HTTP handshake");
        tokio::spawn(conn);
        let res = sender.send_request(req).await.expect("response");
        let status = res.status();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        (
            status,
            String::from_utf8(body.to_vec()).expect("UTF-8 body"),
        )
    })
    .await
}

impl Polling {
    /// Opens a polling session.
    pub async fn open(addr: SocketAddr) -> Self {
        let (status, body) =
            http(addr, Method::GET, "/socket.io/?EIO=4&transport=polling", "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let json: serde_json::Value =
            serde_json::from_str(body.strip_prefix('0').expect("open packet")).expect("JSON");
        let sid = json["sid"].as_str().expect("sid").to_owned();
        Polling { addr, sid }
    }

    fn path(&self) -> String {
        format!("/socket.io/?EIO=4&transport=polling&sid={}", self.sid)
    }

    /// One GET: the packets of the response.
    pub async fn get(&self) -> Vec<String> {
        let (status, body) = http(self.addr, Method::GET, &self.path(), "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.split('\x1e').map(str::to_owned).collect()
    }

    /// One POST of `packets`.
    pub async fn post(&self, packets: &[&str]) {
        let (status, body) =
            http(self.addr, Method::POST, &self.path(), &packets.join("\x1e")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    }
}

/// A bystander connected to `/`, proven alive by an echo.
pub async fn bystander(srv: &TestServer) -> WsClient {
    let mut b = WsClient::open(srv.addr).await;
    b.connect("/").await;
    b.assert_echo("/", "before").await;
    b
}
