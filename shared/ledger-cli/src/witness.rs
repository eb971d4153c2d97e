//! `ledger witness`: a C2SP tlog-witness anyone can run — a partner for its own chain, an
//! auditor for every chain of a log (FORMAT.md §17).
//!
//! ```text
//! POST <prefix>/add-checkpoint        old <size>\n <proof lines> \n <checkpoint>
//!   200  the cosignature line(s)
//!   400  a malformed request     403  not signed by the log     404  an origin it does not know
//!   409  text/x.tlog.size: the size it cosigned last     422  a checkpoint that does not extend it
//! GET  <prefix>/<SHA-256(origin), hex>/checkpoint   the latest checkpoint it cosigned
//! ```
//!
//! Its state is a directory: per origin, the latest checkpoint it cosigned (with the log's
//! signature and its cosignature), in `<SHA-256(origin), hex>.checkpoint`. For each request the
//! witness holds the origin's lock while it reads that file, decides, and — only if it cosigns
//! — replaces the file atomically (written, flushed, renamed, the directory flushed) before
//! it answers: a crash at any point leaves either the old state, with nothing cosigned, or
//! the new one. Two witness processes never share a directory (an exclusive lock on it).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ledger::witness::{AddCheckpoint, CosignerKey, Decision, Origins, TrustedLog, Witness, request_origin};
use ledger::{Checkpoint, Hash, LogName};
use sha2::{Digest, Sha256};

use crate::commands::{CliError, Outcome, load_keys, read_limited};

/// An `add-checkpoint` body: a note (at most 1 MiB), 63 proof lines and the old size.
const MAX_REQUEST: u64 = (1 << 20) + 64 * 64;

/// What `ledger witness` is given.
#[derive(Debug)]
pub struct WitnessArgs {
    /// The witness's private key (`ledger keygen --witness`).
    pub key: PathBuf,
    /// The log's checkpoint key(s).
    pub log_keys: Vec<PathBuf>,
    /// Exact origins to witness (`<log>/<chain>`).
    pub origins: Vec<String>,
    /// Logs whose every chain to witness.
    pub logs: Vec<String>,
    pub state: PathBuf,
    pub listen: String,
}

/// The most requests a witness serves at once; past it, 503 with Retry-After. (A client
/// that trickles its request ties up one of them: in the open, run the witness behind a
/// reverse proxy that bounds header and body time, FORMAT.md §17.)
const MAX_IN_FLIGHT: usize = 64;

/// How many locks the origins share (by their hash): a fixed number, so that requests for
/// ever new origins cannot grow the witness's memory.
const LOCK_STRIPES: usize = 64;

/// A witness's memory: the latest checkpoint it cosigned per origin, and a lock per stripe
/// of origins.
#[derive(Debug)]
pub struct WitnessState {
    dir: PathBuf,
    locks: [Mutex<()>; LOCK_STRIPES],
    /// Held for the process's life: one witness per directory.
    _exclusive: std::fs::File,
}

fn origin_hash(origin: &str) -> String {
    hex::encode(Sha256::digest(origin.as_bytes()))
}

