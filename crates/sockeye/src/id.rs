//! [`SocketId`]: the id of a socket, as its client knows it.

use crate::rooms::IntoRooms;
use sockeye_adapter::Room;
use sockeye_proto::{Sid, Str};
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Node's `SocketId` (`socket.id`): the id of a socket, what `socket.id` is on the client and on the
/// reference server.
///
/// Most sockets get a fresh 20-character [`Sid`]. A Socket.IO 2.x client
/// (Engine.IO v3, accepted with `allow_eio3`) computes its socket ids
/// itself, and the server uses the same: the Engine.IO session id on `/`,
/// and `<nsp>#<session id>` on any other namespace (`/admin#<sid>`).
///
/// It is also the name of the socket's own room: `io.to(id)` reaches the
/// socket, `except(id)` skips it.
///
/// Cheap to clone (the `<nsp>#<sid>` form shares its text). It compares,
/// orders and hashes as its text, and borrows as `&str`, so a
/// `HashMap<SocketId, _>` can be read with a `&str`.
#[derive(Clone)]
pub struct SocketId(Repr);

#[derive(Clone)]
enum Repr {
    /// A plain 20-character id.
    Sid(Sid),
    /// `<nsp>#<sid>`: `text` is the whole id, `sid` its part after `#`.
    Namespaced { sid: Sid, text: Str },
}

/// The string given to [`SocketId::from_str`] is not a socket id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid socket id")]
pub struct InvalidSocketId;

impl SocketId {
    /// The id of a Socket.IO 2.x socket: the Engine.IO session id on `/`,
    /// `<nsp>#<session id>` elsewhere.
    pub(crate) fn for_eio3(nsp: &str, engine_sid: Sid) -> SocketId {
        if nsp == "/" {
            SocketId(Repr::Sid(engine_sid))
        } else {
            let text = format!("{nsp}#{engine_sid}");
            SocketId(Repr::Namespaced {
                sid: engine_sid,
                text: Str::from(text),
            })
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Sid(sid) => sid.as_str(),
            Repr::Namespaced { text, .. } => text.as_str(),
        }
    }

    /// The key of the socket in its namespace and adapter: the id itself,
    /// or the session id after `#`. Unique within one namespace (an
    /// Engine.IO session joins a namespace at most once).
    pub(crate) fn key(&self) -> Sid {
        match &self.0 {
            Repr::Sid(sid) => *sid,
            Repr::Namespaced { sid, .. } => *sid,
        }
    }

    /// The socket's own room.
    pub(crate) fn room(&self) -> Room {
        match &self.0 {
            Repr::Sid(sid) => Str::from(sid.to_string()),
            Repr::Namespaced { text, .. } => text.clone(),
        }
    }

    /// The key a socket id given as text would have (`None` when the text
    /// is not a socket id).
    pub(crate) fn key_of(text: &str) -> Option<Sid> {
        let sid = match text.rsplit_once('#') {
            Some((nsp, sid)) if nsp.starts_with('/') => sid,
            Some(_) => return None,
            None => text,
        };
        sid.parse().ok()
    }
}

impl From<Sid> for SocketId {
    fn from(sid: Sid) -> Self {
        SocketId(Repr::Sid(sid))
    }
}

impl FromStr for SocketId {
    type Err = InvalidSocketId;

    /// Accepts a 20-character id, or `<nsp>#<id>` where the namespace
    /// starts with `/`.
    fn from_str(s: &str) -> Result<Self, InvalidSocketId> {
        let sid = SocketId::key_of(s).ok_or(InvalidSocketId)?;
        if s.len() == Sid::LEN {
            Ok(SocketId(Repr::Sid(sid)))
        } else {
            Ok(SocketId(Repr::Namespaced {
                sid,
                text: Str::from(s.to_owned()),
            }))
        }
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SocketId({})", self.as_str())
    }
}

impl PartialEq for SocketId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SocketId {}

impl PartialOrd for SocketId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SocketId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for SocketId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes: `Borrow<str>` needs the same hash.
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for SocketId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SocketId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for SocketId {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<SocketId> for str {
    fn eq(&self, other: &SocketId) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<SocketId> for &str {
    fn eq(&self, other: &SocketId) -> bool {
        *self == other.as_str()
    }
}

impl AsRef<str> for SocketId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for SocketId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl serde::Serialize for SocketId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for SocketId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl IntoRooms for SocketId {
    fn into_rooms(self) -> Vec<Room> {
        vec![self.room()]
    }
}

impl IntoRooms for &SocketId {
    fn into_rooms(self) -> Vec<Room> {
        vec![self.room()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn eio3_ids() {
        let sid = Sid::generate();
        let root = SocketId::for_eio3("/", sid);
        assert_eq!(root, sid.as_str());
        assert_eq!(root.key(), sid);
        let admin = SocketId::for_eio3("/admin", sid);
        assert_eq!(admin.to_string(), format!("/admin#{sid}"));
        assert_eq!(admin.key(), sid);
        assert_eq!(admin.room(), admin.as_str());
        assert_ne!(admin, root);
    }

    #[test]
    fn parses_both_forms() {
        let sid = Sid::generate();
        let plain: SocketId = sid.as_str().parse().unwrap();
        assert_eq!(plain, SocketId::from(sid));
        let text = format!("/a#b#{sid}");
        let nested: SocketId = text.parse().unwrap();
        assert_eq!(nested, text);
        assert_eq!(nested.key(), sid);
        for bad in [
            "",
            "short",
            "admin#0123456789abcdefghij",
            "/admin#",
            "/a#bad id",
        ] {
            assert_eq!(bad.parse::<SocketId>(), Err(InvalidSocketId), "{bad:?}");
        }
    }

    #[test]
    fn text_semantics() {
        let sid = Sid::generate();
        let id = SocketId::for_eio3("/admin", sid);
        let mut map = HashMap::new();
        map.insert(id.clone(), 1);
        assert_eq!(map.get(id.as_str()), Some(&1));
        assert_eq!(
            serde_json::to_value(&id).unwrap(),
            serde_json::Value::from(id.as_str())
        );
        let back: SocketId = serde_json::from_value(serde_json::to_value(&id).unwrap()).unwrap();
        assert_eq!(back, id);
        assert_eq!(id.clone().into_rooms(), vec![id.room()]);
    }
}
