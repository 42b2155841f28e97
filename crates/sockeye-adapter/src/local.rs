//! [`LocalAdapter`]: rooms in memory, for one process.

use crate::recovery::RecoveryStore;
use crate::{
    Adapter, AdapterContext, AdapterError, BoxFuture, BroadcastOptions, BroadcastPacket,
    LocalNamespace, PersistedSession, RecoveryConfig, RestoredSession, Room, RoomEvent,
    RoomEventSwitch, SocketInfo,
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

/// Node's in-memory `Adapter` of `socket.io-adapter` (and, with recovery,
/// its `SessionAwareAdapter`): the in-memory adapter.
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
    room_events: RoomEventSwitch,
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
            room_events: ctx.room_events,
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

    /// Takes `sid` out of the stored members of `room`, deleting the room
    /// when it becomes empty; notes the events in `events`.
    fn remove_from_room(&self, sid: Sid, room: &Room, events: Option<&mut Vec<RoomEvent>>) {
        let mut shard = self.rooms_shard(room).write();
        if let Entry::Occupied(mut e) = shard.entry(room.clone()) {
            let removed = e.get_mut().remove(&sid);
            let emptied = e.get().is_empty();
            if emptied {
                e.remove();
            }
            drop(shard);
            if let Some(events) = events {
                if removed {
                    events.push(RoomEvent::Leave(room.clone(), sid));
                }
                if emptied {
                    events.push(RoomEvent::Delete(room.clone()));
                }
            }
        }
    }

    /// A list to collect room events in, when they are reported.
    fn pending(&self) -> Option<Vec<RoomEvent>> {
        self.room_events.is_on().then(Vec::new)
    }

    /// Events for `sid` leaving its own room `room` (the room is deleted
    /// unless it is also stored, joined by others). Called with `sid`'s
    /// shard held: takes a `rooms` shard (lock order).
    fn own_room_left(&self, sid: Sid, room: Room, events: &mut Vec<RoomEvent>) {
        let stored = self.stored(&room);
        events.push(RoomEvent::Leave(room.clone(), sid));
        if !stored {
            events.push(RoomEvent::Delete(room));
        }
    }

    /// Events for `sid` joining its own room `room` (created unless it is
    /// also stored). Called with `sid`'s shard held (lock order as above).
    fn own_room_joined(&self, sid: Sid, room: &Room, events: &mut Vec<RoomEvent>) {
        if !self.stored(room) {
            events.push(RoomEvent::Create(room.clone()));
        }
        events.push(RoomEvent::Join(room.clone(), sid));
    }

    /// Whether `room` is in the stored rooms (joined by a socket other than
    /// the one it is named after).
    fn stored(&self, room: &Room) -> bool {
        self.rooms_shard(room).read().contains_key(room)
    }

    /// Reports the collected events, with no lock held. A stored room named
    /// after another socket's id exists while that socket is in it (its own
    /// room): its `Create` and `Delete` are not reported then.
    fn report(&self, sid: Sid, events: Option<Vec<RoomEvent>>) {
        let Some(events) = events.filter(|e| !e.is_empty()) else {
            return;
        };
        let Some(local) = self.local.upgrade() else {
            return;
        };
        for event in events {
            if let RoomEvent::Create(room) | RoomEvent::Delete(room) = &event {
                if !is_own(&sid, room) && self.own_member(room).is_some() {
                    continue;
                }
            }
            local.on_room_event(event);
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
        let mut events = self.pending();
        {
            let mut sids = self.sids_shard(&sid).write();
            let joined = sids.entry(sid).or_default();
            for room in rooms {
                if is_own(&sid, room) {
                    if !joined.own {
                        if let Some(events) = events.as_mut() {
                            self.own_room_joined(sid, room, events);
                        }
                    }
                    joined.own = true;
                    continue;
                }
                if joined.rooms.contains(room) {
                    continue;
                }
                joined.rooms.push(room.clone());
                let created = {
                    let mut shard = self.rooms_shard(room).write();
                    let members = shard.entry(room.clone()).or_default();
                    let created = members.is_empty();
                    members.insert(sid);
                    created
                };
                if let Some(events) = events.as_mut() {
                    if created {
                        events.push(RoomEvent::Create(room.clone()));
                    }
                    events.push(RoomEvent::Join(room.clone(), sid));
                }
            }
        }
        self.report(sid, events);
    }

    fn del(&self, sid: Sid, room: &Room) {
        let mut events = self.pending();
        let own = {
            let mut sids = self.sids_shard(&sid).write();
            match sids.get_mut(&sid) {
                Some(joined) if is_own(&sid, room) => {
                    if joined.own {
                        joined.own = false;
                        if let Some(events) = events.as_mut() {
                            self.own_room_left(sid, room.clone(), events);
                        }
                    }
                    true
                }
                Some(joined) => {
                    joined.rooms.retain(|r| r != room);
                    false
                }
                None => false,
            }
        };
        if !own {
            self.remove_from_room(sid, room, events.as_mut());
        }
        self.report(sid, events);
    }

    fn del_all(&self, sid: Sid) {
        let mut events = self.pending();
        let joined = {
            let mut sids = self.sids_shard(&sid).write();
            let joined = sids.remove(&sid).unwrap_or_default();
            if let (true, Some(events)) = (joined.own, events.as_mut()) {
                self.own_room_left(sid, Str::from(sid.as_str().to_owned()), events);
            }
            joined
        };
        for room in &joined.rooms {
            self.remove_from_room(sid, room, events.as_mut());
        }
        self.report(sid, events);
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
#[path = "local_tests.rs"]
mod tests;
