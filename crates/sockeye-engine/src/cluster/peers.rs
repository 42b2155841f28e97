//! What this node believes about its peers: alive (with traffic), missed
//! lease checks, and dead for a short while.
//!
//! * A tag is only remembered once it was seen alive (a frame from it, or
//!   a lease check that found it); a made-up tag leaves nothing behind.
//! * One missed lease check is not a death: only `MISSES_TO_DIE` in a row
//!   are (a Redis failover or a starved runtime loses one check).
//! * Dead tags are checked again every heartbeat and forgotten after
//!   `DEAD_MEMORY`; a good check or a frame from them brings them back.
//! * At most `DEAD_CAP` dead tags are remembered (the oldest go first).

use sockeye_proto::NodeTag;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// How long a dead tag is remembered (its sids are refused at once); about
/// the length of a lease: past it, a lease check answers for the tag again.
pub(super) const DEAD_MEMORY: Duration = Duration::from_secs(5);
/// How many dead tags are remembered at most.
pub(super) const DEAD_CAP: usize = 1024;
/// How many lease checks in a row must miss before a peer is dead.
pub(super) const MISSES_TO_DIE: u8 = 2;
/// How long an idle peer stays in the liveness checks.
pub(super) const IDLE_PEER: Duration = Duration::from_secs(60);

/// The outcome of one lease check of one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Alive, or nothing to do.
    Fine,
    /// Alive again after it was held dead.
    Revived,
    /// Missed once; not dead yet.
    Missed,
    /// Missed too often: dead now (the caller fails its traffic).
    Dead,
}

/// The liveness state of the peers of one node.
#[derive(Debug, Default)]
pub(super) struct Peers {
    /// Tags known alive, with when they were last used.
    alive: HashMap<NodeTag, Instant>,
    /// Lease checks missed in a row, by tag.
    misses: HashMap<NodeTag, u8>,
    /// Tags held dead, with when they were found dead.
    dead: HashMap<NodeTag, Instant>,
}

impl Peers {
    /// Whether `tag` is held dead.
    pub fn is_dead(&self, tag: &NodeTag) -> bool {
        self.dead.contains_key(tag)
    }

    /// Whether `tag` is known alive; marks it used.
    pub fn use_alive(&mut self, tag: NodeTag) -> bool {
        match self.alive.get_mut(&tag) {
            Some(used) => {
                *used = Instant::now();
                true
            }
            None => false,
        }
    }

    /// A frame came from `tag`, or a check found its lease: it is alive.
    /// Returns whether it was held dead.
    pub fn saw(&mut self, tag: NodeTag) -> bool {
        self.misses.remove(&tag);
        self.alive.entry(tag).or_insert_with(Instant::now);
        self.dead.remove(&tag).is_some()
    }

    /// Records the result of a lease check of `tag`.
    pub fn checked(&mut self, tag: NodeTag, alive: bool) -> Verdict {
        if alive {
            if self.saw(tag) {
                return Verdict::Revived;
            }
            return Verdict::Fine;
        }
        if self.dead.contains_key(&tag) {
            return Verdict::Fine;
        }
        let misses = self.misses.entry(tag).or_insert(0);
        *misses = misses.saturating_add(1);
        if *misses >= MISSES_TO_DIE {
            Verdict::Dead
        } else {
            Verdict::Missed
        }
    }

    /// Holds `tag` dead. Returns false when it already was.
    pub fn bury(&mut self, tag: NodeTag) -> bool {
        self.alive.remove(&tag);
        self.misses.remove(&tag);
        if self.dead.contains_key(&tag) {
            return false;
        }
        if self.dead.len() >= DEAD_CAP {
            let oldest = self.dead.iter().min_by_key(|(_, at)| **at).map(|(t, _)| *t);
            if let Some(oldest) = oldest {
                self.dead.remove(&oldest);
            }
        }
        self.dead.insert(tag, Instant::now());
        true
    }

    /// Forgets idle peers and old deaths; returns the tags to check now
    /// (the alive ones and the dead ones).
    pub fn prune(&mut self, now: Instant) -> Vec<NodeTag> {
        self.alive
            .retain(|_, used| now.duration_since(*used) < IDLE_PEER);
        self.dead
            .retain(|_, since| now.duration_since(*since) < DEAD_MEMORY);
        let (alive, dead) = (&self.alive, &self.dead);
        self.misses
            .retain(|t, _| alive.contains_key(t) || !dead.contains_key(t));
        self.alive.keys().chain(self.dead.keys()).copied().collect()
    }

    /// The tags known alive.
    pub fn alive(&self) -> Vec<NodeTag> {
        self.alive.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeTag = NodeTag([1, 2, 3]);

    #[test]
    fn one_miss_is_not_a_death_two_are() {
        let mut p = Peers::default();
        p.saw(A);
        assert_eq!(p.checked(A, false), Verdict::Missed);
        assert_eq!(p.checked(A, true), Verdict::Fine);
        assert_eq!(p.checked(A, false), Verdict::Missed);
        assert_eq!(p.checked(A, false), Verdict::Dead);
    }

    #[test]
    fn a_dead_tag_comes_back_on_a_good_check_or_a_frame() {
        let mut p = Peers::default();
        assert!(p.bury(A));
        assert!(!p.bury(A));
        assert!(p.is_dead(&A));
        assert_eq!(p.checked(A, false), Verdict::Fine);
        assert_eq!(p.checked(A, true), Verdict::Revived);
        assert!(!p.is_dead(&A) && p.use_alive(A));
        p.bury(A);
        assert!(p.saw(A));
        assert!(!p.is_dead(&A));
    }

    #[test]
    fn dead_tags_are_forgotten_after_about_a_lease() {
        let mut p = Peers::default();
        p.bury(A);
        assert_eq!(p.prune(Instant::now()), vec![A]);
        assert!(p.prune(Instant::now() + DEAD_MEMORY).is_empty());
        assert!(!p.is_dead(&A));
    }

    #[test]
    fn the_dead_map_is_capped() {
        let mut p = Peers::default();
        for i in 0..(DEAD_CAP as u32 + 10) {
            let b = i.to_be_bytes();
            p.bury(NodeTag([b[1], b[2], b[3]]));
        }
        assert_eq!(p.dead.len(), DEAD_CAP);
    }
}
