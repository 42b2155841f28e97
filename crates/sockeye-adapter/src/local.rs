//! [`LocalAdapter`]: rooms in memory, for one process.

use crate::recovery::RecoveryStore;
use crate::{
    Adapter, AdapterContext, AdapterError, BoxFuture, BroadcastOptions, BroadcastPacket,
    LocalNamespace, PersistedSession, RecoveryConfig, RestoredSession, Room, SocketInfo,
};
use parking_lot::RwLock;
use sockeye_proto::Str;
use sockeye_proto::{BuildSidHasher, Sid, SidMap, SidSet};
use std::collections::HashMap;
use std::collections::hash_map::{DefaultHasher, Entry};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Weak};

const SHARDS: usize = 16;

/// One shard of the room index: room to its sockets.
type RoomShard = RwLock<HashMap<Room, SidSet>>;
/// One shard of the socket index: socket to its rooms.
type SidShard = RwLock<SidMap<Joined>>;

/// The rooms of one socket.
///
/// The room named after the socket's own id (every socket is in it, and
/// most sockets in no other) is not stored as a room: `own` says the socket
/// is in it, and lookups of a room whose name is a socket id find it here.
/// Storing it like the others cost a string, a set and two map entries per
/// socket (about 390 bytes and four allocations).
#[derive(Debug, Default)]
struct Joined {
    own: bool,
    rooms: Vec<Room>,
}

/// Whether `room` is `sid`'s own room.
fn is_own(sid: &Sid, room: &Room) -> bool {
    room.as_str() == sid.as_str()
}

/// The in-memory adapter.
///
/// Two indexes, each sharded so that joins, leaves and broadcasts on
/// different rooms rarely meet on one lock and no broadcast takes a lock on
/// the whole namespace: `rooms` (room to its sockets) and `sids` (socket to
/// its rooms).
///
/// Lock order: a `sids` shard, then `rooms` shards, one at a time. Readers
/// that call back into the namespace hold one read lock at a time.
pub struct LocalAdapter {
    local: Weak<dyn LocalNamespace>,
    recovery: Option<RecoveryStore>,
    rooms: Box<[RoomShard]>,
    sids: Box<[SidShard]>,
}

impl std::fmt::Debug for LocalAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAdapter").finish_non_exhaustive()
    }
}

fn shard_of<T: Hash>(key: &T) -> usize {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() as usize) % SHARDS
}

impl LocalAdapter {
    /// An adapter for the namespace in `ctx`.
    pub fn new(ctx: AdapterContext) -> Self {
        LocalAdapter {
            local: ctx.local,
            recovery: None,
            rooms: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            sids: (0..SHARDS)
                .map(|_| RwLock::new(SidMap::default()))
                .collect(),
        }
    }

    /// An adapter that also keeps what connection state recovery needs
    /// (the reference's `SessionAwareAdapter`).
    pub fn with_recovery(ctx: AdapterContext, config: RecoveryConfig) -> Self {
        LocalAdapter {
            recovery: Some(RecoveryStore::new(config)),
            ..Self::new(ctx)
        }
    }

    /// The factory for [`crate::AdapterFactory`].
    pub fn factory() -> crate::AdapterFactory {
        Arc::new(|ctx| Arc::new(LocalAdapter::new(ctx)) as Arc<dyn Adapter>)
    }

    /// The factory of adapters with connection state recovery.
    pub fn factory_with_recovery(config: RecoveryConfig) -> crate::AdapterFactory {
        Arc::new(move |ctx| Arc::new(LocalAdapter::with_recovery(ctx, config)) as Arc<dyn Adapter>)
    }

    fn rooms_shard(&self, room: &Room) -> &RoomShard {
        &self.rooms[shard_of(room)]
    }

    fn sids_shard(&self, sid: &Sid) -> &SidShard {
        let h = BuildSidHasher::default().hash_one(sid);
        &self.sids[(h >> 32) as usize % SHARDS]
    }

    /// The socket whose own room `room` is, if `room` is a socket id of
    /// this adapter. Takes (and releases) a `sids` shard: never call it
    /// with a `rooms` shard held (lock order).
    fn own_member(&self, room: &Room) -> Option<Sid> {
        let sid: Sid = room.as_str().parse().ok()?;
        let sids = self.sids_shard(&sid).read();
        sids.get(&sid).filter(|j| j.own).map(|_| sid)
    }

