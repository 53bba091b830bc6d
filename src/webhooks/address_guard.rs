//! The SSRF guard: a webhook must not become a way for an admin (or whoever
//! steals an admin's token) to make the service call into its own network —
//! loopback, private ranges, link-local, unique-local, or a cloud's metadata
//! service. URLs are checked when they are registered ([`check_url`]) and again
//! on every delivery ([`GuardedResolver`], [`check_literal`]), because the
//! addresses a name resolves to can change after it was registered.
//! `WEBHOOK_ALLOW_PRIVATE=true` turns the guard off, for receivers on a private
//! network (and the tests).

use std::{
    future::Future,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use hyper_util::client::legacy::connect::dns::Name;

/// Cloud metadata services, refused whatever their range says (both are also
/// inside forbidden ranges; named here so no range edit can let them through).
pub const METADATA_ADDRESSES: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)),
];

/// How long a registration waits for the name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a URL is not accepted; its `Display` is the message shown to the admin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("this is not a valid URL ({0})")]
    Malformed(String),
    #[error("the URL must start with http:// or https://")]
    Scheme,
    #[error("the URL must name a host")]
    NoHost,
    #[error("the URL must not contain a user name or password")]
    Credentials,
    #[error("{host} cannot be resolved ({reason})")]
    Unresolvable { host: String, reason: String },
    #[error(
        "{host} is {ip}, a {kind} address; webhooks may not reach loopback, private, \
         link-local or metadata addresses unless the server runs with \
         WEBHOOK_ALLOW_PRIVATE=true"
    )]
    Forbidden {
        host: String,
        ip: IpAddr,
        kind: &'static str,
    },
}

/// Whether a delivery must never be sent to `ip` (unless private addresses are
/// allowed).
pub fn is_forbidden(ip: IpAddr) -> bool {
    forbidden_kind(ip).is_some()
}

/// What kind of forbidden address `ip` is, for messages; `None` when it is a
/// public address.
pub fn forbidden_kind(ip: IpAddr) -> Option<&'static str> {
    if METADATA_ADDRESSES.contains(&ip) {
        return Some("cloud metadata");
    }
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => v6_kind(v6),
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let kind = match (a, b, c) {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        _ if ip.is_link_local() => "link-local",
        _ if ip.is_broadcast() => "broadcast",
        _ if ip.is_multicast() => "multicast",
        _ if ip.is_documentation() => "documentation",
        // 0.0.0.0/8: "this network".
        (0, _, _) => "unspecified",
        // 100.64.0.0/10: carrier-grade NAT, private to a provider (and where
        // some clouds put their metadata services).
        (100, 64..=127, _) => "shared (carrier-grade NAT)",
        // 192.0.0.0/24: IETF protocol assignments (some metadata services too).
        (192, 0, 0) => "reserved",
        // 198.18.0.0/15: benchmarking.
        (198, 18..=19, _) => "reserved",
        // 240.0.0.0/4: reserved for future use.
        (240..=255, _, _) => "reserved",
        _ => return None,
    };
    Some(kind)
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(ip) {
        return v4_kind(v4);
    }
    let segments = ip.segments();
    let kind = match segments {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_multicast() => "multicast",
        // fc00::/7: unique-local, IPv6's private ranges.
        [s, ..] if s & 0xfe00 == 0xfc00 => "unique-local",
        // fe80::/10 link-local, and fec0::/10 (deprecated site-local).
        [s, ..] if s & 0xffc0 == 0xfe80 => "link-local",
        [s, ..] if s & 0xffc0 == 0xfec0 => "site-local",
        // 2001:db8::/32 and 3fff::/20: documentation.
        [0x2001, 0x0db8, ..] => "documentation",
        [0x3fff, s, ..] if s & 0xf000 == 0 => "documentation",
        // 100::/64: discard-only.
        [0x0100, 0, 0, 0, ..] => "reserved",
        // 2001::/32 Teredo tunnels, and 64:ff9b:1::/48 local-use NAT64: both
        // can lead somewhere no range check can see.
        [0x2001, 0, ..] => "tunnel",
        [0x0064, 0xff9b, 0x0001, ..] => "NAT64",
        _ => return None,
    };
    Some(kind)
}

