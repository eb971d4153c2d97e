//! Cold start of the Lambda binaries, measured the way the toolchain notes describe: a
//! minimal Lambda Runtime API on loopback (TCP_NODELAY), the real release binary started
//! against it and against an embedded DynamoDB-compatible server, timed from process start
//! to its first response, with its peak RSS. The baseline, in the same run, is the start of
//! `/bin/true`.
//!
//! ```sh
//! cargo build --release -p create-request -p list-requests -p update-request -p sla-sweep
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
    done: mpsc::UnboundedSender<(Instant, String)>,
}

async fn next(State(rt): State<Arc<Runtime>>) -> (HeaderMap, String) {
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

fn http_event(route: &str, path: &str, path_parameters: Value, body: Option<Value>) -> Value {
    json!({
        "version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": "",
        "headers": { "content-type": "application/json" },
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "stage": "$default", "requestId": "bench", "routeKey": route,
            "http": { "method": route.split(' ').next(), "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench" },
            "authorizer": { "jwt": { "claims": { "sub": "agent@bench", "partner_id": "bench", "scope": "requests/read requests/write requests/respond" }, "scopes": null } },
            "timeEpoch": 0
        },
        "pathParameters": path_parameters,
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

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

async fn measure(binary: &Path, event: Value, env: &[(&str, String)], runs: usize) -> Option<(f64, u64, String)> {
    let mut millis = Vec::new();
    let mut rss = 0;
    let mut last = String::new();
    for _ in 0..runs {
        let (done, mut finished) = mpsc::unbounded_channel();
        let rt = Arc::new(Runtime {
            event: Mutex::new(Some(event.clone())),
            done,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(response))
            .route("/2018-06-01/runtime/init/error", post(response))
            .with_state(rt);
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
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let (at, body) = tokio::time::timeout(Duration::from_secs(20), finished.recv())
            .await
            .ok()??;
        millis.push(at.duration_since(started).as_secs_f64() * 1000.0);
        rss = rss.max(peak_rss_kib(child.id()).unwrap_or(0));
        last = body;
        let _ = child.kill();
        let _ = child.wait();
        server.abort();
    }
    Some((median(millis), rss, last))
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
    let key = ledger::SignerKey::from_seed("bench", [1; 32]).expect("key");
    let env: Vec<(&str, String)> = vec![
        ("TABLE_PREFIX", "bench".into()),
        ("DYNAMODB_ENDPOINT", dynamo.endpoint().to_owned()),
        ("CURSOR_KEY", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".into()),
        ("SIGNING_KEY", key.to_text()),
        ("LEDGER_LOG_NAME", "ledgerdesk.bench".into()),
    ];
    let create = json!({
        "product": "azure", "category": "technical", "severity": "A", "supportTopic": "VM", "title": "Down",
        "description": "All down.", "language": "en", "contact": { "name": "Agent", "email": "agent@partner.example" }
    });
    let cases = [
        (
            "create-request",
            http_event(
                "POST /customers/{customerId}/service-requests",
                "/customers/3fa85f64-5717-4562-b3fc-2c963f66afa6/service-requests",
                json!({ "customerId": "3fa85f64-5717-4562-b3fc-2c963f66afa6" }),
                Some(create),
            ),
            "creates a request: head read + transaction",
        ),
        (
            "list-requests",
            http_event("GET /service-requests", "/service-requests", json!({}), None),
            "lists: one query",
        ),
        (
            "update-request",
            http_event(
                "PATCH /service-requests/{id}",
                "/service-requests/01KAW0000000000000000000ZZ",
                json!({ "id": "01KAW0000000000000000000ZZ" }),
                Some(json!({ "action": "note", "message": "x" })),
            ),
            "404 after one read",
        ),
        (
            "sla-sweep",
            json!({ "version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-11-30T09:35:00Z", "detail": {} }),
            "sweeps 16 shards, checkpoints",
        ),
    ];

    let (baseline, _, _) = {
        let mut v = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let _ = Command::new("/bin/true").status();
            v.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        (median(v), 0, String::new())
    };
    println!("cold start to first response (median of {runs}), baseline /bin/true = {baseline:.2} ms:");
    for (name, event, what) in cases {
        let binary = release.join(name);
        if !binary.exists() {
            println!("  {name:<15} not built: cargo build --release -p {name}");
            continue;
        }
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        match measure(&binary, event, &env, runs).await {
            Some((ms, rss, body)) => println!(
                "  {name:<15} {ms:>7.2} ms ({:>5.1}x baseline), peak RSS {:>6.1} MiB, binary {:>5.1} MiB — {what}; answered {}",
                ms / baseline,
                rss as f64 / 1024.0,
                size as f64 / 1_048_576.0,
                body.chars().take(48).collect::<String>()
            ),
            None => println!("  {name:<15} did not answer"),
        }
    }
    dynamo.stop().await;
}
