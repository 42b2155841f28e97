//! What every socket holds: a test that fails when `SocketInner` grows past
//! the figure documented in `bench/PROFILE.md`, and one that checks that a
//! socket with only event and `disconnect` handlers allocates no box of
//! rarely used lists.

use super::{Extras, SocketInner};
use crate::{Socket, SocketIo};
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt as _, Full};
use tower_service::Service;

#[test]
fn socket_state_stays_within_its_documented_size() {
    let size = std::mem::size_of::<SocketInner>();
    println!("SocketInner: {size} bytes");
    assert!(
        size <= 448,
        "SocketInner grew to {size} bytes (documented: 448)"
    );
    let extras = std::mem::size_of::<Extras>();
    println!("Extras (boxed, allocated with the first rarely used handler): {extras} bytes");
}

/// One polling request to the service; the response body.
async fn request(svc: &mut crate::SocketIoService, method: Method, uri: &str, body: &str) -> Bytes {
    std::future::poll_fn(|cx| Service::<Request<Full<Bytes>>>::poll_ready(svc, cx))
        .await
        .unwrap();
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let res = svc.call(req).await.unwrap();
    res.into_body().collect().await.unwrap().to_bytes()
}

#[tokio::test]
async fn the_rarely_used_lists_are_allocated_with_the_first_of_them() {
    let io = SocketIo::builder().build().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            socket.on("a", |_s: Socket| async {});
            socket.on("b", |_s: Socket| async {});
            socket.on_disconnect(|_s: Socket, _r| async {});
            let _ = tx.send(socket);
        }
    });
    let mut svc = io.service();
    let open = request(
        &mut svc,
        Method::GET,
        "/socket.io/?EIO=4&transport=polling",
        "",
    )
    .await;
    let open = std::str::from_utf8(&open).unwrap();
    let sid = open
        .split("\"sid\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let uri = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    request(&mut svc, Method::POST, &uri, "40").await;
    let socket = rx.recv().await.unwrap();
    assert!(
        socket.0.extras.get().is_none(),
        "event and disconnect handlers allocate no box"
    );
    assert!(!socket.0.has_any_outgoing());
    let id = socket.on_any_outgoing(|_s: &Socket, _e: &str, _a: &[crate::Value]| {});
    assert!(socket.0.extras.get().is_some());
    assert!(socket.0.has_any_outgoing());
    assert!(socket.remove_listener(id));
    assert!(!socket.remove_listener(id), "removed once");
    assert!(!socket.0.has_any_outgoing());
}
