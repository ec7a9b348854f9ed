//! The client's address: the TCP peer, unless the peer is a trusted proxy (`--trusted-proxies`),
//! in which case the forwarding headers it appends to are believed as far as they stay within
//! trusted proxies: `Forwarded` (RFC 7239 §4–6) when present, else `X-Forwarded-For`. The client
//! is the rightmost address that is not a trusted proxy; everything left of it could have been
//! written by the client itself. This one resolution feeds brute-force protection, the audit trail,
//! sessions, refresh-token devices and the Management API's rate limit.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, header};
use ipnet::IpNet;

/// The proxies whose forwarding headers are believed (none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn contains(&self, ip: &IpAddr) -> bool {
        let ip = canonical(*ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// `CIDR[,CIDR…]`; a bare address means that one address.
    fn from_str(s: &str) -> Result<Self, String> {
        let nets = s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|_| format!("not an address or CIDR block: {p:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies(nets))
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is (a dual-stack listener reports them).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The client's address for a request from `peer` carrying `headers` (see the module docs).
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = hops(headers, &header::FORWARDED, forwarded_for);
    let hops = if forwarded.is_empty() { hops(headers, &HeaderName::from_static("x-forwarded-for"), x_forwarded_for) } else { forwarded };
    let mut client = peer;
    for hop in hops.iter().rev() {
        // A hop a trusted proxy could not name ("unknown", an obfuscated identifier, garbage)
        // ends what can be known: the client is the proxy that reported it.
        let Some(ip) = hop else { return client };
        client = canonical(*ip);
        if !trusted.contains(&client) {
            return client;
        }
    }
    client
}

/// The hops of every instance of header `name`, in order (RFC 9110 §5.3: instances join with
/// commas), each parsed by `parse` (`None`: present but not an address).
fn hops(headers: &HeaderMap, name: &HeaderName, parse: fn(&str) -> Option<Option<IpAddr>>) -> Vec<Option<IpAddr>> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| match v.to_str() {
            Ok(s) => s.split(',').filter_map(parse).collect::<Vec<_>>(),
            Err(_) => vec![None],
        })
        .collect()
}

/// An `X-Forwarded-For` element: `addr`, `addr:port` or `[v6]:port`.
fn x_forwarded_for(element: &str) -> Option<Option<IpAddr>> {
    let e = element.trim();
    if e.is_empty() {
        return None;
    }
    Some(e.parse::<IpAddr>().ok().or_else(|| e.parse::<SocketAddr>().ok().map(|a| a.ip())))
}

/// The `for=` parameter of a `Forwarded` element (RFC 7239 §4, §6): a quoted or plain node,
/// `addr`, `"addr:port"`, `"[v6]"` or `"[v6]:port"`. Elements without `for=` are skipped.
fn forwarded_for(element: &str) -> Option<Option<IpAddr>> {
    let value = element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim().eq_ignore_ascii_case("for").then(|| v.trim().trim_matches('"'))
    })?;
    let node = match value.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => value.split(':').next().unwrap_or_default(),
    };
    Some(node.parse::<IpAddr>().ok())
}

/// The resolved client address of a request (put in its extensions by `seen::scope`); a request
/// without one (no connection info: unit tests of handlers) is refused with 500 rather than
/// guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// Resolves the address of the request with these parts (`None` without connection info).
    pub fn of(extensions: &axum::http::Extensions, headers: &HeaderMap, trusted: &TrustedProxies) -> Option<ClientAddress> {
        extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| ClientAddress(resolve(a.ip(), headers, trusted)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = axum::http::StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<ClientAddress>().copied().ok_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let h = headers(&[("x-forwarded-for", "198.51.100.2"), ("forwarded", "for=198.51.100.3")]);
        assert_eq!(resolve(ip("203.0.113.9"), &h, &TrustedProxies::default()), ip("203.0.113.9"));
        assert_eq!(resolve(ip("203.0.113.9"), &h, &"10.0.0.0/8".parse().unwrap()), ip("203.0.113.9"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted: TrustedProxies = "10.0.0.0/8, 192.0.2.1".parse().unwrap();
        // The client wrote the first entry itself; the proxies appended the rest.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.2"), ("x-forwarded-for", "192.0.2.1")]);
        assert_eq!(resolve(ip("10.1.2.3"), &h, &trusted), ip("198.51.100.2"));
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:4711, 10.0.0.7")]);
        assert_eq!(resolve(ip("10.1.2.3"), &h, &trusted), ip("2001:db8::1"));
    }

    #[test]
    fn forwarded_is_preferred_and_parsed_as_rfc_7239_says() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let h = headers(&[
            ("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43, For=\"[2001:db8:cafe::17]:4711\""),
            ("x-forwarded-for", "198.51.100.2"),
        ]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &trusted), ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", "for=\"192.0.2.60:8080\"")]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &trusted), ip("192.0.2.60"));
    }

    #[test]
    fn an_unknown_hop_stops_at_the_proxy_that_reported_it() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let h = headers(&[("forwarded", "for=192.0.2.60, for=unknown, for=10.0.0.5")]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.5"));
        assert_eq!(resolve(ip("10.0.0.1"), &HeaderMap::new(), &trusted), ip("10.0.0.1"), "no header: the proxy itself");
    }

    #[test]
    fn trusted_proxies_parse_cidrs_and_addresses_and_refuse_the_rest() {
        let t: TrustedProxies = "10.0.0.0/8,::1, 192.168.1.7/24".parse().unwrap();
        assert!(t.contains(&ip("10.255.0.1")) && t.contains(&ip("::1")) && t.contains(&ip("192.168.1.200")));
        assert!(t.contains(&ip("::ffff:10.0.0.1")), "IPv4-mapped addresses are their IPv4 address");
        assert!(!t.contains(&ip("11.0.0.1")));
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.internal".parse::<TrustedProxies>().is_err());
    }
}