    /// The members of `room`: its stored set, and the socket it is named
    /// after.
    fn members_of(&self, room: &Room, f: &mut dyn FnMut(Sid)) {
        let own = self.own_member(room);
        if let Some(members) = self.rooms_shard(room).read().get(room) {
            for sid in members {
                f(*sid);
            }
        }
        if let Some(sid) = own {
            f(sid);
        }
    }

    fn remove_from_room(&self, sid: Sid, room: &Room) {
        let mut shard = self.rooms_shard(room).write();
        if let Entry::Occupied(mut e) = shard.entry(room.clone()) {
            e.get_mut().remove(&sid);
            if e.get().is_empty() {
                e.remove();
            }
        }
    }

    /// About how many sockets `opts` selects (an upper bound, to size the
    /// list of recipients once).
    fn selected_hint(&self, opts: &BroadcastOptions) -> usize {
        if opts.rooms.is_empty() {
            self.sids.iter().map(|s| s.read().len()).sum()
        } else {
            opts.rooms
                .iter()
                .map(|r| self.rooms_shard(r).read().get(r).map_or(0, |m| m.len()) + 1)
                .sum()
        }
    }

    fn excluded(&self, opts: &BroadcastOptions) -> SidSet {
        let mut out = SidSet::default();
        for room in &opts.except {
            self.members_of(room, &mut |sid| {
                out.insert(sid);
            });
        }
        out
    }
}

