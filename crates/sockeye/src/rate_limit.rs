//! Rate limits on the events a client sends: [`RateLimit`] (a token bucket
//! and what to do when a client keeps exceeding it), and the per-socket
//! state that applies the configured limits.

use std::time::Duration;
use tokio::time::Instant;

/// A token bucket: `per_second` events on average, bursts of up to `burst`;
/// plus the disconnect policy for clients that keep going over it.
///
/// Set with [`crate::SocketIoBuilder::rate_limit`] (every event of a
/// socket) and [`crate::SocketIoBuilder::event_rate_limit`] (one event
/// name); each socket, that is each namespace a client joined, has buckets
/// of its own, kept for the whole connection (leaving the namespace and
/// joining it again does not refill them). No limit is set by default,
/// and then sockets carry no bucket and events pay nothing.
///
/// Policy: an event over a limit is dropped before any handler, packet
/// middleware or catch-all sees it, and its ack (if the client asked for
/// one) is never answered. The first drop on a socket is logged (`warn`),
/// every drop is counted ([`crate::Stats::events_rate_limited`]) and
/// reported to the socket's error handlers as
/// [`crate::SocketError::RateLimited`]. Once a socket has had
/// `disconnect_after` events dropped within the window (by default 10
/// within 10 s), its whole connection is closed: every namespace gets a
/// DISCONNECT packet (the official client sees `io server disconnect` and
/// does not reconnect by itself) and the server-side reason is
/// [`crate::DisconnectReason::RateLimited`].
///
/// ```
/// use sockeye::{RateLimit, SocketIo};
/// use std::time::Duration;
///
/// let io = SocketIo::builder()
///     // Every socket: 20 events/s, bursts of 40; disconnected after 10
///     // dropped events within 10 s (the default policy).
///     .rate_limit(RateLimit::new(20.0, 40))
///     // "chat message" alone: 2/s, bursts of 5, never disconnect.
///     .event_rate_limit("chat message", RateLimit::per_second(2).burst(5).never_disconnect())
///     .build()
///     .unwrap();
/// # drop(io);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    per_second: f64,
    burst: f64,
    disconnect_after: Option<u32>,
    window: Duration,
}

/// Dropped events, within [`DEFAULT_WINDOW`], after which a socket is
/// disconnected by default.
pub const DEFAULT_DISCONNECT_AFTER: u32 = 10;

/// The default window of the disconnect policy.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);

impl RateLimit {
    /// `per_second` events per second on average (a negative or NaN rate
    /// is 0), bursts of up to `burst` (at least 1); disconnect after
    /// [`DEFAULT_DISCONNECT_AFTER`] drops within [`DEFAULT_WINDOW`].
    pub fn new(per_second: f64, burst: u32) -> Self {
        RateLimit {
            per_second: if per_second > 0.0 { per_second } else { 0.0 },
            burst: f64::from(burst.max(1)),
            disconnect_after: Some(DEFAULT_DISCONNECT_AFTER),
            window: DEFAULT_WINDOW,
        }
    }

    /// `events` per second, bursts of one second's worth.
    pub fn per_second(events: u32) -> Self {
        Self::new(f64::from(events), events)
    }

    /// Sets the burst (at least 1): how many events may arrive at once
    /// after a quiet period.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = f64::from(burst.max(1));
        self
    }

    /// Disconnects a socket once `dropped` of its events (at least 1) were
    /// dropped within `window`.
    pub fn disconnect_after(mut self, dropped: u32, window: Duration) -> Self {
        self.disconnect_after = Some(dropped.max(1));
        self.window = window;
        self
    }

    /// Only drops events over the limit, never disconnects.
    pub fn never_disconnect(mut self) -> Self {
        self.disconnect_after = None;
        self
    }

    /// The average rate, in events per second.
    pub fn rate(&self) -> f64 {
        self.per_second
    }

    /// The burst size.
    pub fn burst_size(&self) -> u32 {
        self.burst as u32
    }
}

/// The limits of a server: one for every event, and some per event name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Limits {
    pub all: Option<RateLimit>,
    pub events: Vec<(String, RateLimit)>,
}

impl Limits {
    /// Whether any limit is configured (otherwise sockets carry no state).
    pub fn any(&self) -> bool {
        self.all.is_some() || !self.events.is_empty()
    }
}

/// One bucket's tokens.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(limit: &RateLimit, now: Instant) -> Self {
        Bucket {
            tokens: limit.burst,
            last: now,
        }
    }

    /// Refills for the time elapsed, then takes one token if there is one.
    fn take(&mut self, limit: &RateLimit, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * limit.per_second).min(limit.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What to do with an incoming event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Under the limits.
    Allow,
    /// Over a limit: drop it (`first`: the first drop of this socket).
    Drop { first: bool },
    /// Over a limit too often: drop it and disconnect.
    Disconnect,
}