impl WitnessState {
    /// Open (creating) the state directory, and lock it for this process.
    pub fn open(dir: &Path) -> Result<Self, CliError> {
        let io = |source| CliError::Io {
            path: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".lock"))
            .map_err(io)?;
        #[cfg(target_os = "linux")]
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(|_| {
            CliError::Usage(format!(
                "{}: another witness is using this state directory",
                dir.display()
            ))
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            locks: std::array::from_fn(|_| Mutex::new(())),
            _exclusive: lock,
        })
    }

    fn path(&self, origin_hash: &str) -> PathBuf {
        self.dir.join(format!("{origin_hash}.checkpoint"))
    }

    fn lock(&self, origin: &str) -> std::sync::MutexGuard<'_, ()> {
        let stripe = usize::from(Sha256::digest(origin.as_bytes())[0]) % LOCK_STRIPES;
        self.locks[stripe]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The latest checkpoint cosigned for `origin`, as kept (with the cosignature).
    fn latest_note(&self, origin_hash: &str) -> std::io::Result<Option<String>> {
        match std::fs::read_to_string(self.path(origin_hash)) {
            Ok(note) => Ok(Some(note)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The latest (size, root) cosigned for `origin`.
    fn latest(&self, origin: &str) -> std::io::Result<Option<(u64, Hash)>> {
        let Some(note) = self.latest_note(&origin_hash(origin))? else {
            return Ok(None);
        };
        // Only the body is read: it is what the witness decides by.
        let checkpoint = note
            .find("\n\n")
            .and_then(|end| Checkpoint::parse_text(&note[..=end]).ok())
            .filter(|c| c.origin == origin)
            .ok_or_else(|| std::io::Error::other("the witness's state for this origin is unreadable"))?;
        Ok(Some((checkpoint.size, checkpoint.root)))
    }

    /// Replace `origin`'s latest checkpoint: written, flushed, renamed into place, the
    /// directory flushed.
    fn store(&self, origin: &str, note: &str) -> std::io::Result<()> {
        let path = self.path(&origin_hash(origin));
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(note.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()
    }

    /// Decide on one request under the origin's lock, and persist before answering.
    pub fn add_checkpoint(&self, witness: &Witness, request: &AddCheckpoint, now: u64) -> Decision {
        let Some(origin) = request_origin(&request.note).filter(|o| witness.trusts(o)) else {
            // Refused before any state is read (malformed: 400; unknown origin: 404).
            return witness.decide(request, None, now);
        };
        let _held = self.lock(&origin);
        let latest = match self.latest(&origin) {
            Ok(latest) => latest,
            Err(e) => {
                return Decision::Refuse {
                    status: 500,
                    reason: format!("the witness cannot read its state: {e}"),
                };
            }
        };
        let decision = witness.decide(request, latest, now);
        if let Decision::Cosign { latest, .. } = &decision
            && let Err(e) = self.store(&origin, latest)
        {
            return Decision::Refuse {
                status: 500,
                reason: format!("the witness cannot keep its state: {e}"),
            };
        }
        decision
    }
}

/// The witness the arguments describe.
pub fn witness_from(args: &WitnessArgs) -> Result<Witness, CliError> {
    let key =
        CosignerKey::parse(&read_limited(&args.key, crate::commands::limits::KEY)?).map_err(|e| CliError::Input {
            path: args.key.clone(),
            message: e.to_string(),
        })?;
    let keys = load_keys(&args.log_keys, "--log-key")?;
    let mut logs = Vec::new();
    for origin in &args.origins {
        let valid = origin
            .rsplit_once('/')
            .is_some_and(|(log, chain)| LogName::parse(log).is_ok() && ledger::ChainId::parse(chain).is_ok());
        if !valid {
            return Err(CliError::Usage(format!("--origin {origin}: not <log name>/<chain>")));
        }
        logs.push(TrustedLog {
            keys: keys.clone(),
            origins: Origins::Exact(origin.clone()),
        });
    }
    for log in &args.logs {
        logs.push(TrustedLog {
            keys: keys.clone(),
            origins: Origins::EveryChainOf(crate::commands::parse_log(log)?),
        });
    }
    if logs.is_empty() {
        return Err(CliError::Usage(
            "name what to witness: --origin <log>/<chain> (a partner: its own chain) or --log <log> (an auditor: every chain)"
                .into(),
        ));
    }
    Ok(Witness::new(key, logs))
}

/// A running witness server (for the local run and tests; `ledger witness` runs one until
/// it is stopped).
pub struct Serving {
    server: Arc<tiny_http::Server>,
    threads: Vec<std::thread::JoinHandle<()>>,
    pub address: std::net::SocketAddr,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving").field("address", &self.address).finish()
    }
}

impl Serving {
    /// Serve `witness` with `state` on `listen` (port 0: any), on `threads` threads.
    pub fn start(witness: Witness, state: WitnessState, listen: &str, threads: usize) -> Result<Self, CliError> {
        let server =
            tiny_http::Server::http(listen).map_err(|e| CliError::Usage(format!("cannot listen on {listen}: {e}")))?;
        let address = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| CliError::Usage(format!("{listen} is not an IP address")))?;
        let server = Arc::new(server);
        let shared = Arc::new((witness, state));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let threads = (0..threads.max(1))
            .map(|_| {
                let server = Arc::clone(&server);
                let shared = Arc::clone(&shared);
                let in_flight = Arc::clone(&in_flight);
                std::thread::spawn(move || {
                    for request in server.incoming_requests() {
                        // Each request on a thread of its own, so that a client that trickles
                        // its body holds one thread, not the witness; at most MAX_IN_FLIGHT.
                        if in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_IN_FLIGHT {
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            let mut busy = text(503, "text/plain", "the witness is busy; try again\n".into());
                            if let Ok(header) = tiny_http::Header::from_bytes("retry-after", "1") {
                                busy.add_header(header);
                            }
                            let _ = request.respond(busy);
                            continue;
                        }
                        let shared = Arc::clone(&shared);
                        let in_flight = Arc::clone(&in_flight);
                        std::thread::spawn(move || {
                            let (witness, state) = &*shared;
                            handle(request, witness, state);
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                })
            })
            .collect();
        Ok(Self {
            server,
            threads,
            address,
        })
    }

    /// `http://<address>`: the submission and monitoring prefix.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stop answering and wait for the threads.
    pub fn stop(self) {
        self.server.unblock();
        for _ in 1..self.threads.len() {
            self.server.unblock();
        }
        for thread in self.threads {
            let _ = thread.join();
        }
    }

    /// Serve until the process is stopped.
    pub fn wait(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// POSIX seconds, never 0 (C2SP tlog-cosignature: a timestamp of 0 is not a cosignature time).
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs().max(1))
}

fn text(status: u16, content_type: &str, body: String) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut response = tiny_http::Response::from_string(body).with_status_code(status);
    if let Ok(header) = tiny_http::Header::from_bytes("content-type", content_type) {
        response.add_header(header);
    }
    response
}

fn handle(mut request: tiny_http::Request, witness: &Witness, state: &WitnessState) {
    let url = request.url().split('?').next().unwrap_or_default().to_owned();
    let response = match (request.method(), url.as_str()) {
        (tiny_http::Method::Post, "/add-checkpoint") => {
            let mut body = String::new();
            let read = request.as_reader().take(MAX_REQUEST + 1).read_to_string(&mut body);
            if read.is_err() || body.len() as u64 > MAX_REQUEST {
                text(
                    400,
                    "text/plain",
                    "the request body is not a readable add-checkpoint request\n".into(),
                )
            } else {
                match AddCheckpoint::parse(&body) {
                    Err(reason) => text(400, "text/plain", format!("{reason}\n")),
                    Ok(add) => match state.add_checkpoint(witness, &add, now()) {
                        Decision::Cosign { response, .. } => text(200, "text/plain; charset=utf-8", response),
                        Decision::Conflict { size } => text(409, "text/x.tlog.size", format!("{size}\n")),
                        Decision::Refuse { status, reason } => text(status, "text/plain", format!("{reason}\n")),
                    },
                }
            }
        }
        (tiny_http::Method::Get, path) => {
            let hash = path.strip_prefix('/').and_then(|p| p.strip_suffix("/checkpoint"));
            match hash.filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
            {
                Some(hash) => match state.latest_note(hash) {
                    Ok(Some(note)) => text(200, "text/plain; charset=utf-8", note),
                    Ok(None) => text(
                        404,
                        "text/plain",
                        "this witness has cosigned no checkpoint of that origin\n".into(),
                    ),
                    Err(e) => text(500, "text/plain", format!("{e}\n")),
                },
                None => text(404, "text/plain", "not found\n".into()),
            }
        }
        _ => text(404, "text/plain", "not found\n".into()),
    };
    let _ = request.respond(response);
}

/// `ledger witness`: serve until stopped.
pub fn run(args: WitnessArgs) -> Result<Outcome, CliError> {
    let witness = witness_from(&args)?;
    let state = WitnessState::open(&args.state)?;
    let public = witness.key().verifier();
    let serving = Serving::start(witness, state, &args.listen, 4)?;
    eprintln!(
        "ledger witness {} on {} (state in {}); its public key, for logs and verifiers:\n{public}",
        public.name(),
        serving.url(),
        args.state.display()
    );
    serving.wait();
    Ok(Outcome {
        exit: crate::commands::Exit::Ok,
        stdout: String::new(),
    })
}
