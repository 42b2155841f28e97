//! The engine's cluster bus on a private Redis: three engines serve one
//! polling session, its requests alternating between them.

mod support;

use sockeye_engine::serve::{Server, ServerHandle};
use sockeye_engine::{
    CloseReason, ClusterConfig, Engine, EngineConfig, EngineHandler, EngineService, Message,
    Session,
};
use sockeye_redis::{RedisBus, RedisBusConfig};
use std::net::SocketAddr;
use std::time::Duration;
use support::Redis;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Echoes every message.
struct Echo;

impl EngineHandler for Echo {
    fn on_open(&self, _: &Session) {}
    fn on_message(&self, session: &Session, message: Message) {
        let _ = session.send_many([message]);
    }
    fn on_close(&self, _: &Session, _: CloseReason) {}
}

async fn node(url: &str) -> (Engine, ServerHandle, SocketAddr) {
    let bus = RedisBus::connect(
        url,
        RedisBusConfig::default()
            .lease(Duration::from_millis(600))
            .refresh(Duration::from_millis(100)),
    )
    .await
    .expect("bus");
    let cluster = ClusterConfig::new(bus).with_heartbeat(Duration::from_millis(100));
    let engine = Engine::new(EngineConfig::default().with_cluster(Some(cluster)), Echo).unwrap();
    let handle = Server::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .serve(EngineService::new(engine.clone()))
        .await
        .expect("serves");
    let addr = handle.local_addrs()[0].addr;
    (engine, handle, addr)
}

/// One HTTP/1.1 request on its own connection: status and body.
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let run = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head[9..12].parse().unwrap();
        (status, body.to_owned())
    };
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("an answer")
}

#[tokio::test]
async fn a_session_is_served_by_every_node_in_order() {
    let redis = Redis::start();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(node(&redis.url).await);
    }
    let (status, open) = http(nodes[0].2, "GET", "/engine.io/?EIO=4&transport=polling", "").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    let sid = json["sid"].as_str().unwrap().to_owned();
    let tag = nodes[0].0.node_tag().unwrap().to_string();
    assert!(sid.starts_with(&tag));
    let path = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
    // Every request on another node than the last one.
    for i in 0..9 {
        let body = format!("4m{i}");
        let (status, text) = http(nodes[i % 3].2, "POST", &path, &body).await;
        assert_eq!((status, text.as_str()), (200, "ok"));
        let (status, text) = http(nodes[(i + 1) % 3].2, "GET", &path, "").await;
        assert_eq!((status, text), (200, body));
    }
    let forwarded: u64 = nodes
        .iter()
        .map(|n| {
            n.0.stats().cluster().forwarded_in_get() + n.0.stats().cluster().forwarded_in_post()
        })
        .sum();
    // 6 of the 9 POSTs and 6 of the 9 GETs were not on the owner.
    assert_eq!(forwarded, 12);
    // A sid of a live node that does not know it, and of no node.
    let other = sockeye_engine::proto::Sid::generate_with_tag(nodes[1].0.node_tag().unwrap());
    let (status, text) = http(
        nodes[0].2,
        "GET",
        &format!("/engine.io/?EIO=4&transport=polling&sid={other}"),
        "",
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("\"code\":1"), "{text}");
    // The owner leaves: its sessions are refused at once by the others.
    let (owner, _h, _) = nodes.remove(0);
    owner.close(Duration::from_millis(200)).await;
    let start = std::time::Instant::now();
    let (status, text) = http(nodes[0].2, "POST", &path, "4late").await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("\"code\":1"), "{text}");
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn the_bus_shares_the_adapter_connections_and_holds_a_lease() {
    use sockeye_engine::ClusterBus;
    let redis = Redis::start();
    let factory = sockeye_redis::RedisAdapterFactory::connect(
        &redis.url,
        sockeye_redis::RedisAdapterConfig::default(),
    )
    .await
    .unwrap();
    let config = RedisBusConfig::default()
        .lease(Duration::from_millis(300))
        .refresh(Duration::from_millis(50));
    let one = factory.engine_bus(config.clone()).await.unwrap();
    let two = RedisBus::connect(&redis.url, config).await.unwrap();
    assert_ne!(one.tag(), two.tag());
    let ghost = sockeye_engine::NodeTag([1, 2, 3]);
    assert_eq!(
        two.check(vec![one.tag(), ghost, two.tag()]).await.unwrap(),
        vec![true, false, true]
    );
    // The lease outlives several lease periods while refreshed.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(two.check(vec![one.tag()]).await.unwrap(), vec![true]);
    // A frame reaches the other node's inbox.
    let mut inbox = two.take_inbox().unwrap();
    one.publish(two.tag(), bytes::Bytes::from_static(b"frame"))
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), inbox.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.bytes()[..], b"frame");
    // Leaving drops the lease at once.
    one.leave().await;
    assert_eq!(two.check(vec![one.tag()]).await.unwrap(), vec![false]);
}

#[tokio::test]
async fn the_inbox_is_bounded_in_bytes_until_frames_are_applied() {
    use sockeye_engine::ClusterBus;
    let redis = Redis::start();
    let one = RedisBus::connect(&redis.url, RedisBusConfig::default())
        .await
        .unwrap();
    let two = RedisBus::connect(
        &redis.url,
        RedisBusConfig::default().inbox_limits(1000, 10_000),
    )
    .await
    .unwrap();
    let mut inbox = two.take_inbox().unwrap();
    let big = bytes::Bytes::from(vec![b'x'; 4096]);
    for _ in 0..4 {
        one.publish(two.tag(), big.clone()).unwrap();
    }
    one.publish(two.tag(), bytes::Bytes::from_static(b"marker"))
        .unwrap();
    // Two large frames fit in 10,000 bytes (with the per-frame overhead),
    // the next two do not; the marker, published after them (in order),
    // fits again.
    let mut got = Vec::new();
    while got
        .last()
        .map(|f: &sockeye_engine::InboxFrame| f.bytes().len())
        != Some(6)
    {
        let frame = tokio::time::timeout(Duration::from_secs(5), inbox.recv())
            .await
            .expect("the marker")
            .unwrap();
        got.push(frame);
    }
    let sizes: Vec<usize> = got.iter().map(|f| f.bytes().len()).collect();
    assert_eq!(sizes, vec![4096, 4096, 6]);
    assert_eq!(inbox.dropped(), 2);
    let overhead = sockeye_engine::Inbox::FRAME_OVERHEAD;
    assert_eq!(inbox.queued_bytes(), 4096 + 4096 + 6 + 3 * overhead);
    // Applied (dropped): their bytes are free again.
    got.clear();
    assert_eq!(inbox.queued_bytes(), 0);
}

#[tokio::test]
async fn a_node_is_a_member_only_while_its_lease_is_refreshed() {
    use sockeye_engine::ClusterBus;
    let mut redis = Redis::private();
    let bus = RedisBus::connect(
        &redis.url,
        RedisBusConfig::default()
            .lease(Duration::from_millis(400))
            .refresh(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    assert!(bus.is_member());
    redis.stop();
    let lapsed = async {
        while bus.is_member() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), lapsed)
        .await
        .expect("membership to lapse with Redis gone");
    redis.restart();
    let back = async {
        while !bus.is_member() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), back)
        .await
        .expect("membership back with Redis");
    assert_eq!(bus.check(vec![bus.tag()]).await.unwrap(), vec![true]);
}
