//! The exporter against a real server on port 0 and a WebSocket client that
//! speaks the wire protocol: the counters move as the session does.

use futures_util::{SinkExt, StreamExt};
use sockeye::serve::Server;
use sockeye::{Socket, SocketIo};
use sockeye_metrics::Exporter;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(5);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_text(ws: &mut Ws) -> String {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .expect("a valid frame");
        if let Message::Text(t) = msg {
            return t.to_string();
        }
    }
}

/// The value of one sample line (`name{labels} value`).
fn sample(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {line_start} in\n{text}"))
}

#[tokio::test]
async fn counters_follow_a_websocket_session() {
    let io = SocketIo::builder().metrics(true).build().expect("server");
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    io.on_connection(move |socket: Socket| {
        let done_tx = done_tx.clone();
        async move {
            let gone = done_tx.clone();
            socket.on_disconnect(move |_, _| async move {
                let _ = gone.send(());
            });
            socket.on("hello", move |s: Socket| {
                let done_tx = done_tx.clone();
                async move {
                    let _ = s.emit("welcome", &1);
                    let _ = done_tx.send(());
                }
            });
        }
    });
    let exporter = Exporter::new(&io);
    let handle = Server::builder()
        .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .serve(io.service())
        .await
        .expect("the server starts");
    let addr = handle.local_addrs()[0].addr;

    let before = exporter.render().expect("render");
    assert!(before.ends_with("# EOF\n"), "{before}");
    assert_eq!(sample(&before, "sockeye_connects_total "), 0.0);

    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
    assert!(next_text(&mut ws).await.starts_with('0'));
    ws.send(Message::text("40")).await.expect("send");
    assert!(next_text(&mut ws).await.starts_with("40"));
    ws.send(Message::text("42[\"hello\"]")).await.expect("send");
    assert_eq!(next_text(&mut ws).await, "42[\"welcome\",1]");
    tokio::time::timeout(WAIT, done_rx.recv())
        .await
        .expect("handler ran");

    let during = exporter.render().expect("render");
    let ws4 = "{transport=\"websocket\",protocol=\"4\"}";
    assert_eq!(
        sample(&during, &format!("sockeye_engine_handshakes_total{ws4} ")),
        1.0
    );
    assert_eq!(
        sample(&during, &format!("sockeye_engine_sessions{ws4} ")),
        1.0
    );
    assert_eq!(sample(&during, "sockeye_connects_total "), 1.0);
    assert_eq!(sample(&during, "sockeye_sockets{namespace=\"/\"} "), 1.0);
    // `40` and `42["hello"]` in; open, `40{...}` and the event out.
    assert_eq!(
        sample(&during, "sockeye_engine_packets_received_total "),
        2.0
    );
    assert_eq!(sample(&during, "sockeye_engine_packets_sent_total "), 3.0);
    assert!(sample(&during, "sockeye_engine_sent_bytes_total ") > 20.0);

    ws.close(None).await.expect("close");
    // The socket's disconnect handler runs once the session and the socket
    // are gone.
    tokio::time::timeout(WAIT, done_rx.recv())
        .await
        .expect("disconnect ran");
    let after = exporter.render().expect("render");
    assert_eq!(sample(&after, "sockeye_sockets{namespace=\"/\"} "), 0.0);
    assert_eq!(
        sample(&after, &format!("sockeye_engine_sessions{ws4} ")),
        0.0
    );
    assert_eq!(
        sample(
            &after,
            "sockeye_engine_closes_total{reason=\"transport close\"} "
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "sockeye_disconnects_total{reason=\"transport close\"} "
        ),
        1.0
    );
    handle.shutdown();
}

#[tokio::test]
async fn off_by_default_exports_gauges_and_bounds_only() {
    let io = SocketIo::builder().build().expect("server");
    assert!(io.metrics().is_none() && io.engine().metrics().is_none());
    let text = Exporter::new(&io).render().expect("render");
    assert!(
        text.contains("sockeye_limits_tripped_total{limit=\"parse_error\"} 0"),
        "{text}"
    );
    assert!(!text.contains("sockeye_engine_handshakes"), "{text}");
}

/// One HTTP/1.1 request on its own connection: (status, body).
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut raw))
        .await
        .expect("an answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    (status, body.unwrap_or_default())
}

#[tokio::test]
async fn cluster_forwarding_is_counted_on_both_nodes() {
    use sockeye::engine::{ClusterConfig, MemoryHub};
    let hub = MemoryHub::new();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let bus = hub.join();
        let io = SocketIo::builder()
            .metrics(true)
            .engine(move |c| c.with_cluster(Some(ClusterConfig::new(bus))))
            .build()
            .expect("server");
        let handle = Server::builder()
            .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
            .serve(io.service())
            .await
            .expect("the server starts");
        nodes.push((Exporter::new(&io), handle, io));
    }
    let (a, b) = (
        nodes[0].1.local_addrs()[0].addr,
        nodes[1].1.local_addrs()[0].addr,
    );
    let (status, open) = http(a, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    assert_eq!(status, 200, "{open}");
    let sid = open
        .split("\"sid\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    // The Socket.IO CONNECT, through the other node.
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(http(b, "POST", &path, "40").await.0, 200);
    let owner = nodes[0].0.render().expect("render");
    let forwarder = nodes[1].0.render().expect("render");
    let post = |d: &str| {
        format!("sockeye_engine_cluster_forwards_total{{direction=\"{d}\",kind=\"post\"}} ")
    };
    assert_eq!(sample(&owner, &post("in")), 1.0);
    assert_eq!(sample(&forwarder, &post("out")), 1.0);
    assert_eq!(
        sample(
            &forwarder,
            "sockeye_engine_cluster_failures_total{cause=\"timeout\"} "
        ),
        0.0
    );
    assert_eq!(
        sample(&owner, "sockeye_engine_cluster_backlog{what=\"forwards\"} "),
        0.0
    );
}
