//! A private `redis-server` for each test (on a free port, stopped by
//! PID when dropped: tests run in parallel and count the servers on their
//! channels, so they never share one); and Sockeye nodes on it.

#![allow(dead_code, unreachable_pub, missing_debug_implementations)]

use sockeye::SocketIo;
use sockeye_redis::{RedisAdapterConfig, RedisAdapterFactory};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Redis server for one test.
pub struct Redis {
    pub url: String,
    pub port: u16,
    child: Option<Child>,
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 16];
    s.write_all(b"PING\r\n").is_ok() && s.read(&mut buf).map(|n| n > 0).unwrap_or(false)
}

impl Redis {
    /// A private server.
    pub fn start() -> Redis {
        Self::private()
    }

    /// A private server (restartable on its port).
    pub fn private() -> Redis {
        let port = free_port();
        let mut r = Redis {
            url: format!("redis://127.0.0.1:{port}"),
            port,
            child: None,
        };
        r.restart();
        r
    }

    /// Starts (again) the private server on its port, and waits until it
    /// answers.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !answers(self.port) {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Freezes (`true`) or thaws (`false`) the private server: it keeps
    /// its connections but answers nothing, as behind a blackhole.
    #[allow(dead_code)]
    pub fn freeze(&self, frozen: bool) {
        if let Some(child) = &self.child {
            let signal = if frozen { "-STOP" } else { "-CONT" };
            let _ = Command::new("kill")
                .arg(signal)
                .arg(child.id().to_string())
                .status();
        }
    }

    /// Stops the private server (by its PID).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A Socket.IO server with the classic adapter on `url`.
pub async fn node(url: &str, config: RedisAdapterConfig) -> SocketIo {
    let redis = RedisAdapterFactory::connect(url, config)
        .await
        .expect("Redis answers");
    SocketIo::builder()
        .adapter(redis.factory())
        .build()
        .expect("the server builds")
}

/// Waits until the main namespace of `io` counts `n` servers.
pub async fn wait_for_servers(io: &SocketIo, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if io.of("/").adapter().server_count().await.ok() == Some(n) {
            return;
        }
        assert!(Instant::now() < deadline, "{n} servers never seen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Socket.IO server with the sharded adapter on `url`.
pub async fn sharded_node(url: &str, config: sockeye_redis::ShardedAdapterConfig) -> SocketIo {
    let redis = sockeye_redis::ShardedAdapterFactory::connect(url, config)
        .await
        .expect("Redis answers");
    SocketIo::builder()
        .adapter(redis.factory())
        .build()
        .expect("the server builds")
}

/// Waits until `PUBSUB SHARDNUMSUB channel` is `n` (a dynamic room
/// channel subscribed by its nodes).
pub async fn wait_for_shard_subscribers(url: &str, channel: &str, n: i64) {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply: Vec<redis::Value> = redis::cmd("PUBSUB")
            .arg("SHARDNUMSUB")
            .arg(channel)
            .query_async(&mut con)
            .await
            .expect("PUBSUB SHARDNUMSUB");
        let count = reply
            .get(1)
            .and_then(|v| redis::from_redis_value_ref::<i64>(v).ok())
            .unwrap_or(0);
        if count == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{channel}: {count} subscribers, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A Socket.IO server with the streams adapter on `url` (with connection
/// state recovery on both when `recovery`).
pub async fn streams_node(url: &str, recovery: bool) -> SocketIo {
    let mut config = sockeye_redis::StreamsAdapterConfig::default();
    let mut builder = SocketIo::builder();
    if recovery {
        let r = sockeye::RecoveryConfig::default();
        config = config.recovery(r);
        builder = builder.connection_state_recovery(r);
    }
    let redis = sockeye_redis::StreamsAdapterFactory::connect(url, config)
        .await
        .expect("Redis answers");
    builder
        .adapter(redis.factory())
        .build()
        .expect("the server builds")
}

/// Waits until `key` exists in Redis.
pub async fn wait_for_key(url: &str, key: &str) {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n: i64 = redis::cmd("EXISTS")
            .arg(key)
            .query_async(&mut con)
            .await
            .expect("EXISTS");
        if n == 1 {
            return;
        }
        assert!(Instant::now() < deadline, "{key} never written");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the stream holds `n` entries.
pub async fn wait_for_stream_len(url: &str, stream: &str, n: i64) {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let len: i64 = redis::cmd("XLEN")
            .arg(stream)
            .query_async(&mut con)
            .await
            .expect("XLEN");
        if len == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{stream}: {len} entries, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
