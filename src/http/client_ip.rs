//! The client's address, for the per-address limits.
//!
//! `X-Forwarded-For` is believed only when the connection comes from a trusted proxy
//! (`TRUSTED_PROXIES`, i.e. NGINX); anyone else could write any address into it. Behind the
//! proxy, the list is read from the right: each trusted hop vouches for the address to its
//! left, and the first address that is not a trusted proxy is the client.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use super::AppState;

/// The address the abuse limits count against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Always present when served by `Application`; a router driven without a socket (unit
        // tests) counts as one unspecified client.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
        Ok(Self(client_ip(
            peer,
            &parts.headers,
            &state.security.trusted_proxies,
        )))
    }
}

pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let forwarded = headers.get_all("x-forwarded-for");
    if !is_trusted(peer, trusted) {
        if forwarded.iter().next().is_some() {
            warn_once_untrusted_forwarded_for(peer);
        }
        return peer;
    }
    // Several headers are one list, in order.
    let hops: Vec<&str> = forwarded
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(address) = parse_hop(hop) else {
            // Garbage where an address should be: the last trusted hop is all we know.
            break;
        };
        client = address;
        if !is_trusted(address, trusted) {
            break;
        }
    }
    client
}

fn is_trusted(address: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&address))
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`, from a dual-stack socket) compares as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(canonical(address));
    }
    hop.parse::<SocketAddr>()
        .ok()
        .map(|socket| canonical(socket.ip()))
}

/// A proxy in front of the service without TRUSTED_PROXIES makes every client look like the
/// proxy, so the per-address limits would hit everyone at once; say so once in the log.
fn warn_once_untrusted_forwarded_for(peer: IpAddr) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            %peer,
            "ignoring X-Forwarded-For from an address not in TRUSTED_PROXIES; if this is your \
             reverse proxy, add it there, or all its clients share one rate limit"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let trusted = nets(&["10.0.0.10/32"]);
        let spoofed = headers(&["203.0.113.9"]);
        assert_eq!(
            client_ip(ip("198.51.100.1"), &spoofed, &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_ip(ip("198.51.100.1"), &spoofed, &[]),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/24"]);
        let nginx = ip("10.0.0.10");
        assert_eq!(
            client_ip(nginx, &headers(&["203.0.113.9"]), &trusted),
            ip("203.0.113.9")
        );
        // A client-supplied entry on the left cannot displace the address NGINX saw.
        assert_eq!(
            client_ip(nginx, &headers(&["1.1.1.1, 203.0.113.9"]), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(
                nginx,
                &headers(&["1.1.1.1", "203.0.113.9, 10.0.0.5"]),
                &trusted
            ),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(nginx, &headers(&["[2001:db8::1]:443"]), &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_ip(nginx, &headers(&["203.0.113.9:5000"]), &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn garbage_or_a_missing_header_leaves_the_nearest_trusted_hop() {
        let trusted = nets(&["10.0.0.0/24"]);
        let nginx = ip("10.0.0.10");
        assert_eq!(client_ip(nginx, &HeaderMap::new(), &trusted), nginx);
        assert_eq!(
            client_ip(nginx, &headers(&["unknown, 10.0.0.5"]), &trusted),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.10"), &headers(&["203.0.113.9"]), &trusted),
            ip("203.0.113.9")
        );
    }
}
