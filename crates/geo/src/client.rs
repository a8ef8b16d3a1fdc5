//! Where the client is: its IP address, taking trusted proxies and `X-Forwarded-For` into
//! account.
//!
//! Only addresses appended by proxies we trust are believed. The client controls everything
//! left of the first untrusted hop, so the walk goes right to left and stops there.

use std::net::IpAddr;

use ipnet::IpNet;

/// The upstream networks (load balancers, CDNs) whose `X-Forwarded-For` entries and country
/// headers we believe.
///
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) and networks within `::ffff:0:0/96` are
/// treated as the IPv4 addresses and networks they stand for, so a dual-stack listener sees
/// the same trust decisions as an IPv4 one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// Trusts every address in `nets` (normalised as described on the type).
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies {
            nets: nets.into_iter().map(canonical_net).collect(),
        }
    }

    /// True when `ip` (or the IPv4 address it maps) lies in a trusted network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// True when nothing is trusted (then [`client_ip`] always answers the peer).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// The trusted networks after normalisation.
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }
}

impl From<Vec<IpNet>> for TrustedProxies {
    fn from(nets: Vec<IpNet>) -> Self {
        TrustedProxies::new(nets)
    }
}

impl FromIterator<IpNet> for TrustedProxies {
    fn from_iter<I: IntoIterator<Item = IpNet>>(iter: I) -> Self {
        TrustedProxies::new(iter.into_iter().collect())
    }
}

fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        if let (Some(v4), true) = (v6.network().to_ipv4_mapped(), v6.prefix_len() >= 96) {
            if let Ok(n) = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96) {
                return IpNet::V4(n);
            }
        }
    }
    net
}

/// The client's address for this request.
///
/// `forwarded_for` yields the raw value of every `X-Forwarded-For` header line, in order.
/// - If `peer` is not trusted, the answer is `peer` (headers are ignored: anyone can send
///   them).
/// - Otherwise the comma-separated entries of all lines, taken as one list, are walked right
///   to left and the first address that is not trusted is the answer.
/// - Entries may carry a port (`1.2.3.4:567`, `[2001:db8::1]:80`), brackets or surrounding
///   whitespace; empty entries are skipped (HTTP list syntax allows them).
/// - An unparseable entry (`unknown`, garbage, an obfuscated address) stops the walk: the
///   answer is the last good address seen before it (the one closest to us), or `peer` if
///   there was none.
/// - If every entry is trusted, the left-most one is the answer; with no entries, `peer`.
///
/// `peer` is returned exactly as given (not canonicalised); addresses from the header are
/// returned as parsed. Does not allocate.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a [u8]>,
    trusted: &TrustedProxies,
) -> IpAddr {
    if !trusted.contains(peer) {
        return peer;
    }
    // One left-to-right pass that yields what the right-to-left walk would: the walk stops at
    // the *last* entry that is untrusted or unparseable, so only that stop (and the first good
    // entry after it) matters.
    let mut stop = Stop::None;
    let mut leftmost: Option<IpAddr> = None;
    for line in forwarded_for {
        for raw in line.split(|&b| b == b',') {
            let entry = raw.trim_ascii();
            if entry.is_empty() {
                continue;
            }
            match parse_entry(entry) {
                None => stop = Stop::Bad { after: None },
                Some(ip) if !trusted.contains(ip) => stop = Stop::Untrusted(ip),
                Some(ip) => {
                    if let Stop::Bad {
                        after: after @ None,
                    } = &mut stop
                    {
                        *after = Some(ip);
                    }
                    leftmost.get_or_insert(ip);
                }
            }
        }
    }
    match stop {
        Stop::Untrusted(ip) => ip,
        Stop::Bad { after } => after.unwrap_or(peer),
        Stop::None => leftmost.unwrap_or(peer),
    }
}

enum Stop {
    None,
    Untrusted(IpAddr),
    // `after` is the first trusted address to the right of the bad entry.
    Bad { after: Option<IpAddr> },
}

