//! Room lifecycle events of a namespace (Node's adapter events
//! `create-room`, `delete-room`, `join-room` and `leave-room`).

use crate::id::SocketId;
use crate::namespace::{Namespace, NsInner};
use sockeye_adapter::{RoomEvent, RoomEventSwitch};
use sockeye_engine::{ListenerId, Listeners};
use sockeye_proto::Sid;
use std::sync::Arc;

type RoomFn = dyn Fn(&str) + Send + Sync;
type MemberFn = dyn Fn(&str, &SocketId) + Send + Sync;

/// The room listeners of one namespace, and the switch that tells its
/// adapter to report (on while any listener is registered).
#[derive(Default)]
pub(crate) struct RoomListeners {
    pub switch: RoomEventSwitch,
    create: Listeners<RoomFn>,
    delete: Listeners<RoomFn>,
    join: Listeners<MemberFn>,
    leave: Listeners<MemberFn>,
}

impl RoomListeners {
    fn update_switch(&self) {
        let any = !(self.create.is_empty()
            && self.delete.is_empty()
            && self.join.is_empty()
            && self.leave.is_empty());
        self.switch.set(any);
    }

    /// Removes a room listener; `false` if it is not one of these.
    pub fn remove(&self, id: ListenerId) -> bool {
        let removed = self.create.remove(id)
            || self.delete.remove(id)
            || self.join.remove(id)
            || self.leave.remove(id);
        self.update_switch();
        removed
    }
}

/// Calls a create or delete list.
fn room_event(list: &Listeners<RoomFn>, room: &str) {
    for f in list.snapshot() {
        f(room);
    }
}

impl NsInner {
    /// Dispatches an event the adapter reported (no adapter lock held).
    pub(crate) fn dispatch_room_event(&self, event: RoomEvent) {
        let l = &self.room_listeners;
        match event {
            RoomEvent::Create(room) => room_event(&l.create, &room),
            RoomEvent::Delete(room) => room_event(&l.delete, &room),
            RoomEvent::Join(room, sid) => self.member_event(&l.join, &room, sid),
            RoomEvent::Leave(room, sid) => self.member_event(&l.leave, &room, sid),
            _ => {}
        }
    }

    /// Calls a join or leave list with the socket's public id (looked up
    /// only when someone listens).
    fn member_event(&self, list: &Listeners<MemberFn>, room: &str, sid: Sid) {
        let listeners = list.snapshot();
        if !listeners.is_empty() {
            let id = self.public_id(sid, room);
            for f in listeners {
                f(room, &id);
            }
        }
    }

    /// The public id of the socket keyed `sid`: the connected socket's, or
    /// (while it joins its own room, before it is listed) the room's name
    /// when that is its id.
    fn public_id(&self, sid: Sid, room: &str) -> SocketId {
        if let Some(socket) = self.socket_by_key(sid) {
            return socket.0.id.clone();
        }
        match room.parse::<SocketId>() {
            Ok(id) if id.key() == sid => id,
            _ => SocketId::from(sid),
        }
    }
}

impl Namespace {
    fn add_room_listener<F: ?Sized>(
        &self,
        list: impl Fn(&RoomListeners) -> &Listeners<F>,
        f: Arc<F>,
    ) -> ListenerId {
        let listeners = &self.0.room_listeners;
        let id = list(listeners).push(f);
        listeners.update_switch();
        id
    }

    /// Node's `nsp.adapter.on("create-room", (room) => ...)`: called when a
    /// room of this namespace gets its first socket on this node (a
    /// socket's own room included, when it connects).
    ///
    /// Like every room listener, it is called synchronously from the join
    /// or leave that caused it, with no lock held, so it must not block
    /// (hand slow work to a task). Events of other nodes are not reported.
    /// Returns the handle that [`Namespace::remove_listener`] takes.
    pub fn on_create_room(&self, f: impl Fn(&str) + Send + Sync + 'static) -> ListenerId {
        let f: Arc<RoomFn> = Arc::new(f);
        self.add_room_listener(|l| &l.create, f)
    }

    /// Node's `nsp.adapter.on("delete-room", (room) => ...)`: called when
    /// a room of this namespace loses its last socket on this node. See
    /// [`Namespace::on_create_room`].
    pub fn on_delete_room(&self, f: impl Fn(&str) + Send + Sync + 'static) -> ListenerId {
        let f: Arc<RoomFn> = Arc::new(f);
        self.add_room_listener(|l| &l.delete, f)
    }

    /// Node's `nsp.adapter.on("join-room", (room, id) => ...)`: called when
    /// a socket of this node joins a room (its own room on connect, then
    /// every [`crate::Socket::join`], [`crate::BroadcastOperator::sockets_join`]...),
    /// after `create-room` for a new room. See [`Namespace::on_create_room`].
    pub fn on_join_room(&self, f: impl Fn(&str, &SocketId) + Send + Sync + 'static) -> ListenerId {
        let f: Arc<MemberFn> = Arc::new(f);
        self.add_room_listener(|l| &l.join, f)
    }

    /// Node's `nsp.adapter.on("leave-room", (room, id) => ...)`: called
    /// when a socket of this node leaves a room (every room, its own first,
    /// when it disconnects), before `delete-room` for the last one. See
    /// [`Namespace::on_create_room`].
    pub fn on_leave_room(&self, f: impl Fn(&str, &SocketId) + Send + Sync + 'static) -> ListenerId {
        let f: Arc<MemberFn> = Arc::new(f);
        self.add_room_listener(|l| &l.leave, f)
    }
}

impl Namespace {
    /// Removes a listener of this namespace by the handle its `on_*`
    /// method returned (Node's `off` / `removeListener`); `false` if it is
    /// not registered here.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.0.room_listeners.remove(id)
            || self.0.on_connection.remove(id)
            || self.0.middlewares.remove(id)
    }
}
