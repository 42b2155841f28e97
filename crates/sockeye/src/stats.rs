//! [`Stats`]: how often each bound and abuse limit tripped, counted with
//! atomics that a metrics layer can read at any time ([`crate::SocketIo::stats`]).

use sockeye_proto::DecodeError;
use sockeye_proto::sio::{ATTACHMENTS_TOO_LARGE, TOO_DEEP};
use std::sync::atomic::{AtomicU64, Ordering};

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

/// The live counters, one per [`Trip`].
#[derive(Debug, Default)]
pub(crate) struct Counters([AtomicU64; TRIPS]);

impl Counters {
    /// Counts one trip.
    pub fn trip(&self, trip: Trip) {
        self.0[trip as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, trip: Trip) -> u64 {
        self.0[trip as usize].load(Ordering::Relaxed)
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
    /// Sockets disconnected for exceeding a rate limit too often.
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
}
