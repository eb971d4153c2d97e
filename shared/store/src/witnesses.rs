//! The witnesses the signer asks to cosign every checkpoint it signs (FORMAT.md §17): C2SP
//! tlog-witness `add-checkpoint`, to each at once, with the consistency proof from the size
//! the signer last signed (asked again from the size a 409 names, and once more if a lost
//! answer makes a 409 name the checkpoint's own size), and each cosignature checked against
//! the witness's key before it is kept.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use ledger::witness::{AddCheckpoint, WitnessKey, with_cosignatures};
use ledger::{ChainId, Hash, SignedNote};

use crate::Store;

/// How long one witness may take over one checkpoint, its retry from a 409 and the proofs
/// included: a slow witness delays a checkpoint by at most this.
const WITNESS_TIMEOUT: Duration = Duration::from_secs(5);
/// Once the quorum has cosigned, how much longer the others are waited for.
const QUORUM_GRACE: Duration = Duration::from_millis(500);
/// A witness that did not answer (timeout, no connection) is not asked again for this long:
/// one dead witness costs a sweep one timeout, not one per chain.
const SILENT_BACKOFF: Duration = Duration::from_secs(30);
/// The most of a witness's answer that is read (a few signature lines).
const ANSWER_LIMIT: usize = 64 << 10;
/// How long a connection to a witness is kept unused for the next checkpoint.
const POOL_IDLE: Duration = Duration::from_secs(4);

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// One witness: where it answers (`<url>/add-checkpoint`) and its public key.
#[derive(Debug, Clone)]
pub struct WitnessEndpoint {
    pub url: String,
    pub key: WitnessKey,
}

/// The witnesses and the quorum of them a checkpoint needs to be served as witnessed.
#[derive(Clone)]
pub struct Witnesses {
    endpoints: Vec<WitnessEndpoint>,
    quorum: usize,
    http: Client<Https, Full<Bytes>>,
    /// The same without kept connections: a resend goes on a new one.
    fresh: Client<Https, Full<Bytes>>,
    /// Per endpoint: until when it is not asked (it did not answer last time).
    silent_until: std::sync::Arc<std::sync::Mutex<Vec<Option<tokio::time::Instant>>>>,
}

/// Why a witness gave no cosignature: it refused (it answered), or it did not answer.
enum NoCosignature {
    Refused(String),
    Silent(String),
}

impl NoCosignature {
    fn reason(self) -> String {
        match self {
            NoCosignature::Refused(r) | NoCosignature::Silent(r) => r,
        }
    }
}

impl std::fmt::Debug for Witnesses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witnesses")
            .field("endpoints", &self.endpoints)
            .field("quorum", &self.quorum)
            .finish()
    }
}

/// What the witnesses said of one checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cosignatures {
    /// The verified cosignature lines, to add to the note.
    pub lines: Vec<String>,
    /// The witnesses that cosigned.
    pub by: Vec<String>,
    /// Why each other witness did not.
    pub refused: Vec<(String, String)>,
    /// Whether `by` reaches the quorum.
    pub witnessed: bool,
}

