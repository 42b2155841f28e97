//! Mounting in axum: a Router with `.layer(EngineLayer::new(engine))` serves
//! its own routes and the engine, through `axum::serve` or sockeye's serve.

mod common;

use axum::Router;
use axum::routing::get as axum_get;
use common::*;
use http::StatusCode;
use sockeye_engine::serve::Server;
use sockeye_engine::{EngineConfig, EngineLayer, EngineService, Message, TransportKind};
use std::net::SocketAddr;

fn app() -> Router {
    Router::new()
        .route("/hello", axum_get(|| async { "hello from axum" }))
        .route("/engine.io/shadowed", axum_get(|| async { "never" }))
}

/// Checks the app's own routes and a full engine session at `addr`.
async fn exercise(addr: SocketAddr, events: &mut Events) {
    let res = get(addr, "/hello").await;
    assert_eq!(
        (res.status, res.text()),
        (StatusCode::OK, "hello from axum")
    );
    assert_eq!(get(addr, "/missing").await.status, StatusCode::NOT_FOUND);
    // Without the trailing slash the request is the app's (a 404 here).
    assert_eq!(
        get(addr, "/engine.io?EIO=4&transport=polling").await.status,
        StatusCode::NOT_FOUND
    );
    // The engine's path wins over the app's routes under it.
    let res = get(addr, "/engine.io/shadowed?EIO=4&transport=polling").await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.text().starts_with("0{\"sid\":"));
    events.opened().await;

    let client = Polling::open(addr).await;
    client.send("4via axum").await;
    assert_eq!(
        events.message(&client.sid).await,
        Message::Text("via axum".into())
    );
    assert_eq!(client.poll().await, "4via axum");
    get(addr, "/engine.io/?EIO=4&transport=nope")
        .await
        .assert_error(400, 0, "Transport unknown");

    let (mut ws, sid, _) = ws_open(addr).await;
    assert_ws_echo(&mut ws, "ws via axum").await;
    events.assert_open(&sid);

    let (mut up, _) = ws_connect(&client.ws_url()).await;
    send_text(&mut up, "2probe").await;
    assert_eq!(recv_text(&mut up).await, "3probe");
    send_text(&mut up, "5").await;
    assert_ws_echo(&mut up, "upgraded via axum").await;
    events.assert_open(&client.sid);
}

#[tokio::test]
async fn router_layer_through_axum_serve() {
    let (engine, mut events, _recorder) = engine(EngineConfig::default(), true);
    let app = app().layer(EngineLayer::new(engine.clone()));
    let listener = tokio::net::TcpListener::bind(LOCAL).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    exercise(addr, &mut events).await;
    assert_eq!(engine.session_count(), 3);
}

#[tokio::test]
async fn router_layer_through_sockeye_serve() {
    let mut server = TestServer::start_full(
        Server::builder().listen(LOCAL),
        EngineConfig::default(),
        true,
        |engine| app().layer(EngineLayer::new(engine)),
    )
    .await;
    exercise(server.addr, &mut server.events).await;
    // sockeye's serve passes the connection facts along.
    let client = Polling::open(server.addr).await;
    let session = server.session(&client.sid);
    assert_eq!(
        session.request().peer_addr.map(|a| a.ip()),
        Some(LOCAL.ip())
    );
    assert!(!session.request().secure);
    assert_eq!(session.transport(), TransportKind::Polling);
}

#[tokio::test]
async fn engine_service_with_a_router_inside() {
    let mut server = TestServer::start_full(
        Server::builder().listen(LOCAL),
        EngineConfig::default(),
        true,
        |engine| EngineService::with_inner(engine, app()),
    )
    .await;
    exercise(server.addr, &mut server.events).await;
}

#[tokio::test]
async fn custom_path_under_axum() {
    let (engine, mut events, _recorder) = engine(EngineConfig::default().with_path("/rt/"), true);
    let app = app().layer(EngineLayer::new(engine));
    let listener = tokio::net::TcpListener::bind(LOCAL).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    assert_eq!(
        get(addr, "/engine.io/?EIO=4&transport=polling")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let client = Polling::open_at(addr, "/rt/", 4).await;
    client.send("4rt").await;
    assert_eq!(client.poll().await, "4rt");
    events.assert_open(&client.sid);
    assert_eq!(get(addr, "/hello").await.text(), "hello from axum");
}
