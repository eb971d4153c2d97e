//! The end-to-end harness: the local run (every function behind the local router, an
//! embedded DynamoDB-compatible server) started in process on random ports with its own
//! data directory, driven over HTTP.

use std::path::PathBuf;

use local::token::TokenRole;
use local::{LocalConfig, Running};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const CUSTOMER: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
pub const OTHER_CUSTOMER: &str = "9b2e4c1a-0d3f-4e5a-8b7c-6d5e4f3a2b1c";

/// The relationships every test stack starts with (partner, customer). Other pairs have none:
/// creating, listing or reading evidence for them is refused.
pub const RELATIONSHIPS: &[(&str, &str)] = &[
    ("contoso", CUSTOMER),
    ("contoso", OTHER_CUSTOMER),
    ("fabrikam", CUSTOMER),
    ("partner-a", CUSTOMER),
    ("partner-b", OTHER_CUSTOMER),
];

#[derive(Debug)]
pub struct Stack {
    pub running: Running,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

/// A response: status, headers, and the body as JSON (`Null` if empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `field`s of a problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(RELATIONSHIPS).await
    }

    /// A stack whose partners have exactly these relationships.
    pub async fn start_with(relationships: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let running = local::start(LocalConfig {
            port: 0,
            dynamodb_port: 0,
            data_dir: dir.path().join(".ledgerdesk"),
            ephemeral: true,
            dynamodb_endpoint: None,
            sweep_every: None,
            relationships: relationships
                .iter()
                .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
                .collect(),
        })
        .await
        .expect("local stack starts");
        Self {
            running,
            http: reqwest::Client::new(),
            dir,
        }
    }

    pub fn partner_token(&self, partner: &str) -> String {
        local::token::issue(
            &self.running.jwt_secret,
            TokenRole::Partner,
            Some(partner),
            &format!("agent@{partner}"),
            600,
        )
        .expect("token")
    }

    pub fn support_token(&self) -> String {
        self.token(TokenRole::Support, None, "engineer@vendor")
    }

    /// A token of `role` (for `partner`, if any) with this subject.
    pub fn token(&self, role: TokenRole, partner: Option<&str>, subject: &str) -> String {
        local::token::issue(&self.running.jwt_secret, role, partner, subject, 600).expect("token")
    }

    /// A token with exactly these claims (iss, exp and nbf filled in).
    pub fn token_with(&self, mut claims: Value) -> String {
        let now = chrono::Utc::now().timestamp();
        claims["iss"] = json!(local::token::ISSUER);
        claims["exp"] = json!(now + 600);
        claims["nbf"] = json!(now);
        local::token::sign(&self.running.jwt_secret, &claims).expect("token")
    }

    /// A direct client of the stack's DynamoDB (as an operator with table access).
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        store::dynamodb_at(&self.running.dynamodb_endpoint, local::REGION).await
    }

    pub fn data_dir(&self) -> PathBuf {
        self.running.data_dir.clone()
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.running.base_url()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(token), Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.send(Method::PATCH, path, Some(token), Some(body), &[]).await
    }

    /// Create a request for `CUSTOMER` and return it.
    pub async fn create(&self, token: &str, body: &Value) -> Value {
        let reply = self
            .post(&format!("/customers/{CUSTOMER}/service-requests"), token, body)
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body
    }

    /// Every item of a listing, following `nextCursor`.
    pub async fn list_all(&self, path_and_query: &str, token: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut pages = 0;
        let separator = if path_and_query.contains('?') { '&' } else { '?' };
        let mut next: Option<String> = None;
        loop {
            let path = match &next {
                Some(cursor) => format!("{path_and_query}{separator}cursor={}", encode(cursor)),
                None => path_and_query.to_owned(),
            };
            let reply = self.get(&path, token).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
            pages += 1;
            items.extend(reply.body["items"].as_array().cloned().unwrap_or_default());
            match reply.body["nextCursor"].as_str() {
                Some(cursor) => next = Some(cursor.to_owned()),
                None => return (items, pages),
            }
        }
    }
}

/// Percent-encode a query value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A valid create body; tests change one thing at a time.
pub fn body() -> Value {
    json!({
        "product": "azure",
        "category": "technical",
        "severity": "A",
        "supportTopic": "Virtual machines / cannot connect",
        "title": "Production VMs unreachable",
        "description": "Since 10:10 UTC no VM in West Europe answers on RDP or SSH.",
        "language": "en",
        "contact": { "name": "Erika Partner", "email": "erika@partner.example", "preferredContactMethod": "email" }
    })
}
