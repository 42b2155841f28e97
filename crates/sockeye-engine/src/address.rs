//! Grouping client addresses for the per-address caps: an IPv4 address is
//! one client; an IPv6 client usually holds a whole prefix (a /64 at least),
//! so IPv6 addresses are grouped by their first `prefix` bits. An
//! IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is its IPv4 address.

use std::net::{IpAddr, Ipv6Addr};

/// The IPv6 prefix length the caps group addresses by unless configured.
pub(crate) const DEFAULT_IPV6_PREFIX: u8 = 64;

/// The most bits an IPv6 prefix has.
pub(crate) const MAX_IPV6_PREFIX: u8 = 128;

/// The key `ip` is counted under: an IPv4 address as it is (a /32), an
/// IPv4-mapped one as its IPv4 address, any other IPv6 address with every
/// bit after the first `prefix` (at most 128) cleared.
pub(crate) fn group(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u32::from(prefix.min(MAX_IPV6_PREFIX));
                let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_is_its_own_group() {
        assert_eq!(group(ip("192.0.2.1"), 64), ip("192.0.2.1"));
        assert_ne!(group(ip("192.0.2.1"), 0), group(ip("192.0.2.2"), 0));
    }

    #[test]
    fn ipv6_is_grouped_by_its_prefix() {
        let a = group(ip("2001:db8:0:1::1"), 64);
        assert_eq!(a, ip("2001:db8:0:1::"));
        assert_eq!(a, group(ip("2001:db8:0:1:ffff:ffff:ffff:ffff"), 64));
        assert_ne!(a, group(ip("2001:db8:0:2::1"), 64));
        assert_eq!(group(ip("2001:db8:0:1::1"), 48), ip("2001:db8::"));
        assert_eq!(group(ip("2001:db8:0:1::1"), 60), ip("2001:db8::"));
        assert_eq!(group(ip("2001:db8:0:1f::1"), 60), ip("2001:db8:0:10::"));
    }

    #[test]
    fn ipv6_prefix_bounds() {
        let a = ip("2001:db8::1");
        assert_eq!(group(a, 128), a);
        assert_eq!(group(a, 200), a);
        assert_eq!(group(a, 0), ip("::"));
        assert_eq!(group(ip("::1"), 127), ip("::"));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_its_ipv4_address() {
        assert_eq!(group(ip("::ffff:192.0.2.1"), 64), ip("192.0.2.1"));
        assert_eq!(group(ip("::ffff:192.0.2.1"), 0), ip("192.0.2.1"));
        assert_ne!(
            group(ip("::ffff:192.0.2.1"), 64),
            group(ip("::ffff:192.0.2.2"), 64)
        );
    }
}
