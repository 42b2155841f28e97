//! Requests that must mean one thing and never echo their input: an upgrade
//! that asks for polling, garbage in the `sid`.

mod common;

use bytes::Bytes;
use common::*;
use http::Method;
use http_body_util::Full;
use sockeye_engine::EngineConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

/// An upgrade request (WebSocket headers) whose query says polling is
/// refused with the WebSocket refusal (400, text), not answered as a poll
/// or a polling handshake: no session is opened, a live one is untouched.
#[tokio::test]
async fn upgrade_request_asking_for_polling_is_refused() {
    let mut server = TestServer::start(EngineConfig::default()).await;
    let res = send(
        server.addr,
        ws_req("/engine.io/?EIO=4&transport=polling")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status.as_u16(), 400, "{res:?}");
    assert_eq!(res.text(), "Bad request");
    assert_eq!(server.engine.session_count(), 0);

    let client = Polling::open(server.addr).await;
    client.send("4queued").await;
    let res = send(server.addr, ws_req(&client.url("")).body(empty()).unwrap()).await;
    assert_eq!(res.status.as_u16(), 400, "{res:?}");
    assert_eq!(res.text(), "Bad request");
    // The queued echo was not taken by that request.
    assert_eq!(client.poll().await, "4queued");
    server.events.assert_open(&client.sid);
}

/// Percent-encoded garbage in the sid (NUL, CR LF, invalid UTF-8, markup)
/// reaches the engine and gets the reference's JSON refusal, on GET and POST
/// alike; nothing of it is reflected.
#[tokio::test]
async fn garbage_sid_gets_the_json_refusal_without_reflecting_it() {
    let server = TestServer::start(EngineConfig::default()).await;
    let garbage = [
        "%00",
        "a%00b",
        "%ff%fe",
        "%0d%0aSet-Cookie:%20x=1",
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "'%22);alert(1)//",
        "..%2F..%2Fetc%2Fpasswd",
    ];
    for sid in garbage {
        let path = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
        for method in [Method::GET, Method::POST] {
            let res = send(
                server.addr,
                req(method.clone(), &path)
                    .body(Full::new(Bytes::from_static(b"4x")))
                    .unwrap(),
            )
            .await;
            res.assert_error(400, 1, "Session ID unknown");
            assert!(res.headers.get("set-cookie").is_none(), "{sid}: {res:?}");
        }
        // An upgrade request gets the same refusal in the WebSocket shape.
        let path = format!("/engine.io/?EIO=4&transport=websocket&sid={sid}");
        let res = send(server.addr, ws_req(&path).body(empty()).unwrap()).await;
        assert_eq!(res.status.as_u16(), 400, "{sid}: {res:?}");
        assert_eq!(res.text(), "Session ID unknown", "{sid}");
    }
    assert_eq!(server.engine.session_count(), 0);
}

/// Raw bytes that are not legal in a request target (NUL, markup, bytes
/// over 0x7f) never reach the engine: hyper's parser answers 400 with an
/// empty body and closes the connection. Nothing is reflected, and the
/// server goes on serving others.
#[tokio::test]
async fn illegal_request_target_bytes_get_a_bare_400_and_nothing_reflected() {
    let server = TestServer::start(EngineConfig::default()).await;
    let targets: [&[u8]; 3] = [
        b"/engine.io/?EIO=4&transport=polling&sid=a\0b",
        b"/engine.io/?EIO=4&transport=polling&sid=<script>x</script>",
        b"/engine.io/?EIO=4&transport=polling&sid=\xff\xfe",
    ];
    for target in targets {
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(target);
        request.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
        tcp.write_all(&request).await.expect("write");
        let mut answer = Vec::new();
        within("the 400", tcp.read_to_end(&mut answer))
            .await
            .expect("read");
        let answer = String::from_utf8_lossy(&answer).to_lowercase();
        assert!(answer.starts_with("http/1.1 400 "), "{answer}");
        assert!(answer.contains("content-length: 0"), "{answer}");
        assert!(
            !answer.contains("script") && !answer.contains("sid"),
            "{answer}"
        );
    }
    let client = Polling::open(server.addr).await;
    client.send("4fine").await;
    assert_eq!(client.poll().await, "4fine");
}
