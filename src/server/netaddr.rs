//! Client addresses: CIDR blocks for `serve --trusted-proxy`, and the choice
//! of the address a request is counted against (failed-auth throttle, audit
//! `source`). Pure: no DNS, no NSS, no sockets.

use ipnet::{IpNet, Ipv6Net};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 block such as `10.0.0.0/8` or `fd00::/8`. A bare address
/// is a block of one. Host bits below the prefix are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(
    /// Host bits cleared; IPv4 kept as IPv4.
    IpNet,
);

impl Cidr {
    pub fn prefix(&self) -> u8 {
        self.0.prefix_len()
    }

    pub fn network(&self) -> IpAddr {
        self.0.network()
    }

    /// Whether `ip` is inside the block. An IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.1`) counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// ipnet does the network arithmetic; the address and the prefix are
    /// read here first, so a bare address is a block of one, an IPv4-mapped
    /// address is IPv4, and each mistake gets its own message.
    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let bad =
            |why: &str| format!("'{s}' is not a CIDR block such as 10.0.0.0/8 or fd00::/8: {why}");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| bad("the address is not an IPv4 or IPv6 address"))?;
        let ip = ip.to_canonical();
        let max: u8 = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => {
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("the prefix length is not a number"));
                }
                p.parse()
                    .map_err(|_| bad(&format!("the prefix length is above {max}")))?
            }
        };
        let net = IpNet::new(ip, prefix)
            .map_err(|_| bad(&format!("the prefix length is above {max}")))?;
        Ok(Cidr(net.trunc()))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One `X-Forwarded-For` element as an address: `1.2.3.4`, `2001:db8::1`,
/// `1.2.3.4:5678`, `[2001:db8::1]:5678`, optionally quoted. None for
/// anything else (`unknown`, obfuscated names).
fn parse_hop(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (inner, _) = rest.split_once(']')?;
        return inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    }
    let (host, port) = s.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The block a client is counted as: its IPv4 address, or the /64 of its
/// IPv6 address, since one IPv6 host commonly holds a whole /64 and would
/// otherwise get 2^64 fresh throttles and audit rows.
pub fn counted_block(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => Ipv6Net::new(v6, 64).map_or(IpAddr::V6(v6), |n| n.network().into()),
        v4 => v4,
    }
}

/// How a counted block is written in audit rows: `192.0.2.7`, `2001:db8::/64`.
pub fn block_label(ip: IpAddr) -> String {
    match counted_block(ip) {
        IpAddr::V6(net) => format!("{net}/64"),
        v4 => v4.to_string(),
    }
}

