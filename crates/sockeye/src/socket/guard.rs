//! The bounds and limits a socket applies to what its client does: rooms
//! per socket, rate limits; each trip counted and logged once per socket.

use super::*;
use crate::rate_limit::Verdict;
use crate::stats::Trip;
use std::collections::HashSet;

impl Socket {
    /// Counts a trip; returns whether to log it at `warn`: the first of its
    /// kind on this socket, unless one was logged server-wide within
    /// [`crate::stats::WARN_EVERY`] (then it is for `debug`).
    pub(crate) fn trip(&self, trip: Trip) -> bool {
        let stats = &self.0.ns.0.config.stats;
        stats.trip(trip);
        let bit = trip.bit();
        self.0.warned.fetch_or(bit, Ordering::Relaxed) & bit == 0 && stats.warn_now(trip)
    }

    /// Whether joining `rooms` keeps the socket within its room cap. Cheap
    /// when the cap cannot be reached (no cap, or few rooms); otherwise
    /// linear in `rooms` and stopping as soon as the cap is exceeded.
    pub(super) fn check_room_count(&self, rooms: &[Room]) -> Result<(), TooManyRooms> {
        let max = self.0.ns.0.config.max_rooms_per_socket;
        let own = self.0.id.as_str();
        if max == usize::MAX || rooms.is_empty() || (rooms.len() == 1 && rooms[0] == own) {
            return Ok(());
        }
        // More names than the cap: refused if they alone go over, without
        // asking the adapter.
        if rooms.len() > max && distinct_over(rooms, own, &HashSet::new(), 0, max) {
            return self.refuse_rooms(max);
        }
        let current = self.rooms();
        let held = current.iter().filter(|r| r.as_str() != own).count();
        if held.saturating_add(rooms.len()) <= max {
            return Ok(());
        }
        let current: HashSet<&str> = current.iter().map(|r| r.as_str()).collect();
        if distinct_over(rooms, own, &current, held, max) {
            return self.refuse_rooms(max);
        }
        Ok(())
    }

    fn refuse_rooms(&self, max: usize) -> Result<(), TooManyRooms> {
        if self.trip(Trip::RoomRefused) {
            tracing::warn!(sid = %self.0.id, nsp = %self.0.ns.name(), max, "join refused: too many rooms for one socket");
        }
        Err(TooManyRooms { max })
    }

    /// Applies the rate limits to an incoming event: `false` when it must
    /// be dropped (counted, reported, logged once; the socket is
    /// disconnected when it went over too often).
    pub(crate) fn admit(&self, event: &str) -> bool {
        let Some(limiter) = &self.0.limiter else {
            return true;
        };
        let now = tokio::time::Instant::now();
        let verdict = limiter
            .lock()
            .check(&self.0.ns.0.config.rate_limits, event, now);
        match verdict {
            Verdict::Allow => true,
            Verdict::Drop { first } => {
                let stats = &self.0.ns.0.config.stats;
                stats.trip(Trip::EventRateLimited);
                if first && stats.warn_now(Trip::EventRateLimited) {
                    tracing::warn!(sid = %self.0.id, nsp = %self.0.ns.name(), event, "rate limit exceeded: events dropped");
                }
                self.report_error(SocketError::RateLimited {
                    event: event.to_owned(),
                });
                false
            }
            Verdict::Disconnect => {
                self.0.ns.0.config.stats.trip(Trip::EventRateLimited);
                if self.trip(Trip::RateLimitDisconnect) {
                    tracing::warn!(sid = %self.0.id, nsp = %self.0.ns.name(), event, "rate limit exceeded too often: disconnecting");
                }
                self.report_error(SocketError::RateLimited {
                    event: event.to_owned(),
                });
                self.disconnect_connection(DisconnectReason::RateLimited);
                false
            }
        }
    }

    /// Disconnects every namespace of this client (each gets a DISCONNECT
    /// packet) for `reason`, then closes the connection.
    /// The reason is recorded on the connection first, so that a CONNECT
    /// still in flight, or any socket the connection's close reaches, is
    /// closed with it too (not as a recoverable transport close).
    pub(crate) fn disconnect_connection(&self, reason: DisconnectReason) {
        let client = self.0.client.upgrade();
        if let Some(client) = &client {
            client.record_close_reason(reason);
        }
        let sockets = match &client {
            Some(client) => client.sockets(),
            None => vec![self.clone()],
        };
        for socket in sockets {
            socket.disconnect_with(reason);
        }
        match client {
            Some(client) => client.close_with(reason),
            None => self.0.session.close(),
        }
    }

    /// Sends DISCONNECT and runs the disconnect sequence with `reason`.
    pub(super) fn disconnect_with(&self, reason: DisconnectReason) {
        if self.connected() {
            let disconnect =
                sockeye_proto::sio::Packet::new(PacketKind::Disconnect, self.0.ns.name().clone());
            if let Ok(encoded) = self.parser().encode(&disconnect) {
                let _ = self.send_encoded(&BroadcastPacket::new(encoded));
            }
            self.close(reason);
        }
    }
}

/// Whether `held` rooms plus the distinct names of `rooms` that are not
/// `own` nor in `current` exceed `max`; stops at the first name over.
fn distinct_over(
    rooms: &[Room],
    own: &str,
    current: &HashSet<&str>,
    held: usize,
    max: usize,
) -> bool {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut count = held;
    for room in rooms {
        let room = room.as_str();
        if room != own && !current.contains(room) && seen.insert(room) {
            count += 1;
            if count > max {
                return true;
            }
        }
    }
    false
}
