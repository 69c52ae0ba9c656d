//! Where a request comes from: the client's IP address (the peer's, or a
//! trusted proxy's `X-Forwarded-For`) and its user agent, for deployments that
//! record request context.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{header, Extensions, HeaderMap};

use crate::config::{ContextConfig, IpRange};
use crate::service::RequestContext;

/// The request's context, or `None` when the deployment does not record it.
pub fn request_context(
    config: &ContextConfig,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> Option<RequestContext> {
    if !config.record_request_context {
        return None;
    }
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let ip = client_ip(peer, headers, &config.trusted_proxies);
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|ua| !ua.is_empty());
    Some(RequestContext::new(ip.map(|ip| ip.to_string()), agent))
}

/// The client's address. The peer is the client unless it is a trusted
/// proxy; then `X-Forwarded-For` (every such header, in order) is read from
/// its right end, skipping trusted proxies, and the first other address is
/// the client. A hop that is not an address stops the walk at the last good one.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpRange]) -> Option<IpAddr> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|range| range.contains(ip));
    let mut client = peer?.to_canonical();
    if !is_trusted(client) {
        return Some(client);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.into_iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, possibly with a port ("1.2.3.4:80",
/// "[::1]:80").
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ranges(list: &[&str]) -> Vec<IpRange> {
        list.iter().map(|r| r.parse().unwrap()).collect()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_untrusted_peer_is_the_client() {
        let h = xff(&["1.1.1.1"]);
        assert_eq!(client_ip(ip("9.9.9.9"), &h, &[]), ip("9.9.9.9"));
        assert_eq!(
            client_ip(ip("9.9.9.9"), &h, &ranges(&["10.0.0.0/8"])),
            ip("9.9.9.9")
        );
        assert_eq!(client_ip(None, &h, &[]), None);
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let trusted = ranges(&["10.0.0.0/8", "::1"]);
        let h = xff(&["6.6.6.6, 1.2.3.4", "10.0.0.7"]);
        // The client could have sent 6.6.6.6 itself; 1.2.3.4 is what our proxies saw.
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("1.2.3.4"));
        assert_eq!(
            client_ip(ip("::1"), &xff(&["[2001:db8::1]:443"]), &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &xff(&[]), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &xff(&["10.0.0.2"]), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &xff(&["garbage, 10.0.0.3"]), &trusted),
            ip("10.0.0.3")
        );
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &xff(&["5.5.5.5"]), &trusted),
            ip("5.5.5.5")
        );
    }

    #[test]
    fn ranges_parse_and_match() {
        let r: IpRange = "192.168.0.0/16".parse().unwrap();
        assert!(r.contains("192.168.4.2".parse().unwrap()));
        assert!(!r.contains("192.169.0.1".parse().unwrap()));
        assert!(!r.contains("::1".parse().unwrap()));
        let all: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: IpRange = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        let mapped: IpRange = "::ffff:10.0.0.0/104".parse().unwrap();
        assert_eq!(mapped, "10.0.0.0/8".parse().unwrap());
        assert!(mapped.contains("10.9.8.7".parse().unwrap()));
        assert!(mapped.contains("::ffff:10.9.8.7".parse().unwrap()));
        assert!(!mapped.contains("11.0.0.1".parse().unwrap()));
        let one: IpRange = "::ffff:192.0.2.1".parse().unwrap();
        assert!(one.contains("192.0.2.1".parse().unwrap()));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "nope",
            "10.0.0.0/x",
            "10.0.0.0/8/8",
        ] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad}");
        }
    }
}