/// The IPv4 address an IPv6 address stands for, where packets to it end up
/// there: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated
/// (`::ffff:0:a.b.c.d`, RFC 2765's SIIT form), IPv4-compatible
/// (`::a.b.c.d`), NAT64 well-known prefix (`64:ff9b::a.b.c.d`) and 6to4
/// (`2002:ab:cd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, ..] => Some(low),
        // A translator hands these to the IPv4 address in the low 32 bits just
        // as it does mapped ones, so they must not pass as public IPv6.
        [0, 0, 0, 0, 0xffff, 0, ..] => Some(low),
        // `::` and `::1` are themselves, not 0.0.0.0 and 0.0.0.1.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, ..] => Some(low),
        [0x0064, 0xff9b, 0, 0, 0, 0, ..] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// Parses a webhook URL and, unless `allow_private`, refuses one whose host is
/// or resolves to any forbidden address. Used at registration; deliveries check
/// again with [`GuardedResolver`].
pub async fn check_url(url: &str, allow_private: bool) -> Result<url::Url, UrlRefused> {
    let parsed = parse(url)?;
    let host = parsed.host_str().ok_or(UrlRefused::NoHost)?.to_owned();
    let port = parsed.port_or_known_default().ok_or(UrlRefused::Scheme)?;
    let addresses = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
        Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
        _ => resolve(&host, port).await?,
    };
    if !allow_private {
        refuse_forbidden(&host, addresses)?;
    }
    Ok(parsed)
}

/// The syntax rules of a webhook URL: http or https, a host, no credentials.
pub fn parse(url: &str) -> Result<url::Url, UrlRefused> {
    let parsed = url::Url::parse(url.trim()).map_err(|e| UrlRefused::Malformed(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UrlRefused::Scheme);
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UrlRefused::Credentials);
    }
    match parsed.host_str() {
        Some(host) if !host.is_empty() => Ok(parsed),
        _ => Err(UrlRefused::NoHost),
    }
}

/// Refuses a URL whose host is a forbidden IP literal. Deliveries call it
/// before connecting, because a connection to a literal address resolves
/// nothing and so never reaches [`GuardedResolver`].
pub fn check_literal(url: &url::Url) -> Result<(), UrlRefused> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    refuse_forbidden(&ip.to_string(), [ip])
}

fn refuse_forbidden(
    host: &str,
    addresses: impl IntoIterator<Item = IpAddr>,
) -> Result<(), UrlRefused> {
    for ip in addresses {
        if let Some(kind) = forbidden_kind(ip) {
            return Err(UrlRefused::Forbidden {
                host: host.to_owned(),
                ip,
                kind,
            });
        }
    }
    Ok(())
}

async fn resolve(host: &str, port: u16) -> Result<Vec<IpAddr>, UrlRefused> {
    let unresolvable = |reason: String| UrlRefused::Unresolvable {
        host: host.to_owned(),
        reason,
    };
    let found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| unresolvable("no answer in time".into()))?
        .map_err(|e| unresolvable(e.to_string()))?;
    let addresses: Vec<IpAddr> = found.map(|address| address.ip()).collect();
    if addresses.is_empty() {
        return Err(unresolvable("no address".into()));
    }
    Ok(addresses)
}

/// The DNS resolver of the delivery client: the system's resolver, refusing a
/// name when any of its addresses is forbidden (all of them, not just the one
/// a connection would try first: a name that mixes public and internal
/// addresses is an attack, not a misconfiguration).
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

