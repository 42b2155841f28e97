//! [`Stats`]: how often each bound and abuse limit tripped, counted with
//! atomics that a metrics layer can read at any time ([`crate::SocketIo::stats`]).

use sockeye_proto::DecodeError;
use sockeye_proto::sio::{ATTACHMENTS_TOO_LARGE, TOO_DEEP};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A bound or limit that refused something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trip {
    /// A packet that could not be decoded (other than the bounds below).
    ParseError,
    /// More binary attachments than `max_attachments`.
    TooManyAttachments,
    /// Attachments over `max_attachment_bytes`.
    AttachmentsTooLarge,
    /// A payload nested deeper than `max_payload_depth`.
    PayloadTooDeep,
    /// A CONNECT that would create a dynamic namespace over the cap.
    NamespaceRefused,
    /// A join over `max_rooms_per_socket`.
    RoomRefused,
    /// An emit with ack over `max_pending_acks`.
    AckRefused,
    /// An event dropped by a rate limit.
    EventRateLimited,
    /// A socket disconnected for exceeding a rate limit too often.
    RateLimitDisconnect,
}

const TRIPS: usize = 9;

impl Trip {
    /// The trip a decoding error stands for.
    pub fn of_decode_error(e: &DecodeError) -> Trip {
        match e {
            DecodeError::TooManyAttachments => Trip::TooManyAttachments,
            DecodeError::Malformed(m) if *m == ATTACHMENTS_TOO_LARGE => Trip::AttachmentsTooLarge,
            DecodeError::Payload(m) if *m == TOO_DEEP => Trip::PayloadTooDeep,
            _ => Trip::ParseError,
        }
    }

    /// A bit of its own, for "log once" flags.
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// How often each kind of trip is logged at `warn` at most (the others are
/// logged at `debug`; all are counted).
pub(crate) const WARN_EVERY: Duration = Duration::from_secs(10);

/// The live counters, one per [`Trip`], and when each was last logged at
/// `warn`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    trips: [AtomicU64; TRIPS],
    /// Milliseconds since [`epoch`] of the last `warn`, plus one (0: never).
    warned_at: [AtomicU64; TRIPS],
}

/// The process-wide origin of `warned_at`.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Counters {
    /// Counts one trip.
    pub fn trip(&self, trip: Trip) {
        self.trips[trip as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, trip: Trip) -> u64 {
        self.trips[trip as usize].load(Ordering::Relaxed)
    }

    /// Whether a trip of this kind may be logged at `warn` now: the first
    /// one, then at most one per [`WARN_EVERY`] (a client looping over a
    /// bound must not flood the log).
    pub fn warn_now(&self, trip: Trip) -> bool {
        self.warn_at(trip, Instant::now())
    }

    fn warn_at(&self, trip: Trip, now: Instant) -> bool {
        let now_ms = now.saturating_duration_since(epoch()).as_millis() as u64 + 1;
        let slot = &self.warned_at[trip as usize];
        let last = slot.load(Ordering::Relaxed);
        if last != 0 && now_ms.saturating_sub(last) < WARN_EVERY.as_millis() as u64 {
            return false;
        }
        slot.compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// The counters now.
    pub fn snapshot(&self) -> Stats {
        Stats {
            parse_errors: self.get(Trip::ParseError),
            too_many_attachments: self.get(Trip::TooManyAttachments),
            attachments_too_large: self.get(Trip::AttachmentsTooLarge),
            payloads_too_deep: self.get(Trip::PayloadTooDeep),
            namespaces_refused: self.get(Trip::NamespaceRefused),
            rooms_refused: self.get(Trip::RoomRefused),
            acks_refused: self.get(Trip::AckRefused),
            events_rate_limited: self.get(Trip::EventRateLimited),
            rate_limit_disconnects: self.get(Trip::RateLimitDisconnect),
        }
    }
}

/// How many times each bound and limit tripped since the server was built
/// (read with [`crate::SocketIo::stats`]). Each counter only grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections closed for a packet that could not be decoded, other
    /// than the three bounds below (`parse error`).
    pub parse_errors: u64,
    /// Connections closed for a packet announcing more binary attachments
    /// than [`crate::SocketIoBuilder::max_attachments`].
    pub too_many_attachments: u64,
    /// Connections closed for attachments over
    /// [`crate::SocketIoBuilder::max_attachment_bytes`].
    pub attachments_too_large: u64,
    /// Connections closed for a payload nested deeper than
    /// [`crate::SocketIoBuilder::max_payload_depth`].
    pub payloads_too_deep: u64,
    /// CONNECTs refused because they would have created a dynamic namespace
    /// over [`crate::SocketIoBuilder::max_dynamic_namespaces`], or because
    /// 64 CONNECTs of the same connection were already waiting for a
    /// predicate or a connect middleware.
    pub namespaces_refused: u64,
    /// Joins refused by [`crate::SocketIoBuilder::max_rooms_per_socket`].
    pub rooms_refused: u64,
    /// Emits with acknowledgement refused (or, for broadcasts, not sent to
    /// a socket) by [`crate::SocketIoBuilder::max_pending_acks`].
    pub acks_refused: u64,
    /// Incoming events dropped by a rate limit.
    pub events_rate_limited: u64,
    /// Connections closed for exceeding a rate limit too often (each
    /// counts once, whatever the number of namespaces it had joined).
    pub rate_limit_disconnects: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_trip_apart() {
        let c = Counters::default();
        c.trip(Trip::RoomRefused);
        c.trip(Trip::RoomRefused);
        c.trip(Trip::of_decode_error(&DecodeError::Payload(TOO_DEEP)));
        c.trip(Trip::of_decode_error(&DecodeError::TooManyAttachments));
        c.trip(Trip::of_decode_error(&DecodeError::Malformed(
            ATTACHMENTS_TOO_LARGE,
        )));
        c.trip(Trip::of_decode_error(&DecodeError::Empty));
        let s = c.snapshot();
        assert_eq!(
            (
                s.rooms_refused,
                s.payloads_too_deep,
                s.too_many_attachments,
                s.attachments_too_large,
                s.parse_errors,
                s.rate_limit_disconnects
            ),
            (2, 1, 1, 1, 1, 0)
        );
        assert_ne!(Trip::RoomRefused.bit(), Trip::AckRefused.bit());
    }

    #[test]
    fn warnings_are_let_through_once_per_period_per_kind() {
        let c = Counters::default();
        let t = epoch() + Duration::from_secs(1);
        assert!(c.warn_at(Trip::ParseError, t));
        assert!(!c.warn_at(Trip::ParseError, t));
        assert!(!c.warn_at(Trip::ParseError, t + WARN_EVERY / 2));
        // Another kind has its own period.
        assert!(c.warn_at(Trip::RoomRefused, t));
        assert!(c.warn_at(Trip::ParseError, t + WARN_EVERY));
        assert!(!c.warn_at(Trip::ParseError, t + WARN_EVERY));
    }
}