/// The rate-limit state of one socket.
#[derive(Debug)]
pub(crate) struct Limiter {
    all: Option<Bucket>,
    /// One bucket per entry of [`Limits::events`], in the same order.
    events: Vec<Bucket>,
    dropped: u32,
    window_start: Instant,
    warned: bool,
}

impl Limiter {
    /// Full buckets for `limits`.
    pub fn new(limits: &Limits) -> Self {
        let now = Instant::now();
        Limiter {
            all: limits.all.as_ref().map(|l| Bucket::full(l, now)),
            events: limits
                .events
                .iter()
                .map(|(_, l)| Bucket::full(l, now))
                .collect(),
            dropped: 0,
            window_start: now,
            warned: false,
        }
    }

    /// Takes a token for `event` from its own bucket and from the
    /// socket's; an event over either is dropped.
    pub fn check(&mut self, limits: &Limits, event: &str, now: Instant) -> Verdict {
        let mut over = None;
        if let Some(i) = limits.events.iter().position(|(name, _)| name == event) {
            let limit = &limits.events[i].1;
            if let Some(bucket) = self.events.get_mut(i) {
                if !bucket.take(limit, now) {
                    over = Some(*limit);
                }
            }
        }
        if over.is_none() {
            if let (Some(limit), Some(bucket)) = (&limits.all, self.all.as_mut()) {
                if !bucket.take(limit, now) {
                    over = Some(*limit);
                }
            }
        }
        let Some(limit) = over else {
            return Verdict::Allow;
        };
        if now.saturating_duration_since(self.window_start) > limit.window {
            self.window_start = now;
            self.dropped = 0;
        }
        self.dropped = self.dropped.saturating_add(1);
        if limit.disconnect_after.is_some_and(|n| self.dropped >= n) {
            return Verdict::Disconnect;
        }
        let first = !self.warned;
        self.warned = true;
        Verdict::Drop { first }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(all: Option<RateLimit>, events: &[(&str, RateLimit)]) -> Limits {
        Limits {
            all,
            events: events.iter().map(|(n, l)| ((*n).to_owned(), *l)).collect(),
        }
    }

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let l = limits(Some(RateLimit::new(2.0, 3).never_disconnect()), &[]);
        let mut lim = Limiter::new(&l);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(lim.check(&l, "a", t0), Verdict::Allow);
        }
        assert_eq!(lim.check(&l, "a", t0), Verdict::Drop { first: true });
        assert_eq!(lim.check(&l, "a", t0), Verdict::Drop { first: false });
        // Half a second at 2/s: one more token.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(lim.check(&l, "a", t1), Verdict::Allow);
        assert_eq!(lim.check(&l, "a", t1), Verdict::Drop { first: false });
        // A long pause refills to the burst, no more.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(lim.check(&l, "a", t2), Verdict::Allow);
        }
        assert!(matches!(lim.check(&l, "a", t2), Verdict::Drop { .. }));
    }

    #[test]
    fn per_event_limits_apply_to_their_event_only() {
        let l = limits(None, &[("chat", RateLimit::new(0.0, 1).never_disconnect())]);
        let mut lim = Limiter::new(&l);
        let t = Instant::now();
        assert_eq!(lim.check(&l, "chat", t), Verdict::Allow);
        assert!(matches!(lim.check(&l, "chat", t), Verdict::Drop { .. }));
        for _ in 0..100 {
            assert_eq!(lim.check(&l, "other", t), Verdict::Allow);
        }
    }

    #[test]
    fn repeated_drops_within_the_window_disconnect() {
        let limit = RateLimit::new(0.0, 1).disconnect_after(3, Duration::from_secs(1));
        let l = limits(Some(limit), &[]);
        let mut lim = Limiter::new(&l);
        let t = Instant::now();
        assert_eq!(lim.check(&l, "a", t), Verdict::Allow);
        assert_eq!(lim.check(&l, "a", t), Verdict::Drop { first: true });
        assert_eq!(lim.check(&l, "a", t), Verdict::Drop { first: false });
        // Past the window, the count starts again.
        let later = t + Duration::from_secs(2);
        assert_eq!(lim.check(&l, "a", later), Verdict::Drop { first: false });
        assert_eq!(lim.check(&l, "a", later), Verdict::Drop { first: false });
        assert_eq!(lim.check(&l, "a", later), Verdict::Disconnect);
    }

    #[test]
    fn odd_parameters_are_made_safe() {
        let l = RateLimit::new(f64::NAN, 0);
        assert_eq!((l.rate(), l.burst_size()), (0.0, 1));
        assert_eq!(RateLimit::per_second(0).burst_size(), 1);
        assert!(!Limits::default().any());
    }
}