type Resolving = Pin<Box<dyn Future<Output = io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str();
            // Port 0: the connector puts the URL's port in.
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
            if !allow_private {
                refuse_forbidden(host, addresses.iter().map(SocketAddr::ip))
                    .map_err(|refused| io::Error::new(io::ErrorKind::PermissionDenied, refused))?;
            }
            Ok(addresses.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_forbidden() {
        for address in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "169.254.0.1",
            "192.0.0.192",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fd00:ec2::254",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "3fff:0fff::1",
            "100::1",
            "2001::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:0:127.0.0.1",
            "::ffff:0:10.1.2.3",
            "::ffff:0:169.254.169.254",
            "::ffff:0:192.168.0.1",
            "::ffff:0:0.0.0.0",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::1",
            "2002:c0a8:0101::1",
            "2002:7f00:0001::",
        ] {
            assert!(is_forbidden(ip(address)), "{address} must be forbidden");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "192.169.0.1",
            "198.17.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:82b::200e",
            "::ffff:1.1.1.1",
            "::ffff:0:1.1.1.1",
            "64:ff9b::8.8.8.8",
            "2002:0808:0808::1",
            "3fff:1000::1",
        ] {
            assert!(!is_forbidden(ip(address)), "{address} must be allowed");
        }
    }

    #[test]
    fn metadata_addresses_say_so() {
        for address in METADATA_ADDRESSES {
            assert_eq!(forbidden_kind(address), Some("cloud metadata"));
        }
        assert_eq!(forbidden_kind(ip("::ffff:127.0.0.1")), Some("loopback"));
    }

    #[test]
    fn translated_addresses_are_read_as_the_ipv4_address_inside() {
        // ::ffff:0:0:0/96 (RFC 2765), beside the mapped ::ffff:0:0/96.
        assert_eq!(forbidden_kind(ip("::ffff:0:7f00:1")), Some("loopback"));
        assert_eq!(forbidden_kind(ip("::ffff:0:a00:1")), Some("private"));
        assert_eq!(
            forbidden_kind(ip("::ffff:0:a9fe:a9fe")),
            Some("link-local"),
            "169.254.169.254 inside"
        );
        assert_eq!(forbidden_kind(ip("::ffff:0:808:808")), None);
        assert!(check_literal(&parse("http://[::ffff:0:7f00:1]/").unwrap()).is_err());
    }

    #[test]
    fn urls_need_http_a_host_and_no_credentials() {
        assert!(parse("https://hooks.example.com/in?x=1").is_ok());
        assert_eq!(parse("ftp://example.com/"), Err(UrlRefused::Scheme));
        assert_eq!(parse("file:///etc/passwd"), Err(UrlRefused::Scheme));
        assert_eq!(
            parse("https://user:pw@example.com/"),
            Err(UrlRefused::Credentials)
        );
        assert_eq!(
            parse("https://user@example.com/"),
            Err(UrlRefused::Credentials)
        );
        assert!(matches!(
            parse("example.com/hook"),
            Err(UrlRefused::Malformed(_))
        ));
        assert!(matches!(parse("http://"), Err(UrlRefused::Malformed(_))));
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_private_addresses_are_allowed() {
        for url in [
            "http://127.0.0.1:9/hook",
            "http://[::1]/hook",
            "http://localhost:8080/",
        ] {
            let refused = check_url(url, false).await.unwrap_err();
            assert!(
                matches!(
                    refused,
                    UrlRefused::Forbidden {
                        kind: "loopback",
                        ..
                    }
                ),
                "{url}: {refused:?}"
            );
            assert!(refused.to_string().contains("loopback"), "{refused}");
            check_url(url, true).await.unwrap();
        }
        let metadata = check_url("http://169.254.169.254/latest/meta-data/", false)
            .await
            .unwrap_err();
        assert!(metadata.to_string().contains("metadata"), "{metadata}");
    }

    #[test]
    fn literal_addresses_are_checked_at_delivery() {
        assert!(check_literal(&parse("http://10.0.0.1/").unwrap()).is_err());
        assert!(check_literal(&parse("http://[::ffff:7f00:1]/").unwrap()).is_err());
        assert!(check_literal(&parse("http://1.1.1.1/").unwrap()).is_ok());
        assert!(check_literal(&parse("http://example.com/").unwrap()).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_forbidden_addresses() {
        use tower::ServiceExt;
        let name: Name = "localhost".parse().unwrap();
        let refused = GuardedResolver {
            allow_private: false,
        }
        .oneshot(name.clone())
        .await
        .unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::PermissionDenied);
        assert!(refused.to_string().contains("loopback"), "{refused}");
        let allowed = GuardedResolver {
            allow_private: true,
        }
        .oneshot(name)
        .await
        .unwrap();
        assert!(allowed.count() >= 1);
    }
}
