//! The request channel at the byte level: requests written as the Node
//! adapter writes them (JSON, and msgpack for BROADCAST) get the answers
//! the Node adapter expects, read from the response channel.

#[path = "../../sockeye/tests/common/mod.rs"]
mod common;
mod support;

use common::*;
use sockeye_redis::RedisAdapterConfig;
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// Reads the next message of the response channel.
fn next_response(sub: &mut redis::PubSub<'_>) -> Vec<u8> {
    let msg = sub
        .get_message()
        .expect("a response within the read timeout");
    msg.get_payload_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_type_is_answered_as_the_reference_expects() {
    let redis = Redis::start();
    let srv = serve(node(&redis.url, RedisAdapterConfig::default()).await).await;
    wait_for_servers(&srv.io, 1).await;
    let mut c = WsClient::open(srv.addr).await;
    let id = c.connect("/").await;
    let socket = srv.io.of("/").sockets().pop().unwrap();
    socket.join("r");

    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut sub_con = client.get_connection().unwrap();
    sub_con
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut sub = sub_con.as_pubsub();
    sub.subscribe("socket.io-response#/#").unwrap();
    let mut pub_con = client.get_connection().unwrap();
    let mut publish = |payload: Vec<u8>| {
        redis::cmd("PUBLISH")
            .arg("socket.io-request#/#")
            .arg(payload)
            .exec(&mut pub_con)
            .unwrap();
    };
    let json = |v: Vec<u8>| serde_json::from_slice::<serde_json::Value>(&v).unwrap();

    // ALL_ROOMS (1).
    publish(br#"{"uid":"node","requestId":"q1","type":1}"#.to_vec());
    let r = json(next_response(&mut sub));
    assert_eq!(r["requestId"], "q1");
    let rooms = r["rooms"].as_array().unwrap();
    assert!(rooms.contains(&"r".into()) && rooms.contains(&id.as_str().into()));
    // SOCKETS (0), legacy.
    publish(br#"{"uid":"node","requestId":"q2","type":0,"rooms":["r"]}"#.to_vec());
    assert_eq!(
        json(next_response(&mut sub)),
        serde_json::json!({ "requestId": "q2", "sockets": [id] })
    );
    // REMOTE_JOIN (2), legacy single-socket form: answered.
    publish(
        format!(r#"{{"uid":"node","requestId":"q3","type":2,"sid":"{id}","room":"legacy"}}"#)
            .into_bytes(),
    );
    assert_eq!(
        json(next_response(&mut sub)),
        serde_json::json!({ "requestId": "q3" })
    );
    assert!(socket.rooms().iter().any(|r| r.as_str() == "legacy"));
    // REMOTE_FETCH (5).
    publish(
        br#"{"uid":"node","requestId":"q4","type":5,"opts":{"rooms":["legacy"],"except":[]}}"#
            .to_vec(),
    );
    let r = json(next_response(&mut sub));
    assert_eq!(r["requestId"], "q4");
    assert_eq!(r["sockets"][0]["id"], id.as_str());
    assert!(r["sockets"][0]["handshake"]["headers"].is_object());
    // BROADCAST (7) in msgpack, as notepack writes it: the client gets the
    // event with an ack id of this node; the count comes as JSON, the
    // answer as msgpack.
    let request = rmp_serde::to_vec_named(&serde_json::json!({
        "uid": "node", "requestId": "q5", "type": 7,
        "packet": { "type": 2, "data": ["q", 1], "nsp": "/" },
        "opts": { "rooms": ["r"], "except": [], "flags": { "timeout": 2000 } },
    }))
    .unwrap();
    publish(request);
    let frame = c.recv().await;
    let ack: String = frame[2..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(&frame[2 + ack.len()..], r#"["q",1]"#);
    assert_eq!(
        json(next_response(&mut sub)),
        serde_json::json!({ "type": 8, "requestId": "q5", "clientCount": 1 })
    );
    c.send(&format!(r#"43{ack}["yes"]"#)).await;
    let answer = next_response(&mut sub);
    assert_ne!(answer[0], b'{', "BROADCAST_ACK is msgpack");
    let answer: serde_json::Value = rmp_serde::from_slice(&answer).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({ "type": 9, "requestId": "q5", "packet": "yes" })
    );
    // REMOTE_DISCONNECT (4) with opts: applied, not answered.
    publish(
        br#"{"uid":"node","type":4,"opts":{"rooms":["r"],"except":[]},"close":false}"#.to_vec(),
    );
    assert_eq!(c.recv().await, "41");
}

/// A namespace of this node with no sockets (for adapters built directly
/// from a factory).
struct NoSockets;

impl sockeye_adapter::LocalNamespace for NoSockets {
    fn deliver(
        &self,
        _: sockeye_proto::Sid,
        _: &sockeye_adapter::BroadcastPacket,
        _: &sockeye_adapter::BroadcastFlags,
    ) {
    }
    fn local_ids(&self) -> Vec<sockeye_proto::Sid> {
        Vec::new()
    }
    fn disconnect(&self, _: sockeye_proto::Sid, _: bool) {}
    fn socket_info(&self, _: sockeye_proto::Sid) -> Option<sockeye_adapter::SocketInfo> {
        None
    }
}

/// The adapter of `/` built by `factory`, as a server would build it.
fn adapter_of(factory: &sockeye_adapter::AdapterFactory) -> Arc<dyn sockeye_adapter::Adapter> {
    adapter_of_nsp(factory, "/")
}

/// The adapter of namespace `nsp` built by `factory`.
fn adapter_of_nsp(
    factory: &sockeye_adapter::AdapterFactory,
    nsp: &str,
) -> Arc<dyn sockeye_adapter::Adapter> {
    let local: std::sync::Weak<dyn sockeye_adapter::LocalNamespace> =
        std::sync::Weak::<NoSockets>::new();
    factory(sockeye_adapter::AdapterContext::new(
        nsp.to_owned().into(),
        local,
    ))
}

/// An adapter dropped without `close()` while its Redis factory lives on
/// (the link is shared) stops counting as a server: otherwise every
/// request of the other nodes would wait for its answer until their
/// timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_adapter_stops_counting_as_a_server() {
    let redis = Redis::start();
    let other = node(&redis.url, RedisAdapterConfig::default()).await;
    let factory =
        sockeye_redis::RedisAdapterFactory::connect(&redis.url, RedisAdapterConfig::default())
            .await
            .expect("Redis answers");
    let adapter = adapter_of(&factory.factory());
    wait_for_servers(&other, 2).await;
    drop(adapter);
    wait_for_servers(&other, 1).await;
}

/// The same for the sharded adapter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_sharded_adapter_stops_counting_as_a_server() {
    let redis = Redis::start();
    let config = sockeye_redis::ShardedAdapterConfig::default();
    let other = sharded_node(&redis.url, config.clone()).await;
    let factory = sockeye_redis::ShardedAdapterFactory::connect(&redis.url, config)
        .await
        .expect("Redis answers");
    let adapter = adapter_of(&factory.factory());
    wait_for_servers(&other, 2).await;
    drop(adapter);
    wait_for_servers(&other, 1).await;
}

/// The same for the streams adapter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_streams_adapter_stops_counting_as_a_server() {
    let redis = Redis::start();
    let other = streams_node(&redis.url, false).await;
    let factory = sockeye_redis::StreamsAdapterFactory::connect(
        &redis.url,
        sockeye_redis::StreamsAdapterConfig::default(),
    )
    .await
    .expect("Redis answers");
    let adapter = adapter_of(&factory.factory());
    wait_for_servers(&other, 2).await;
    drop(adapter);
    wait_for_servers(&other, 1).await;
}

/// A namespace built again under the same name before the old one's
/// adapter is closed (the gap of a dynamic namespace removed and created
/// again): closing the old adapter leaves the new one's channels alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_replaced_adapter_leaves_the_new_one_subscribed() {
    let redis = Redis::start();
    let other = node(&redis.url, RedisAdapterConfig::default()).await;
    let factory =
        sockeye_redis::RedisAdapterFactory::connect(&redis.url, RedisAdapterConfig::default())
            .await
            .expect("Redis answers");
    let factory = factory.factory();
    let old = adapter_of(&factory);
    let new = adapter_of(&factory);
    wait_for_servers(&other, 2).await;
    old.close();
    // Subscription changes of one link are sent in order: once a later
    // subscription is seen, the old adapter's unsubscription (if any) was
    // sent before it.
    let _later = adapter_of_nsp(&factory, "/later");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while other.of("/later").adapter().server_count().await.ok() != Some(2) {
        assert!(
            std::time::Instant::now() < deadline,
            "the later namespace never subscribed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(other.of("/").adapter().server_count().await.ok(), Some(2));
    let sockets = other
        .of("/")
        .adapter()
        .fetch_sockets(&sockeye_adapter::BroadcastOptions::default())
        .await;
    assert!(sockets.is_ok(), "the new adapter answers: {sockets:?}");
    drop(new);
}
