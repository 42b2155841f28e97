//! The shard channels (`SSUBSCRIBE`) of a [`Link`]: which ones this node
//! wants, and the one task that tells Redis, in order.

use super::Link;
use redis::Value as RedisValue;
use std::collections::HashSet;
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;

/// The shard channels this node wants, and those changed since the task
/// of the shard channels last looked.
#[derive(Default)]
pub(super) struct ShardChannels {
    pub(super) wanted: HashSet<String>,
    pub(super) changed: HashSet<String>,
}

/// Applies the changes of the shard channels, one at a time and in order
/// (a room left and joined again stays subscribed, one joined and left
/// again does not), reconciling what Redis was told with what is wanted:
/// a failed command is retried every 500 ms while its channel is still
/// wanted (or still unwanted), and after a disconnection every wanted
/// channel is subscribed again.
pub(super) async fn shard_subscriptions(link: Weak<Link>, mut wake: mpsc::Receiver<()>) {
    const RETRY: Duration = Duration::from_millis(500);
    // What Redis was told on the current connection.
    let mut subscribed: HashSet<String> = HashSet::new();
    // Channels whose last command failed.
    let mut failed: HashSet<String> = HashSet::new();
    loop {
        let woken = if failed.is_empty() {
            wake.recv().await.is_some()
        } else {
            tokio::select! {
                w = wake.recv() => w.is_some(),
                () = tokio::time::sleep(RETRY) => true,
            }
        };
        if !woken {
            return;
        }
        let (mut sub, work) = {
            let Some(l) = link.upgrade() else { return };
            let mut sharded = l.sharded.lock();
            if l.resubscribe_sharded.swap(false, Ordering::AcqRel) {
                subscribed.clear();
                failed.extend(sharded.wanted.iter().cloned());
            }
            failed.extend(sharded.changed.drain());
            let work: Vec<(String, bool)> = failed
                .drain()
                .map(|c| {
                    let wanted = sharded.wanted.contains(&c);
                    (c, wanted)
                })
                .collect();
            (l.subscriber.clone(), work)
        };
        for (channel, wanted) in work {
            if wanted == subscribed.contains(&channel) {
                continue;
            }
            let command = if wanted { "SSUBSCRIBE" } else { "SUNSUBSCRIBE" };
            let r: redis::RedisResult<RedisValue> = redis::cmd(command)
                .arg(&channel)
                .query_async(&mut sub)
                .await;
            match r {
                Ok(_) if wanted => {
                    subscribed.insert(channel);
                }
                Ok(_) => {
                    subscribed.remove(&channel);
                }
                Err(_) => {
                    failed.insert(channel);
                }
            }
        }
    }
}
