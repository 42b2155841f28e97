//! Rate limits on the events a client sends: [`RateLimit`] (a token bucket
//! and what to do when a client keeps exceeding it), and the
//! per-connection state that applies the configured limits.

use std::time::Duration;
use tokio::time::Instant;

/// A token bucket: `per_second` events on average, bursts of up to `burst`;
/// plus the disconnect policy for clients that keep going over it.
///
/// Set with [`crate::SocketIoBuilder::rate_limit`] (every event) and
/// [`crate::SocketIoBuilder::event_rate_limit`] (one event name). No limit
/// is set by default, and then connections carry no bucket and events pay
/// nothing.
///
/// Scope: the buckets belong to the connection (one Engine.IO session),
/// shared by all the namespaces it joined: joining more namespaces gives
/// no more budget, and leaving one and joining it again refills nothing.
/// A new connection starts with full buckets; reconnect loops are bounded
/// by the engine's per-address caps, not here. Only EVENT packets pay:
/// acks the client sends, CONNECTs and DISCONNECTs do not (CONNECTs are
/// bounded by the 64 pending per connection and the dynamic-namespace
/// cap; counting them here would let a flood of events refuse a user's
/// reconnect to a namespace).
///
/// Policy: an event passes only if its own bucket and the all-events
/// bucket both have a token (then both pay one); otherwise it is dropped
/// without taking any token, before any handler, packet middleware or
/// catch-all sees it, and its ack (if the client asked for one) is never
/// answered. The first drop of a connection is logged (`warn`), every drop
/// is counted ([`crate::Stats::events_rate_limited`]) and reported to the
/// socket's error handlers as [`crate::SocketError::RateLimited`]. Each
/// limit counts its own drops: once a limit has dropped `disconnect_after`
/// events within its window (by default 10 within 10 s; a sliding window,
/// estimated from the counts of the current and the previous window), the
/// whole connection is closed: every namespace gets a DISCONNECT packet
/// (the official client sees `io server disconnect` and does not reconnect
/// by itself) and the server-side reason is
/// [`crate::DisconnectReason::RateLimited`] (not recoverable: connection
/// state recovery does not restore such a session). Drops of a
/// [`never_disconnect`](Self::never_disconnect) limit never count towards
/// another limit's policy.
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

    /// Disconnects the connection once this limit dropped `dropped` of its
    /// events (at least 1) within `window`.
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

/// The drops a limit with a disconnect policy counted: those of the
/// current window and of the one before it.
#[derive(Debug)]
struct Drops {
    current: u32,
    previous: u32,
    start: Instant,
}

impl Drops {
    /// Counts a drop; returns the drops within the last `window`, estimated
    /// as a sliding window: the previous window's count weighted by how
    /// much of it the last `window` still covers, plus the current one.
    fn record(&mut self, window: Duration, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.start);
        if window.is_zero() || elapsed >= window.saturating_mul(2) {
            self.previous = 0;
            self.current = 0;
            self.start = now;
        } else if elapsed >= window {
            self.previous = self.current;
            self.current = 0;
            self.start += window;
        }
        self.current = self.current.saturating_add(1);
        let covered = if window.is_zero() {
            0.0
        } else {
            1.0 - now.saturating_duration_since(self.start).as_secs_f64() / window.as_secs_f64()
        };
        f64::from(self.previous) * covered.clamp(0.0, 1.0) + f64::from(self.current)
    }
}

/// One limit's tokens, and its drops.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    drops: Drops,
}

impl Bucket {
    fn full(limit: &RateLimit, now: Instant) -> Self {
        Bucket {
            tokens: limit.burst,
            last: now,
            drops: Drops {
                current: 0,
                previous: 0,
                start: now,
            },
        }
    }

    /// Refills for the time elapsed; returns whether a token is there.
    fn refill(&mut self, limit: &RateLimit, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * limit.per_second).min(limit.burst);
        self.tokens >= 1.0
    }

    /// Counts a drop by this limit; returns whether its disconnect policy
    /// is met. Limits that never disconnect count nothing.
    fn drop_one(&mut self, limit: &RateLimit, now: Instant) -> bool {
        match limit.disconnect_after {
            Some(n) => self.drops.record(limit.window, now) >= f64::from(n),
            None => false,
        }
    }
}

/// What to do with an incoming event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Under the limits.
    Allow,
    /// Over a limit: drop it (`first`: the first drop of this connection).
    Drop { first: bool },
    /// Over a limit too often: drop it and disconnect.
    Disconnect,
}

