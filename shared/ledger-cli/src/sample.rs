//! Synthetic but realistic ledgers for drills, demos and benchmarks, written by the same
//! append code the service uses ([`ledger::ChainHead::append`]).

use std::io::Write;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ledger::personal::{Salt, seal};
use ledger::{ChainHead, ChainId, SignerKey};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

/// The sample's personal fields (a subset of the service's).
const PERSONAL: &[&str] = &["/actor/subject", "/change/message", "/change/request/title"];

const PRODUCTS: [&str; 4] = ["azure", "office365", "dynamics_crm_online", "enterprise_mobility_suite"];
const SEVERITIES: [&str; 3] = ["A", "B", "C"];
const TITLES: [&str; 5] = [
    "Production VMs unreachable",
    "Invoice shows duplicate Azure charges",
    "Users cannot sign in to Exchange Online",
    "Subscription transfer stuck",
    "Suspicious spike in compute usage",
];

/// One simulated request's progress through its life.
struct Open {
    id: String,
    customer: String,
    product: &'static str,
    severity: &'static str,
    step: u8,
    version: u64,
    due_at: DateTime<Utc>,
}

/// Writes `entries` entries of chain `partner` to `out`; returns the head after the last one.
pub fn write_sample(
    partner: &ChainId,
    entries: u64,
    seed: u64,
    out: &mut impl Write,
) -> Result<ChainHead, SampleError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut head = ChainHead::genesis(partner.clone());
    // From 2020 on, a minute apart on average: a million entries end in 2021, well before any
    // verifier's clock (entries from the future are refused, FORMAT.md §2.2).
    let mut now = Utc
        .with_ymd_and_hms(2020, 1, 6, 8, 0, 0)
        .single()
        .ok_or(SampleError::Clock)?;
    let mut open: Vec<Open> = Vec::new();
    for _ in 0..entries {
        now += Duration::seconds(rng.random_range(1..120));
        let start_new = open.is_empty() || (open.len() < 64 && rng.random_range(0..5) == 0);
        let (kind, data) = if start_new {
            let request = Open {
                id: ulid::Ulid::from_parts(now.timestamp_millis().max(0) as u64, rng.random()).to_string(),
                customer: uuid_like(&mut rng),
                product: PRODUCTS[rng.random_range(0..PRODUCTS.len())],
                severity: SEVERITIES[rng.random_range(0..SEVERITIES.len())],
                step: 0,
                version: 1,
                due_at: now + Duration::hours(4),
            };
            let data = event(
                &request,
                "partner_agent",
                json!({
                    "request": {
                        "title": TITLES[rng.random_range(0..TITLES.len())],
                        "product": request.product,
                        "severity": request.severity,
                        "category": "technical",
                        "language": "en",
                        "supportPlan": "Cloud Solution Provider",
                    }
                }),
                "open",
                "pending",
            );
            open.push(request);
            ("created", data)
        } else {
            let index = rng.random_range(0..open.len());
            let request = &mut open[index];
            request.step += 1;
            request.version += 1;
            let (kind, role, change, status, sla) = match request.step {
                1 => (
                    "first_response",
                    "support_engineer",
                    json!({ "message": "We are looking into it and will update you within the hour." }),
                    "in_progress",
                    "met",
                ),
                2 => (
                    "note_added",
                    "partner_agent",
                    json!({ "message": "The customer confirms the impact started at 09:40 UTC." }),
                    "in_progress",
                    "met",
                ),
                3 => (
                    "status_changed",
                    "support_engineer",
                    json!({ "from": "in_progress", "to": "resolved", "message": "Root cause fixed; please confirm." }),
                    "resolved",
                    "met",
                ),
                _ => (
                    "status_changed",
                    "partner_agent",
                    json!({ "from": "resolved", "to": "closed", "message": null }),
                    "closed",
                    "met",
                ),
            };
            let data = event(request, role, change, status, sla);
            if request.step >= 4 {
                open.swap_remove(index);
            }
            (kind, data)
        };
        // The personal values enter the ledger only as salted commitments, as in the service.
        let mut data = data;
        seal(&mut data, PERSONAL, || Salt(rng.random())).map_err(|e| SampleError::Seal(e.to_string()))?;
        let (entry, next) = head.append(&now, kind, &data)?;
        out.write_all(entry.line.as_bytes())?;
        out.write_all(b"\n")?;
        head = next;
    }
    Ok(head)
}

/// An event's data as the service records it (v2: the envelope's kind, time and partner are
/// not repeated).
fn event(r: &Open, role: &str, change: Value, status: &str, sla: &str) -> Value {
    let stamp = |t: DateTime<Utc>| ledger::entry::format_at(&t);
    json!({
        "requestId": r.id,
        "customerId": r.customer,
        "actor": { "role": role, "subject": format!("{role}-{}", r.id.len() % 7) },
        "version": r.version,
        "change": change,
        "resulting": {
            "status": status,
            "severity": r.severity,
            "billable": r.product == "azure",
            "feeCoverage": null,
            "slaState": sla,
            "dueAt": stamp(r.due_at),
            "firstResponseAt": if sla == "pending" { Value::Null } else { json!(stamp(r.due_at - Duration::hours(1))) },
            "breachedAt": null,
        }
    })
}

fn uuid_like(rng: &mut StdRng) -> String {
    let n: u128 = rng.random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("cannot write the sample: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Append(#[from] ledger::AppendError),
    #[error("clock out of range")]
    Clock,
    #[error("cannot seal the sample's personal values: {0}")]
    Seal(String),
}

/// Sign the sample's final checkpoint.
pub fn checkpoint(head: &ChainHead, log_name: &str, key: &SignerKey) -> String {
    head.sign_checkpoint(log_name, key)
}
