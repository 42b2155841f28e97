//! The adapter seam of Sockeye.
//!
//! Every room operation and every broadcast of a namespace goes through an
//! [`Adapter`]. The default, [`LocalAdapter`], keeps rooms in memory for one
//! process; a cluster adapter (Redis) implements the same trait, forwards
//! broadcasts and requests to the other nodes, and hands what it receives to
//! the namespace through [`LocalNamespace`].
//!
//! # For adapter authors
//!
//! * One adapter instance serves one namespace; the server builds it with an
//!   [`AdapterFactory`] when the namespace is created, passing an
//!   [`AdapterContext`] (the namespace name, and a handle to deliver packets
//!   to local sockets).
//! * Every socket is in the room named after its own id: `add_all(sid,
//!   [sid])` is the first call for a socket, `del_all(sid)` the last.
//! * [`Adapter::for_each_local`] must visit each matching local socket once,
//!   even when it is in several of the target rooms, and skip any socket in
//!   an `except` room. The callback delivers to the socket; it never calls
//!   back into the adapter, so an adapter may hold its own read locks while
//!   calling it.
//! * Methods are synchronous and must not block: an adapter that talks to a
//!   network hands the work to its own task (publishing is fire-and-forget,
//!   as in the reference's adapters).
//! * Rooms that become empty are deleted.

mod local;

pub use local::LocalAdapter;

use sockeye_proto::sio::Encoded;
use sockeye_proto::{Sid, Str};
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// A room name.
pub type Room = Str;

/// Flags of a broadcast, as the reference's `BroadcastFlags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastFlags {
    /// Drop the packet for sockets whose transport is not writable now.
    pub volatile: bool,
    /// Ask the transport to compress (the default).
    pub compress: bool,
    /// Do not forward to other nodes.
    pub local: bool,
    /// How long a broadcast with acknowledgements waits.
    pub timeout: Option<Duration>,
}

impl Default for BroadcastFlags {
    fn default() -> Self {
        BroadcastFlags {
            volatile: false,
            compress: true,
            local: false,
            timeout: None,
        }
    }
}

/// Which sockets a broadcast or a room operation targets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastOptions {
    /// Target rooms (a union); empty means every socket of the namespace.
    pub rooms: Vec<Room>,
    /// Sockets in any of these rooms are skipped.
    pub except: Vec<Room>,
    /// Flags.
    pub flags: BroadcastFlags,
}

impl BroadcastOptions {
    /// Every socket of the namespace.
    pub fn all() -> Self {
        Self::default()
    }
}

/// A packet encoded once for every recipient of a broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastPacket {
    /// The Socket.IO packet, encoded by the server's parser.
    pub encoded: Encoded,
    /// The head as a complete Engine.IO text packet (`4` + text), built
    /// once so that no recipient copies it (JSON parser only).
    pub eio_text: Option<Str>,
}

impl BroadcastPacket {
    /// Prepares an encoded packet for many recipients.
    pub fn new(encoded: Encoded) -> Self {
        let eio_text = encoded.text().map(|t| {
            let mut s = String::with_capacity(t.len() + 1);
            s.push('4');
            s.push_str(t);
            Str::from(s)
        });
        BroadcastPacket { encoded, eio_text }
    }
}

/// What an adapter may ask of its namespace on this node.
pub trait LocalNamespace: Send + Sync + 'static {
    /// Sends a packet to one local socket (dropped when the flags say
    /// volatile and the socket cannot take it now).
    fn deliver(&self, sid: Sid, packet: &BroadcastPacket, flags: &BroadcastFlags);
    /// Disconnects a local socket (`close`: its whole connection).
    fn disconnect(&self, sid: Sid, close: bool);
}

/// What an adapter is built with.
#[derive(Clone)]
#[non_exhaustive]
pub struct AdapterContext {
    /// The namespace's name (`/`, `/chat`...).
    pub namespace: Str,
    /// The namespace's local sockets.
    pub local: Weak<dyn LocalNamespace>,
}

impl fmt::Debug for AdapterContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdapterContext")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl AdapterContext {
    /// A context for a namespace.
    pub fn new(namespace: Str, local: Weak<dyn LocalNamespace>) -> Self {
        AdapterContext { namespace, local }
    }
}

/// Builds one adapter per namespace.
pub type AdapterFactory = Arc<dyn Fn(AdapterContext) -> Arc<dyn Adapter> + Send + Sync>;

/// The adapter of one namespace. See the crate docs for the contract.
pub trait Adapter: Send + Sync + 'static {
    /// Adds a socket to rooms.
    fn add_all(&self, sid: Sid, rooms: &[Room]);
    /// Removes a socket from a room.
    fn del(&self, sid: Sid, room: &Room);
    /// Removes a socket from every room.
    fn del_all(&self, sid: Sid);
    /// Calls `f` once for each local socket the options select.
    fn for_each_local(&self, opts: &BroadcastOptions, f: &mut dyn FnMut(Sid));
    /// Sends a packet to the selected sockets, here and (unless
    /// `flags.local`) on the other nodes.
    fn broadcast(&self, packet: &BroadcastPacket, opts: &BroadcastOptions);
    /// The rooms of a local socket.
    fn socket_rooms(&self, sid: Sid) -> Vec<Room>;
    /// Every room with at least one local socket.
    fn rooms(&self) -> Vec<Room>;
    /// Whether a room has local sockets.
    fn room_exists(&self, room: &Room) -> bool;
    /// How many local sockets are in a room (or in the namespace, for the
    /// empty selection).
    fn count(&self, opts: &BroadcastOptions) -> usize {
        let mut n = 0;
        self.for_each_local(opts, &mut |_| n += 1);
        n
    }
    /// Makes the selected sockets join rooms (cluster-wide unless local).
    fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        let mut sids = Vec::new();
        self.for_each_local(opts, &mut |sid| sids.push(sid));
        for sid in sids {
            self.add_all(sid, rooms);
        }
    }
    /// Makes the selected sockets leave rooms (cluster-wide unless local).
    fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        let mut sids = Vec::new();
        self.for_each_local(opts, &mut |sid| sids.push(sid));
        for sid in sids {
            for room in rooms {
                self.del(sid, room);
            }
        }
    }
    /// Disconnects the selected sockets (cluster-wide unless local).
    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool);
    /// How many servers share this namespace (1 for a single node).
    fn server_count(&self) -> usize {
        1
    }
    /// Called when the namespace is removed or the server closes.
    fn close(&self) {}
}
