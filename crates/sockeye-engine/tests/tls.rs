//! HTTPS and WSS: an HTTPS listener with an rcgen certificate, a rustls
//! client trusting it; `session.request().secure` tells the two apart.

mod common;

use bytes::Bytes;
use common::*;
use http::{Method, StatusCode};
use http_body_util::Full;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use sockeye_engine::serve::{Server, TlsConfig};
use sockeye_engine::{EngineConfig, EngineService, TransportKind};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

struct Pki {
    ca: CertificateDer<'static>,
    tls: TlsConfig,
}

/// A CA and a `localhost` certificate it signed.
fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let tls = TlsConfig::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap();
    Pki {
        ca: ca.der().clone(),
        tls,
    }
}

async fn tls_connect(ca: &CertificateDer<'static>, addr: SocketAddr) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    within(
        "the TLS handshake",
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("TLS handshake")
}

/// A server with a plain listener first and an HTTPS one second.
async fn start() -> (TestServer, SocketAddr, CertificateDer<'static>) {
    let pki = pki();
    let builder = Server::builder().listen(LOCAL).listen_tls(LOCAL, pki.tls);
    let server =
        TestServer::start_full(builder, EngineConfig::default(), true, EngineService::new).await;
    let addrs = server.handle.local_addrs();
    assert!(!addrs[0].tls && addrs[1].tls);
    let tls_addr = addrs[1].addr;
    (server, tls_addr, pki.ca)
}

async fn https(
    ca: &CertificateDer<'static>,
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: &str,
) -> Resp {
    let io = tls_connect(ca, addr).await;
    send_on(
        io,
        req(method, path)
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn polling_over_https() {
    let (mut server, tls_addr, ca) = start().await;
    let res = https(
        &ca,
        tls_addr,
        Method::GET,
        "/engine.io/?EIO=4&transport=polling",
        "",
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let (json, _) = parse_open(res.text());
    let sid = json["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        res.text(),
        open_packet(&sid, &["websocket"], 25000, 20000, 1_000_000)
    );
    assert_eq!(
        server.events.open_event(&sid).await,
        Event::Open {
            sid: sid.clone(),
            transport: TransportKind::Polling,
            secure: true
        }
    );
    assert!(server.session(&sid).request().secure);

    let url = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
    https(&ca, tls_addr, Method::POST, &url, "4over tls")
        .await
        .assert_ok();
    let res = https(&ca, tls_addr, Method::GET, &url, "").await;
    assert_eq!(res.text(), "4over tls");

    // The same session is reachable over the plain listener too; the flag
    // is the handshake's.
    post(server.addr, &url, "4plain").await.assert_ok();
    assert_eq!(get(server.addr, &url).await.text(), "4plain");
    assert!(server.session(&sid).request().secure);

    // A plain handshake is not secure.
    let plain = Polling::open(server.addr).await;
    assert!(matches!(
        server.events.open_event(&plain.sid).await,
        Event::Open { secure: false, .. }
    ));
}

#[tokio::test]
async fn wss_session() {
    let (mut server, tls_addr, ca) = start().await;
    let io = tls_connect(&ca, tls_addr).await;
    let (mut ws, res) = within(
        "wss handshake",
        tokio_tungstenite::client_async("wss://localhost/engine.io/?EIO=4&transport=websocket", io),
    )
    .await
    .expect("wss accepted");
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    let open = recv_text(&mut ws).await;
    let (json, _) = parse_open(&open);
    let sid = json["sid"].as_str().unwrap().to_owned();
    assert_eq!(open, open_packet(&sid, &[], 25000, 20000, 1_000_000));
    assert_eq!(
        server.events.open_event(&sid).await,
        Event::Open {
            sid: sid.clone(),
            transport: TransportKind::WebSocket,
            secure: true
        }
    );
    assert_ws_echo(&mut ws, "secret").await;
    send_binary(&mut ws, &[0, 255]).await;
    assert_eq!(
        recv(&mut ws).await,
        tokio_tungstenite::tungstenite::Message::binary(vec![0, 255])
    );
    server.events.assert_open(&sid);
}

#[tokio::test]
async fn upgrade_over_tls() {
    let (mut server, tls_addr, ca) = start().await;
    let res = https(
        &ca,
        tls_addr,
        Method::GET,
        "/engine.io/?EIO=4&transport=polling",
        "",
    )
    .await;
    let sid = parse_open(res.text()).0["sid"].as_str().unwrap().to_owned();
    let io = tls_connect(&ca, tls_addr).await;
    let url = format!("wss://localhost/engine.io/?EIO=4&transport=websocket&sid={sid}");
    let (mut ws, _) = within("wss upgrade", tokio_tungstenite::client_async(url, io))
        .await
        .unwrap();
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    send_text(&mut ws, "5").await;
    assert_ws_echo(&mut ws, "upgraded").await;
    assert_eq!(server.session(&sid).transport(), TransportKind::WebSocket);
    server.events.assert_open(&sid);
}