/// The rate-limit state of one connection, shared by its sockets.
#[derive(Debug)]
pub(crate) struct Limiter {
    all: Option<Bucket>,
    /// One bucket per entry of [`Limits::events`], in the same order.
    events: Vec<Bucket>,
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
            warned: false,
        }
    }

    /// Admits `event` if both its own bucket and the all-events bucket have
    /// a token (then both pay one), else drops it without taking any token.
    /// A drop counts towards the disconnect policy of each limit it was
    /// over, and only of those.
    pub fn check(&mut self, limits: &Limits, event: &str, now: Instant) -> Verdict {
        let mut own = limits
            .events
            .iter()
            .position(|(name, _)| name == event)
            .and_then(|i| Some((&limits.events[i].1, self.events.get_mut(i)?)));
        let mut all = match (&limits.all, self.all.as_mut()) {
            (Some(limit), Some(bucket)) => Some((limit, bucket)),
            _ => None,
        };
        let own_ok = own.as_mut().is_none_or(|(l, b)| b.refill(l, now));
        let all_ok = all.as_mut().is_none_or(|(l, b)| b.refill(l, now));
        if own_ok && all_ok {
            for (_, b) in own.into_iter().chain(all) {
                b.tokens -= 1.0;
            }
            return Verdict::Allow;
        }
        let mut disconnect = false;
        if !own_ok {
            if let Some((l, b)) = own {
                disconnect |= b.drop_one(l, now);
            }
        }
        if !all_ok {
            if let Some((l, b)) = all {
                disconnect |= b.drop_one(l, now);
            }
        }
        if disconnect {
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

    #[test]
    fn drops_count_towards_the_limit_that_dropped_them_only() {
        // "chat" drops never disconnect, and do not add to the drops of
        // the all-events limit.
        let all = RateLimit::new(0.0, 3).disconnect_after(2, Duration::from_secs(60));
        let chat = RateLimit::new(0.0, 1).never_disconnect();
        let l = limits(Some(all), &[("chat", chat)]);
        let mut lim = Limiter::new(&l);
        let t = Instant::now();
        assert_eq!(lim.check(&l, "chat", t), Verdict::Allow);
        for _ in 0..20 {
            assert!(matches!(lim.check(&l, "chat", t), Verdict::Drop { .. }));
        }
        // The chat drops took no token of the all-events bucket.
        assert_eq!(lim.check(&l, "x", t), Verdict::Allow);
        assert_eq!(lim.check(&l, "x", t), Verdict::Allow);
        assert!(matches!(lim.check(&l, "x", t), Verdict::Drop { .. }));
        assert_eq!(lim.check(&l, "x", t), Verdict::Disconnect);
    }

    #[test]
    fn an_event_dropped_by_the_all_events_limit_keeps_its_own_token() {
        let all = RateLimit::new(1.0, 1).never_disconnect();
        let chat = RateLimit::new(0.0, 2).never_disconnect();
        let l = limits(Some(all), &[("chat", chat)]);
        let mut lim = Limiter::new(&l);
        let t = Instant::now();
        assert_eq!(lim.check(&l, "x", t), Verdict::Allow);
        assert!(matches!(lim.check(&l, "chat", t), Verdict::Drop { .. }));
        assert!(matches!(lim.check(&l, "chat", t), Verdict::Drop { .. }));
        // Both chat tokens are still there.
        let t1 = t + Duration::from_secs(1);
        assert_eq!(lim.check(&l, "chat", t1), Verdict::Allow);
        let t2 = t1 + Duration::from_secs(1);
        assert_eq!(lim.check(&l, "chat", t2), Verdict::Allow);
        let t3 = t2 + Duration::from_secs(1);
        assert!(matches!(lim.check(&l, "chat", t3), Verdict::Drop { .. }));
    }

    #[test]
    fn windows_of_different_limits_do_not_reset_each_other() {
        let all = RateLimit::new(0.0, 1).disconnect_after(3, Duration::from_secs(10));
        let chat = RateLimit::new(0.0, 1).disconnect_after(100, Duration::from_secs(1));
        let l = limits(Some(all), &[("chat", chat)]);
        let mut lim = Limiter::new(&l);
        let t = Instant::now();
        assert_eq!(lim.check(&l, "chat", t), Verdict::Allow);
        assert!(matches!(lim.check(&l, "x", t), Verdict::Drop { .. }));
        // A chat drop past chat's short window: over both limits.
        let later = t + Duration::from_secs(2);
        assert!(matches!(lim.check(&l, "chat", later), Verdict::Drop { .. }));
        assert_eq!(lim.check(&l, "x", later), Verdict::Disconnect);
    }

    #[test]
    fn the_drop_window_slides() {
        // 2 drops just before a window boundary and 2 just after: 4 within
        // one second, though no fixed window holds 3.
        let all = RateLimit::new(0.0, 1).disconnect_after(3, Duration::from_secs(10));
        let l = limits(Some(all), &[]);
        let mut lim = Limiter::new(&l);
        let t = Instant::now();
        assert_eq!(lim.check(&l, "x", t), Verdict::Allow);
        let before = t + Duration::from_millis(9_500);
        assert!(matches!(lim.check(&l, "x", before), Verdict::Drop { .. }));
        assert!(matches!(lim.check(&l, "x", before), Verdict::Drop { .. }));
        let after = t + Duration::from_millis(10_500);
        assert!(matches!(lim.check(&l, "x", after), Verdict::Drop { .. }));
        assert_eq!(lim.check(&l, "x", after), Verdict::Disconnect);
        // Long after, the count has gone.
        let quiet = t + Duration::from_secs(60);
        assert!(matches!(lim.check(&l, "x", quiet), Verdict::Drop { .. }));
    }
}
