//! The webhook deliverer's HTTP client (issue #27): one POST per attempt, at most
//! [`webhooks::TIMEOUT`], and never to an address an endpoint must not reach. The URL is
//! checked as written, and the connector's resolver drops every address a name resolves to
//! that is private, loopback, link-local or the metadata service — at each connection, so a
//! name re-pointed after registration (DNS rebinding) reaches nothing.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use webhooks::{EndpointUrl, Mode};

/// The most of a receiver's answer that is read (it is not kept: only its status counts).
const ANSWER_LIMIT: usize = 16 << 10;

/// Resolves a name, keeping only the addresses a delivery may reach.
#[derive(Debug, Clone, Default)]
pub struct GuardedResolver {
    /// Names answered from here instead of DNS (tests: a name that resolves to loopback).
    hosts: Option<std::sync::Arc<std::collections::HashMap<String, Vec<IpAddr>>>>,
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let fixed = self.hosts.as_ref().and_then(|hosts| hosts.get(name.as_str()).cloned());
        Box::pin(async move {
            let found: Vec<SocketAddr> = match fixed {
                Some(addresses) => addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect(),
                None => tokio::net::lookup_host((name.as_str(), 0)).await?.collect(),
            };
            let allowed = allowed_addresses(found);
            if allowed.is_empty() {
                return Err(std::io::Error::other(format!(
                    "{} resolves to no address a webhook may reach",
                    name.as_str()
                )));
            }
            Ok(allowed.into_iter())
        })
    }
}

/// The addresses of `found` a delivery may reach (no private, loopback, link-local or
/// metadata address: [`webhooks::forbidden`]).
pub fn allowed_addresses(found: impl IntoIterator<Item = SocketAddr>) -> Vec<SocketAddr> {
    found
        .into_iter()
        .filter(|a| webhooks::forbidden(a.ip()).is_none())
        .collect()
}

type Https = hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>;

/// What one attempt got: the status (`None`: no answer — refused, reset, timed out, or an
/// address it must not reach) and the `Retry-After` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: Option<u16>,
    pub retry_after: Option<String>,
    /// Why there was no answer (for the log, never for the receiver).
    pub error: Option<String>,
}

impl Answer {
    fn none(error: impl Into<String>) -> Self {
        Self {
            status: None,
            retry_after: None,
            error: Some(error.into()),
        }
    }
}

/// The deliverer's client.
#[derive(Clone)]
pub struct WebhookClient {
    http: Client<Https, Full<Bytes>>,
    mode: Mode,
    timeout: std::time::Duration,
}

impl std::fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookClient").field("mode", &self.mode).finish()
    }
}

impl WebhookClient {
    /// A client for `mode` (in AWS only `https` to public addresses; locally also
    /// `http://127.0.0.1`), trusting the operating system's roots.
    pub fn new(mode: Mode) -> Result<Self, String> {
        Self::with_resolver(mode, GuardedResolver::default())
    }

    /// A client whose resolver answers `hosts` itself (and asks DNS for any other name): for
    /// tests of what a name that resolves to a forbidden address reaches.
    pub fn with_hosts(mode: Mode, hosts: std::collections::HashMap<String, Vec<IpAddr>>) -> Result<Self, String> {
        Self::with_resolver(
            mode,
            GuardedResolver {
                hosts: Some(std::sync::Arc::new(hosts)),
            },
        )
    }

