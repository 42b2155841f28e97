//! Connection state recovery in memory: the packets of the last
//! `max_disconnection_duration`, and the sessions of recently disconnected
//! sockets.
//!
//! Both stores are bounded: by age (entries older than the duration are
//! dropped whenever the store is touched) and by count (`max_packets`,
//! `max_sessions`), so a flood cannot grow them without limit.

use crate::{BroadcastOptions, BroadcastPacket, Room};
use parking_lot::Mutex;
use sockeye_proto::Str;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Options of connection state recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryConfig {
    /// How long a disconnected session can be recovered (default 120 s).
    pub max_disconnection_duration: Duration,
    /// Skip the connect middlewares for a recovered socket (default true).
    pub skip_middlewares: bool,
    /// Most packets kept per namespace (default 10,000).
    pub max_packets: usize,
    /// Most disconnected sessions kept per namespace (default 100,000).
    pub max_sessions: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_packets: 10_000,
            max_sessions: 100_000,
        }
    }
}

impl RecoveryConfig {
    /// Sets how long a disconnected session can be recovered.
    pub fn with_max_disconnection_duration(mut self, d: Duration) -> Self {
        self.max_disconnection_duration = d;
        self
    }

    /// Sets whether recovered sockets skip the connect middlewares.
    pub fn with_skip_middlewares(mut self, skip: bool) -> Self {
        self.skip_middlewares = skip;
        self
    }

    /// Sets the packet and session bounds.
    pub fn with_limits(mut self, max_packets: usize, max_sessions: usize) -> Self {
        self.max_packets = max_packets.max(1);
        self.max_sessions = max_sessions.max(1);
        self
    }
}

/// The state of a disconnected socket, kept for recovery.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PersistedSession {
    /// The socket id.
    pub sid: String,
    /// The private session id given to the client.
    pub pid: String,
    /// The socket's rooms.
    pub rooms: Vec<Room>,
    /// The socket's data store, serialized.
    pub data: serde_json::Value,
}

impl PersistedSession {
    /// A session to persist.
    pub fn new(sid: String, pid: String, rooms: Vec<Room>, data: serde_json::Value) -> Self {
        PersistedSession {
            sid,
            pid,
            rooms,
            data,
        }
    }
}

/// A recovered session and the packets it missed, in order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RestoredSession {
    /// The session as persisted.
    pub session: PersistedSession,
    /// The packets sent to its rooms after the offset.
    pub missed: Vec<BroadcastPacket>,
}

impl RestoredSession {
    /// A recovered session (for adapters that keep sessions elsewhere).
    pub fn new(session: PersistedSession, missed: Vec<BroadcastPacket>) -> Self {
        RestoredSession { session, missed }
    }
}

struct Recorded {
    offset: Str,
    at: Instant,
    packet: BroadcastPacket,
    rooms: Vec<Room>,
    except: Vec<Room>,
}

#[derive(Default)]
struct Stores {
    packets: VecDeque<Recorded>,
    sessions: HashMap<String, (Instant, PersistedSession)>,
    /// Session pids in persist order, for expiry.
    order: VecDeque<(Instant, String)>,
    next: u64,
}

pub(crate) struct RecoveryStore {
    config: RecoveryConfig,
    /// Prefix that makes offsets unique across restarts of this node.
    epoch: String,
    stores: Mutex<Stores>,
}

impl RecoveryStore {
    pub fn new(config: RecoveryConfig) -> Self {
        let epoch = sockeye_proto::Sid::generate().as_str()[..8].to_owned();
        RecoveryStore {
            config,
            epoch,
            stores: Mutex::new(Stores::default()),
        }
    }

