//! Where an endpoint may point: `https` to a public address (the local run also allows
//! `http://127.0.0.1`), never to a private, loopback, link-local or metadata address. The
//! registration checks the URL; the delivery checks the address the name resolves to, every
//! time (a name can be re-pointed after it was registered: DNS rebinding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In AWS: `https` only, public addresses only.
    Aws,
    /// `cargo run -p local`: also `http://127.0.0.1:<port>/…` (a receiver on this machine).
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("is not an absolute URL")]
    NotAUrl,
    #[error("must use https")]
    NotHttps,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("must not carry a fragment")]
    Fragment,
    #[error("has no host")]
    NoHost,
    #[error("is longer than 2,048 characters")]
    TooLong,
    #[error("points to a {0} address, which no endpoint may reach")]
    Forbidden(&'static str),
}

/// Why `ip` must not be reached by a delivery (`None`: a public address). IPv4 addresses inside
/// IPv6 (mapped, compatible, NAT64, 6to4) are judged as the IPv4 address they carry.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => "cloud metadata",
        (169, 254, _) => "link-local",
        (127, _, _) => "loopback",
        (0, _, _) => "unspecified (this network)",
        (10, _, _) | (192, 168, _) => "private",
        (172, 16..=31, _) => "private",
        (100, 64..=127, _) => "shared (carrier-grade NAT)",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved or broadcast",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    // fd00:ec2::254, the metadata service over IPv6.
    if s == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] {
        return Some("cloud metadata");
    }
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    Some(match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => "unspecified",
        [0, 0, 0, 0, 0, 0, 0, 1] => "loopback",
        // IPv4-compatible (deprecated): the IPv4 address it carries.
        [0, 0, 0, 0, 0, 0, hi, lo] => return forbidden_v4(embedded_v4(hi, lo)).or(Some("IPv4-compatible")),
        // NAT64 (64:ff9b::/96): the IPv4 address it reaches.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return forbidden_v4(embedded_v4(hi, lo)),
        // 6to4 (2002::/16): the IPv4 address of the relay.
        [0x2002, hi, lo, ..] => return forbidden_v4(embedded_v4(hi, lo)),
        [x, ..] if x & 0xfe00 == 0xfc00 => "unique local (private)",
        [x, ..] if x & 0xffc0 == 0xfe80 => "link-local",
        [x, ..] if x & 0xffc0 == 0xfec0 => "site-local (private)",
        [x, ..] if x & 0xff00 == 0xff00 => "multicast",
        [0x2001, 0x0db8, ..] => "documentation",
        [0x0100, 0, 0, 0, ..] => "discard-only",
        _ => return None,
    })
}

/// A registered endpoint's URL: absolute, `https` (or, locally, `http://127.0.0.1`), without
/// credentials or fragment, at most 2,048 characters, and not an address literal that no
/// delivery may reach. A host name is checked again at each delivery, once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(url::Url);