/// The address a request is counted against. Without a trusted peer that is
/// the TCP peer. When the peer is a trusted proxy, it is the right-most
/// `X-Forwarded-For` address that is not itself a trusted proxy (the
/// left-most one if every hop is trusted); walking stops at an element that
/// is not an address, keeping the last good hop, because anything left of it
/// was written by an untrusted client. `xff` yields the header values in
/// order (the header may be repeated).
pub fn client_address<'a>(
    peer: IpAddr,
    xff: impl IntoIterator<Item = &'a str>,
    trusted: &[Cidr],
) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = xff
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let mut chosen = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return chosen;
        };
        chosen = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_per_64_and_ipv4_per_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(counted_block(a), counted_block(b));
        assert_ne!(counted_block(a), counted_block(other));
        assert_eq!(block_label(a), "2001:db8:1:2::/64");
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(counted_block(v4), v4);
        assert_eq!(
            block_label("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7"
        );
    }

    fn c(s: &str) -> Cidr {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_v4_and_v6_blocks() {
        assert_eq!(c("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(c("192.168.1.77/24").to_string(), "192.168.1.0/24");
        assert_eq!(c("127.0.0.1").to_string(), "127.0.0.1/32");
        assert_eq!(c("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(c("fd00::1/8").to_string(), "fd00::/8");
        assert_eq!(c("::1").to_string(), "::1/128");
        assert_eq!(c("::/0").prefix(), 0);
        assert_eq!(c(" 2001:db8::/32 ").to_string(), "2001:db8::/32");
        // IPv4-mapped IPv6 is taken as IPv4.
        assert_eq!(c("::ffff:10.1.2.3/32").to_string(), "10.1.2.3/32");
    }

    #[test]
    fn refuses_malformed_blocks() {
        for s in [
            "",
            "/8",
            "10.0.0.0/",
            "10.0.0.0/33",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0/8",
            "10.0.0.0/8/8",
            "fd00::/129",
            "fd00::/0128",
            "localhost",
            "10.0.0.0/ 8",
            "1.2.3.4:80",
        ] {
            assert!(s.parse::<Cidr>().is_err(), "{s:?} parsed");
        }
    }

    #[test]
    fn membership_respects_the_prefix() {
        let b = c("10.1.0.0/16");
        assert!(b.contains(ip("10.1.0.0")));
        assert!(b.contains(ip("10.1.255.255")));
        assert!(!b.contains(ip("10.2.0.0")));
        assert!(!b.contains(ip("::1")));
        assert!(b.contains(ip("::ffff:10.1.2.3")));
        assert!(c("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!c("0.0.0.0/0").contains(ip("2001:db8::1")));
        let v6 = c("2001:db8:abcd::/48");
        assert!(v6.contains(ip("2001:db8:abcd:ffff::1")));
        assert!(!v6.contains(ip("2001:db8:abce::1")));
        assert!(c("::/0").contains(ip("2001:db8::1")));
        assert!(c("192.168.0.1/31").contains(ip("192.168.0.0")));
        assert!(!c("192.168.0.1/32").contains(ip("192.168.0.0")));
        assert!(c("fe80::/10").contains(ip("febf::1")));
        assert!(!c("fe80::/10").contains(ip("fec0::1")));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = [c("10.0.0.0/8")];
        assert_eq!(
            client_address(ip("203.0.113.5"), ["198.51.100.1"], &trusted),
            ip("203.0.113.5")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), ["198.51.100.1"], &[]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_trusted_peer_hands_over_the_rightmost_untrusted_hop() {
        let trusted = [c("10.0.0.0/8"), c("fd00::/8")];
        let peer = ip("10.0.0.1");
        assert_eq!(
            client_address(peer, ["198.51.100.7"], &trusted),
            ip("198.51.100.7")
        );
        // A client-written spoof on the left is ignored.
        assert_eq!(
            client_address(peer, ["1.1.1.1, 198.51.100.7, 10.0.0.9"], &trusted),
            ip("198.51.100.7")
        );
        // Repeated headers are one list, in order.
        assert_eq!(
            client_address(peer, ["1.1.1.1", "198.51.100.7", "10.0.0.9"], &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(peer, ["[2001:db8::5]:443, fd00::2"], &trusted),
            ip("2001:db8::5")
        );
        assert_eq!(
            client_address(peer, ["198.51.100.7:5555"], &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(peer, ["\"2001:db8::9\""], &trusted),
            ip("2001:db8::9")
        );
    }

    #[test]
    fn odd_forwarded_lists_fall_back_to_the_last_trusted_hop() {
        let trusted = [c("10.0.0.0/8")];
        let peer = ip("10.0.0.1");
        assert_eq!(client_address(peer, std::iter::empty(), &trusted), peer);
        assert_eq!(client_address(peer, [""], &trusted), peer);
        assert_eq!(client_address(peer, ["unknown"], &trusted), peer);
        assert_eq!(
            client_address(peer, ["1.1.1.1, garbage, 10.0.0.7"], &trusted),
            ip("10.0.0.7")
        );
        // Every hop trusted: the left-most one.
        assert_eq!(
            client_address(peer, ["10.0.0.3, 10.0.0.2"], &trusted),
            ip("10.0.0.3")
        );
    }

    #[test]
    fn mapped_peers_are_canonical() {
        let trusted = [c("127.0.0.1/32")];
        assert_eq!(
            client_address(ip("::ffff:127.0.0.1"), ["192.0.2.1"], &trusted),
            ip("192.0.2.1")
        );
        assert_eq!(
            client_address(ip("::ffff:192.0.2.8"), [], &trusted),
            ip("192.0.2.8")
        );
    }
}
