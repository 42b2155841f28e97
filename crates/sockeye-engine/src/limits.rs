//! Admission of new sessions: the total cap, and the per-address caps on
//! open sessions and on handshakes per second.
//!
//! Nothing here runs unless a cap is configured. The per-address table holds
//! one entry per address that has an open session or handshook in the last
//! second; entries without either are swept as the table grows, so it never
//! grows without bound.

use crate::engine::Shared;
use crate::error::{ErrorCode, Refusal};
use crate::stats::Trip;
use http::StatusCode;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// The handshake rate is counted in windows of this length.
const WINDOW: Duration = Duration::from_secs(1);
/// The table is not swept below this many entries.
const MIN_SWEEP: usize = 1024;

/// The admission state shared by the engine's handshakes.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    /// Sessions admitted and not yet finished (only counted with a total cap).
    sessions: AtomicUsize,
    /// A refusal by the total cap was logged since a place last freed.
    full_logged: AtomicBool,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<IpAddr, Entry>,
    /// Sweep when the table reaches this size.
    sweep_at: usize,
}

#[derive(Debug)]
struct Entry {
    sessions: usize,
    window_start: Instant,
    handshakes: u32,
    /// A refusal of this address was logged in this window.
    warned: bool,
}

impl Entry {
    fn idle(&self, now: Instant) -> bool {
        self.sessions == 0 && now.duration_since(self.window_start) >= WINDOW
    }
}

/// A session's place under the caps, given back when the session ends (or
/// when the handshake fails before the session exists).
pub(crate) struct Admission {
    shared: Arc<Shared>,
    counted: bool,
    address: Option<IpAddr>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let limits = &self.shared.limits;
        if self.counted {
            limits.sessions.fetch_sub(1, Ordering::AcqRel);
            limits.full_logged.store(false, Ordering::Relaxed);
        }
        if let Some(ip) = self.address {
            let now = Instant::now();
            let mut table = limits.table.lock();
            if let Some(entry) = table.entries.get_mut(&ip) {
                entry.sessions = entry.sessions.saturating_sub(1);
                if entry.idle(now) {
                    table.entries.remove(&ip);
                }
            }
        }
    }
}

/// Admits a new session from `peer` (counted under its address group, see
/// [`crate::address::group`]), or refuses it with the refusal to send.
/// `None` when no cap is configured (nothing to give back).
pub(crate) fn admit(
    shared: &Arc<Shared>,
    peer: Option<IpAddr>,
) -> Result<Option<Admission>, Refusal> {
    let config = &shared.config;
    let per_address = config.max_connections_per_address.is_some()
        || config.max_handshakes_per_second_per_address.is_some();
    if config.max_sessions.is_none() && !per_address {
        return Ok(None);
    }
    let limits = &shared.limits;
    let mut admission = Admission {
        shared: shared.clone(),
        counted: false,
        address: None,
    };
    if let Some(max) = config.max_sessions {
        let taken = limits
            .sessions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        if taken.is_err() {
            shared.stats.count(Trip::Sessions);
            if !limits.full_logged.swap(true, Ordering::Relaxed) {
                // Once until a place frees, however many knock meanwhile.
                tracing::warn!(max, ?peer, "session cap reached, handshakes refused");
            }
            return Err(refused(
                "Too many sessions",
                StatusCode::SERVICE_UNAVAILABLE,
            ));
        }
        admission.counted = true;
    }
    let peer = peer.map(|ip| crate::address::group(ip, config.ipv6_address_prefix));
    if let Some(ip) = peer.filter(|_| per_address) {
        admit_address(shared, ip)?;
        admission.address = Some(ip);
    }
    Ok(Some(admission))
}

/// The per-address checks; counts the session in its address's entry.
fn admit_address(shared: &Shared, ip: IpAddr) -> Result<(), Refusal> {
    let config = &shared.config;
    let now = Instant::now();
    let mut table = shared.limits.table.lock();
    if !table.entries.contains_key(&ip) && table.entries.len() >= table.sweep_at {
        table.entries.retain(|_, e| !e.idle(now));
        table.sweep_at = (table.entries.len() * 2).max(MIN_SWEEP);
    }
    let entry = table.entries.entry(ip).or_insert(Entry {
        sessions: 0,
        window_start: now,
        handshakes: 0,
        warned: false,
    });
    if now.duration_since(entry.window_start) >= WINDOW {
        entry.window_start = now;
        entry.handshakes = 0;
        entry.warned = false;
    }
    entry.handshakes = entry.handshakes.saturating_add(1);
    let refusal = if config
        .max_handshakes_per_second_per_address
        .is_some_and(|max| entry.handshakes > max)
    {
        Some((
            Trip::AddressHandshakes,
            "Too many handshakes from this address",
        ))
    } else if config
        .max_connections_per_address
        .is_some_and(|max| entry.sessions >= max)
    {
        Some((
            Trip::AddressConnections,
            "Too many connections from this address",
        ))
    } else {
        None
    };
    let Some((trip, message)) = refusal else {
        entry.sessions += 1;
        return Ok(());
    };
    let first = !std::mem::replace(&mut entry.warned, true);
    drop(table);
    shared.stats.count(trip);
    if first {
        // Once per address and second, however hard it knocks.
        tracing::warn!(%ip, reason = message, "handshake refused by a per-address cap");
    }
    Err(refused(message, StatusCode::TOO_MANY_REQUESTS))
}

fn refused(message: &str, status: StatusCode) -> Refusal {
    Refusal::with_message(ErrorCode::Forbidden, message.into()).with_status(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_idle_without_sessions_after_its_window() {
        let t0 = Instant::now();
        let mut e = Entry {
            sessions: 1,
            window_start: t0,
            handshakes: 1,
            warned: false,
        };
        assert!(!e.idle(t0 + WINDOW));
        e.sessions = 0;
        assert!(!e.idle(t0));
        assert!(e.idle(t0 + WINDOW));
    }
}
