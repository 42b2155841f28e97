//! The HTTP side of the test clients: one request per connection with
//! hyper 1, and a long-polling client of one session.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, Request, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{BoxError, within};

/// A complete HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("text header"))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// An engine error response: status, JSON content type, exact body.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: u8, message: &str) {
        assert_eq!(self.status.as_u16(), status, "status of {self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
        let expected = serde_json::json!({ "code": code, "message": message }).to_string();
        assert_eq!(self.text(), expected);
        assert_eq!(
            self.json(),
            serde_json::json!({ "code": code, "message": message })
        );
    }

    /// A bodiless response with this status.
    #[track_caller]
    pub fn assert_empty(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "status of {self:?}");
        assert!(self.body.is_empty(), "empty body expected: {self:?}");
    }

    /// A 200 `ok` answer to a POST.
    #[track_caller]
    pub fn assert_ok(&self) {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        assert_eq!(self.text(), "ok");
        assert_eq!(self.header("content-type"), Some("text/html"));
    }
}

/// A request builder with a Host header.
pub fn req(method: Method, path: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "127.0.0.1")
}

/// The headers of a WebSocket handshake, on a request for `path`.
pub fn ws_req(path: &str) -> http::request::Builder {
    req(Method::GET, path)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
}

/// Sends one request on a new connection and reads the whole response.
pub async fn send<B>(addr: SocketAddr, req: Request<B>) -> Resp
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let tcp = within("connect", TcpStream::connect(addr))
        .await
        .expect("connect");
    send_on(tcp, req).await
}

/// Sends one request on `io` (plain or TLS) and reads the whole response.
pub async fn send_on<IO, B>(io: IO, req: Request<B>) -> Resp
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let what = format!("{} {}", req.method(), req.uri());
    within(&what, async {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let res = sender.send_request(req).await.expect("response");
        let (parts, body) = res.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    })
    .await
}

pub async fn get(addr: SocketAddr, path: &str) -> Resp {
    send(
        addr,
        req(Method::GET, path)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await
}

pub async fn post(addr: SocketAddr, path: &str, body: impl Into<Bytes>) -> Resp {
    send(
        addr,
        req(Method::POST, path)
            .body(Full::new(body.into()))
            .unwrap(),
    )
    .await
}

/// A request body fed chunk by chunk through a channel, without a length
/// (sent chunked); it ends when the sender is dropped.
pub struct ChannelBody(pub mpsc::UnboundedReceiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b))))
    }
}

/// Splits a polling handshake body: the open packet's JSON (after `0`),
/// then the other packets.
pub fn parse_open(body: &str) -> (serde_json::Value, Vec<String>) {
    let mut packets = body.split('\u{1e}');
    let open = packets.next().expect("open packet");
    let json = open
        .strip_prefix('0')
        .unwrap_or_else(|| panic!("not an open packet: {body:?}"));
    (
        serde_json::from_str(json).expect("open JSON"),
        packets.map(str::to_owned).collect(),
    )
}

/// The exact open packet the engine sends for these values.
pub fn open_packet(sid: &str, upgrades: &[&str], interval: u64, timeout: u64, max: u64) -> String {
    let upgrades = serde_json::to_string(upgrades).unwrap();
    format!(
        "0{{\"sid\":\"{sid}\",\"upgrades\":{upgrades},\"pingInterval\":{interval},\"pingTimeout\":{timeout},\"maxPayload\":{max}}}"
    )
}

/// A long-polling client of one session.
pub struct Polling {
    pub addr: SocketAddr,
    pub base: String,
    pub eio: u8,
    pub sid: String,
    /// The handshake response.
    pub handshake: Resp,
}

impl Polling {
    /// A v4 session on the default path.
    pub async fn open(addr: SocketAddr) -> Self {
        Self::open_at(addr, "/engine.io/", 4).await
    }

    /// A session on `base` with protocol `eio`.
    pub async fn open_at(addr: SocketAddr, base: &str, eio: u8) -> Self {
        let handshake = get(addr, &format!("{base}?EIO={eio}&transport=polling")).await;
        assert_eq!(handshake.status, StatusCode::OK, "handshake: {handshake:?}");
        let body = handshake.text();
        let open = if eio == 3 {
            // v3 framing: `<len>:<packet>`.
            let (_, rest) = body.split_once(':').expect("v3 payload");
            rest.to_owned()
        } else {
            body.to_owned()
        };
        let (json, _) = parse_open(&open);
        let sid = json["sid"].as_str().expect("sid").to_owned();
        Polling {
            addr,
            base: base.to_owned(),
            eio,
            sid,
            handshake,
        }
    }

    /// This session's polling URL, with `extra` appended to the query.
    pub fn url(&self, extra: &str) -> String {
        format!(
            "{}?EIO={}&transport=polling&sid={}{extra}",
            self.base, self.eio, self.sid
        )
    }

    /// The session's WebSocket upgrade URL.
    pub fn ws_url(&self) -> String {
        format!(
            "ws://{}{}?EIO={}&transport=websocket&sid={}",
            self.addr, self.base, self.eio, self.sid
        )
    }

    pub async fn get(&self) -> Resp {
        get(self.addr, &self.url("")).await
    }

    /// A GET marked `t=<marker>` for [`ParkedRx::wait`].
    pub async fn get_marked(&self, marker: &str) -> Resp {
        get(self.addr, &self.url(&format!("&t={marker}"))).await
    }

    /// A GET that must succeed: its body.
    pub async fn poll(&self) -> String {
        let res = self.get().await;
        assert_eq!(res.status, StatusCode::OK, "poll: {res:?}");
        res.text().to_owned()
    }

    pub async fn post(&self, body: impl Into<Bytes>) -> Resp {
        post(self.addr, &self.url(""), body).await
    }

    /// A POST that must be answered `ok`.
    pub async fn send(&self, body: impl Into<Bytes>) {
        self.post(body).await.assert_ok();
    }
}
