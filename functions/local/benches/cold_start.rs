//! Cold start of the Lambda binaries, measured the way the toolchain notes describe: a
//! minimal Lambda Runtime API on loopback (TCP_NODELAY), the real release binary started
//! against it, an embedded DynamoDB-compatible server and a Parameter Store stand-in (the
//! functions read their keys from SSM, as deployed), timed from process start to **init
//! ready** (its first poll for an event: configuration, clients and keys done) and to its
//! first response, with its peak RSS. The baseline, in the same run, is a minimal function
//! that only loads the AWS config and makes a DynamoDB client (`store`'s
//! `cold-start-baseline`), built as lean as the functions, trusting the operating system's
//! certificate store as the SDK does by default. The functions trust the Amazon roots only
//! (`store::trust`); a last row runs `create-request` with the system store, like for like.
//!
//! ```sh
//! cargo build --release -p create-request -p list-requests -p update-request -p sla-sweep \
//!   -p erase-personal-data -p admin
//! cargo build --release -p store --features cold-start-baseline --bin cold-start-baseline
//! cargo bench -p local --bench cold_start
//! ```
//! Prints medians of `COLD_START_RUNS` (default 21) runs; asserts nothing. x86_64 here, not
//! the arm64 Graviton the stack deploys to: compare the rows, not with AWS.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde_json::{Value, json};
use store::embedded::EmbeddedDynamo;
use tokio::sync::mpsc;

struct Runtime {
    event: Mutex<Option<Value>>,
    ready: Mutex<Option<Instant>>,
    done: mpsc::UnboundedSender<(Instant, String)>,
}

async fn next(State(rt): State<Arc<Runtime>>) -> (HeaderMap, String) {
    rt.ready.lock().expect("lock").get_or_insert_with(Instant::now);
    let event = rt.event.lock().expect("lock").take();
    let Some(event) = event else {
        // Only one invocation per process: park the second poll until the process is killed.
        std::future::pending::<()>().await;
        unreachable!()
    };
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", HeaderValue::from_static("bench-1"));
    headers.insert("lambda-runtime-deadline-ms", HeaderValue::from_static("9999999999999"));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:eu-central-1:123456789012:function:bench"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static("Root=1-5759e988-bd862e3fe1be46a994272793"),
    );
    (headers, event.to_string())
}

async fn response(State(rt): State<Arc<Runtime>>, body: String) -> &'static str {
    let _ = rt.done.send((Instant::now(), body));
    "{}"
}

/// The Parameter Store stand-in: `GetParameter` (JSON 1.1 protocol) for the bench's keys.
async fn ssm(State(parameters): State<Arc<Vec<(String, String)>>>, body: String) -> (HeaderMap, String) {
    let asked: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let name = asked["Name"].as_str().unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
    match parameters.iter().find(|(n, _)| n == name) {
        Some((name, value)) => (
            headers,
            json!({ "Parameter": { "Name": name, "Type": "SecureString", "Value": value, "Version": 1 } }).to_string(),
        ),
        None => (headers, json!({ "__type": "ParameterNotFound" }).to_string()),
    }
}

fn http_event(route: &str, path: &str, path_parameters: Value, claims: Value, body: Option<Value>) -> Value {
    json!({
        "version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": "",
        "headers": { "content-type": "application/json" },
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "stage": "$default", "requestId": "bench", "routeKey": route,
            "http": { "method": route.split(' ').next(), "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench" },
            "authorizer": { "jwt": { "claims": claims, "scopes": null } },
            "timeEpoch": 0
        },
        "pathParameters": path_parameters,
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

/// An HTTP function's answer as its status and problem detail; any other as its start.
fn summary(answer: &str) -> String {
    let value: Value = serde_json::from_str(answer).unwrap_or(Value::Null);
    match value["statusCode"].as_u64() {
        Some(status) => {
            let body: Value = value["body"]
                .as_str()
                .and_then(|b| serde_json::from_str(b).ok())
                .unwrap_or(Value::Null);
            match (body["detail"].as_str(), body["errors"][0]["field"].as_str()) {
                (Some(detail), Some(field)) => format!("{status} ({detail}: {field} {})", body["errors"][0]["message"]),
                (Some(detail), None) => format!("{status} ({detail})"),
                _ => status.to_string(),
            }
        }
        None => answer.chars().take(60).collect(),
    }
}

/// A row: its name, the binary, the event, what it does, extra environment.
type Case<'a> = (&'a str, &'a str, Value, &'a str, &'a [(&'a str, &'a str)]);

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("numbers"));
    v[v.len() / 2]
}

