//! [`Sid`]: the session id of Engine.IO sessions and Socket.IO sockets.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::fmt;
use std::str::FromStr;

/// A 20-character, URL-safe, cryptographically random session id.
///
/// It is 15 random bytes from the operating system's CSPRNG (or, for the
/// engine sids of a cluster node, a 3-byte [`NodeTag`] followed by 12
/// random bytes: see [`Sid::generate_with_tag`]), written in
/// base64url without padding, the same shape as the reference server's
/// `base64id` (which the sharded Redis adapter relies on: a 20-character room
/// name is taken for a socket id). Stored inline: copying it allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid([u8; Sid::LEN]);

/// The string given to [`Sid::from_str`] is not a valid session id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid session id")]
pub struct InvalidSid;

impl Sid {
    /// Length of a session id, in characters.
    pub const LEN: usize = 20;

    /// A fresh random id.
    ///
    /// # Panics
    /// If the operating system has no random source, which no supported
    /// platform lacks; a server without one must not hand out guessable ids.
    pub fn generate() -> Self {
        let raw = pool::take();
        let mut out = [0u8; Self::LEN];
        let n = URL_SAFE_NO_PAD
            .encode_slice(raw, &mut out)
            .expect("15 bytes always encode to 20 characters");
        debug_assert_eq!(n, Self::LEN);
        Sid(out)
    }

    /// A fresh id whose first 3 bytes (its first 4 characters) are the tag
    /// of the cluster node that owns it, followed by 12 random bytes (96
    /// bits, as many as the reference's ids carry).
    ///
    /// # Panics
    /// As [`Sid::generate`].
    pub fn generate_with_tag(tag: NodeTag) -> Self {
        let mut raw = pool::take();
        raw[..3].copy_from_slice(&tag.0);
        let mut out = [0u8; Self::LEN];
        let n = URL_SAFE_NO_PAD
            .encode_slice(raw, &mut out)
            .expect("15 bytes always encode to 20 characters");
        debug_assert_eq!(n, Self::LEN);
        Sid(out)
    }

    /// The node tag this id starts with (its first 4 characters decoded).
    /// Meaningful only for ids made by [`Sid::generate_with_tag`].
    pub fn tag(&self) -> NodeTag {
        let mut raw = [0u8; 3];
        // Four base64url characters always decode to 3 bytes (checked in
        // `from_str`: only the alphabet is stored).
        let _ = URL_SAFE_NO_PAD.decode_slice(&self.0[..4], &mut raw);
        NodeTag(raw)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only base64url characters are ever stored (checked in `from_str`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// A cluster node's 24-bit tag: the first 3 bytes of the engine sids it
/// hands out, so that any node knows a session's owner from its id alone.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeTag(pub [u8; 3]);

impl NodeTag {
    /// A random tag from the OS CSPRNG.
    ///
    /// # Panics
    /// As [`Sid::generate`].
    pub fn random() -> Self {
        let raw = pool::take();
        NodeTag([raw[0], raw[1], raw[2]])
    }

    /// The tag as the 4 base64url characters that start its sids.
    pub fn as_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Parses the 4-character form of [`NodeTag::as_text`].
    pub fn from_text(text: &str) -> Option<Self> {
        let mut raw = [0u8; 3];
        if text.len() != 4 {
            return None;
        }
        match URL_SAFE_NO_PAD.decode_slice(text.as_bytes(), &mut raw) {
            Ok(3) => Some(NodeTag(raw)),
            _ => None,
        }
    }
}

impl fmt::Display for NodeTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_text())
    }
}

impl fmt::Debug for NodeTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeTag({self})")
    }
}

/// Random bytes for ids, fetched from the OS in batches.
///
/// One `getrandom` call per id was 12% of the server's system calls under
/// polling churn (two ids per session). Each thread now fetches the bytes
/// of 32 ids at once and hands them out once each: they are still the OS
/// CSPRNG's bytes, never reused and never derived. A forked child refills
/// before its first id, so parent and child never share a batch. (A copy
/// of a running process's memory that keeps its pid, such as a VM snapshot
/// restored twice, would repeat the rest of a batch, at most 31 ids: as any
/// user-space random buffer would, including the standard libraries'.)
mod pool {
    use std::cell::RefCell;

    const ID_BYTES: usize = 15;
    const IDS: usize = 32;

    struct Pool {
        bytes: [u8; ID_BYTES * IDS],
        next: usize,
        pid: u32,
    }

    thread_local! {
        static POOL: RefCell<Pool> = const {
            RefCell::new(Pool { bytes: [0; ID_BYTES * IDS], next: ID_BYTES * IDS, pid: 0 })
        };
    }

    pub(super) fn take() -> [u8; ID_BYTES] {
        POOL.with_borrow_mut(|p| {
            let pid = std::process::id();
            if p.next == p.bytes.len() || p.pid != pid {
                getrandom::fill(&mut p.bytes).expect("the OS random source failed");
                p.next = 0;
                p.pid = pid;
            }
            let mut out = [0u8; ID_BYTES];
            out.copy_from_slice(&p.bytes[p.next..p.next + ID_BYTES]);
            // Handed out once: wiped from the pool.
            p.bytes[p.next..p.next + ID_BYTES].fill(0);
            p.next += ID_BYTES;
            out
        })
    }
}

impl FromStr for Sid {
    type Err = InvalidSid;

    /// Accepts exactly 20 characters of the base64url alphabet.
    fn from_str(s: &str) -> Result<Self, InvalidSid> {
        let bytes = s.as_bytes();
        if bytes.len() != Self::LEN
            || !bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            return Err(InvalidSid);
        }
        let mut out = [0u8; Self::LEN];
        out.copy_from_slice(bytes);
        Ok(Sid(out))
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_20_url_safe_chars_and_unique() {
        let ids: HashSet<Sid> = (0..1000).map(|_| Sid::generate()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids {
            assert_eq!(id.as_str().len(), 20);
            assert_eq!(id.as_str().parse::<Sid>(), Ok(id));
        }
    }

    #[test]
    fn tagged_ids_start_with_their_tag_and_stay_random() {
        let tag = NodeTag([0xfb, 0x01, 0x7e]);
        let ids: HashSet<Sid> = (0..1000).map(|_| Sid::generate_with_tag(tag)).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids {
            assert_eq!(id.tag(), tag);
            assert!(id.as_str().starts_with(&tag.as_text()));
            assert_eq!(id.as_str().parse::<Sid>(), Ok(id));
        }
        assert_eq!(NodeTag::from_text(&tag.as_text()), Some(tag));
        assert_eq!(NodeTag::from_text("abc"), None);
        let other = NodeTag::random();
        assert_eq!(Sid::generate_with_tag(other).tag(), other);
    }

    #[test]
    fn rejects_bad_ids() {
        assert!("short".parse::<Sid>().is_err());
        assert!("aaaaaaaaaaaaaaaaaaa/".parse::<Sid>().is_err());
        assert!("aaaaaaaaaaaaaaaaaaaaa".parse::<Sid>().is_err());
    }
}