impl Witnesses {
    /// `quorum` of `endpoints` (1 ≤ quorum ≤ their number, each witness named once).
    pub fn new(endpoints: Vec<WitnessEndpoint>, quorum: usize) -> Result<Self, String> {
        ledger::witness::WitnessPolicy::new(endpoints.iter().map(|e| e.key.clone()).collect(), quorum)?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| format!("no TLS roots for the witnesses: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            silent_until: std::sync::Arc::new(std::sync::Mutex::new(vec![None; endpoints.len()])),
            endpoints,
            quorum,
            http: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE)
                .pool_timer(hyper_util::rt::TokioTimer::new())
                .build(https.clone()),
            fresh: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build(https),
        })
    }

    /// From the stack's configuration: a JSON array of `{"url", "key"}` (the key as its
    /// vkey text), and the quorum.
    pub fn from_config(json: &str, quorum: usize) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Entry {
            url: String,
            key: String,
        }
        let entries: Vec<Entry> =
            serde_json::from_str(json).map_err(|e| format!("not a JSON array of {{\"url\", \"key\"}}: {e}"))?;
        let endpoints = entries
            .into_iter()
            .map(|e| {
                let url = e.url.trim_end_matches('/').to_owned();
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(format!("{url}: a witness's URL is http(s)"));
                }
                let key = WitnessKey::parse(&e.key).map_err(|err| format!("{}: {err}", e.key))?;
                Ok(WitnessEndpoint { url, key })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Self::new(endpoints, quorum)
    }

    pub fn quorum(&self) -> usize {
        self.quorum
    }

    pub fn endpoints(&self) -> &[WitnessEndpoint] {
        &self.endpoints
    }

    /// POST `body` to `url`: the status and (at most [`ANSWER_LIMIT`] of) the answer.
    ///
    /// Connections are kept for the next checkpoint (the pool lets one go after
    /// [`POOL_IDLE`], before a witness would: `ledger witness` keeps an idle one 30 s). A
    /// request that failed after it was sent — the witness closed a kept connection just then,
    /// or a Lambda thawed with connections its peer has long closed (one never sent is resent
    /// by the pool itself) — is sent once more, on a new connection. add-checkpoint may be
    /// repeated: a witness that cosigned it already answers 409 with its size, and
    /// [`Store::ask`] goes on from that size. A witness that cannot be connected to is not
    /// asked again.
    async fn post(&self, url: &str, body: String) -> Result<(u16, String), NoCosignature> {
        let body = Bytes::from(body);
        let request = |body: Bytes| {
            http::Request::post(url)
                .header("content-type", "text/plain; charset=utf-8")
                .body(Full::new(body))
                .map_err(|e| NoCosignature::Refused(e.to_string()))
        };
        let response = match self.http.request(request(body.clone())?).await {
            Ok(response) => response,
            Err(e) if e.is_connect() => return Err(NoCosignature::Silent(e.to_string())),
            Err(_) => self
                .fresh
                .request(request(body)?)
                .await
                .map_err(|e| NoCosignature::Silent(e.to_string()))?,
        };
        let status = response.status().as_u16();
        let bytes = Limited::new(response.into_body(), ANSWER_LIMIT)
            .collect()
            .await
            .map_err(|e| NoCosignature::Silent(e.to_string()))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    fn silent(&self, index: usize) -> bool {
        let silent = self
            .silent_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        silent[index].is_some_and(|until| tokio::time::Instant::now() < until)
    }

    fn heard(&self, index: usize, answered: bool) {
        let mut silent = self
            .silent_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        silent[index] = (!answered).then(|| tokio::time::Instant::now() + SILENT_BACKOFF);
    }
}