/// Parses one `X-Forwarded-For` entry (already trimmed): a bare address, `v4:port`,
/// `[v6]` or `[v6]:port`.
fn parse_entry(entry: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(entry).ok()?;
    if let Some(rest) = s.strip_prefix('[') {
        let (addr, tail) = rest.split_once(']')?;
        let ip: std::net::Ipv6Addr = addr.parse().ok()?;
        return (tail.is_empty() || is_port(tail.strip_prefix(':')?)).then_some(IpAddr::V6(ip));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    let (host, port) = s.split_once(':')?;
    let ip: std::net::Ipv4Addr = host.parse().ok()?;
    is_port(port).then_some(IpAddr::V4(ip))
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::new(vec![
            "10.0.0.0/8".parse().unwrap(),
            "192.168.1.1/32".parse().unwrap(),
            "2001:db8:ffff::/48".parse().unwrap(),
        ])
    }

    fn client(peer: &str, lines: &[&str]) -> IpAddr {
        client_ip(ip(peer), lines.iter().map(|l| l.as_bytes()), &trusted())
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_the_header_says() {
        assert_eq!(client("203.0.113.9", &["1.2.3.4"]), ip("203.0.113.9"));
        assert_eq!(client("203.0.113.9", &[]), ip("203.0.113.9"));
    }

    #[test]
    fn trusted_peer_without_header_is_the_client() {
        assert_eq!(client("10.1.1.1", &[]), ip("10.1.1.1"));
        assert_eq!(client("10.1.1.1", &["", " , "]), ip("10.1.1.1"));
    }

    #[test]
    fn rightmost_untrusted_wins() {
        // The client put 6.6.6.6 there itself; the first proxy we trust appended 1.2.3.4.
        assert_eq!(
            client("10.1.1.1", &["6.6.6.6, 1.2.3.4, 10.2.2.2"]),
            ip("1.2.3.4")
        );
        assert_eq!(client("10.1.1.1", &["6.6.6.6,1.2.3.4"]), ip("1.2.3.4"));
    }

    #[test]
    fn header_lines_are_one_list_in_order() {
        let got = client(
            "10.1.1.1",
            &["6.6.6.6, 1.2.3.4", "10.2.2.2", " 192.168.1.1 "],
        );
        assert_eq!(got, ip("1.2.3.4"));
        let got = client("10.1.1.1", &["10.9.9.9", "5.5.5.5, 10.2.2.2"]);
        assert_eq!(got, ip("5.5.5.5"));
    }

    #[test]
    fn all_trusted_gives_the_leftmost() {
        assert_eq!(
            client("10.1.1.1", &["10.3.3.3, 10.2.2.2", "192.168.1.1"]),
            ip("10.3.3.3")
        );
    }

    #[test]
    fn ports_brackets_and_whitespace() {
        assert_eq!(client("10.1.1.1", &["1.2.3.4:567"]), ip("1.2.3.4"));
        assert_eq!(client("10.1.1.1", &["[2001:db8::1]:80"]), ip("2001:db8::1"));
        assert_eq!(client("10.1.1.1", &["[2001:db8::1]"]), ip("2001:db8::1"));
        assert_eq!(client("10.1.1.1", &["\t2001:db8::2 "]), ip("2001:db8::2"));
        assert_eq!(
            client(
                "10.1.1.1",
                &["1.2.3.4 , [2001:db8:ffff::5]:443 ,10.0.0.7:8080"]
            ),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn unparseable_entry_stops_the_walk() {
        // Walk: 10.2.2.2 (trusted) → garbage: stop, answer the last good one seen.
        assert_eq!(
            client("10.1.1.1", &["1.2.3.4, garbage, 10.2.2.2"]),
            ip("10.2.2.2")
        );
        assert_eq!(
            client("10.1.1.1", &["1.2.3.4, unknown"]),
            ip("10.1.1.1"),
            "none seen"
        );
        assert_eq!(
            client("10.1.1.1", &["1.2.3.4, 10.3.3.3, x, 10.2.2.2"]),
            ip("10.2.2.2")
        );
        // An untrusted address right of the garbage is reached before it.
        assert_eq!(
            client("10.1.1.1", &["junk, 5.5.5.5, 10.2.2.2"]),
            ip("5.5.5.5")
        );
        for bad in [
            "1.2.3.4:",
            "1.2.3.4:x",
            "1.2.3.4:123456",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "[1.2.3.4]",
            "2001:db8::1:80:",
            "fe80::1%eth0",
            "\"1.2.3.4\"",
            "1.2.3",
        ] {
            assert_eq!(client("10.1.1.1", &[bad]), ip("10.1.1.1"), "{bad:?}");
        }
        let non_utf8: &[u8] = b"\xff\xfe, 10.2.2.2";
        assert_eq!(
            client_ip(ip("10.1.1.1"), [non_utf8], &trusted()),
            ip("10.2.2.2")
        );
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        let t = trusted();
        assert!(t.contains(ip("::ffff:10.1.2.3")));
        assert!(!t.contains(ip("::ffff:11.1.2.3")));
        assert_eq!(client("::ffff:10.1.1.1", &["1.2.3.4"]), ip("1.2.3.4"));
        assert_eq!(
            client("::ffff:10.1.1.1", &["1.2.3.4, ::ffff:10.2.2.2"]),
            ip("1.2.3.4")
        );
        let mapped_net = TrustedProxies::new(vec!["::ffff:172.16.0.0/108".parse().unwrap()]);
        assert!(mapped_net.contains(ip("172.16.5.5")));
        assert!(mapped_net.contains(ip("::ffff:172.16.5.5")));
        assert!(!mapped_net.contains(ip("172.32.0.1")));
        assert_eq!(mapped_net.nets()[0].to_string(), "172.16.0.0/12");
    }

    #[test]
    fn empty_trust_list_trusts_nobody() {
        let none = TrustedProxies::default();
        assert!(none.is_empty());
        assert!(!trusted().is_empty());
        assert_eq!(
            client_ip(ip("10.1.1.1"), [&b"1.2.3.4"[..]], &none),
            ip("10.1.1.1")
        );
        let t: TrustedProxies = ["10.0.0.0/8".parse::<IpNet>().unwrap()]
            .into_iter()
            .collect();
        assert!(t.contains(ip("10.0.0.1")));
    }
}
