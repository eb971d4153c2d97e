//! The functions' AWS clients trust the Amazon Trust Services roots and nothing else
//! (`store::trust`): a real TLS server on loopback, with a certificate from a test
//! authority, is refused by the client the functions use and accepted once that authority
//! is added — so the trust store built here is the one the handshake consults.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use store::TrustRoots;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CA: &str = include_str!("fixtures/tls/ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("fixtures/tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("fixtures/tls/server-key.pem");

/// A TLS server for `localhost` answering every request as DynamoDB's ListTables would;
/// returns its port and the number of requests it answered.
async fn serve() -> (u16, Arc<AtomicUsize>) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(SERVER_CERT)
        .collect::<Result<_, _>>()
        .expect("server certificate");
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).expect("server key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let answered = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&answered);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                // A refused handshake ends here: the client does not trust the certificate.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = tls.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if request.len() < end + 4 + length {
                        continue;
                    }
                    let body = r#"{"TableNames":["over-tls"]}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    count.fetch_add(1, Ordering::SeqCst);
                    let _ = tls.write_all(answer.as_bytes()).await;
                    request.drain(..end + 4 + length);
                }
            });
        }
    });
    (port, answered)
}

async fn list_tables(port: u16, extra_ca: Option<&str>) -> Result<Vec<String>, String> {
    let http = TrustRoots::Amazon.http_client(extra_ca).expect("an HTTPS client");
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("eu-central-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(format!("https://localhost:{port}"))
        .http_client(http)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
        .list_tables()
        .send()
        .await
        .map(|out| out.table_names().to_vec())
        .map_err(|e| format!("{:?}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
}

#[tokio::test]
async fn a_server_no_amazon_root_vouches_for_is_refused_at_the_handshake() {
    let (port, answered) = serve().await;
    let refused = list_tables(port, None).await.expect_err("an untrusted certificate");
    assert!(
        refused.to_ascii_lowercase().contains("certificate") || refused.contains("UnknownIssuer"),
        "refused for its certificate, not for something else: {refused}"
    );
    assert_eq!(answered.load(Ordering::SeqCst), 0, "no request reached the server");
}

#[tokio::test]
async fn the_same_server_is_accepted_once_its_authority_is_in_the_trust_store() {
    let (port, answered) = serve().await;
    let tables = list_tables(port, Some(CA)).await.expect("a trusted certificate");
    assert_eq!(tables, vec!["over-tls".to_owned()]);
    assert_eq!(answered.load(Ordering::SeqCst), 1);
}
