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

    /// A place to linger in, if the cap leaves one.
    fn try_take(&self) -> Option<LingerPlace<'_>> {
        self.now
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| LingerPlace(&self.now))
    }

    /// A place for a connection that goes idle: a regular client's (see
    /// `Phase::is_regular`) gets one even over the cap, and counts in it:
    /// saving its requests a new hyper connection each is what the delay is
    /// for. Another gets one if the cap leaves one.
    pub(super) fn place_for(&self, regular: bool) -> Option<LingerPlace<'_>> {
        if regular {
            self.now.fetch_add(1, Ordering::AcqRel);
            return Some(LingerPlace(&self.now));
        }
        self.try_take()
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
    /// it), so that its requests do not each pay for a new hyper connection.
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
        let a = lingering.try_take();
        let b = lingering.try_take();
        assert!(a.is_some() && b.is_some());
        assert!(lingering.try_take().is_none(), "over the cap");
        drop(a);
        assert_eq!(lingering.count(), 1);
        let c = lingering.try_take();
        assert!(c.is_some(), "a place given back is taken again");
        let regular = lingering.place_for(true);
        assert_eq!(
            lingering.count(),
            3,
            "a regular client's place, over the cap"
        );
        drop(c);
        assert!(lingering.try_take().is_none(), "it counts in the cap");
        drop((b, regular));
        assert_eq!(lingering.count(), 0);
        assert!(Lingering::new(0).try_take().is_none(), "0: no lingering");
    }
}
