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

/// The witnesses a test stack's signer asks: its own (in process), others, and the quorum.
#[derive(Debug, Default)]
pub struct Witnessing {
    pub own: bool,
    pub others: Vec<store::witnesses::WitnessEndpoint>,
    pub quorum: Option<usize>,
}

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
        Self::start_inner(relationships, true).await
    }

    /// A stack whose database is a file in its data directory, as `local serve` keeps it.
    pub async fn start_persistent(relationships: &[(&str, &str)]) -> Self {
        Self::start_inner(relationships, false).await
    }

    /// A stack whose clock reads `offset` from the system's from its first write on: e.g.
    /// hours in the past, so that what it files is due already when the test sweeps as of now.
    pub async fn start_at(relationships: &[(&str, &str)], offset: chrono::Duration) -> Self {
        let clock = store::Clock::system();
        clock.advance(offset);
        Self::start_clocked(relationships, true, clock).await
    }

    async fn start_inner(relationships: &[(&str, &str)], ephemeral: bool) -> Self {
        Self::start_clocked(relationships, ephemeral, store::Clock::system()).await
    }

    async fn start_clocked(relationships: &[(&str, &str)], ephemeral: bool, clock: store::Clock) -> Self {
        Self::start_full(relationships, ephemeral, clock, Witnessing::default(), None).await
    }

    /// A stack that sends partners' webhook endpoints what is due every `every`, as
    /// `cargo run -p local` does.
    pub async fn start_delivering(relationships: &[(&str, &str)], every: std::time::Duration) -> Self {
        Self::start_full(
            relationships,
            true,
            store::Clock::system(),
            Witnessing::default(),
            Some(every),
        )
        .await
    }

    /// A stack whose signer asks witnesses to cosign (FORMAT.md §17).
    pub async fn start_witnessed(relationships: &[(&str, &str)], witnessing: Witnessing) -> Self {
        Self::start_full(relationships, true, store::Clock::system(), witnessing, None).await
    }

    async fn start_full(
        relationships: &[(&str, &str)],
        ephemeral: bool,
        clock: store::Clock,
        witnessing: Witnessing,
        deliver_every: Option<std::time::Duration>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let running = local::start(LocalConfig {
            port: 0,
            dynamodb_port: 0,
            data_dir: dir.path().join(".ledgerdesk"),
            ephemeral,
            dynamodb_endpoint: None,
            sweep_every: None,
            deliver_every,
            // Short, so that a test of a slow receiver does not wait the full 15 s.
            webhook_timeout: std::time::Duration::from_secs(1),
            relationships: relationships
                .iter()
                .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
                .collect(),
            clock,
            own_witness: witnessing.own,
            witnesses: witnessing.others,
            witness_quorum: witnessing.quorum,
        })
        .await
        .expect("local stack starts");
        Self {
            running,
            http: reqwest::Client::new(),
            dir,
        }
    }

    /// Another instance of the service on the same DynamoDB tables and keys (as a second
    /// Lambda container would be): its own HTTP port, its own in-process caches and locks.
    pub async fn another_instance(&self) -> Running {
        local::start(LocalConfig {
            port: 0,
            dynamodb_port: 0,
            data_dir: self.running.data_dir.clone(),
            ephemeral: true,
            dynamodb_endpoint: Some(self.running.dynamodb_endpoint.clone()),
            sweep_every: None,
            deliver_every: None,
            relationships: Vec::new(),
            // One service: the same clock.
            clock: self.running.clock().clone(),
            ..local::LocalConfig::default()
        })
        .await
        .expect("a second instance starts")
    }

    /// Let `by` pass on the stack's clock (what it stamps writes with and signs by), and
    /// return the new now: tests of due times travel instead of waiting.
    pub fn travel(&self, by: chrono::Duration) -> domain::Timestamp {
        self.running.advance_clock(by);
        self.running.now()
    }

    /// Wait until the deliverer has had a whole round for `partner` that began after this call:
    /// it has looked at everything written before (a stack started delivering).
    pub async fn delivery_round(&self, partner: &str) {
        let within = std::time::Duration::from_secs(20);
        assert!(
            self.running.state.delivery_rounds.a_whole_round(partner, within).await,
            "no whole delivery round for {partner} within {within:?}"
        );
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

    /// The operator's own access to the entry-tile bucket (the local run's embedded S3).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        store::s3_at(self.running.s3_endpoint(), local::REGION)
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

    /// GET `path` as text (a note, an export, a bundle): 200 or the test fails.
    pub async fn get_text(&self, path: &str, token: &str) -> String {
        let response = self
            .http
            .get(format!("{}{path}", self.running.base_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap()
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

/// `ledger verify-proof --json` of bundle files (one, or the pages of one set) against the
/// stack's checkpoint key, in process: its exit and its JSON report.
pub fn verify_bundles(stack: &Stack, files: &[PathBuf]) -> (ledger_cli::commands::Exit, Value) {
    let outcome = ledger_cli::commands::verify_proof(
        files,
        std::slice::from_ref(&stack.running.public_key),
        &local::log_name(),
        None,
        true,
    )
    .expect("verify-proof ran");
    let report = serde_json::from_str(&outcome.stdout).expect("a JSON report");
    (outcome.exit, report)
}

/// `ledger sync` of `chain` as a partner (or auditor) runs it, in process: the outcome's exit
/// code and its JSON report.
pub async fn sync(
    stack: &Stack,
    token: &str,
    state: &std::path::Path,
    chain: &str,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> (ledger_cli::commands::Exit, Value) {
    sync_paged(stack, token, state, chain, now, ledger_cli::sync::PAGE).await
}

/// [`sync`] asking for `page` entries a request.
pub async fn sync_paged(
    stack: &Stack,
    token: &str,
    state: &std::path::Path,
    chain: &str,
    now: Option<chrono::DateTime<chrono::Utc>>,
    page: u64,
) -> (ledger_cli::commands::Exit, Value) {
    let args = ledger_cli::sync::SyncArgs {
        now,
        page,
        ..sync_args(stack, token, state, Some(chain))
    };
    run_sync(args).await
}

/// Run `ledger sync` with `args` in process: the exit code and the one JSON object it prints
/// (for a usage or I/O error, exit 2 and the error object, as the command prints them).
pub async fn run_sync(args: ledger_cli::sync::SyncArgs) -> (ledger_cli::commands::Exit, Value) {
    let outcome = tokio::task::spawn_blocking(move || ledger_cli::sync::run(args))
        .await
        .expect("sync ran");
    match outcome {
        Ok(outcome) => {
            let report = serde_json::from_str(&outcome.stdout).unwrap_or_else(|e| panic!("{e}: {}", outcome.stdout));
            (outcome.exit, report)
        }
        Err(e) => (ledger_cli::commands::Exit::Usage, e.to_json()),
    }
}

/// The arguments of a partner's `ledger sync` of `chain` into `state` (token file beside it).
pub fn sync_args(
    stack: &Stack,
    token: &str,
    state: &std::path::Path,
    chain: Option<&str>,
) -> ledger_cli::sync::SyncArgs {
    let token_file = state.with_extension("token");
    std::fs::write(&token_file, token).expect("token file");
    ledger_cli::sync::SyncArgs {
        api: stack.running.base_url(),
        token_file,
        keys: vec![stack.running.public_key.clone()],
        receipt_keys: vec![stack.running.receipt_public_key.clone()],
        state: state.to_owned(),
        log: Some(local::LOG_NAME.to_owned()),
        chain: chain.map(str::to_owned),
        json: true,
        now: None,
        page: ledger_cli::sync::PAGE,
        witnesses: None,
    }
}

/// Save a write's receipt where `ledger sync` looks for it, as an API client would.
pub fn keep_receipt(state: &std::path::Path, reply: &Value) {
    let receipts = state.join("receipts");
    std::fs::create_dir_all(&receipts).expect("receipts dir");
    let seq = reply["receipt"]["seq"].as_u64().expect("a receipt");
    std::fs::write(
        receipts.join(format!("{seq}.note")),
        reply["receipt"]["note"].as_str().expect("a note"),
    )
    .expect("receipt written");
}

/// Every log line the test binary's code emitted (a subscriber installed on first use).
pub fn captured_logs() -> String {
    let buffer = LOGS.get_or_init(|| {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = SharedWriter(std::sync::Arc::clone(&buffer));
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(move || writer.clone())
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .try_init();
        buffer
    });
    String::from_utf8_lossy(&buffer.lock().expect("log buffer")).into_owned()
}

static LOGS: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();

#[derive(Clone)]
struct SharedWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every item of every table of the stack's DynamoDB, as text, one line per item in a fixed
/// order (for scans, and to show that a refused request wrote nothing).
pub async fn dump_tables(stack: &Stack) -> String {
    let client = stack.dynamodb().await;
    let names = client
        .list_tables()
        .send()
        .await
        .expect("tables")
        .table_names
        .unwrap_or_default();
    let mut lines = Vec::new();
    for name in names {
        let mut start = None;
        loop {
            let page = client
                .scan()
                .table_name(&name)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            for item in page.items.unwrap_or_default() {
                // As JSON (sorted keys), so that two dumps of the same data compare equal.
                let item = Value::Object(item.iter().map(|(k, v)| (k.clone(), canonical(v))).collect());
                lines.push(format!("{name}: {item}"));
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
    }
    lines.sort();
    lines.join("\n")
}

/// An attribute value as JSON with sorted keys (binary as hex, sets sorted).
fn canonical(value: &aws_sdk_dynamodb::types::AttributeValue) -> Value {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let sorted = |mut v: Vec<String>| {
        v.sort();
        json!(v)
    };
    match value {
        A::S(s) => json!({ "S": s }),
        A::N(n) => json!({ "N": n }),
        A::Bool(b) => json!({ "BOOL": b }),
        A::Null(_) => json!({ "NULL": true }),
        A::B(b) => json!({ "B": hex(b.as_ref()) }),
        A::Ss(v) => json!({ "SS": sorted(v.clone()) }),
        A::Ns(v) => json!({ "NS": sorted(v.clone()) }),
        A::Bs(v) => json!({ "BS": sorted(v.iter().map(|b| hex(b.as_ref())).collect()) }),
        A::L(items) => json!({ "L": items.iter().map(canonical).collect::<Vec<_>>() }),
        A::M(map) => {
            json!({ "M": map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect::<serde_json::Map<_, _>>() })
        }
        other => json!({ "?": format!("{other:?}") }),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ledger explain --json` of request `id` as its partner (`token`) proves it: the stack signs
/// its chains, the partner fetches the request's evidence bundle (every page), and the tool
/// verifies and explains it, in process. Its exit and its JSON report.
pub async fn explain_request(stack: &Stack, token: &str, id: &str) -> (ledger_cli::commands::Exit, Value) {
    explain_request_with(stack, token, id, None).await
}

/// [`explain_request`] with the receipt the partner kept for the request's creation (a file
/// holding the signed note), checked against the stack's receipt key.
pub async fn explain_request_with(
    stack: &Stack,
    token: &str,
    id: &str,
    receipt: Option<&std::path::Path>,
) -> (ledger_cli::commands::Exit, Value) {
    stack.running.sweep(stack.running.now()).await.expect("the sweep signs");
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut path = format!("/service-requests/{id}/evidence");
    loop {
        let response = stack
            .http
            .get(format!("{}{path}", stack.running.base_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        let next = response
            .headers()
            .get("ledger-next-cursor")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let file = dir.path().join(format!("page-{}.json", files.len()));
        std::fs::write(&file, response.text().await.unwrap()).unwrap();
        files.push(file);
        match next {
            Some(cursor) => path = format!("/service-requests/{id}/evidence?cursor={}", encode(&cursor)),
            None => break,
        }
    }
    let outcome = ledger_cli::explain::explain(ledger_cli::explain::ExplainArgs {
        inputs: &files,
        keys: std::slice::from_ref(&stack.running.public_key),
        log: local::log_name(),
        checkpoints: &[],
        request: Some(id),
        witnesses: None,
        receipt: receipt.map(|receipt| ledger_cli::explain::FilingReceipt {
            receipt,
            keys: std::slice::from_ref(&stack.running.receipt_public_key),
        }),
        json: true,
    })
    .expect("explain ran");
    let report = serde_json::from_str(&outcome.stdout).expect("a JSON report");
    (outcome.exit, report)
}

/// Every request the partner (`token`) lists, explained from its evidence: each must exit 0,
/// every recorded figure matching its re-computation. The end of a suite's scenario calls it,
/// so the explanation is checked against everything the service recorded there.
pub async fn explain_every_request(stack: &Stack, token: &str) -> usize {
    let (items, _) = stack.list_all("/service-requests", token).await;
    assert!(!items.is_empty(), "the partner has requests to explain");
    for item in &items {
        let id = item["id"].as_str().expect("an id");
        let (exit, report) = explain_request(stack, token, id).await;
        assert_eq!(exit, ledger_cli::commands::Exit::Ok, "{id}: {report}");
        assert_eq!(report["matches"], true, "{id}: {report}");
    }
    items.len()
}
