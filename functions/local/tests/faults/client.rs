//! A client that does what the README tells clients to do under faults: creates carry an
//! `Idempotency-Key` and are retried with it until answered; changes carry `If-Match` and,
//! after an unanswered attempt, a 412 is resolved by reading the history (did my change
//! land?). And the invariants every such run must leave.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

pub const CUSTOMER: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

/// What one client did, as the server acknowledged it.
#[derive(Debug, Default)]
pub struct Acknowledged {
    /// Idempotency key → the id every answer for it named.
    pub creates: BTreeMap<String, String>,
    /// Request id → the note texts acknowledged on it.
    pub notes: BTreeMap<String, Vec<String>>,
    /// Answers by status, the retried ones included.
    pub statuses: BTreeMap<u16, usize>,
    /// 503s without Retry-After.
    pub bare_503: usize,
}

/// What every client of a run has done so far: the schedule of kills follows it.
#[derive(Debug, Default)]
pub struct Progress {
    /// Requests sent (answered or not).
    pub sent: std::sync::atomic::AtomicU64,
    /// Creates acknowledged (201).
    pub created: std::sync::atomic::AtomicU64,
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub done: Acknowledged,
    pub progress: std::sync::Arc<Progress>,
}

enum Sent {
    Answered(u16, Value),
    /// No answer: the connection failed or timed out (the server may have been killed).
    Lost,
}

impl Client {
    pub fn new(base: String, token: String) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
            base,
            token,
            done: Acknowledged::default(),
            progress: std::sync::Arc::default(),
        }
    }

    async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> Sent {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            request = request.json(b);
        }
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        self.progress.sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match request.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                if status == 503 && !r.headers().contains_key("retry-after") {
                    self.done.bare_503 += 1;
                }
                *self.done.statuses.entry(status).or_default() += 1;
                Sent::Answered(status, r.json().await.unwrap_or(Value::Null))
            }
            Err(_) => Sent::Lost,
        }
    }

    async fn pause() {
        tokio::time::sleep(Duration::from_millis(40)).await;
    }

    /// Create until answered 201 (the same key every time).
    /// `GET path` as text (the ledger routes), expecting an answer.
    pub async fn text(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn create(&mut self, key: &str) -> String {
        let mut body = json!({
            "product": "azure", "category": "technical", "severity": "B",
            "supportTopicId": "azure-vm-connectivity", "title": format!("Fault drill {key}"),
            "description": "Filed while the service is being killed.", "language": "en",
            "contact": { "name": "Erika Partner", "email": "erika@partner.example" }
        });
        body["title"] = json!(format!("Fault drill {key}"));
        let path = format!("/customers/{CUSTOMER}/service-requests");
        for _ in 0..2_000 {
            match self
                .send(
                    reqwest::Method::POST,
                    &path,
                    Some(&body),
                    &[("idempotency-key", key.to_owned())],
                )
                .await
            {
                Sent::Answered(201, reply) => {
                    let id = reply["id"].as_str().expect("an id").to_owned();
                    let previous = self.done.creates.insert(key.to_owned(), id.clone());
                    if previous.is_none() {
                        self.progress.created.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    assert!(
                        previous.as_ref().is_none_or(|p| *p == id),
                        "one key, two requests: {previous:?} {id}"
                    );
                    return id;
                }
                Sent::Answered(status, reply) if status < 500 && status != 429 => {
                    panic!("create {key}: {status} {reply}")
                }
                _ => Self::pause().await,
            }
        }
        panic!("create {key} never answered");
    }

    async fn version(&mut self, id: &str) -> Option<u64> {
        match self
            .send(reqwest::Method::GET, &format!("/service-requests/{id}"), None, &[])
            .await
        {
            Sent::Answered(200, r) => r["version"].as_u64(),
            _ => None,
        }
    }

    /// The request's history, if this attempt was answered.
    async fn history_once(&mut self, id: &str) -> Option<Vec<Value>> {
        match self
            .send(
                reqwest::Method::GET,
                &format!("/service-requests/{id}/history"),
                None,
                &[],
            )
            .await
        {
            Sent::Answered(200, h) => Some(h["items"].as_array().expect("items").clone()),
            _ => None,
        }
    }

    async fn landed(&mut self, id: &str, text: &str) -> Option<bool> {
        let items = self.history_once(id).await?;
        Some(items.iter().any(|i| i["data"]["change"]["message"]["value"] == text))
    }

    /// Add a note exactly once: `If-Match` on the version read, and after a lost or 412
    /// answer, the history says whether it landed.
    pub async fn note(&mut self, id: &str, text: &str) {
        let body = json!({ "action": "note", "message": text });
        let mut uncertain = false;
        for _ in 0..2_000 {
            if uncertain {
                match self.landed(id, text).await {
                    Some(true) => break,
                    Some(false) => uncertain = false,
                    None => {
                        Self::pause().await;
                        continue;
                    }
                }
            }
            let Some(version) = self.version(id).await else {
                Self::pause().await;
                continue;
            };
            match self
                .send(
                    reqwest::Method::PATCH,
                    &format!("/service-requests/{id}"),
                    Some(&body),
                    &[("if-match", format!("\"{version}\""))],
                )
                .await
            {
                Sent::Answered(200, _) => break,
                Sent::Answered(412, _) | Sent::Lost => uncertain = true,
                Sent::Answered(status, reply) if status < 500 && status != 429 => {
                    panic!("note on {id}: {status} {reply}")
                }
                Sent::Answered(_, _) => {
                    uncertain = true;
                    Self::pause().await;
                }
            }
        }
        self.done.notes.entry(id.to_owned()).or_default().push(text.to_owned());
    }

    /// Every request of the partner, following cursors (retrying pages).
    pub async fn list_all(&mut self) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/service-requests?limit=50&cursor={c}"),
                None => "/service-requests?limit=50".to_owned(),
            };
            match self.send(reqwest::Method::GET, &path, None, &[]).await {
                Sent::Answered(200, page) => {
                    items.extend(page["items"].as_array().cloned().unwrap_or_default());
                    match page["nextCursor"].as_str() {
                        Some(c) => cursor = Some(c.to_owned()),
                        None => return items,
                    }
                }
                _ => Self::pause().await,
            }
        }
    }

    pub async fn history(&mut self, id: &str) -> Vec<Value> {
        loop {
            if let Some(items) = self.history_once(id).await {
                return items;
            }
            Self::pause().await;
        }
    }
}

