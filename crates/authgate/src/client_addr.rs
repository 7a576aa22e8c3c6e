//! The client's address behind reverse proxies.
//!
//! Behind a proxy every connection comes from the proxy, so per-client limits and audit
//! records need the address the proxy saw. Proxies pass it on in `X-Forwarded-For`
//! (`client, proxy1, proxy2`) or in RFC 7239's `Forwarded` (`for=client, for=proxy1`),
//! each hop appending the address it received the request from. Anyone can send those
//! headers, so they are believed only as far as the chain of proxies you trust:
//!
//! 1. the socket peer is the starting point; if it is not a trusted proxy, the headers
//!    are ignored and the peer is the client (a spoofed header from an untrusted peer
//!    changes nothing);
//! 2. otherwise the header's hops are read **right to left**; trusted proxies are
//!    skipped, and the first untrusted address is the client;
//! 3. a hop that is not an address (`unknown`, an obfuscated `_hidden` identifier,
//!    garbage) ends the walk: the client is the last trusted proxy seen, since nothing
//!    further left can be believed;
//! 4. if every hop is trusted, the leftmost one is the client.
//!
//! Only one header is read, the one your proxies write ([`ProxyHeader`]): reading the
//! other one too would let a client put a forged chain in the header the proxy passes
//! through untouched. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what a dual-stack
//! listener reports for IPv4 peers) are compared as IPv4. Ports are dropped. Bad header
//! values never panic; at most [`MAX_HOPS`] hops are read.
//!
//! ```
//! use std::net::IpAddr;
//! use authgate::client_addr::TrustedProxies;
//!
//! // nginx on the same host, load balancers in 10.0.0.0/8.
//! let proxies = TrustedProxies::parse("127.0.0.1, ::1, 10.0.0.0/8")?;
//! let peer: IpAddr = "127.0.0.1".parse()?;
//! let xff: &[&[u8]] = &[b"203.0.113.9, 10.0.3.4"];
//! assert_eq!(proxies.resolve(peer, xff.iter().copied()), "203.0.113.9".parse::<IpAddr>()?);
//!
//! // The same header from an untrusted peer is ignored.
//! let stranger: IpAddr = "198.51.100.7".parse()?;
//! assert_eq!(proxies.resolve(stranger, xff.iter().copied()), stranger);
//!
//! // No proxies trusted (the default): always the peer.
//! assert_eq!(TrustedProxies::none().resolve(peer, xff.iter().copied()), peer);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! RFC 7239 `Forwarded`, for proxies that write it instead:
//!
//! ```
//! use std::net::IpAddr;
//! use authgate::client_addr::{ProxyHeader, TrustedProxies};
//!
//! let proxies = TrustedProxies::parse("10.0.0.0/8")?.header(ProxyHeader::Forwarded);
//! let value: &[u8] = br#"for="[2001:db8::17]:4711";proto=https, for=10.1.2.3"#;
//! let client = proxies.resolve("10.9.9.9".parse()?, [value]);
//! assert_eq!(client, "2001:db8::17".parse::<IpAddr>()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use http::HeaderName;

use crate::error::{Error, ErrorKind};

/// The most hops read from a header (the rightmost ones); a longer chain is cut, which
/// only ever makes the answer a trusted proxy rather than a forged address.
pub const MAX_HOPS: usize = 32;

/// The client address an adapter resolved for a request, kept in the request's
/// extensions so that the core ([`crate::CredentialSource::client_addr`]) and
/// handlers find it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

/// Which header trusted proxies write the client chain into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx's `$proxy_add_x_forwarded_for`,
    /// most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl ProxyHeader {
    /// The header's name.
    pub fn name(self) -> HeaderName {
        match self {
            ProxyHeader::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
            ProxyHeader::Forwarded => http::header::FORWARDED,
        }
    }
}

impl FromStr for ProxyHeader {
    type Err = Error;

