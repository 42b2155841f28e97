//! Engine.IO long-polling over one keep-alive HTTP/1.1 connection (hyper's
//! client connection API), and the polling-then-upgrade sequence of the
//! official client.

use crate::ws::{Ws, tcp_connect};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};

pub const PATH: &str = "/socket.io/?EIO=4&transport=polling";

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

pub struct Http {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    /// Requests sent on this connection.
    pub requests: u64,
}

impl Http {
    pub async fn connect(target: SocketAddr, src: Option<Ipv4Addr>) -> io::Result<Http> {
        let stream = tcp_connect(target, src).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(err)?;
        tokio::task::spawn_local(async move {
            let _ = conn.await;
        });
        Ok(Http {
            sender,
            host: target.to_string(),
            requests: 0,
        })
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Bytes>,
    ) -> io::Result<Bytes> {
        self.sender.ready().await.map_err(err)?;
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        if body.is_some() {
            req = req.header("content-type", "text/plain;charset=UTF-8");
        }
        let req = req.body(Full::new(body.unwrap_or_default())).map_err(err)?;
        self.requests += 1;
        let res = self.sender.send_request(req).await.map_err(err)?;
        let status = res.status();
        let bytes = res.into_body().collect().await.map_err(err)?.to_bytes();
        if !status.is_success() {
            return Err(err(format!(
                "{method} {path}: HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        Ok(bytes)
    }

    pub async fn get(&mut self, path: &str) -> io::Result<Bytes> {
        self.request("GET", path, None).await
    }

    pub async fn post(&mut self, path: &str, body: &'static [u8]) -> io::Result<()> {
        self.request("POST", path, Some(Bytes::from_static(body)))
            .await
            .map(|_| ())
    }
}

/// The packets of a polling payload (separated by the record separator).
pub fn packets(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|b| *b == 0x1e)
}

/// The `sid` of an Engine.IO open packet.
pub fn sid_of(open: &[u8]) -> io::Result<String> {
    let text = std::str::from_utf8(open).map_err(err)?;
    let start = text
        .find("\"sid\":\"")
        .ok_or_else(|| err(format!("no sid in {text:?}")))?
        + 7;
    let end = text[start..]
        .find('"')
        .ok_or_else(|| err("unterminated sid"))?
        + start;
    Ok(text[start..end].to_owned())
}

/// GETs until a packet starting with `prefix` arrives.
async fn get_until(http: &mut Http, path: &str, prefix: &[u8]) -> io::Result<()> {
    for _ in 0..20 {
        let body = http.get(path).await?;
        if packets(&body).any(|p| p.starts_with(prefix)) {
            return Ok(());
        }
        if packets(&body).any(|p| p.starts_with(b"44") || p == b"1") {
            return Err(err(format!("refused: {}", String::from_utf8_lossy(&body))));
        }
    }
    Err(err("the expected packet never came"))
}

/// Opens a polling session and joins `/`: handshake GET, CONNECT by POST,
/// GET of the CONNECT answer. Returns the session's path.
pub async fn open_session(http: &mut Http) -> io::Result<String> {
    let open = http.get(PATH).await?;
    let sid = sid_of(&open)?;
    let path = format!("{PATH}&sid={sid}");
    http.post(&path, b"40").await?;
    get_until(http, &path, b"40").await?;
    Ok(path)
}

/// One whole long-polling session: open, CONNECT, one `echo` round trip by
/// ack, close packet. Returns the requests it took.
pub async fn session(http: &mut Http) -> io::Result<u64> {
    let before = http.requests;
    let path = open_session(http).await?;
    http.post(&path, b"421[\"echo\",\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]")
        .await?;
    get_until(http, &path, b"431[").await?;
    http.post(&path, b"1").await?;
    Ok(http.requests - before)
}

/// Polling then upgrade, as the official client does: polling session and
/// CONNECT, then with a GET pending, a WebSocket with the same sid: `2probe`,
/// `3probe`, the pending GET ends (noop), `5`. Returns the upgraded socket.
pub async fn polling_then_upgrade(
    target: SocketAddr,
    http_src: Option<Ipv4Addr>,
    ws_src: Option<Ipv4Addr>,
) -> io::Result<Ws> {
    let mut http = Http::connect(target, http_src).await?;
    let path = open_session(&mut http).await?;
    let pending_path = path.clone();
    let pending = tokio::task::spawn_local(async move {
        let r = http.get(&pending_path).await;
        (http, r)
    });
    let sid = &path[path.find("sid=").map(|i| i + 4).unwrap_or(0)..];
    let mut ws = Ws::connect(
        target,
        ws_src,
        &format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"),
    )
    .await?;
    ws.send(b"2probe").await?;
    let none = std::cell::Cell::new(0);
    ws.wait_for(b"3probe", &none).await?;
    // The client pauses polling: it waits for the GET in flight to end.
    let (_http, r) = tokio::time::timeout(std::time::Duration::from_secs(30), pending)
        .await
        .map_err(|_| err("the pending GET did not end after the probe"))?
        .map_err(err)?;
    r?;
    ws.send(b"5").await?;
    Ok(ws)
}