impl Adapter for LocalAdapter {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        let mut sids = self.sids_shard(&sid).write();
        let joined = sids.entry(sid).or_default();
        for room in rooms {
            if is_own(&sid, room) {
                joined.own = true;
                continue;
            }
            if joined.rooms.contains(room) {
                continue;
            }
            joined.rooms.push(room.clone());
            self.rooms_shard(room)
                .write()
                .entry(room.clone())
                .or_default()
                .insert(sid);
        }
    }

    fn del(&self, sid: Sid, room: &Room) {
        {
            let mut sids = self.sids_shard(&sid).write();
            if let Some(joined) = sids.get_mut(&sid) {
                if is_own(&sid, room) {
                    joined.own = false;
                    return;
                }
                joined.rooms.retain(|r| r != room);
            }
        }
        self.remove_from_room(sid, room);
    }

    fn del_all(&self, sid: Sid) {
        let joined = self
            .sids_shard(&sid)
            .write()
            .remove(&sid)
            .unwrap_or_default();
        for room in &joined.rooms {
            self.remove_from_room(sid, room);
        }
    }

    fn for_each_local(&self, opts: &BroadcastOptions, f: &mut dyn FnMut(Sid)) {
        let except = self.excluded(opts);
        if opts.rooms.is_empty() {
            for shard in self.sids.iter() {
                for sid in shard.read().keys() {
                    if !except.contains(sid) {
                        f(*sid);
                    }
                }
            }
        } else if opts.rooms.len() == 1 {
            self.members_of(&opts.rooms[0], &mut |sid| {
                if !except.contains(&sid) {
                    f(sid);
                }
            });
        } else {
            let mut seen = SidSet::default();
            for room in &opts.rooms {
                self.members_of(room, &mut |sid| {
                    if !except.contains(&sid) && seen.insert(sid) {
                        f(sid);
                    }
                });
            }
        }
    }

    fn broadcast(&self, packet: &BroadcastPacket, opts: &BroadcastOptions) {
        let Some(local) = self.local.upgrade() else {
            return;
        };
        if opts.rooms.is_empty() && opts.except.is_empty() {
            // Everyone: the namespace walks its own sockets.
            local.deliver_everyone(packet, &opts.flags);
            return;
        }
        // Collected first: delivering can close a socket (full queue),
        // whose cleanup takes this adapter's write locks.
        let mut sids = Vec::with_capacity(self.selected_hint(opts));
        self.for_each_local(opts, &mut |sid| sids.push(sid));
        local.deliver_all(&sids, packet, &opts.flags);
    }

    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        let sids = self.sids_shard(&sid).read();
        let Some(joined) = sids.get(&sid) else {
            return Vec::new();
        };
        let own = joined.own.then(|| Str::from(sid.as_str().to_owned()));
        own.into_iter()
            .chain(joined.rooms.iter().cloned())
            .collect()
    }

    fn rooms(&self) -> Vec<Room> {
        let mut out: Vec<Room> = self
            .rooms
            .iter()
            .flat_map(|s| s.read().keys().cloned().collect::<Vec<_>>())
            .collect();
        // A socket's own room is also an explicit key when another socket
        // joined a room of that name: listed once.
        let explicit: std::collections::HashSet<Room> = out.iter().cloned().collect();
        for shard in self.sids.iter() {
            for (sid, joined) in shard.read().iter() {
                let own = Str::from(sid.as_str().to_owned());
                if joined.own && !explicit.contains(&own) {
                    out.push(own);
                }
            }
        }
        out
    }

    fn room_exists(&self, room: &Room) -> bool {
        self.own_member(room).is_some() || self.rooms_shard(room).read().contains_key(room)
    }

    fn fetch_sockets(
        &self,
        opts: &BroadcastOptions,
    ) -> BoxFuture<Result<Vec<SocketInfo>, AdapterError>> {
        let mut out = Vec::new();
        if let Some(local) = self.local.upgrade() {
            let mut sids = Vec::new();
            self.for_each_local(opts, &mut |sid| sids.push(sid));
            out.extend(sids.into_iter().filter_map(|sid| local.socket_info(sid)));
        }
        Box::pin(async move { Ok(out) })
    }

    fn next_offset(&self) -> Option<Str> {
        self.recovery.as_ref().map(RecoveryStore::next_offset)
    }

    fn record_packet(&self, offset: &Str, packet: &BroadcastPacket, opts: &BroadcastOptions) {
        if let Some(r) = &self.recovery {
            r.record(offset, packet, opts);
        }
    }

    fn persist_session(&self, session: PersistedSession) {
        if let Some(r) = &self.recovery {
            r.persist(session);
        }
    }

    fn restore_session(&self, pid: &str, offset: &str) -> BoxFuture<Option<RestoredSession>> {
        let restored = self.recovery.as_ref().and_then(|r| r.restore(pid, offset));
        Box::pin(async move { restored })
    }

    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        let Some(local) = self.local.upgrade() else {
            return;
        };
        let mut sids = Vec::new();
        self.for_each_local(opts, &mut |sid| sids.push(sid));
        for sid in sids {
            local.disconnect(sid, close);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BroadcastFlags;
    use parking_lot::Mutex;
    use sockeye_proto::Str;

    #[derive(Default)]
    struct Recorder {
        got: Mutex<Vec<Sid>>,
        gone: Mutex<Vec<(Sid, bool)>>,
        members: Mutex<Vec<Sid>>,
    }

    impl LocalNamespace for Recorder {
        fn deliver(&self, sid: Sid, _packet: &BroadcastPacket, _flags: &BroadcastFlags) {
            self.got.lock().push(sid);
        }
        fn disconnect(&self, sid: Sid, close: bool) {
            self.gone.lock().push((sid, close));
        }
        fn local_ids(&self) -> Vec<Sid> {
            self.members.lock().clone()
        }
        fn socket_info(&self, sid: Sid) -> Option<SocketInfo> {
            Some(SocketInfo {
                id: sid.to_string(),
                handshake: serde_json::Value::Null,
                rooms: Vec::new(),
                data: serde_json::Value::Null,
            })
        }
    }

    fn setup() -> (Arc<Recorder>, LocalAdapter, Vec<Sid>) {
        let rec = Arc::new(Recorder::default());
        let weak: Weak<dyn LocalNamespace> =
            Arc::downgrade(&(rec.clone() as Arc<dyn LocalNamespace>));
        let adapter = LocalAdapter::new(AdapterContext::new(Str::from_static("/"), weak));
        let sids: Vec<Sid> = (0..4).map(|_| Sid::generate()).collect();
        for sid in &sids {
            adapter.add_all(*sid, &[Str::from(sid.to_string())]);
        }
        *rec.members.lock() = sids.clone();
        (rec, adapter, sids)
    }

    fn opts(rooms: &[&'static str], except: &[Room]) -> BroadcastOptions {
        BroadcastOptions {
            rooms: rooms.iter().map(|r| Str::from_static(r)).collect(),
            except: except.to_vec(),
            flags: BroadcastFlags::default(),
        }
    }

    fn packet() -> BroadcastPacket {
        BroadcastPacket::new(
            sockeye_proto::sio::Parser::Json
                .encode_with(
                    sockeye_proto::sio::PacketKind::Event,
                    "/",
                    None,
                    Some(&("x",)),
                )
                .unwrap(),
        )
    }

    #[test]
    fn union_except_and_once() {
        let (rec, a, s) = setup();
        a.add_all(s[0], &["a".into(), "b".into()]);
        a.add_all(s[1], &["b".into()]);
        a.add_all(s[2], &["c".into()]);
        a.broadcast(&packet(), &opts(&["a", "b"], &[]));
        let mut got = rec.got.lock().clone();
        got.sort();
        let mut want = vec![s[0], s[1]];
        want.sort();
        assert_eq!(got, want, "each socket once");
        rec.got.lock().clear();
        a.broadcast(&packet(), &opts(&[], &[Str::from_static("b")]));
        let got = rec.got.lock().clone();
        assert_eq!(got.len(), 2);
        assert!(!got.contains(&s[0]) && !got.contains(&s[1]));
        // Everyone: the namespace's own list, through `deliver_everyone`.
        rec.got.lock().clear();
        a.broadcast(&packet(), &opts(&[], &[]));
        assert_eq!(*rec.got.lock(), s);
    }

    #[test]
    fn own_rooms_are_implicit_but_behave_like_rooms() {
        let (rec, a, s) = setup();
        let own = |i: usize| Str::from(s[i].to_string());
        // Not stored as rooms...
        assert!(a.rooms.iter().all(|shard| shard.read().is_empty()));
        // ...but found as rooms.
        assert!(a.room_exists(&own(0)));
        assert_eq!(a.socket_rooms(s[0]), vec![own(0)]);
        assert_eq!(a.rooms().len(), 4);
        a.broadcast(
            &packet(),
            &BroadcastOptions {
                rooms: vec![own(2)],
                ..opts(&[], &[])
            },
        );
        assert_eq!(*rec.got.lock(), vec![s[2]]);
        // Another socket joined into a room named after s[1]: both are in it.
        a.add_all(s[3], &[own(1)]);
        rec.got.lock().clear();
        a.broadcast(
            &packet(),
            &BroadcastOptions {
                rooms: vec![own(1)],
                ..opts(&[], &[])
            },
        );
        let mut got = rec.got.lock().clone();
        got.sort();
        let mut want = vec![s[1], s[3]];
        want.sort();
        assert_eq!(got, want);
        assert_eq!(a.rooms().len(), 4, "that room is listed once");
        // Everyone except s[0]'s own room.
        rec.got.lock().clear();
        a.broadcast(&packet(), &opts(&["x"], &[]));
        assert!(rec.got.lock().is_empty());
        let mut seen = Vec::new();
        a.for_each_local(&opts(&[], &[own(0)]), &mut |sid| seen.push(sid));
        assert_eq!(seen.len(), 3);
        assert!(!seen.contains(&s[0]));
        // Leaving one's own room, and leaving for good.
        a.del(s[0], &own(0));
        assert!(!a.room_exists(&own(0)));
        a.del_all(s[3]);
        assert_eq!(a.socket_rooms(s[3]), Vec::<Room>::new());
        assert!(a.room_exists(&own(1)), "s[1] is still in its own room");
        // A room named like an id nobody has.
        assert!(!a.room_exists(&Str::from(Sid::generate().to_string())));
    }

    #[test]
    fn empty_rooms_are_deleted() {
        let (_rec, a, s) = setup();
        a.add_all(s[0], &["r".into()]);
        assert!(a.room_exists(&"r".into()));
        a.del(s[0], &"r".into());
        assert!(!a.room_exists(&"r".into()));
        a.add_all(s[1], &["q".into()]);
        a.del_all(s[1]);
        assert!(!a.room_exists(&"q".into()));
        assert!(a.socket_rooms(s[1]).is_empty());
        assert_eq!(a.count(&BroadcastOptions::all()), 3);
    }

    #[test]
    fn socket_operations() {
        let (rec, a, s) = setup();
        a.add_sockets(&opts(&[], &[]), &["all".into()]);
        assert_eq!(a.count(&opts(&["all"], &[])), 4);
        a.del_sockets(
            &opts(&["all"], &[Str::from(s[0].to_string())]),
            &["all".into()],
        );
        assert_eq!(a.socket_rooms(s[0]).len(), 2);
        assert_eq!(a.count(&opts(&["all"], &[])), 1);
        a.disconnect_sockets(&opts(&["all"], &[]), true);
        assert_eq!(rec.gone.lock().as_slice(), &[(s[0], true)]);
    }
}