impl Store {
    /// Ask every witness at once to cosign `note`, `chain`'s checkpoint of `size`, signed
    /// after the checkpoint of `previous` (the size each witness most likely cosigned last).
    /// `proof`: the consistency proof from `previous` to `size` if the signer has it at hand
    /// (from the tiles it just extended); otherwise it is read from the stored tiles.
    pub(crate) async fn cosign(
        &self,
        chain: &ChainId,
        note: &str,
        size: u64,
        previous: u64,
        proof: Option<Vec<Hash>>,
    ) -> Cosignatures {
        let Some(witnesses) = &self.witnesses else {
            return Cosignatures::default();
        };
        let mut answers: Vec<Option<Result<String, String>>> = vec![None; witnesses.endpoints.len()];
        // The witnesses usually all cosigned the last checkpoint: one consistency proof from its
        // size serves them all (computed or read once, not once per witness).
        let shared_proof: tokio::sync::OnceCell<Vec<Hash>> = tokio::sync::OnceCell::new_with(proof);
        let shared_proof = &shared_proof;
        let mut asks: futures::stream::FuturesUnordered<_> = witnesses
            .endpoints
            .iter()
            .enumerate()
            .filter_map(|(i, endpoint)| {
                if witnesses.silent(i) {
                    answers[i] = Some(Err(format!(
                        "not asked: it did not answer within the last {} s",
                        SILENT_BACKOFF.as_secs()
                    )));
                    return None;
                }
                Some(async move {
                    let answer = tokio::time::timeout(
                        WITNESS_TIMEOUT,
                        self.ask(witnesses, endpoint, chain, note, size, previous, shared_proof),
                    )
                    .await
                    .unwrap_or_else(|_| {
                        Err(NoCosignature::Silent(format!(
                            "no answer within {} s",
                            WITNESS_TIMEOUT.as_secs()
                        )))
                    });
                    witnesses.heard(i, !matches!(answer, Err(NoCosignature::Silent(_))));
                    (i, answer.map_err(NoCosignature::reason))
                })
            })
            .collect();
        // Every answer until the quorum has cosigned; then the others' for a moment more.
        let mut cosigned = 0;
        let mut grace: Option<tokio::time::Instant> = None;
        loop {
            let next = match grace {
                None => asks.next().await,
                Some(deadline) => tokio::time::timeout_at(deadline, asks.next()).await.ok().flatten(),
            };
            let Some((i, answer)) = next else { break };
            cosigned += usize::from(answer.is_ok());
            answers[i] = Some(answer);
            if cosigned >= witnesses.quorum && grace.is_none() {
                grace = Some(tokio::time::Instant::now() + QUORUM_GRACE);
            }
        }
        let mut out = Cosignatures::default();
        for (endpoint, answer) in witnesses.endpoints.iter().zip(answers) {
            match answer {
                Some(Ok(line)) => {
                    out.lines.push(line);
                    out.by.push(endpoint.key.name().to_owned());
                }
                Some(Err(reason)) => out.refused.push((endpoint.key.name().to_owned(), reason)),
                None => out.refused.push((
                    endpoint.key.name().to_owned(),
                    "not waited for: the quorum had cosigned".into(),
                )),
            }
        }
        out.witnessed = out.by.len() >= witnesses.quorum;
        out
    }

