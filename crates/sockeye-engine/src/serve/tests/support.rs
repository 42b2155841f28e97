//! Fixtures and client helpers of the serve tests.

//! Tests on real sockets (127.0.0.1, port 0): plain and TLS listeners sharing
//! one service, upgrades, graceful and forced shutdown, limits, PEM errors.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{CONNECTION, HOST, UPGRADE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tower_service::Service;

use super::super::{ConnectionInfo, ServerBuilder, TlsConfig};

pub(super) const LOCAL: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);
pub(super) const SECOND: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------- fixtures

pub(super) struct Pki {
    pub(super) ca: CertificateDer<'static>,
    pub(super) cert_pem: String,
    pub(super) key_pem: String,
}

/// A CA and a `localhost` certificate it signed.
pub(super) fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key"))
        .expect("ca cert");
    let key = KeyPair::generate().expect("leaf key");
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("leaf params")
        .signed_by(&key, &ca)
        .expect("leaf cert");
    Pki {
        ca: ca.der().clone(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

pub(super) fn tls_config(pki: &Pki) -> TlsConfig {
    TlsConfig::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).expect("tls config")
}

pub(super) async fn tls_connect(pki: &Pki, addr: SocketAddr) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("tls handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    tls
}

/// The test application: one state shared by every clone.
#[derive(Clone, Default)]
pub(in crate::serve) struct App {
    pub(super) count: Arc<AtomicUsize>,
    pub(super) started: Arc<Notify>,
}

impl App {
    async fn handle(self, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
        let info = req.extensions().get::<ConnectionInfo>().copied();
        let text = |s: String| Response::new(Full::new(Bytes::from(s)));
        match req.uri().path() {
            "/count" => {
                let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
                let info = info.expect("connection info");
                text(format!("{n} {} {} {}", info.tls, info.peer, info.local))
            }
            "/len" => {
                let body = req.into_body().collect().await.expect("body").to_bytes();
                text(body.len().to_string())
            }
            "/early" => text("not read".into()),
            "/slow" => {
                self.started.notify_one();
                tokio::time::sleep(SECOND).await;
                text("slow done".into())
            }
            "/hang" => {
                self.started.notify_one();
                std::future::pending().await
            }
            "/echo" => {
                let on_upgrade = hyper::upgrade::on(&mut req);
                tokio::spawn(async move {
                    let Ok(upgraded) = on_upgrade.await else {
                        return;
                    };
                    let (mut rd, mut wr) = tokio::io::split(TokioIo::new(upgraded));
                    let _ = tokio::io::copy(&mut rd, &mut wr).await;
                });
                upgrade_response("echo").body(Full::default()).expect("101")
            }
            "/ws" => {
                let key = req.headers().get("sec-websocket-key").expect("ws key");
                let accept = derive_accept_key(key.as_bytes());
                let on_upgrade = hyper::upgrade::on(&mut req);
                tokio::spawn(async move {
                    let Ok(upgraded) = on_upgrade.await else {
                        return;
                    };
                    let io = TokioIo::new(upgraded);
                    let mut ws =
                        tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Server, None)
                            .await;
                    while let Some(Ok(msg)) = ws.next().await {
                        if msg.is_text() && ws.send(msg).await.is_err() {
                            break;
                        }
                    }
                });
                upgrade_response("websocket")
                    .header("sec-websocket-accept", accept)
                    .body(Full::default())
                    .expect("101")
            }
            _ => Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body(Full::default())
                .expect("404"),
        }
    }
}

pub(super) fn upgrade_response(protocol: &str) -> http::response::Builder {
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, protocol)
}

impl Service<Request<Incoming>> for App {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let app = self.clone();
        Box::pin(async move { Ok(app.handle(req).await) })
    }
}

// ---------------------------------------------------------------- client helpers

pub(super) type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

pub(super) async fn handshake<IO>(io: IO) -> Sender
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("client handshake");
    tokio::spawn(conn.with_upgrades());
    sender
}

pub(super) fn request(path: &str) -> http::request::Builder {
    Request::get(path).header(HOST, "localhost")
}

pub(super) async fn fetch(sender: &mut Sender, path: &str) -> hyper::Result<(StatusCode, String)> {
    let res = sender
        .send_request(request(path).body(Empty::new()).expect("req"))
        .await?;
    let status = res.status();
    let body = res.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// One GET on a fresh plain connection.
pub(super) async fn get(addr: SocketAddr, path: &str) -> hyper::Result<(StatusCode, String)> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    fetch(&mut handshake(tcp).await, path).await
}

/// Upgrades `io` through `/echo` and checks that raw bytes echo back.
pub(super) async fn echo_through<IO>(io: IO) -> TokioIo<hyper::upgrade::Upgraded>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    upgrade_to_echo(&mut handshake(io).await).await
}

/// Upgrades the connection of `sender` through `/echo` and checks that raw
/// bytes echo back.
pub(super) async fn upgrade_to_echo(sender: &mut Sender) -> TokioIo<hyper::upgrade::Upgraded> {
    let req = request("/echo")
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, "echo")
        .body(Empty::new())
        .expect("req");
    let res = sender.send_request(req).await.expect("response");
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    let mut io = TokioIo::new(hyper::upgrade::on(res).await.expect("client upgrade"));
    assert_echo(&mut io, b"ping \x00\xff raw bytes").await;
    io
}

pub(super) async fn assert_echo(io: &mut TokioIo<hyper::upgrade::Upgraded>, data: &[u8]) {
    io.write_all(data).await.expect("write");
    let mut back = vec![0; data.len()];
    timeout(SECOND, io.read_exact(&mut back))
        .await
        .expect("echo in time")
        .expect("read");
    assert_eq!(back, data);
}

/// Reads until EOF or error; panics if the peer keeps the connection open.
pub(super) async fn assert_closed_by_server(mut tcp: TcpStream, within: Duration) {
    let mut sink = Vec::new();
    let read = timeout(within, tcp.read_to_end(&mut sink)).await;
    assert!(read.is_ok(), "server kept the connection open");
}

pub(super) async fn serve(builder: ServerBuilder, app: &App) -> super::super::ServerHandle {
    builder.serve(app.clone()).await.expect("serve")
}
