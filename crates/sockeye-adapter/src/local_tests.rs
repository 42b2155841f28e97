//! Tests of [`super::LocalAdapter`].

use super::*;
use crate::BroadcastFlags;
use parking_lot::Mutex;
use sockeye_proto::Str;

#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<Sid>>,
    gone: Mutex<Vec<(Sid, bool)>>,
    members: Mutex<Vec<Sid>>,
    events: Mutex<Vec<RoomEvent>>,
}

impl LocalNamespace for Recorder {
    fn deliver(&self, sid: Sid, _packet: &BroadcastPacket, _flags: &BroadcastFlags) {
        self.got.lock().push(sid);
    }
    fn disconnect(&self, sid: Sid, close: bool) {
        self.gone.lock().push((sid, close));
    }
    fn on_room_event(&self, event: RoomEvent) {
        self.events.lock().push(event);
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
    let weak: Weak<dyn LocalNamespace> = Arc::downgrade(&(rec.clone() as Arc<dyn LocalNamespace>));
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

/// An adapter reporting room events to a recorder, with no socket yet.
fn with_events() -> (Arc<Recorder>, LocalAdapter, RoomEventSwitch) {
    let rec = Arc::new(Recorder::default());
    let weak: Weak<dyn LocalNamespace> = Arc::downgrade(&(rec.clone() as Arc<dyn LocalNamespace>));
    let switch = RoomEventSwitch::new();
    let ctx = AdapterContext::new(Str::from_static("/"), weak).with_room_events(switch.clone());
    (rec, LocalAdapter::new(ctx), switch)
}

fn own(sid: Sid) -> Room {
    Str::from(sid.to_string())
}

#[test]
fn room_events_follow_the_reference_adapter() {
    use RoomEvent::{Create, Delete, Join, Leave};
    let (rec, a, switch) = with_events();
    let (s0, s1) = (Sid::generate(), Sid::generate());
    // Off: nothing reported.
    a.add_all(s0, &[own(s0)]);
    assert!(rec.events.lock().is_empty());
    a.del_all(s0);
    switch.set(true);
    // A socket's own room, as `socket.join(socket.id)` on connect.
    a.add_all(s0, &[own(s0)]);
    a.add_all(s1, &[own(s1)]);
    assert_eq!(
        std::mem::take(&mut *rec.events.lock()),
        vec![
            Create(own(s0)),
            Join(own(s0), s0),
            Create(own(s1)),
            Join(own(s1), s1)
        ]
    );
    // A room created by its first member, joined once.
    a.add_all(s0, &["r".into(), "r".into()]);
    a.add_all(s1, &["r".into()]);
    a.add_all(s1, &["r".into()]);
    assert_eq!(
        std::mem::take(&mut *rec.events.lock()),
        vec![
            Create("r".into()),
            Join("r".into(), s0),
            Join("r".into(), s1)
        ]
    );
    // Leaving: deleted with its last member; leaving a room one is not in
    // says nothing.
    a.del(s0, &"r".into());
    a.del(s0, &"r".into());
    a.del(s1, &"r".into());
    assert_eq!(
        std::mem::take(&mut *rec.events.lock()),
        vec![
            Leave("r".into(), s0),
            Leave("r".into(), s1),
            Delete("r".into())
        ]
    );
    // Disconnecting leaves every room, own room first.
    a.add_all(s1, &["q".into()]);
    rec.events.lock().clear();
    a.del_all(s1);
    assert_eq!(
        std::mem::take(&mut *rec.events.lock()),
        vec![
            Leave(own(s1), s1),
            Delete(own(s1)),
            Leave("q".into(), s1),
            Delete("q".into())
        ]
    );
    // A room named after another socket's id exists while that socket is
    // in it: joining and leaving it creates and deletes nothing.
    a.add_all(s1, &[own(s0)]);
    a.del(s1, &own(s0));
    assert_eq!(
        std::mem::take(&mut *rec.events.lock()),
        vec![Join(own(s0), s1), Leave(own(s0), s1)]
    );
    // Leaving one's own room explicitly.
    a.del(s0, &own(s0));
    assert_eq!(
        std::mem::take(&mut *rec.events.lock()),
        vec![Leave(own(s0), s0), Delete(own(s0))]
    );
    switch.set(false);
    a.add_all(s0, &["z".into()]);
    assert!(rec.events.lock().is_empty());
}