    /// `x-forwarded-for` or `forwarded`, any case.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ProxyHeader::XForwardedFor),
            "forwarded" => Ok(ProxyHeader::Forwarded),
            other => Err(Error::new(
                ErrorKind::Configuration,
                format!("unknown proxy header {other:?}: use x-forwarded-for or forwarded"),
            )),
        }
    }
}

/// A network in CIDR form (`10.0.0.0/8`, `2001:db8::/32`, or one address).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(entry: &str) -> Result<Cidr, Error> {
        let bad = |why: &str| Error::new(ErrorKind::Configuration, format!("trusted proxy {entry:?}: {why}"));
        let (addr, prefix) = match entry.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (entry, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad("not an IP address"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => {
                p.trim().parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| bad("bad prefix length"))?
            }
        };
        Ok(Cidr { addr: mask(addr, prefix), prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.addr
            }
            _ => false,
        }
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The proxies whose forwarding headers are believed; none by default.
///
/// Cheap to clone (a short list). See the [module docs](self) for the rules.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<Cidr>,
    header: ProxyHeader,
}

impl TrustedProxies {
    /// Trusts no proxy: the client is always the socket peer.
    pub fn none() -> TrustedProxies {
        TrustedProxies::default()
    }

    /// Parses a comma- or whitespace-separated list of addresses and CIDR networks
    /// (`127.0.0.1, 10.0.0.0/8, fd00::/8`), as `TRUSTED_PROXIES` holds it. An empty list
    /// trusts no proxy; a bad entry is a configuration error naming it.
    pub fn parse(list: &str) -> Result<TrustedProxies, Error> {
        let nets = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
            .map(Cidr::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies { nets, header: ProxyHeader::default() })
    }

    /// Reads the client chain from `header` (default `X-Forwarded-For`).
    #[must_use]
    pub fn header(mut self, header: ProxyHeader) -> TrustedProxies {
        self.header = header;
        self
    }

    /// The header read.
    pub fn proxy_header(&self) -> ProxyHeader {
        self.header
    }

    /// True when no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(ip))
    }

    /// The client address for a connection from `peer` whose request carries
    /// `header_values` (every value of [`Self::proxy_header`], in order).
    pub fn resolve<'a>(&self, peer: IpAddr, header_values: impl IntoIterator<Item = &'a [u8]>) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let mut hops: Vec<Option<IpAddr>> = Vec::new();
        for value in header_values {
            match self.header {
                ProxyHeader::XForwardedFor => xff_hops(value, &mut hops),
                ProxyHeader::Forwarded => forwarded_hops(value, &mut hops),
            }
            if hops.len() > 4 * MAX_HOPS {
                // Keep memory bounded however many header lines come in.
                hops.drain(..hops.len() - MAX_HOPS);
            }
        }
        let start = hops.len().saturating_sub(MAX_HOPS);
        let mut client = peer;
        for hop in hops[start..].iter().rev() {
            match hop {
                Some(ip) => {
                    client = ip.to_canonical();
                    if !self.is_trusted(client) {
                        return client;
                    }
                }
                // Not an address: nothing further left can be believed.
                None => return client,
            }
        }
        client
    }
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nets: Vec<String> = self.nets.iter().map(ToString::to_string).collect();
        f.debug_struct("TrustedProxies").field("nets", &nets).field("header", &self.header).finish()
    }
}

impl FromStr for TrustedProxies {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        TrustedProxies::parse(s)
    }
}

/// One `X-Forwarded-For` node: an address, optionally with a port (`[v6]:port`,
/// `v4:port`, which some proxies add).
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sock) = text.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    // `[2001:db8::1]` without a port.
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

fn xff_hops(value: &[u8], hops: &mut Vec<Option<IpAddr>>) {
    let Ok(text) = std::str::from_utf8(value) else {
        hops.push(None);
        return;
    };
    if text.trim().is_empty() {
        return;
    }
    hops.extend(text.split(',').map(parse_node));
}

