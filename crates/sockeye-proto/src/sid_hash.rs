//! A fast hasher for maps keyed by [`Sid`](crate::Sid).
//!
//! Session and socket ids are 15 random bytes from the OS, so they need no
//! keyed hash to spread well or to resist collision attacks: a client can
//! look an id up, but only the server creates the keys that go into a map.
//! SipHash (std's default) costs more than the rest of a broadcast
//! delivery's lookup; this folds the id's bytes with one multiply per
//! 8 bytes (the Fx scheme), enough to scatter base64url text.
//!
//! Only for maps whose keys the server generated.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

const K: u64 = 0xf135_7aea_2e62_a9c5;

/// A [`Hasher`] for [`Sid`](crate::Sid) keys (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct SidHasher(u64);

impl SidHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(26) ^ word).wrapping_mul(K);
    }
}

impl Hasher for SidHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // Bring the well-mixed high bits down too (hashbrown takes its
        // bucket from the low bits and its tag from the top 7).
        self.0 ^ (self.0 >> 32)
    }
}

/// The [`BuildHasher`](std::hash::BuildHasher) of [`SidHasher`].
pub type BuildSidHasher = BuildHasherDefault<SidHasher>;
/// A `HashMap` keyed by server-generated [`Sid`](crate::Sid)s.
pub type SidMap<V> = HashMap<crate::Sid, V, BuildSidHasher>;
/// A `HashSet` of server-generated [`Sid`](crate::Sid)s.
pub type SidSet = HashSet<crate::Sid, BuildSidHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sid;
    use std::hash::BuildHasher;

    #[test]
    fn random_ids_spread_over_buckets() {
        let build = BuildSidHasher::default();
        let mut low = [0u32; 64];
        let mut top = [0u32; 128];
        for _ in 0..64_000 {
            let h = build.hash_one(Sid::generate());
            low[(h & 63) as usize] += 1;
            top[(h >> 57) as usize] += 1;
        }
        // 1,000 expected per low bucket, 500 per tag.
        assert!(low.iter().all(|&n| (800..1200).contains(&n)), "{low:?}");
        assert!(top.iter().all(|&n| (380..620).contains(&n)), "{top:?}");
    }

    #[test]
    fn tagged_ids_spread_over_buckets() {
        // A cluster node's sids share their first 4 characters.
        let tag = crate::NodeTag([1, 2, 3]);
        let build = BuildSidHasher::default();
        let mut low = [0u32; 64];
        let mut top = [0u32; 128];
        for _ in 0..64_000 {
            let h = build.hash_one(Sid::generate_with_tag(tag));
            low[(h & 63) as usize] += 1;
            top[(h >> 57) as usize] += 1;
        }
        assert!(low.iter().all(|&n| (800..1200).contains(&n)), "{low:?}");
        assert!(top.iter().all(|&n| (380..620).contains(&n)), "{top:?}");
    }

    #[test]
    fn a_map_works() {
        let mut m = SidMap::default();
        let ids: Vec<Sid> = (0..1000).map(|_| Sid::generate()).collect();
        for (i, id) in ids.iter().enumerate() {
            m.insert(*id, i);
        }
        assert!(ids.iter().enumerate().all(|(i, id)| m[id] == i));
    }
}