    fn with_resolver(mode: Mode, resolver: GuardedResolver) -> Result<Self, String> {
        let mut http = HttpConnector::new_with_resolver(resolver);
        http.enforce_http(false);
        http.set_connect_timeout(Some(webhooks::TIMEOUT));
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| format!("no TLS roots for webhook receivers: {e}"))?;
        let https = match mode {
            Mode::Aws => builder.https_only().enable_http1().wrap_connector(http),
            Mode::Local => builder.https_or_http().enable_http1().wrap_connector(http),
        };
        Ok(Self {
            http: Client::builder(TokioExecutor::new()).build(https),
            mode,
            timeout: webhooks::TIMEOUT,
        })
    }

    /// Give up on an attempt after `timeout` instead of [`webhooks::TIMEOUT`] (never longer).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout.min(webhooks::TIMEOUT);
        self
    }

    /// POST `body` to `url` with `headers`, within the timeout ([`webhooks::TIMEOUT`] unless
    /// [`with_timeout`](Self::with_timeout) said less).
    pub async fn post(&self, url: &str, headers: &[(&'static str, String)], body: Bytes) -> Answer {
        // The URL as written (an address literal is not resolved, so it is judged here).
        let url = match EndpointUrl::parse(url, self.mode) {
            Ok(url) => url,
            Err(e) => return Answer::none(e.to_string()),
        };
        if let Ok(ip) = url.host_and_port().0.parse::<IpAddr>()
            && let Err(e) = url.may_connect(ip, self.mode)
        {
            return Answer::none(e.to_string());
        }
        let mut request = http::Request::post(url.as_str())
            .header("content-type", "application/json")
            .header("user-agent", "ledgerdesk-webhooks/1");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = match request.body(Full::new(body)) {
            Ok(request) => request,
            Err(e) => return Answer::none(e.to_string()),
        };
        let attempt = async {
            let response = self.http.request(request).await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            // Read (a little of) the answer, so the connection can be reused.
            let _ = Limited::new(response.into_body(), ANSWER_LIMIT).collect().await;
            Ok::<_, String>((status, retry_after))
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok((status, retry_after))) => Answer {
                status: Some(status),
                retry_after,
                error: None,
            },
            Ok(Err(e)) => Answer::none(e),
            Err(_) => Answer::none("timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_kept() {
        let found: Vec<SocketAddr> = [
            "127.0.0.1:443",
            "10.1.2.3:443",
            "169.254.169.254:80",
            "[::1]:443",
            "[fd00::1]:443",
            "192.168.1.1:443",
            "93.184.215.14:443",
            "[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let kept: Vec<String> = allowed_addresses(found).iter().map(ToString::to_string).collect();
        assert_eq!(
            kept,
            ["93.184.215.14:443", "[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443"]
        );
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_reaches_nothing() {
        // `localhost` resolves (from /etc/hosts) to loopback only: no address is left.
        let refused = tower_service::Service::call(&mut GuardedResolver::default(), "localhost".parse().unwrap()).await;
        assert!(
            refused
                .unwrap_err()
                .to_string()
                .contains("no address a webhook may reach")
        );
    }

    /// DNS rebinding: a name that passed registration now resolves to loopback (or the metadata
    /// service). The client connects to nothing: a listener there sees no connection.
    #[tokio::test]
    async fn a_name_re_pointed_at_a_forbidden_address_reaches_nothing() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&accepted);
        tokio::spawn(async move {
            while listener.accept().await.is_ok() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let hosts = std::collections::HashMap::from([
            ("rebound.example".to_owned(), vec!["127.0.0.1".parse().unwrap()]),
            (
                "metadata.example".to_owned(),
                vec!["169.254.169.254".parse().unwrap(), "127.0.0.1".parse().unwrap()],
            ),
        ]);
        for mode in [Mode::Aws, Mode::Local] {
            let client = WebhookClient::with_hosts(mode, hosts.clone()).unwrap();
            for name in ["rebound.example", "metadata.example"] {
                let answer = client
                    .post(&format!("https://{name}:{port}/hook"), &[], Bytes::from_static(b"{}"))
                    .await;
                assert_eq!(answer.status, None, "{name}");
                assert!(answer.error.is_some(), "{name}");
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "no connection was made"
        );
        // The control: the same listener is reachable by its address literal where that is
        // allowed (the local run's http://127.0.0.1), so "no connection" above is the
        // resolver's doing.
        let local = WebhookClient::new(Mode::Local)
            .unwrap()
            .with_timeout(std::time::Duration::from_millis(200));
        let _ = local
            .post(&format!("http://127.0.0.1:{port}/hook"), &[], Bytes::from_static(b"{}"))
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    }

    #[tokio::test]
    async fn forbidden_urls_are_not_attempted() {
        let client = WebhookClient::new(Mode::Aws).unwrap();
        for url in [
            "http://127.0.0.1:9/",
            "https://127.0.0.1:9/",
            "https://10.0.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://localhost/",
        ] {
            let answer = client.post(url, &[], Bytes::from_static(b"{}")).await;
            assert_eq!(answer.status, None, "{url}");
            assert!(answer.error.is_some(), "{url}");
        }
    }
}