/// RFC 7239 §4: elements separated by commas, pairs by semicolons, values tokens or
/// quoted strings. Each element is one hop; its `for=` node (RFC 7239 §6) is the
/// address, and an element without one, or with `unknown` or an obfuscated identifier,
/// is a hop we cannot use.
fn forwarded_hops(value: &[u8], hops: &mut Vec<Option<IpAddr>>) {
    let Ok(text) = std::str::from_utf8(value) else {
        hops.push(None);
        return;
    };
    if text.trim().is_empty() {
        return;
    }
    for element in split_unquoted(text, ',') {
        let mut node = None;
        for pair in split_unquoted(element, ';') {
            let Some((name, value)) = pair.split_once('=') else { continue };
            if name.trim().eq_ignore_ascii_case("for") {
                node = Some(unquote(value.trim()));
            }
        }
        hops.push(node.as_deref().and_then(parse_node));
    }
}

/// Splits at `sep` outside double quotes (backslash escapes inside quotes honoured).
fn split_unquoted(text: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter()
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(proxies: &TrustedProxies, peer: &str, values: &[&str]) -> IpAddr {
        proxies.resolve(ip(peer), values.iter().map(|v| v.as_bytes()))
    }

    fn fwd(proxies: &TrustedProxies, peer: &str, values: &[&str]) -> IpAddr {
        proxies.clone().header(ProxyHeader::Forwarded).resolve(ip(peer), values.iter().map(|v| v.as_bytes()))
    }

    #[test]
    fn spoofed_header_from_an_untrusted_peer_is_ignored() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(xff(&proxies, "203.0.113.5", &["1.2.3.4"]), ip("203.0.113.5"));
        assert_eq!(fwd(&proxies, "203.0.113.5", &["for=1.2.3.4"]), ip("203.0.113.5"));
        assert_eq!(xff(&TrustedProxies::none(), "127.0.0.1", &["1.2.3.4"]), ip("127.0.0.1"));
    }

    #[test]
    fn trusted_peer_is_read_right_to_left_through_trusted_hops_only() {
        let proxies = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap();
        // The client forged "6.6.6.6" at the left; nginx appended the real peer.
        assert_eq!(xff(&proxies, "127.0.0.1", &["6.6.6.6, 198.51.100.2, 10.1.1.1"]), ip("198.51.100.2"));
        // Several header lines form one list, in order.
        assert_eq!(xff(&proxies, "127.0.0.1", &["6.6.6.6", "198.51.100.2", "10.1.1.1"]), ip("198.51.100.2"));
        // Every hop trusted: the leftmost.
        assert_eq!(xff(&proxies, "127.0.0.1", &["10.0.0.9, 10.1.1.1"]), ip("10.0.0.9"));
        // No header: the peer.
        assert_eq!(xff(&proxies, "127.0.0.1", &[]), ip("127.0.0.1"));
        assert_eq!(xff(&proxies, "127.0.0.1", &["  "]), ip("127.0.0.1"));
    }

    #[test]
    fn ipv6_and_ports_are_understood() {
        let proxies = TrustedProxies::parse("::1, fd00::/8").unwrap();
        assert_eq!(xff(&proxies, "::1", &["2001:db8::5, fd00::1"]), ip("2001:db8::5"));
        assert_eq!(xff(&proxies, "::1", &["[2001:db8::5]:443"]), ip("2001:db8::5"));
        assert_eq!(xff(&proxies, "::1", &["[2001:db8::5]"]), ip("2001:db8::5"));
        assert_eq!(xff(&proxies, "::1", &["192.0.2.1:5678"]), ip("192.0.2.1"));
        // A dual-stack listener reports IPv4 peers as mapped addresses.
        let v4 = TrustedProxies::parse("127.0.0.1").unwrap();
        assert_eq!(xff(&v4, "::ffff:127.0.0.1", &["192.0.2.1"]), ip("192.0.2.1"));
        assert_eq!(xff(&v4, "::ffff:192.0.2.9", &["1.1.1.1"]), ip("192.0.2.9"));
    }

    #[test]
    fn forwarded_for_quoted_ipv6_ports_and_case() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(
            fwd(&proxies, "10.0.0.1", &[r#"for=192.0.2.60;proto=http;by=203.0.113.43"#]),
            ip("192.0.2.60")
        );
        assert_eq!(
            fwd(&proxies, "10.0.0.1", &[r#"For="[2001:db8:cafe::17]:4711""#]),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(fwd(&proxies, "10.0.0.1", &[r#"for="192.0.2.43:47011", for=10.2.2.2"#]), ip("192.0.2.43"));
        assert_eq!(fwd(&proxies, "10.0.0.1", &[r#"proto=https;for="198.51.100.1""#]), ip("198.51.100.1"));
        // A comma inside quotes does not split elements.
        assert_eq!(fwd(&proxies, "10.0.0.1", &[r#"for=198.51.100.1;x="a,b""#]), ip("198.51.100.1"));
    }

    #[test]
    fn obfuscated_or_unknown_hops_stop_at_the_last_trusted_proxy() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(fwd(&proxies, "10.0.0.1", &["for=_hidden, for=10.3.3.3"]), ip("10.3.3.3"));
        assert_eq!(fwd(&proxies, "10.0.0.1", &["for=unknown"]), ip("10.0.0.1"));
        assert_eq!(fwd(&proxies, "10.0.0.1", &["proto=https"]), ip("10.0.0.1"));
        // An untrusted client left of an unknown hop is not believed.
        assert_eq!(fwd(&proxies, "10.0.0.1", &["for=1.1.1.1, for=_SEVKISEK"]), ip("10.0.0.1"));
        assert_eq!(xff(&proxies, "10.0.0.1", &["1.1.1.1, unknown, 10.0.0.2"]), ip("10.0.0.2"));
    }

    #[test]
    fn garbage_never_panics_and_never_yields_a_forged_address() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let garbage: [&[u8]; 12] = [
            b"\xff\xfe",
            b",,,",
            b"for=",
            b"for=\"",
            b"for=\"[::1",
            b"for=[::1]:x",
            b"\"\\",
            b"=;=;,=",
            b"1.2.3.4.5",
            b"999.1.1.1",
            b"[]:",
            b"for=\"\\\"\"",
        ];
        for value in garbage {
            for header in [ProxyHeader::XForwardedFor, ProxyHeader::Forwarded] {
                let got = proxies.clone().header(header).resolve(ip("10.0.0.1"), [value]);
                assert!(proxies.is_trusted(got), "{value:?} {header:?} gave {got}");
            }
        }
        // A huge chain keeps only the rightmost hops.
        let long = vec!["10.0.0.5"; 10 * MAX_HOPS].join(",");
        assert_eq!(xff(&proxies, "10.0.0.1", &[&format!("1.1.1.1,{long}")]), ip("10.0.0.5"));
        // Pseudo-random bytes.
        let alphabet = b"0123456789abcdef:.,;=\"[]_ forFOR\\\xff";
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..(seed % 40))
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            let _ =
                proxies.clone().header(ProxyHeader::Forwarded).resolve(ip("10.0.0.1"), [bytes.as_slice()]);
            let _ = proxies.resolve(ip("10.0.0.1"), [bytes.as_slice()]);
        }
    }

    #[test]
    fn cidr_lists_parse_and_bad_entries_name_themselves() {
        let p = TrustedProxies::parse(" 10.0.0.1/8 192.168.0.0/16,::1 , fd00::/8").unwrap();
        assert!(p.is_trusted(ip("10.255.0.1")) && p.is_trusted(ip("192.168.3.3")) && p.is_trusted(ip("::1")));
        assert!(p.is_trusted(ip("fdff::1")) && !p.is_trusted(ip("11.0.0.1")) && !p.is_trusted(ip("fe00::1")));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(TrustedProxies::parse("0.0.0.0/0").unwrap().is_trusted(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "::/129", "localhost", "10.0.0.0/x", "1.2.3"] {
            let e = TrustedProxies::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Configuration);
            assert!(e.detail().contains(bad), "{e}");
        }
        assert_eq!("Forwarded".parse::<ProxyHeader>().unwrap(), ProxyHeader::Forwarded);
        assert!("x-real-ip".parse::<ProxyHeader>().is_err());
    }
}