    fn expire(&self, st: &mut Stores, now: Instant) {
        let max = self.config.max_disconnection_duration;
        while st
            .packets
            .front()
            .is_some_and(|p| now.duration_since(p.at) > max)
        {
            st.packets.pop_front();
        }
        while st
            .order
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > max)
        {
            if let Some((at, pid)) = st.order.pop_front() {
                if st.sessions.get(&pid).is_some_and(|(t, _)| *t == at) {
                    st.sessions.remove(&pid);
                }
            }
        }
    }

    pub fn next_offset(&self) -> Str {
        let mut st = self.stores.lock();
        st.next += 1;
        Str::from(format!("{}-{}", self.epoch, st.next))
    }

    pub fn record(&self, offset: &Str, packet: &BroadcastPacket, opts: &BroadcastOptions) {
        let now = Instant::now();
        let mut st = self.stores.lock();
        self.expire(&mut st, now);
        if st.packets.len() >= self.config.max_packets {
            st.packets.pop_front();
        }
        st.packets.push_back(Recorded {
            offset: offset.clone(),
            at: now,
            packet: packet.clone(),
            rooms: opts.rooms.clone(),
            except: opts.except.clone(),
        });
    }

    pub fn persist(&self, session: PersistedSession) {
        let now = Instant::now();
        let mut st = self.stores.lock();
        self.expire(&mut st, now);
        while st.sessions.len() >= self.config.max_sessions {
            match st.order.pop_front() {
                // An entry of a session restored (and maybe persisted again
                // since) is stale: only the current one may evict it.
                Some((at, pid)) => {
                    if st.sessions.get(&pid).is_some_and(|(t, _)| *t == at) {
                        st.sessions.remove(&pid);
                    }
                }
                None => break,
            }
        }
        st.order.push_back((now, session.pid.clone()));
        st.sessions.insert(session.pid.clone(), (now, session));
    }

    pub fn restore(&self, pid: &str, offset: &str) -> Option<RestoredSession> {
        let now = Instant::now();
        let mut st = self.stores.lock();
        self.expire(&mut st, now);
        let index = st.packets.iter().position(|p| p.offset == offset)?;
        let (_, session) = st.sessions.remove(pid)?;
        let rooms: HashSet<&Room> = session.rooms.iter().collect();
        let missed = st
            .packets
            .iter()
            .skip(index + 1)
            .filter(|p| {
                let included = p.rooms.is_empty() || p.rooms.iter().any(|r| rooms.contains(r));
                let excluded = p.except.iter().any(|r| rooms.contains(r));
                included && !excluded
            })
            .map(|p| p.packet.clone())
            .collect();
        Some(RestoredSession { session, missed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockeye_proto::sio::{PacketKind, Parser};

    fn packet(n: u32) -> BroadcastPacket {
        BroadcastPacket::new(
            Parser::Json
                .encode_with(PacketKind::Event, "/", None, Some(&("ev", n)))
                .unwrap(),
        )
    }

    #[test]
    fn restores_missed_packets_of_its_rooms_once() {
        let store = RecoveryStore::new(RecoveryConfig::default());
        let o1 = store.next_offset();
        store.record(&o1, &packet(1), &BroadcastOptions::all());
        let o2 = store.next_offset();
        let mut to_a = BroadcastOptions::all();
        to_a.rooms = vec!["a".into()];
        store.record(&o2, &packet(2), &to_a);
        let o3 = store.next_offset();
        let mut to_b = BroadcastOptions::all();
        to_b.rooms = vec!["b".into()];
        store.record(&o3, &packet(3), &to_b);
        store.persist(PersistedSession::new(
            "s".into(),
            "p".into(),
            vec!["s".into(), "a".into()],
            serde_json::Value::Null,
        ));
        assert!(store.restore("p", "unknown").is_none());
        let r = store.restore("p", &o1).unwrap();
        assert_eq!(r.missed, vec![packet(2)]);
        assert!(
            store.restore("p", &o1).is_none(),
            "a session is restored once"
        );
    }

    #[test]
    fn bounded_by_count() {
        let store = RecoveryStore::new(RecoveryConfig::default().with_limits(2, 1));
        for n in 0..5 {
            let o = store.next_offset();
            store.record(&o, &packet(n), &BroadcastOptions::all());
        }
        assert_eq!(store.stores.lock().packets.len(), 2);
        store.persist(PersistedSession::new(
            "a".into(),
            "p1".into(),
            vec![],
            serde_json::Value::Null,
        ));
        store.persist(PersistedSession::new(
            "b".into(),
            "p2".into(),
            vec![],
            serde_json::Value::Null,
        ));
        assert_eq!(store.stores.lock().sessions.len(), 1);
    }
}