/// The invariants: every acknowledged create exists exactly once and nothing else does;
/// every request's version equals its ledger entries; every acknowledged note is in its
/// request's history exactly once, and no note is there that nobody was told about.
pub async fn check_invariants(checker: &mut Client, acknowledged: &[&Acknowledged]) {
    let created: BTreeMap<&String, &String> = acknowledged.iter().flat_map(|a| a.creates.iter()).collect();
    let ids: BTreeSet<&String> = created.values().copied().collect();
    assert_eq!(ids.len(), created.len(), "two keys resolved to one request");
    let listed = checker.list_all().await;
    let listed_ids: BTreeSet<String> = listed.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    let expected: BTreeSet<String> = ids.iter().map(|s| (*s).clone()).collect();
    assert_eq!(
        listed_ids, expected,
        "every acknowledged create exists, exactly once, and nothing else"
    );
    let mut notes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in acknowledged {
        for (id, texts) in &a.notes {
            notes.entry(id.clone()).or_default().extend(texts.iter().cloned());
        }
    }
    for request in &listed {
        let id = request["id"].as_str().unwrap();
        let history = checker.history(id).await;
        assert_eq!(
            history.len() as u64,
            request["version"].as_u64().unwrap(),
            "{id}: a state without its entry, or an entry without its state"
        );
        let mut in_ledger: Vec<String> = history
            .iter()
            .filter(|i| i["kind"] == "note_added")
            .map(|i| i["data"]["change"]["message"]["value"].as_str().unwrap().to_owned())
            .collect();
        in_ledger.sort();
        let mut told = notes.get(id).cloned().unwrap_or_default();
        told.sort();
        assert_eq!(in_ledger, told, "{id}: notes lost, doubled or unacknowledged");
    }
}