    /// One witness's cosignature line, checked; or why there is none.
    #[allow(clippy::too_many_arguments)]
    async fn ask(
        &self,
        witnesses: &Witnesses,
        endpoint: &WitnessEndpoint,
        chain: &ChainId,
        note: &str,
        size: u64,
        previous: u64,
        shared_proof: &tokio::sync::OnceCell<Vec<Hash>>,
    ) -> Result<String, NoCosignature> {
        let refused = NoCosignature::Refused;
        let url = format!("{}/add-checkpoint", endpoint.url);
        let first = previous.min(size);
        let mut old = first;
        // At most three rounds: the first; one from the size a 409 names; and one more only
        // if a 409 then names this checkpoint's own size (the witness cosigned it, and its
        // answer was lost: the resend of `post`).
        for attempt in 0..3 {
            let proof = if old == 0 || old == size {
                Vec::new()
            } else if old == first {
                shared_proof
                    .get_or_try_init(|| self.consistency_proof(chain, old, size))
                    .await
                    .cloned()
                    .map_err(|e| refused(format!("no consistency proof from {old}: {e}")))?
            } else {
                self.consistency_proof(chain, old, size)
                    .await
                    .map_err(|e| refused(format!("no consistency proof from {old}: {e}")))?
            };
            let body = AddCheckpoint {
                old_size: old,
                proof,
                note: note.to_owned(),
            }
            .to_body();
            let (status, answer) = witnesses.post(&url, body).await?;
            match status {
                200 => {
                    // Only this witness's line, and only if it verifies on this checkpoint.
                    for line in answer.lines().filter(|l| !l.is_empty()) {
                        let candidate = with_cosignatures(note, &[format!("{line}\n")]);
                        let verified = SignedNote::parse(&candidate)
                            .ok()
                            .and_then(|n| endpoint.key.check(&n).ok().flatten());
                        if verified.is_some() {
                            return Ok(format!("{line}\n"));
                        }
                    }
                    return Err(refused("it answered 200 without a valid cosignature of its key".into()));
                }
                // It cosigned another size last: once more, from there.
                409 => {
                    let digits = answer.trim_end_matches('\n');
                    let named: u64 = digits
                        .parse()
                        .ok()
                        .filter(|_| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| refused(format!("409 without a size: {answer:?}")))?;
                    if named > size {
                        return Err(refused(format!(
                            "it cosigned a checkpoint of size {named}, larger than this one ({size}): a rollback?"
                        )));
                    }
                    // Past the first round, only the checkpoint's own size is worth a round.
                    if named == old || (attempt > 0 && named != size) {
                        break;
                    }
                    old = named;
                }
                _ => return Err(refused(format!("{status}: {}", answer.trim()))),
            }
        }
        Err(refused(format!(
            "its 409s named no size to go on from (last asked from {old})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    use super::*;

    fn key() -> WitnessKey {
        ledger::witness::CosignerKey::from_seed("witness.test/w", [5; 32])
            .unwrap()
            .verifier()
    }

    /// Read one request (head and `content-length` body) off `reader`; `None` at its end.
    fn read_request(reader: &mut BufReader<std::net::TcpStream>) -> Option<String> {
        let mut length = 0;
        let mut first = String::new();
        if reader.read_line(&mut first).ok()? == 0 {
            return None;
        }
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        Some(String::from_utf8(body).unwrap())
    }

    /// A witness that answers the first request on a connection, then closes it when the
    /// next arrives (as a witness closing an idle connection just then does), `connections`
    /// times; what it was sent.
    fn closing_after_one(connections: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/add-checkpoint", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for n in 0..connections {
                let (stream, _) = listener.accept().unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                let Some(body) = read_request(&mut reader) else {
                    continue;
                };
                seen.push(body);
                let answer = format!("answer {n}");
                write!(
                    writer,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{answer}",
                    answer.len()
                )
                .unwrap();
                if let Some(body) = read_request(&mut reader) {
                    seen.push(body);
                }
            }
            seen
        });
        (url, server)
    }

    #[tokio::test]
    async fn a_request_that_fails_on_a_kept_connection_is_sent_once_more_on_a_new_one() {
        let witnesses = Witnesses::new(
            vec![WitnessEndpoint {
                url: "http://unused".into(),
                key: key(),
            }],
            1,
        )
        .unwrap();
        let (url, server) = closing_after_one(2);
        let first = witnesses.post(&url, "one".into()).await.ok().unwrap();
        assert_eq!(first, (200, "answer 0".into()));
        // The kept connection is closed as the second request arrives: sent again, on a new
        // connection, and answered.
        let second = witnesses.post(&url, "two".into()).await.ok().unwrap();
        assert_eq!(second, (200, "answer 1".into()));
        // The first connection was kept (the second request went over it first). Letting the
        // client go closes its connection, which the server thread waits on.
        drop(witnesses);
        let seen = tokio::task::spawn_blocking(move || server.join().unwrap())
            .await
            .unwrap();
        assert_eq!(seen, ["one", "two", "two"]);

        // Sent once more, not again and again: a witness that closes every time is silent.
        let witnesses = Witnesses::new(
            vec![WitnessEndpoint {
                url: "http://unused".into(),
                key: key(),
            }],
            1,
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/add-checkpoint", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let mut seen = 0;
            listener.set_nonblocking(true).unwrap();
            let until = std::time::Instant::now() + Duration::from_millis(1500);
            while std::time::Instant::now() < until {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        let mut reader = BufReader::new(stream);
                        if read_request(&mut reader).is_some() {
                            seen += 1;
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            seen
        });
        let answer = witnesses.post(&url, "three".into()).await;
        assert!(matches!(answer, Err(NoCosignature::Silent(_))));
        let seen = tokio::task::spawn_blocking(move || server.join().unwrap())
            .await
            .unwrap();
        assert_eq!(seen, 2, "sent twice, no more");
    }
}
