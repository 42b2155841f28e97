//! Idle keep-alive connections and hyper's buffers: how long, and how many
//! at once, may keep them while they wait for their next request.
//!
//! hyper holds an 8 KiB read and an 8 KiB header buffer for as long as it
//! serves a connection. The connection task ends hyper's part when the
//! connection goes idle (see `conn::drive`) and starts a new one on the next
//! request, which costs a few microseconds. Lingering first keeps that cost
//! off clients that come straight back; the cap keeps a burst of clients
//! that do not from holding 16 KiB each for the whole linger, a peak the
//! allocator may never give back to the system. A regular client's
//! connection (eight responses or more, see `Phase::is_regular`) lingers
//! even over the cap: many long-polling clients over a real network are
//! parked between two requests at any moment, and each of their requests
//! would otherwise pay for a new hyper connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::ServerBuilder;

/// The default of [`ServerBuilder::release_idle_after`].
pub(super) const DEFAULT_RELEASE_IDLE_AFTER: Duration = Duration::from_millis(100);

/// The default of [`ServerBuilder::max_lingering`].
pub(super) const DEFAULT_MAX_LINGERING: usize = 64;

/// How many times `max_lingering` connections may linger in all when
/// regular clients' connections go over the cap: a bound on the buffers a
/// client can keep by making eight requests on each of many connections.
pub(super) const REGULAR_OVER_CAP: usize = 16;

/// The idle connections that keep their buffers now, under a cap.
#[derive(Debug)]
pub(super) struct Lingering {
    now: AtomicUsize,
    max: usize,
}

impl Lingering {
    pub(super) fn new(max: usize) -> Self {
        Self {
            now: AtomicUsize::new(0),
            max,
        }
    }

    /// A place to linger in, if fewer than `limit` connections linger.
    fn take_under(&self, limit: usize) -> Option<LingerPlace<'_>> {
        self.now
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| LingerPlace(&self.now))
    }

    /// A place for a connection that goes idle: a new client's if the cap
    /// leaves one; a regular client's (see `Phase::is_regular`) even over
    /// the cap, up to [`REGULAR_OVER_CAP`] times it, and it counts in the
    /// cap: saving its requests a new hyper connection each is what the
    /// delay is for.
    pub(super) fn place_for(&self, regular: bool) -> Option<LingerPlace<'_>> {
        if regular {
            self.take_under(self.max.saturating_mul(REGULAR_OVER_CAP))
        } else {
            self.take_under(self.max)
        }
    }

    #[cfg(test)]
    pub(super) fn count(&self) -> usize {
        self.now.load(Ordering::Acquire)
    }
}

/// One lingering connection's place, given back when dropped.
#[derive(Debug)]
pub(super) struct LingerPlace<'a>(&'a AtomicUsize);

impl Drop for LingerPlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ServerBuilder {
    /// How long an idle keep-alive connection keeps its HTTP buffers
    /// (hyper's 8 KiB read and header buffers; the next request gets new
    /// ones). `ZERO`: released as soon as a response is written, at about
    /// 5 µs on the next request; `None`: kept, as hyper does. Default
    /// 100 ms: busy connections keep them, idle ones cost 16 KiB less.
    /// At most [`max_lingering`](Self::max_lingering) connections wait so
    /// at once; the others release at once.
    pub fn release_idle_after(mut self, after: impl Into<Option<Duration>>) -> Self {
        self.config.release_idle_after = after.into();
        self
    }

    /// The most idle keep-alive connections that keep their HTTP buffers
    /// through [`release_idle_after`](Self::release_idle_after) at the same
    /// time (default 64, 1 MiB of buffers); a new client's idle connection
    /// beyond it releases them at once. Without the cap, a burst of clients
    /// that make a request or two and stay connected (new long-polling
    /// sessions, a reconnect storm) would each hold 16 KiB for the whole
    /// delay, a peak of memory the allocator may keep after it is freed.
    /// A connection that has had eight responses is a regular client's: it
    /// keeps its buffers through the delay even over the cap (and counts in
    /// it), so that its requests do not each pay for a new hyper connection,
    /// up to 16 times the cap in all (1,024 connections, 16 MiB, by
    /// default). `0`: no connection lingers.
    pub fn max_lingering(mut self, connections: usize) -> Self {
        self.config.max_lingering = connections;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_capped_and_given_back() {
        let lingering = Lingering::new(2);
        let a = lingering.place_for(false);
        let b = lingering.place_for(false);
        assert!(a.is_some() && b.is_some());
        assert!(lingering.place_for(false).is_none(), "over the cap");
        drop(a);
        assert_eq!(lingering.count(), 1);
        let c = lingering.place_for(false);
        assert!(c.is_some(), "a place given back is taken again");
        drop((b, c));
        assert_eq!(lingering.count(), 0);
    }

    #[test]
    fn regular_clients_linger_over_the_cap_up_to_its_multiple() {
        let lingering = Lingering::new(2);
        let new_clients = [lingering.place_for(false), lingering.place_for(false)];
        assert!(new_clients.iter().all(Option::is_some));
        let regular: Vec<_> = (0..2 * REGULAR_OVER_CAP)
            .map_while(|_| lingering.place_for(true))
            .collect();
        assert_eq!(regular.len(), 2 * REGULAR_OVER_CAP - 2, "they count in it");
        assert!(lingering.place_for(false).is_none(), "still over the cap");
        drop(regular);
        assert_eq!(lingering.count(), 2);
        let none = Lingering::new(0);
        assert!(
            none.place_for(false).is_none() && none.place_for(true).is_none(),
            "0: none"
        );
    }
}