struct Measured {
    ready_ms: f64,
    answered_ms: f64,
    rss_kib: u64,
    answer: String,
}

async fn measure(binary: &Path, event: Value, env: &[(&str, String)], runs: usize) -> Option<Measured> {
    let mut ready = Vec::new();
    let mut millis = Vec::new();
    let mut rss = 0;
    let mut last = String::new();
    for _ in 0..runs {
        let (done, mut finished) = mpsc::unbounded_channel();
        let rt = Arc::new(Runtime {
            event: Mutex::new(Some(event.clone())),
            ready: Mutex::new(None),
            done,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(response))
            .route("/2018-06-01/runtime/init/error", post(response))
            .with_state(rt.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok()?;
        let address = listener.local_addr().ok()?;
        // TCP_NODELAY, or every runtime call waits ~40 ms for delayed ACKs.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let started = Instant::now();
        let mut child = Command::new(binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_REGION", "eu-central-1")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("RUST_LOG", "off")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("COLD_START_STDERR").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .ok()?;
        let (at, body) = tokio::time::timeout(Duration::from_secs(20), finished.recv())
            .await
            .ok()??;
        millis.push(at.duration_since(started).as_secs_f64() * 1000.0);
        let first_poll = rt.ready.lock().expect("lock").unwrap_or(at);
        ready.push(first_poll.duration_since(started).as_secs_f64() * 1000.0);
        rss = rss.max(peak_rss_kib(child.id()).unwrap_or(0));
        last = body;
        let _ = child.kill();
        let _ = child.wait();
        server.abort();
    }
    Some(Measured {
        ready_ms: median(ready),
        answered_ms: median(millis),
        rss_kib: rss,
        answer: last,
    })
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("COLD_START_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);
    let release: PathBuf = std::env::current_exe()
        .expect("exe")
        .parent()
        .and_then(Path::parent)
        .expect("target/release")
        .to_path_buf();
    let dynamo = EmbeddedDynamo::start("127.0.0.1:0".parse().expect("addr"), None)
        .await
        .expect("dynoxide");
    let client = store::dynamodb_at(dynamo.endpoint(), "eu-central-1").await;
    store::Store::new(client, store::TableNames::with_prefix("bench"))
        .create_tables()
        .await
        .expect("tables");
    let key = |seed: u8| {
        ledger::SignerKey::from_seed("bench", [seed; 32])
            .expect("key")
            .to_text()
    };
    let parameters = Arc::new(vec![
        ("/bench/signing-key".to_owned(), key(1)),
        ("/bench/receipt-key".to_owned(), key(2)),
        (
            "/bench/cursor-key".to_owned(),
            "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".to_owned(),
        ),
    ]);
    let ssm_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("ssm");
    let ssm_address = ssm_listener.local_addr().expect("ssm address");
    let ssm_listener = ssm_listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let ssm_server = tokio::spawn(async move {
        axum::serve(ssm_listener, Router::new().route("/", post(ssm)).with_state(parameters)).await
    });
    let env: Vec<(&str, String)> = vec![
        ("TABLE_PREFIX", "bench".into()),
        ("DYNAMODB_ENDPOINT", dynamo.endpoint().to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamo.endpoint().to_owned()),
        ("AWS_ENDPOINT_URL_SSM", format!("http://{ssm_address}")),
        ("PARTNER_AUDIENCE", "ledgerdesk-partners".into()),
        ("VENDOR_AUDIENCE", "ledgerdesk-vendor".into()),
        ("LEDGER_LOG_NAME", "ledgerdesk.bench".into()),
        ("CURSOR_KEY_PARAMETER", "/bench/cursor-key".into()),
        ("RECEIPT_KEY_PARAMETER", "/bench/receipt-key".into()),
        ("SIGNING_KEY_PARAMETER", "/bench/signing-key".into()),
        // list-requests and the sweep make an S3 client for the entry tiles (no request at start).
        ("ENTRY_TILE_BUCKET", "bench-tiles".into()),
    ];
    let partner = json!({ "sub": "agent@bench", "aud": "ledgerdesk-partners", "partner_id": "bench",
        "scope": "requests/read requests/write ledger/read privacy/erase" });
    let admin = json!({ "sub": "admin@vendor", "aud": "ledgerdesk-vendor", "scope": "relationships/admin" });
    let create = json!({
        "product": "azure", "category": "technical", "severity": "A", "supportTopic": "VM", "title": "Down",
        "description": "All down.", "language": "en", "contact": { "name": "Agent", "email": "agent@partner.example" }
    });
    let customer = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    // (row, binary, event, what, extra environment). The writers trust the Amazon roots only
    // (store::trust); the last row runs one with the operating system's store, as the
    // baseline does, to show what the function adds like for like.
    let system_roots: &[(&str, &str)] = &[("LEDGERDESK_TLS_ROOTS", "system")];
    let cases: [Case; 8] = [
        (
            "cold-start-baseline",
            "cold-start-baseline",
            json!({}),
            "the baseline: AWS config + DynamoDB client; one ListTables",
            &[],
        ),
        (
            "create-request",
            "create-request",
            http_event(
                "POST /customers/{customerId}/service-requests",
                &format!("/customers/{customer}/service-requests"),
                json!({ "customerId": customer }),
                partner.clone(),
                Some(create.clone()),
            ),
            "writer: 422 (no relationship) after one read",
            &[],
        ),
        (
            "update-request",
            "update-request",
            http_event(
                "PATCH /service-requests/{id}",
                "/service-requests/01KAW0000000000000000000ZZ",
                json!({ "id": "01KAW0000000000000000000ZZ" }),
                partner.clone(),
                Some(json!({ "action": "note", "message": "x" })),
            ),
            "writer: 404 after one read",
            &[],
        ),
        (
            "erase-personal-data",
            "erase-personal-data",
            http_event(
                "POST /privacy/erasures",
                "/privacy/erasures",
                json!({}),
                partner.clone(),
                Some(json!({ "requestId": "01KAW0000000000000000000ZZ", "legalBasis": "gdpr_art_17_1_a" })),
            ),
            "writer: 404 after one read",
            &[],
        ),
        (
            "admin",
            "admin",
            http_event(
                "PUT /relationships/{partnerId}/{customerId}",
                &format!("/relationships/bench/{customer}"),
                json!({ "partnerId": "bench", "customerId": customer }),
                admin,
                Some(json!({ "status": "active" })),
            ),
            "writer: relates bench to the customer (read + transaction)",
            &[],
        ),
        (
            "list-requests",
            "list-requests",
            http_event(
                "GET /service-requests",
                "/service-requests",
                json!({}),
                partner.clone(),
                None,
            ),
            "reader: one query",
            &[],
        ),
        (
            "sla-sweep",
            "sla-sweep",
            json!({ "version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-11-30T09:35:00Z", "detail": {} }),
            "signer: sweeps 16 shards, checkpoints",
            &[],
        ),
        (
            "create-request, OS roots",
            "create-request",
            http_event(
                "POST /customers/{customerId}/service-requests",
                &format!("/customers/{customer}/service-requests"),
                json!({ "customerId": customer }),
                partner,
                Some(create),
            ),
            "like for like: LEDGERDESK_TLS_ROOTS=system, the baseline's trust store",
            system_roots,
        ),
    ];

    println!("cold start (median of {runs}): init ready (first poll for an event) and first response:");
    let mut baseline: Option<f64> = None;
    let mut writers = Vec::new();
    for (name, binary, event, what, extra) in cases {
        let is_baseline = name == "cold-start-baseline";
        let binary = release.join(binary);
        if !binary.exists() {
            if is_baseline {
                // Ratios against whichever row ran first would read as 1.00x: refuse instead.
                eprintln!(
                    "the baseline {} is not built: no ratios without it (see the build commands at the top of this file)",
                    binary.display()
                );
                std::process::exit(2);
            }
            println!("  {name:<24} not built (see the build commands at the top of this file)");
            continue;
        }
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        let mut env = env.clone();
        env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let Some(m) = measure(&binary, event, &env, runs).await else {
            if is_baseline {
                eprintln!("the baseline did not answer: no ratios without it");
                std::process::exit(2);
            }
            println!("  {name:<24} did not answer");
            continue;
        };
        if is_baseline {
            baseline = Some(m.ready_ms);
        }
        let Some(base) = baseline else {
            unreachable!("the baseline is the first row, and measured or the bench stopped")
        };
        let ratio = m.ready_ms / base;
        if what.starts_with("writer") {
            writers.push((name, ratio));
        }
        println!(
            "  {name:<24} ready {:>6.2} ms ({ratio:.2}x baseline), answered {:>6.2} ms, peak RSS {:>5.1} MiB, binary {:>5.1} MiB — {what}; answered {}",
            m.ready_ms,
            m.answered_ms,
            m.rss_kib as f64 / 1024.0,
            size as f64 / 1_048_576.0,
            summary(&m.answer)
        );
    }
    if let Some((name, worst)) = writers.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1)) {
        println!("writers' init ready: at most {worst:.2}x the baseline ({name}); the goal is at most 1.20x");
    }
    ssm_server.abort();
    dynamo.stop().await;
}