impl EndpointUrl {
    pub fn parse(text: &str, mode: Mode) -> Result<Self, UrlError> {
        if text.len() > 2048 {
            return Err(UrlError::TooLong);
        }
        let url = url::Url::parse(text).map_err(|_| UrlError::NotAUrl)?;
        // As it is kept and sent: percent-encoding can make a short text long.
        if url.as_str().len() > 2048 {
            return Err(UrlError::TooLong);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(UrlError::Fragment);
        }
        let host = url.host().ok_or(UrlError::NoHost)?;
        let local_receiver =
            mode == Mode::Local && url.scheme() == "http" && host == url::Host::<&str>::Ipv4(Ipv4Addr::LOCALHOST);
        if local_receiver {
            return Ok(Self(url));
        }
        if url.scheme() != "https" {
            return Err(UrlError::NotHttps);
        }
        let literal = match host {
            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            url::Host::Domain(name) => {
                // A name that is an address by another spelling, or this machine's.
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    return Err(UrlError::Forbidden("loopback"));
                }
                None
            }
        };
        if let Some(why) = literal.and_then(forbidden) {
            return Err(UrlError::Forbidden(why));
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host to resolve (a name, or an address literal) and the port.
    pub fn host_and_port(&self) -> (String, u16) {
        let host = match self.0.host() {
            Some(url::Host::Ipv6(v6)) => v6.to_string(),
            Some(h) => h.to_string(),
            None => String::new(),
        };
        (host, self.0.port_or_known_default().unwrap_or(443))
    }

    /// Whether a delivery may connect to `resolved` (an address the host resolved to, checked
    /// at every delivery): in AWS only public addresses; locally also the loopback receiver the
    /// URL names.
    pub fn may_connect(&self, resolved: IpAddr, mode: Mode) -> Result<(), UrlError> {
        if mode == Mode::Local && self.0.scheme() == "http" && resolved == IpAddr::V4(Ipv4Addr::LOCALHOST) {
            return Ok(());
        }
        match forbidden(resolved) {
            Some(why) => Err(UrlError::Forbidden(why)),
            None => Ok(()),
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
    fn private_loopback_link_local_and_metadata_addresses_are_refused() {
        for (addr, why) in [
            ("169.254.169.254", "cloud metadata"),
            ("fd00:ec2::254", "cloud metadata"),
            ("::ffff:169.254.169.254", "cloud metadata"),
            ("64:ff9b::a9fe:a9fe", "cloud metadata"),
            ("169.254.1.1", "link-local"),
            ("fe80::1", "link-local"),
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.0.10", "private"),
            ("2002:c0a8:0001::1", "private"),
            ("fc00::1", "unique local (private)"),
            ("fdff::1", "unique local (private)"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("0.0.0.0", "unspecified (this network)"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("255.255.255.255", "reserved or broadcast"),
            ("192.0.2.7", "documentation"),
            ("2001:db8::1", "documentation"),
        ] {
            assert_eq!(forbidden(ip(addr)), Some(why), "{addr}");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.1",
            "100.128.0.1",
            "169.255.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(forbidden(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn endpoint_urls_are_https_to_public_hosts() {
        let ok = EndpointUrl::parse("https://psa.partner.example/hooks/ledgerdesk?x=1", Mode::Aws).unwrap();
        assert_eq!(ok.host_and_port(), ("psa.partner.example".into(), 443));
        assert_eq!(
            EndpointUrl::parse("https://[2606:4700::1111]:8443/h", Mode::Aws)
                .unwrap()
                .host_and_port(),
            ("2606:4700::1111".into(), 8443)
        );
        for (text, err) in [
            ("http://psa.partner.example/h", UrlError::NotHttps),
            ("http://127.0.0.1:9000/h", UrlError::NotHttps),
            ("ftp://psa.partner.example/h", UrlError::NotHttps),
            ("psa.partner.example/h", UrlError::NotAUrl),
            ("https://user:pw@psa.partner.example/h", UrlError::Credentials),
            ("https://psa.partner.example/h#frag", UrlError::Fragment),
            (
                "https://169.254.169.254/latest/meta-data",
                UrlError::Forbidden("cloud metadata"),
            ),
            ("https://[::ffff:10.0.0.1]/h", UrlError::Forbidden("private")),
            ("https://0x7f.1/h", UrlError::Forbidden("loopback")),
            ("https://2130706433/h", UrlError::Forbidden("loopback")),
            ("https://localhost/h", UrlError::Forbidden("loopback")),
            ("https://api.localhost./h", UrlError::Forbidden("loopback")),
        ] {
            assert_eq!(EndpointUrl::parse(text, Mode::Aws), Err(err), "{text}");
        }
        assert_eq!(
            EndpointUrl::parse(&format!("https://a.example/{}", "x".repeat(2048)), Mode::Aws),
            Err(UrlError::TooLong)
        );
        // Short as written, long as sent (each é is %C3%A9).
        let accented = format!("https://a.example/{}", "é".repeat(500));
        assert!(accented.len() <= 2048);
        assert_eq!(EndpointUrl::parse(&accented, Mode::Aws), Err(UrlError::TooLong));
    }

    #[test]
    fn the_local_run_also_reaches_a_receiver_on_this_machine() {
        let local = EndpointUrl::parse("http://127.0.0.1:9000/hooks", Mode::Local).unwrap();
        assert_eq!(local.may_connect(ip("127.0.0.1"), Mode::Local), Ok(()));
        // Only that: not another loopback address, not a private one, not in AWS.
        assert!(EndpointUrl::parse("http://127.0.0.2:9000/h", Mode::Local).is_err());
        assert!(EndpointUrl::parse("http://10.0.0.1/h", Mode::Local).is_err());
        assert!(EndpointUrl::parse("http://localhost:9000/h", Mode::Local).is_err());
        assert_eq!(
            local.may_connect(ip("127.0.0.1"), Mode::Aws),
            Err(UrlError::Forbidden("loopback"))
        );
    }

    #[test]
    fn a_name_is_checked_again_against_what_it_resolves_to() {
        // Registered as a public name; at delivery it resolves to the metadata service, or to
        // loopback (DNS rebinding): refused, in AWS and locally alike.
        let url = EndpointUrl::parse("https://rebind.partner.example/h", Mode::Aws).unwrap();
        assert_eq!(url.may_connect(ip("93.184.216.34"), Mode::Aws), Ok(()));
        for (resolved, why) in [
            ("169.254.169.254", "cloud metadata"),
            ("127.0.0.1", "loopback"),
            ("10.0.0.5", "private"),
        ] {
            assert_eq!(url.may_connect(ip(resolved), Mode::Aws), Err(UrlError::Forbidden(why)));
            assert_eq!(
                url.may_connect(ip(resolved), Mode::Local),
                Err(UrlError::Forbidden(why))
            );
        }
    }
}
