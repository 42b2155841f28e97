//! The cap on TCP connections open at once from one client address (an
//! IPv6 address counts with its whole prefix, see [`crate::address`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::warn;

/// Connections open per address, under a cap.
#[derive(Debug)]
pub(super) struct AddressCap {
    max: usize,
    ipv6_prefix: u8,
    table: Mutex<HashMap<IpAddr, Slot>>,
    refused: AtomicU64,
}

#[derive(Debug)]
struct Slot {
    open: usize,
    /// A refusal was logged since the address was last under its cap.
    warned: bool,
}

/// One connection's place under the cap, given back when it closes (an
/// upgraded connection keeps it for its whole life).
#[derive(Debug)]
pub(super) struct AddressGuard {
    cap: Arc<AddressCap>,
    ip: IpAddr,
}

impl AddressCap {
    pub(super) fn new(max: usize, ipv6_prefix: u8) -> Self {
        AddressCap {
            max,
            ipv6_prefix,
            table: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
        }
    }

    fn table(&self) -> MutexGuard<'_, HashMap<IpAddr, Slot>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new connection from `ip`, or `None` when its address
    /// group is at its cap (logged once until it goes under again, and
    /// counted).
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<AddressGuard> {
        let ip = crate::address::group(ip, self.ipv6_prefix);
        let mut table = self.table();
        let slot = table.entry(ip).or_insert(Slot {
            open: 0,
            warned: false,
        });
        if slot.open < self.max {
            slot.open += 1;
            return Some(AddressGuard {
                cap: Arc::clone(self),
                ip,
            });
        }
        let first = !std::mem::replace(&mut slot.warned, true);
        drop(table);
        self.refused.fetch_add(1, Ordering::Relaxed);
        if first {
            warn!(%ip, max = self.max, "connection cap per address reached; closing new connections");
        }
        None
    }

    /// Connections closed at once for going over the cap.
    pub(super) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

impl Drop for AddressGuard {
    fn drop(&mut self) {
        let mut table = self.cap.table();
        if let Some(slot) = table.get_mut(&self.ip) {
            slot.open = slot.open.saturating_sub(1);
            slot.warned = false;
            if slot.open == 0 {
                table.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_connections_are_counted_per_prefix() {
        let cap = Arc::new(AddressCap::new(1, 64));
        let first = cap.admit(ip("2001:db8::1")).expect("the first");
        assert!(cap.admit(ip("2001:db8::2")).is_none());
        let other = cap.admit(ip("2001:db8:0:1::1")).expect("another /64");
        let v4 = cap.admit(ip("192.0.2.1")).expect("an IPv4 address");
        assert!(cap.admit(ip("::ffff:192.0.2.1")).is_none());
        assert_eq!(cap.refused(), 2);
        drop(first);
        let again = cap
            .admit(ip("2001:db8::2"))
            .expect("the place is free again");
        drop((again, other, v4));
        assert!(cap.table().is_empty());
    }
}
