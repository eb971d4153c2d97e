//! The OpenAPI 3.1 document, built from the code it describes: the route table (paths,
//! methods, scopes), the domain's enums and limits (lengths, patterns, the policy's
//! calendars) and the error mapping (every status and problem type a route can answer).
//!
//! `shared/api/openapi.json` is this document, committed for partners' tools; a test fails
//! if it differs from what the code generates (regenerate it with
//! `LEDGERDESK_WRITE_OPENAPI=1 cargo test -p api --test openapi`).
//!
//! Patterns are written for ECMA-262 (with or without the `u` flag) and Python's `re` alike,
//! so JSON Schema tools in any language and Schemathesis read them the same way. That leaves
//! one rule unsaid in a pattern: Unicode tag characters (U+E0000-U+E007F, astral, which no
//! common syntax names) are refused too, as the descriptions say.

use domain::personal::LegalBasis;
use domain::{
    Category, CycleOutcome, EntitlementKind, FeeBasis, FeeCoverage, LanguageTag, Party, Product, Role, Scope, Severity,
    SlaState, Status, SupportPlan,
};
use serde_json::{Map, Value, json};

use crate::routes::{Operation, ROUTES, Route, SCOPES};

/// A `$ref` to a component schema.
fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn nullable(schema: Value) -> Value {
    json!({ "oneOf": [schema, { "type": "null" }] })
}

/// An optional input member: the server reads `null` as absent, so the document says so.
fn optional(schema: Value) -> Value {
    json!({ "anyOf": [schema, { "type": "null" }] })
}

fn names(all: impl IntoIterator<Item = &'static str>) -> Value {
    Value::Array(all.into_iter().map(|s| Value::String(s.to_owned())).collect())
}

fn enum_schema(description: &str, all: impl IntoIterator<Item = &'static str>) -> Value {
    json!({ "type": "string", "description": description, "enum": names(all) })
}

/// Characters refused everywhere in text: control characters (but newline and tab in
/// multi-line text), direction-changing and tag characters, the Arabic letter mark.
const REFUSED_EVERYWHERE: &str = r"\u0000-\u0008\u000B-\u001F\u007F-\u009F\u061C\u202A-\u202E\u2066-\u2069";
/// What single-line text also refuses: newline, tab, invisible characters, line and
/// paragraph separators.
const REFUSED_IN_ONE_LINE: &str = r"\u0009\u000A\u180E\u200B-\u200F\u2028\u2029\u2060\uFEFF";

/// Text as the domain cleans it: NFC, trimmed, at least one visible character, at most `max`
/// characters.
fn text(max: usize, one_line: bool, description: &str) -> Value {
    let refused = if one_line {
        format!("{REFUSED_EVERYWHERE}{REFUSED_IN_ONE_LINE}")
    } else {
        REFUSED_EVERYWHERE.to_owned()
    };
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": max,
        "pattern": format!(r"^(?=[\s\S]*\S)[^{refused}]*$"),
        "description": format!(
            "{description} {} Unicode NFC; surrounding whitespace is trimmed; at most {max} characters after that; no control characters{}, no direction-changing or tag characters (U+E0000-U+E007F){}.",
            if one_line { "One line." } else { "Newlines and tabs allowed." },
            if one_line { "" } else { " other than newline and tab" },
            if one_line { ", no invisible characters or line separators" } else { "" },
        ),
    })
}

/// A case-insensitive literal, as a character class per letter.
fn any_case(literal: &str) -> String {
    literal
        .chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// RFC 5646 `Language-Tag` (well-formed): a `langtag`, or one of the grandfathered tags
/// (served by their preferred values); not the private-use-only form the server refuses.
pub fn language_tag_pattern() -> String {
    let grandfathered = GRANDFATHERED.map(any_case).join("|");
    let a = "[A-Za-z]";
    let an = "[A-Za-z0-9]";
    format!(
        "^(?:(?:{a}{{2,3}}(?:-{a}{{3}}){{0,3}}|{a}{{4,8}})(?:-{a}{{4}})?(?:-(?:{a}{{2}}|[0-9]{{3}}))?(?:-(?:{an}{{5,8}}|[0-9]{an}{{3}}))*(?:-[0-9A-WYZa-wyz](?:-{an}{{2,8}})+)*(?:-[Xx](?:-{an}{{1,8}})+)?|{grandfathered})$"
    )
}

/// RFC 5646 §2.1's grandfathered tags, irregular and regular.
pub const GRANDFATHERED: [&str; 26] = [
    "en-GB-oed",
    "i-ami",
    "i-bnn",
    "i-default",
    "i-enochian",
    "i-hak",
    "i-klingon",
    "i-lux",
    "i-mingo",
    "i-navajo",
    "i-pwn",
    "i-tao",
    "i-tay",
    "i-tsu",
    "sgn-BE-FR",
    "sgn-BE-NL",
    "sgn-CH-DE",
    "art-lojban",
    "cel-gaulish",
    "no-bok",
    "no-nyn",
    "zh-guoyu",
    "zh-hakka",
    "zh-min",
    "zh-min-nan",
    "zh-xiang",
];

const ULID: &str = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$";
const GUID: &str = "^(?!00000000-0000-0000-0000-000000000000$)[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$";
const PARTNER_ID: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";
const SUBJECT: &str = "^[ -~]{1,255}$";
/// Whole numbers the API reads from a query (JSON's safe integers).
pub const MAX_QUERY_NUMBER: u64 = (1 << 53) - 1;

fn schemas() -> Map<String, Value> {
    let mut s = Map::new();
    let mut put = |name: &str, schema: Value| {
        s.insert(name.to_owned(), schema);
    };
    // The domain's enums, each as its wire names (`as_str` of every value in `ALL`).
    macro_rules! enums {
        ($($ty:ident: $description:expr,)*) => {
            $(put(stringify!($ty), enum_schema($description, $ty::ALL.iter().map(|v| v.as_str())));)*
        };
    }
    enums! {
        Severity: "A critical, B moderate, C minimal business impact: first response within 2, 4 or 8 hours of the request's calendar.",
        Product: "The online service.",
        Category: "technical (break-fix: severity targets) or one of the others (up to one business day).",
        Status: "Where the request stands.",
        Scope: "A customer's tenant, or the partner's own.",
        FeeCoverage: "Azure only: the partner benefit that covers the Azure support fee.",
        FeeBasis: "Why the request carries the support fee or not (the policy's fee rule).",
        EntitlementKind: "Proof of support outside the CSP benefit (the partner's own tenant).",
        SupportPlan: "The plan the request is filed under.",
        SlaState: "Where a response clock stands.",
        Party: "Who owes the next reply.",
        CycleOutcome: "How a next-response cycle ended.",
        Role: "The role an actor held.",
    }
    put(
        "Timestamp",
        json!({ "type": "string", "format": "date-time", "description": "RFC 3339, UTC, milliseconds." }),
    );
    put(
        "Problem",
        json!({
            "type": "object",
            "description": "RFC 9457 problem details.",
            "required": ["type", "title", "status", "detail", "errors"],
            "properties": {
                "type": { "type": "string", "enum": names(crate::problem::PROBLEM_TYPES.iter().copied()) },
                "title": { "type": "string" },
                "status": { "type": "integer" },
                "detail": { "type": "string" },
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {
                            "field": { "type": "string", "description": "$.json.path in the body, or query:<name>, path:<name>, header:<name>, body:<row>[:<column>] (CSV)" },
                            "message": { "type": "string" }
                        }
                    }
                }
            }
        }),
    );
    put(
        "ContactInput",
        json!({
            "type": "object",
            "additionalProperties": false,
            "description": "The partner's contact, never the customer's. There is no telephone support: preferredContactMethod is email (the default).",
            "required": ["name", "email"],
            "properties": {
                "name": text(domain::ContactName::MAX_CHARS, true, "The contact person."),
                "email": { "type": "string", "format": "email", "maxLength": 254, "pattern": r"^[^\s<>@]+@[^\s<>@]+\.[^\s<>@]+$", "description": "An e-mail address with a dotted domain, no display name." },
                "phone": optional(json!({ "type": "string", "pattern": r"^(?=(?:\D*\d){5,20}\D*$)[0-9 +()-]{5,32}$", "description": "Recorded only: support answers by e-mail. 5-20 digits, spaces and + - ( )." })),
                "preferredContactMethod": optional(json!({ "type": "string", "enum": ["email"] }))
            }
        }),
    );
    put(
        "EntitlementInput",
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["kind", "reference"],
            "properties": {
                "kind": r("EntitlementKind"),
                "reference": text(domain::EntitlementReference::MAX_CHARS, true, "The contract or plan reference.")
            }
        }),
    );
    put("CreateCustomerRequest", create_schema(false));
    put("CreateOwnTenantRequest", create_schema(true));
    let message = text(domain::Message::MAX_CHARS, false, "The message.");
    let action = |name: &str, description: &str, required: &[&str], props: Value| {
        let mut properties = json!({ "action": { "const": name } });
        if let (Some(target), Some(extra)) = (properties.as_object_mut(), props.as_object()) {
            target.extend(extra.clone());
        }
        let mut req = vec![Value::String("action".into())];
        req.extend(required.iter().map(|r| Value::String((*r).to_owned())));
        json!({ "type": "object", "additionalProperties": false, "description": description, "required": req, "properties": properties })
    };
    put(
        "RespondAction",
        action(
            "respond",
            "Support engineers: answer (the first answer stops the initial-response clock; later ones end a next-response cycle).",
            &["message"],
            json!({ "message": message }),
        ),
    );
    put(
        "NoteAction",
        action(
            "note",
            "Partner agents and support engineers: add a note. A partner's note on an answered request starts a next-response cycle.",
            &["message"],
            json!({ "message": message }),
        ),
    );
    put(
        "AwaitPartnerAction",
        action(
            "await_partner",
            "Support engineers: ask the partner for information (a reply; the partner then owes one).",
            &["message"],
            json!({ "message": message }),
        ),
    );
    put(
        "ResolveAction",
        action(
            "resolve",
            "Support engineers: the problem is solved.",
            &["message"],
            json!({ "message": message }),
        ),
    );
    put(
        "CloseAction",
        action(
            "close",
            "Partner agents (any time), support engineers (once resolved).",
            &[],
            json!({ "reason": optional(message.clone()) }),
        ),
    );
    put(
        "ReopenAction",
        action(
            "reopen",
            "Within 14 days of being resolved or closed.",
            &["reason"],
            json!({ "reason": message }),
        ),
    );
    put(
        "ChangeSeverityAction",
        action(
            "change_severity",
            "Change the business impact; a running clock is recomputed.",
            &["severity"],
            json!({ "severity": r("Severity"), "reason": optional(message.clone()) }),
        ),
    );
    put(
        "AssignAction",
        action(
            "assign",
            "Support engineers: take it (me), hand it on (a subject) or release it (null).",
            &["assignee"],
            json!({ "assignee": { "oneOf": [{ "type": "string", "pattern": SUBJECT }, { "type": "null" }], "description": "me, an engineer's token subject, or null." } }),
        ),
    );
    put(
        "Action",
        json!({
            "description": "One action per PATCH, chosen by `action`; the other actions' fields are refused.",
            "oneOf": [
                r("RespondAction"), r("NoteAction"), r("AwaitPartnerAction"), r("ResolveAction"),
                r("CloseAction"), r("ReopenAction"), r("ChangeSeverityAction"), r("AssignAction")
            ],
            "discriminator": {
                "propertyName": "action",
                "mapping": {
                    "respond": "#/components/schemas/RespondAction",
                    "note": "#/components/schemas/NoteAction",
                    "await_partner": "#/components/schemas/AwaitPartnerAction",
                    "resolve": "#/components/schemas/ResolveAction",
                    "close": "#/components/schemas/CloseAction",
                    "reopen": "#/components/schemas/ReopenAction",
                    "change_severity": "#/components/schemas/ChangeSeverityAction",
                    "assign": "#/components/schemas/AssignAction"
                }
            }
        }),
    );
    let opt_time = nullable(r("Timestamp"));
    put(
        "Owed",
        json!({
            "type": "object",
            "description": "The reply owed after the first response: by support (a next-response cycle, with its due time) or by the partner (information support asked for).",
            "required": ["owedBy", "since"],
            "properties": {
                "owedBy": r("Party"),
                "since": r("Timestamp"),
                "cycle": { "type": ["integer", "null"] },
                "policyVersion": { "type": ["string", "null"] },
                "targetMinutes": { "type": ["integer", "null"] },
                "dueAt": opt_time,
                "state": nullable(r("SlaState")),
                "breachedAt": opt_time
            }
        }),
    );
    put(
        "ResponseCycle",
        json!({
            "type": "object",
            "required": ["cycle", "startedAt", "dueAt", "targetMinutes", "policyVersion", "outcome"],
            "properties": {
                "cycle": { "type": "integer" },
                "startedAt": r("Timestamp"),
                "dueAt": r("Timestamp"),
                "targetMinutes": { "type": "integer" },
                "policyVersion": { "type": "string" },
                "answeredAt": opt_time,
                "outcome": r("CycleOutcome"),
                "breachedAt": opt_time
            }
        }),
    );
    put(
        "Sla",
        json!({
            "type": "object",
            "description": "The response clocks: the initial response (top level), what is owed now (current) and the finished next-response cycles.",
            "required": ["policyVersion", "targetMinutes", "calendar", "dueAt", "state", "current", "cycles"],
            "properties": {
                "policyVersion": { "type": "string" },
                "targetMinutes": { "type": "integer" },
                "calendar": { "type": "string", "enum": names_owned(crate::openapi::calendars()) },
                "dueAt": r("Timestamp"),
                "firstResponseAt": opt_time,
                "state": r("SlaState"),
                "breachedAt": opt_time,
                "current": nullable(r("Owed")),
                "cycles": { "type": "array", "items": r("ResponseCycle") },
                "startedAt": { "type": "string", "description": "When the initial-response clock started, if not at the opening (a request withdrawn before any answer and reopened is owed its first response from the reopening)." }
            }
        }),
    );
    let personal = |schema: Value| json!({ "oneOf": [schema, { "type": "null" }], "description": "null once erased (GDPR Art. 17)" });
    put(
        "ServiceRequest",
        json!({
            "type": "object",
            "required": ["id", "partnerId", "customerId", "scope", "product", "category", "severity", "title", "description", "language", "contact", "supportPlan", "billable", "status", "statusSince", "sla", "createdAt", "updatedAt", "version"],
            "properties": {
                "id": { "type": "string", "pattern": ULID },
                "partnerId": { "type": "string", "pattern": PARTNER_ID },
                "customerId": { "type": ["string", "null"] },
                "scope": r("Scope"),
                "product": r("Product"),
                "category": r("Category"),
                "severity": r("Severity"),
                "topic": nullable(json!({
                    "type": "object",
                    "required": ["id", "title", "catalogueVersion"],
                    "properties": { "id": { "type": "string" }, "title": { "type": "string" }, "catalogueVersion": { "type": "string" } }
                })),
                "supportTopic": { "type": ["string", "null"] },
                "title": personal(json!({ "type": "string" })),
                "description": personal(json!({ "type": "string" })),
                "language": { "type": "string" },
                "contact": {
                    "type": "object",
                    "properties": {
                        "name": personal(json!({ "type": "string" })),
                        "email": personal(json!({ "type": "string" })),
                        "phone": { "type": ["string", "null"] },
                        "preferredContactMethod": { "type": "string", "enum": ["email"] }
                    }
                },
                "entitlement": nullable(json!({
                    "type": "object",
                    "properties": { "kind": r("EntitlementKind"), "reference": { "type": ["string", "null"] } }
                })),
                "supportPlan": r("SupportPlan"),
                "feeCoverage": nullable(r("FeeCoverage")),
                "billable": { "type": "boolean" },
                "feeBasis": nullable(r("FeeBasis")),
                "status": r("Status"),
                "statusSince": r("Timestamp"),
                "sla": r("Sla"),
                "createdAt": r("Timestamp"),
                "updatedAt": r("Timestamp"),
                "version": { "type": "integer", "minimum": 1 },
                "personalDataErasedAt": opt_time,
                "assignee": { "type": ["string", "null"], "description": "The support engineer working on it (token subject)." },
                "conversation": {
                    "type": "object",
                    "description": format!("What each side has done on it: actions (each a ledger entry), texts (messages, notes, reasons) and their bytes (UTF-8); at most {} actions, {} texts and {} bytes per side, then 422 (support's reply to a reply it owes, up to {} bytes, always goes through); absent until someone acts.", domain::Conversation::MAX_ACTIONS, domain::Conversation::MAX_TEXTS, domain::Conversation::MAX_BYTES, domain::Conversation::OWED_REPLY_BYTES),
                    "required": ["partner", "vendor"],
                    "properties": { "partner": r("Written"), "vendor": r("Written") }
                },
                "receipt": r("Receipt")
            }
        }),
    );
    put(
        "Written",
        json!({
            "type": "object",
            "required": ["actions", "texts", "bytes"],
            "properties": { "actions": { "type": "integer", "minimum": 0 }, "texts": { "type": "integer", "minimum": 0 }, "bytes": { "type": "integer", "minimum": 0 } }
        }),
    );
    put(
        "Receipt",
        json!({
            "type": "object",
            "description": "The log's signed promise for the ledger entry this write appended (FORMAT.md §10): at this seq of this chain, covered by a checkpoint by mergeDeadline. Check it with `ledger verify-receipt`; `ledger sync` checks every receipt you keep.",
            "required": ["format", "origin", "chain", "seq", "entryHash", "at", "mergeDeadline", "note"],
            "properties": {
                "format": { "const": ledger::receipt::RECEIPT_FORMAT },
                "origin": { "type": "string" },
                "chain": { "type": "string" },
                "seq": { "type": "integer" },
                "entryHash": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
                "at": { "type": "string" },
                "mergeDeadline": { "type": "string" },
                "note": { "type": "string" }
            }
        }),
    );
    put(
        "Page",
        json!({
            "type": "object",
            "required": ["items", "nextCursor"],
            "properties": {
                "items": { "type": "array", "items": r("ServiceRequest") },
                "nextCursor": { "type": ["string", "null"], "description": "Pass as cursor for the next page of the same query; null on the last page. A page may hold fewer items than limit and still have one." }
            }
        }),
    );
    put(
        "LedgerEntry",
        json!({
            "type": "object",
            "description": "An entry as its line reads (shared/ledger/FORMAT.md), its personal values shown where their commitments are.",
            "required": ["v", "chain", "seq", "prev", "at", "kind", "data", "hash"],
            "properties": {
                "v": { "enum": [1, 2] },
                "chain": { "type": "string" },
                "seq": { "type": "integer" },
                "prev": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
                "at": { "type": "string" },
                "kind": { "type": "string" },
                "data": { "type": "object" },
                "hash": { "type": "string", "pattern": "^[0-9a-f]{64}$" }
            }
        }),
    );
    // Two models, each with every member it always has (one `Proof` with all optional made
    // openapi-python-client's `from_dict` reuse the name `proof` for the member and the model:
    // a type error under mypy).
    let hashes = json!({ "type": "array", "items": { "type": "string", "description": "base64 SHA-256" } });
    put(
        "ConsistencyProof",
        json!({
            "type": "object",
            "description": "RFC 9162 consistency proof between the chain's trees of `from` and `to` entries.",
            "properties": {
                "from": { "type": "integer", "minimum": 0 }, "to": { "type": "integer", "minimum": 0 },
                "proof": hashes.clone()
            },
            "required": ["from", "to", "proof"]
        }),
    );
    put(
        "InclusionProof",
        json!({
            "type": "object",
            "description": "RFC 9162 inclusion proof of the entry `seq` in the chain's tree of `size` entries.",
            "properties": {
                "seq": { "type": "integer", "minimum": 0 }, "size": { "type": "integer", "minimum": 0 },
                "proof": hashes
            },
            "required": ["seq", "size", "proof"]
        }),
    );
    let legal_basis = json!({ "type": "string", "enum": names(LegalBasis::NAMES.split(", ")), "description": "GDPR Art. 17(1)(a)-(f)" });
    let case_reference = optional(
        json!({ "type": "string", "pattern": r"^[A-Za-z0-9._:/-]{1,64}$", "description": "The privacy team's case reference (never a name)." }),
    );
    put(
        "ErasureInput",
        json!({
            "description": "Either every personal value of one request, or everything of one e-mail address within one partner. A partner's own privacy officer may name only its own partner (another is 403).",
            "oneOf": [
                {
                    "title": "ByRequest",
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["requestId", "legalBasis"],
                    "properties": {
                        "requestId": { "type": "string", "pattern": ULID },
                        "legalBasis": legal_basis,
                        "reference": case_reference
                    }
                },
                {
                    "title": "ByEmail",
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["email", "partnerId", "legalBasis"],
                    "properties": {
                        "email": { "type": "string", "format": "email", "maxLength": 254 },
                        "partnerId": { "type": "string", "pattern": PARTNER_ID },
                        "legalBasis": legal_basis,
                        "reference": case_reference
                    }
                }
            ]
        }),
    );
    put(
        "ErasureResult",
        json!({
            "type": "object",
            "required": ["erasures", "alreadyErased"],
            "properties": {
                "erasures": { "type": "array", "items": { "type": "object", "properties": {
                    "requestId": { "type": "string" }, "scope": { "enum": ["request", "entries"] },
                    "commitmentsErased": { "type": "integer" },
                    "commitmentsLeft": { "type": "integer", "description": "values out of the caller's reach, left in place (a partner's privacy officer does not reach what the vendor's staff wrote)" },
                    "receipt": r("Receipt") } } },
                "alreadyErased": { "type": "array", "items": { "type": "string" } }
            }
        }),
    );
    put(
        "RelationshipInput",
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["status"],
            "properties": {
                "status": { "enum": ["active", "terminated"] },
                "since": optional(r("Timestamp"))
            }
        }),
    );
    put(
        "Relationship",
        json!({
            "type": "object",
            "required": ["partnerId", "customerId", "since", "status", "updatedAt"],
            "properties": {
                "partnerId": { "type": "string" }, "customerId": { "type": "string" },
                "since": r("Timestamp"), "status": { "enum": ["active", "terminated"] },
                "updatedAt": r("Timestamp"), "receipt": r("Receipt")
            }
        }),
    );
    let kinds = json!({
        "type": "array", "maxItems": domain::ENTRY_KINDS.len(), "uniqueItems": true,
        "items": { "enum": domain::ENTRY_KINDS },
        "description": "The entry kinds it is sent (empty or absent: every kind)."
    });
    let url = json!({
        "type": "string", "minLength": 1, "maxLength": 2048,
        "description": "https, to a public address (checked now against every address the name resolves to, and again at each delivery); the local run also takes http://127.0.0.1:<port>/…"
    });
    put(
        "WebhookEndpointInput",
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["url"],
            "properties": { "url": url, "kinds": kinds, "enabled": { "type": "boolean", "description": "true by default" } }
        }),
    );
    put(
        "WebhookEndpointChange",
        json!({
            "type": "object",
            "additionalProperties": false,
            "minProperties": 1,
            "properties": { "url": url, "kinds": kinds, "enabled": { "type": "boolean", "description": "true resumes an endpoint the receiver (410) or the retries disabled, at its cursor, its retries reset" } }
        }),
    );
    let endpoint_properties = json!({
        "id": { "type": "string", "pattern": "^ep_[0-9A-HJKMNP-TV-Z]{26}$" },
        "url": { "type": "string" },
        "kinds": { "type": "array", "items": { "type": "string" } },
        "enabled": { "type": "boolean" },
        "state": { "enum": ["enabled", "disabled_by_partner", "gone", "retries_spent"] },
        "nextSeq": { "type": "integer", "minimum": 0, "description": "The seq of the next entry of the partner's chain it is sent" },
        "attempts": { "type": "integer", "minimum": 0, "description": "Failed attempts at nextSeq so far" },
        "lastStatus": { "type": ["integer", "null"], "description": "The HTTP status of the last attempt (null: none yet, or no answer)" },
        "lastAttemptAt": nullable(r("Timestamp")),
        "secretsInForce": { "type": "integer", "minimum": 0, "description": "2 during a rotation's overlap" },
        "publicKey": { "type": ["string", "null"], "pattern": "^whpk_[A-Za-z0-9+/=]+$", "description": "The endpoint's Ed25519 public key: v1a signatures verify with it (null once deleted)" },
        "createdAt": r("Timestamp"),
        "updatedAt": r("Timestamp")
    });
    let endpoint_required = json!([
        "id",
        "url",
        "kinds",
        "enabled",
        "state",
        "nextSeq",
        "attempts",
        "lastStatus",
        "lastAttemptAt",
        "secretsInForce",
        "createdAt",
        "updatedAt"
    ]);
    put(
        "WebhookEndpoint",
        json!({ "type": "object", "required": endpoint_required, "properties": endpoint_properties }),
    );
    let mut with_secret = endpoint_properties.clone();
    with_secret["secret"] = json!({ "type": "string", "pattern": "^whsec_[A-Za-z0-9+/=]+$", "description": "The signing secret (Standard Webhooks), shown only now" });
    with_secret["previousSecretExpiresAt"] = json!({ "type": ["string", "null"], "description": "(a rotation) Until when the replaced secret still signs beside it (null: no overlap)" });
    let mut required_secret = endpoint_required.clone();
    if let Some(list) = required_secret.as_array_mut() {
        list.push(json!("secret"));
    }
    put(
        "WebhookEndpointWithSecret",
        json!({ "type": "object", "required": required_secret, "properties": with_secret }),
    );
    put(
        "WebhookDelivery",
        json!({
            "type": "object",
            "description": "What an endpoint receives (Standard Webhooks; headers webhook-id msg_<chain>_<seq>, webhook-timestamp, webhook-signature): one ledger entry, in seq order, at least once.",
            "required": ["type", "timestamp", "data"],
            "properties": {
                "type": { "enum": domain::ENTRY_KINDS.iter().map(|k| format!("ledger.{k}")).collect::<Vec<_>>() },
                "timestamp": { "type": "string", "description": "The entry's time" },
                "data": {
                    "type": "object",
                    "required": ["chain", "seq", "hash", "entry", "request", "receipt"],
                    "properties": {
                        "chain": { "type": "string" },
                        "seq": { "type": "integer", "minimum": 0 },
                        "hash": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
                        "entry": {
                            "type": "object",
                            "description": "The entry exactly as hashed (personal values as commitments): its hash is `hash`, and `ledger sync` proves it.",
                            "required": ["v", "chain", "seq", "prev", "at", "kind", "data", "hash"]
                        },
                        "request": nullable(r("ServiceRequest")),
                        "receipt": {
                            "oneOf": [r("Receipt"), { "type": "null" }],
                            "description": "The receipt the entry's writer signed and kept with it (checked by the deliverer with the published receipt key); null only for entries older than the stack's kept receipts (ReceiptsRequiredSince)."
                        }
                    }
                }
            }
        }),
    );
    put(
        "SecretRotation",
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": { "overlapSeconds": { "type": "integer", "minimum": 0, "maximum": 604800, "description": "How long the replaced secret still signs (default 86400, at most 7 days)" } }
        }),
    );
    put(
        "TopicCatalogue",
        json!({
            "type": "object",
            "required": ["catalogueVersion", "topics"],
            "properties": {
                "catalogueVersion": { "type": "string" },
                "topics": { "type": "array", "items": {
                    "type": "object",
                    "required": ["id", "product", "title", "categories"],
                    "properties": {
                        "id": { "type": "string" }, "product": r("Product"), "title": { "type": "string" },
                        "categories": { "type": "array", "items": r("Category") }
                    }
                } }
            }
        }),
    );
    s
}

/// A create body: for a customer (no entitlement) or the partner's own tenant (an
/// entitlement required). Every rule between fields is stated: a catalogue topic fits the
/// product and category; feeCoverage is Azure's only.
fn create_schema(own_tenant: bool) -> Value {
    let catalogue = domain::topics::TopicCatalogue::embedded();
    let topic_ids: Vec<String> = catalogue.topics(None).map(|t| t.id.clone()).collect();
    let fits: Vec<Value> = catalogue
        .topics(None)
        .map(|t| {
            json!({
                "properties": {
                    "supportTopicId": { "const": t.id },
                    "product": { "const": t.product.as_str() },
                    "category": { "enum": names(t.categories.iter().map(|c| c.as_str())) }
                }
            })
        })
        .collect();
    let mut required = vec![
        "product",
        "category",
        "severity",
        "title",
        "description",
        "language",
        "contact",
    ];
    if own_tenant {
        required.push("entitlement");
    }
    let mut properties = json!({
        "product": r("Product"),
        "category": r("Category"),
        "severity": r("Severity"),
        "supportTopicId": optional(json!({ "type": "string", "enum": names_owned(topic_ids), "description": "A topic of GET /support-topics that fits the request's product and category." })),
        "supportTopic": optional(text(domain::SupportTopic::MAX_CHARS, true, "Free-text detail of the topic.")),
        "title": text(domain::Title::MAX_CHARS, true, "What is wrong, in a line."),
        "description": text(domain::Description::MAX_CHARS, false, "The details."),
        "language": {
            "type": "string",
            "maxLength": LanguageTag::MAX_LEN,
            "pattern": language_tag_pattern(),
            "description": "A well-formed BCP 47 (RFC 5646) tag, at most 64 characters, recorded as given; private-use-only tags are refused. Served on the calendar of its language and region (fr-CA), else of its language (fr), else by English support 24x7; a grandfathered tag by its registry's preferred value (en-GB-oed as en-GB-oxendict, i-klingon as tlh)."
        },
        "contact": r("ContactInput"),
        "feeCoverage": optional(r("FeeCoverage"))
    });
    if let Some(p) = properties.as_object_mut() {
        // A customer's request has no entitlement (null reads as none).
        p.insert(
            "entitlement".into(),
            if own_tenant {
                r("EntitlementInput")
            } else {
                json!({ "type": "null" })
            },
        );
    }
    json!({
        "type": "object",
        "additionalProperties": false,
        "description": if own_tenant {
            "A request for the partner's own tenant: not covered by the CSP benefit, so it carries proof of an entitlement. Give supportTopicId, supportTopic (free text), or both."
        } else {
            "A request on a customer's behalf (Cloud Solution Provider support plan; no entitlement). Give supportTopicId, supportTopic (free text), or both."
        },
        "required": required,
        // supportTopicId, supportTopic or both: said as "not neither" (absent or null), which
        // validators read exactly and client generators leave out, so that they keep one
        // typed model of every member (an anyOf of two objects becomes two half-models).
        "not": {
            "allOf": [
                { "anyOf": [{ "not": { "required": ["supportTopicId"] } }, { "properties": { "supportTopicId": { "type": "null" } } }] },
                { "anyOf": [{ "not": { "required": ["supportTopic"] } }, { "properties": { "supportTopic": { "type": "null" } } }] }
            ]
        },
        "dependentSchemas": {
            "supportTopicId": { "anyOf": [{ "properties": { "supportTopicId": { "type": "null" } } }, { "oneOf": fits }] },
            "feeCoverage": { "anyOf": [{ "properties": { "feeCoverage": { "type": "null" } } }, { "properties": { "product": { "const": "azure" } } }] }
        },
        "properties": properties,
    })
}

fn names_owned(all: Vec<String>) -> Value {
    Value::Array(all.into_iter().map(Value::String).collect())
}

/// The calendars of the embedded policy (what `sla.calendar` and the queue's filter name).
fn calendars() -> Vec<String> {
    domain::SupportPolicy::embedded()
        .map(|p| p.calendars().map(|c| c.id().to_owned()).collect())
        .unwrap_or_default()
}

fn param(name: &str, location: &str, required: bool, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": location, "required": required, "description": description, "schema": schema })
}

fn number_param(name: &str, required: bool, description: &str, min: u64, max: u64) -> Value {
    param(
        name,
        "query",
        required,
        description,
        json!({ "type": "integer", "minimum": min, "maximum": max }),
    )
}

fn cursor_param() -> Value {
    param(
        "cursor",
        "query",
        false,
        "A nextCursor this API returned for the same query (opaque and authenticated: any other is 400).",
        json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]{16,2048}$" }),
    )
}

fn entries_limit_param() -> Value {
    number_param(
        "limit",
        false,
        &format!(
            "Entries per page, {max} by default and at most; a page also stops before about {} MiB.",
            crate::paging::MAX_PAGE_BYTES / (1024 * 1024),
            max = crate::paging::MAX_ENTRIES
        ),
        1,
        crate::paging::MAX_ENTRIES as u64,
    )
}

fn entries_cursor_param(pattern: &str) -> Value {
    param(
        "cursor",
        "query",
        false,
        "The previous page's cursor (any other is 400).",
        json!({ "type": "string", "pattern": pattern }),
    )
}

fn limit_param(max: u64, default: u64) -> Value {
    number_param("limit", false, &format!("Page size, {default} by default."), 1, max)
}

fn problem(description: &str, types: &[&str]) -> Value {
    json!({
        "description": format!("{description} (problem type{}: {})", if types.len() > 1 { "s" } else { "" }, types.iter().map(|t| format!("/problems/{t}")).collect::<Vec<_>>().join(", ")),
        "content": { "application/problem+json": { "schema": r("Problem") } }
    })
}

/// The error statuses every route can answer, and those of its kind.
fn errors(responses: &mut Map<String, Value>, extra: &[(&str, &str, &[&str])]) {
    let mut add = |code: &str, value: Value| {
        responses.insert(code.to_owned(), value);
    };
    add(
        "400",
        problem(
            "Unknown or repeated query parameters, a forged cursor, a bad header, malformed JSON or unknown body members",
            &["bad-request", "malformed-request"],
        ),
    );
    add("401", problem("No valid bearer token", &["unauthenticated"]));
    add(
        "403",
        problem(
            "The token lacks the scope or population (partner or vendor staff) for this, or mixes both; or the partner's relationship with the request's customer is no longer active; or a rule of who may do what (the detail says which)",
            &["forbidden"],
        ),
    );
    add(
        "500",
        problem(
            "Internal error (no details), or a support policy that does not reach this due time",
            &["internal", "policy-out-of-date"],
        ),
    );
    add(
        "503",
        problem("Unavailable or overloaded; retry after Retry-After", &["unavailable"]),
    );
    for (code, description, types) in extra {
        add(code, problem(description, types));
    }
}

fn json_ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

const NOT_FOUND: (&str, &str, &[&str]) = (
    "404",
    "No such request for this caller (another partner's are not found either)",
    &["not-found"],
);
const INVALID: (&str, &str, &[&str]) = (
    "422",
    "A field or parameter breaks a rule; errors name each",
    &["validation-failed"],
);
const TOO_LARGE: (&str, &str, &[&str]) = (
    "413",
    "Body larger than 64 KiB (a CSV import: 2 MiB)",
    &["payload-too-large"],
);
const MEDIA: (&str, &str, &[&str]) = ("415", "Body is not application/json", &["unsupported-media-type"]);

const ENDPOINT_NOT_FOUND: (&str, &str, &[&str]) = (
    "404",
    "No such webhook endpoint of this partner (another partner's are not found either)",
    &["not-found"],
);

const ENDPOINT_CONFLICT: (&str, &str, &[&str]) = (
    "409",
    "Changed concurrently (by the partner, or by the deliverer moving its cursor); reload and retry",
    &["conflict"],
);

/// What a change of an endpoint with a body can answer besides success.
const ENDPOINT_CHANGE: [(&str, &str, &[&str]); 5] = [ENDPOINT_NOT_FOUND, ENDPOINT_CONFLICT, TOO_LARGE, MEDIA, INVALID];

fn endpoint_param() -> Value {
    param(
        "endpointId",
        "path",
        true,
        "The endpoint's id.",
        json!({ "type": "string", "pattern": "^ep_[0-9A-HJKMNP-TV-Z]{26}$" }),
    )
}

fn id_param() -> Value {
    param(
        "id",
        "path",
        true,
        "The request id (ULID).",
        json!({ "type": "string", "pattern": ULID }),
    )
}

fn customer_param() -> Value {
    param(
        "customerId",
        "path",
        true,
        "The customer's tenant GUID.",
        json!({ "type": "string", "pattern": GUID }),
    )
}

fn chain_param() -> Value {
    param(
        "chain",
        "query",
        false,
        "Auditors (ledger/audit): the chain (partner id) to read; partners read their own (another is 404).",
        json!({ "type": "string", "pattern": PARTNER_ID }),
    )
}

fn request_links() -> Value {
    json!({
        "GetRequest": { "operationId": "getRequest", "parameters": { "id": "$response.body#/id" } },
        "GetHistory": { "operationId": "getHistory", "parameters": { "id": "$response.body#/id" } },
        "UpdateRequest": { "operationId": "updateRequest", "parameters": { "id": "$response.body#/id" } },
        "GetEvidence": { "operationId": "getEvidence", "parameters": { "id": "$response.body#/id" } }
    })
}

fn endpoint_links() -> Value {
    let link =
        |operation: &str| json!({ "operationId": operation, "parameters": { "endpointId": "$response.body#/id" } });
    json!({
        "GetWebhookEndpoint": link("getWebhookEndpoint"),
        "UpdateWebhookEndpoint": link("updateWebhookEndpoint"),
        "RotateWebhookSecret": link("rotateWebhookSecret"),
        "ReplayWebhooks": link("replayWebhooks"),
        "ListWebhookDeliveries": link("listWebhookDeliveries"),
        "DeleteWebhookEndpoint": link("deleteWebhookEndpoint")
    })
}

fn list_params(with_customer_query: bool) -> Vec<Value> {
    let mut params = Vec::new();
    if with_customer_query {
        params.push(param(
            "customerId",
            "query",
            false,
            "Only this customer's requests.",
            json!({ "type": "string", "pattern": GUID }),
        ));
    }
    params.push(param(
        "status",
        "query",
        false,
        "Only requests with this status.",
        r("Status"),
    ));
    params.push(param("severity", "query", false, "Only this severity.", r("Severity")));
    params.push(param("product", "query", false, "Only this product.", r("Product")));
    params.push(param(
        "createdFrom",
        "query",
        false,
        "Created at or after (RFC 3339).",
        json!({ "type": "string", "format": "date-time" }),
    ));
    params.push(param(
        "createdTo",
        "query",
        false,
        "Created at or before (RFC 3339); not before createdFrom (422).",
        json!({ "type": "string", "format": "date-time" }),
    ));
    params.push(param(
        "assignee",
        "query",
        false,
        "none, or an engineer's token subject.",
        json!({ "type": "string", "pattern": SUBJECT, "not": { "const": "me" } }),
    ));
    params.push(limit_param(u64::from(store::PageSize::MAX), 25));
    params.push(cursor_param());
    params
}

/// One operation of the document.
fn operation(route: &Route) -> Value {
    let security: Vec<Value> = route.scopes.iter().map(|s| json!({ "bearer": [s] })).collect();
    let mut responses = Map::new();
    let (id, summary, tag, params, body): (&str, &str, &str, Vec<Value>, Option<Value>) = match route.operation {
        Operation::CreateForCustomer | Operation::CreateForOwnTenant => {
            let own = route.operation == Operation::CreateForOwnTenant;
            responses.insert(
                "201".into(),
                json!({
                    "description": "Created: the request with its receipt. A replay with the same Idempotency-Key returns the original.",
                    "headers": {
                        "Location": { "schema": { "type": "string" }, "description": "/service-requests/{id}" },
                        "ETag": { "schema": { "type": "string", "pattern": "^\"[0-9]+\"$" }, "description": "The version, for If-Match" }
                    },
                    "content": { "application/json": { "schema": r("ServiceRequest") } },
                    "links": request_links()
                }),
            );
            errors(
                &mut responses,
                &[
                    ("409", "Idempotency-Key used before with another body", &["conflict"]),
                    TOO_LARGE,
                    MEDIA,
                    (
                        "422",
                        "A field breaks a rule (errors name each); no relationship with the customer (path:customerId)",
                        &["validation-failed"],
                    ),
                ],
            );
            let mut params = Vec::new();
            if !own {
                params.push(customer_param());
            }
            params.push(param(
                "Idempotency-Key",
                "header",
                false,
                "Retry safely: the same key and body return the original response for 24 hours.",
                json!({ "type": "string", "pattern": SUBJECT }),
            ));
            (
                if own {
                    "createOwnTenantRequest"
                } else {
                    "createCustomerRequest"
                },
                if own {
                    "File a request for the partner's own tenant (an entitlement is required)"
                } else {
                    "File a request on behalf of a customer (Cloud Solution Provider support plan)"
                },
                "service requests",
                params,
                Some(r(if own {
                    "CreateOwnTenantRequest"
                } else {
                    "CreateCustomerRequest"
                })),
            )
        }
        Operation::List | Operation::ListForCustomer => {
            let for_customer = route.operation == Operation::ListForCustomer;
            responses.insert("200".into(), json_ok("A page, newest first", r("Page")));
            errors(
                &mut responses,
                &[
                    (
                        "404",
                        "No such customer for this partner (no active relationship)",
                        &["not-found"],
                    ),
                    INVALID,
                ],
            );
            let mut params = Vec::new();
            if for_customer {
                params.push(customer_param());
            }
            params.extend(list_params(!for_customer));
            (
                if for_customer {
                    "listCustomerRequests"
                } else {
                    "listRequests"
                },
                if for_customer {
                    "List one customer's requests, newest first"
                } else {
                    "List the partner's requests, newest first"
                },
                "service requests",
                params,
                None,
            )
        }
        Operation::Get => {
            responses.insert(
                "200".into(),
                json!({
                    "description": "The request",
                    "headers": { "ETag": { "schema": { "type": "string" }, "description": "The version, for If-Match" } },
                    "content": { "application/json": { "schema": r("ServiceRequest") } }
                }),
            );
            errors(&mut responses, &[NOT_FOUND]);
            (
                "getRequest",
                "One request (partners: their own; vendor support: any)",
                "service requests",
                vec![id_param()],
                None,
            )
        }
        Operation::History => {
            responses.insert("200".into(), json_ok("A page of its ledger entries, oldest first (at most limit entries and about 4 MiB)", json!({ "type": "object", "required": ["items", "nextCursor"], "properties": {
                "items": { "type": "array", "items": r("LedgerEntry") },
                "nextCursor": { "type": ["string", "null"], "description": "Pass as cursor for the next page; null on the last page." }
            } })));
            errors(&mut responses, &[NOT_FOUND, INVALID]);
            (
                "getHistory",
                "The request's audit-ledger entries, oldest first, in pages",
                "service requests",
                vec![
                    id_param(),
                    entries_limit_param(),
                    entries_cursor_param("^(0|[1-9][0-9]{0,19})$"),
                ],
                None,
            )
        }
        Operation::Evidence => {
            responses.insert(
                "200".into(),
                json!({
                    "description": "An evidence bundle of a page of the request's entries (ledger verify-proof reads it, and every page of a set together; FORMAT.md §12)",
                    "headers": {
                        "Ledger-Next-Cursor": { "schema": { "type": "string" }, "description": "Present while more entries follow: pass as cursor for the next page (proven against the same checkpoint)." },
                        "Ledger-Uncovered": { "schema": { "type": "string" }, "description": "How many of the request's entries this page's checkpoint does not cover yet." }
                    },
                    "content": { "application/json": { "schema": { "type": "object" } } }
                }),
            );
            errors(
                &mut responses,
                &[
                    (
                        "404",
                        "No such request, or no checkpoint covers its entries yet",
                        &["not-found"],
                    ),
                    INVALID,
                ],
            );
            (
                "getEvidence",
                "An evidence bundle of the request's entries (partners: with their own personal values; auditors: commitments only, values with a caseReference, ledgered as an access)",
                "ledger",
                vec![
                    id_param(),
                    entries_limit_param(),
                    entries_cursor_param("^(0|[1-9][0-9]{0,19})[.](0|[1-9][0-9]{0,19})$"),
                    param(
                        "caseReference",
                        "query",
                        false,
                        "Auditors only: the audit case that needs the personal values. The bundle then discloses them, and a personal_data_disclosed entry records the access in the partner's chain first. Without it an auditor's bundle holds commitments only.",
                        json!({ "type": "string", "pattern": "^[A-Za-z0-9._:/-]{1,64}$" }),
                    ),
                ],
                None,
            )
        }
        Operation::Update => {
            responses.insert(
                "200".into(),
                json!({
                    "description": "The request after the action, with its receipt",
                    "headers": { "ETag": { "schema": { "type": "string" }, "description": "The new version" } },
                    "content": { "application/json": { "schema": r("ServiceRequest") } }
                }),
            );
            errors(
                &mut responses,
                &[
                    NOT_FOUND,
                    (
                        "409",
                        "The action is not possible in the request's state, or changes nothing (the domain says why)",
                        &["conflict"],
                    ),
                    (
                        "412",
                        "If-Match names another version (or only weak tags)",
                        &["precondition-failed"],
                    ),
                    TOO_LARGE,
                    MEDIA,
                    ("422", "A field breaks a rule", &["validation-failed"]),
                ],
            );
            (
                "updateRequest",
                "Act on a request: respond, note, await_partner, resolve, close, reopen, change_severity, assign",
                "service requests",
                vec![
                    id_param(),
                    param(
                        "If-Match",
                        "header",
                        false,
                        "Only if the request is at one of these versions (the ETag, compared strongly), or * (it exists). Without it (or empty: a list of no tags), a change that loses a race is re-applied on the new state.",
                        json!({ "type": "string", "pattern": r#"^(?:\*|"(?:0|[1-9][0-9]{0,18})"(?:[ \t]*,[ \t]*"(?:0|[1-9][0-9]{0,18})")*)?$"# }),
                    ),
                ],
                Some(r("Action")),
            )
        }
        Operation::LedgerCheckpoint => {
            responses.insert("200".into(), json!({ "description": "The latest signed checkpoint: a C2SP signed note (FORMAT.md §6)", "content": { "text/plain": { "schema": { "type": "string" } } } }));
            errors(
                &mut responses,
                &[
                    (
                        "404",
                        "No such chain for this caller, or none signed yet",
                        &["not-found"],
                    ),
                    INVALID,
                ],
            );
            (
                "getCheckpoint",
                "The latest signed checkpoint of a chain",
                "ledger",
                vec![chain_param()],
                None,
            )
        }
        Operation::LedgerEntries => {
            responses.insert("200".into(), json!({ "description": "Entries in seq order, each exactly as hashed, one per line", "content": { "application/x-ndjson": { "schema": { "type": "string" } } } }));
            errors(
                &mut responses,
                &[("404", "No such chain for this caller", &["not-found"]), INVALID],
            );
            (
                "getEntries",
                "A chain's entries as hashed (JSON Lines)",
                "ledger",
                vec![
                    chain_param(),
                    number_param("start", false, "The first seq (0 by default).", 0, MAX_QUERY_NUMBER),
                    limit_param(1_000, 1_000),
                ],
                None,
            )
        }
        Operation::LedgerEntryTile => {
            responses.insert("307".into(), json!({
                "description": "A link to the tile in the tile bucket, presigned for this caller's chain and valid for 300 seconds. GET it without the Authorization header: the bucket answers entries 1024·index … 1024·index + 1023, each exactly as hashed and ended by a newline, as one zstd frame (FORMAT.md §11.1; application/zstd, immutable), or 404 if the tile is not stored (not full or not signed yet, or from before tiles were kept: read its entries from /ledger/entries)",
                "headers": {
                    "Location": { "schema": { "type": "string", "format": "uri" }, "description": "The presigned link" },
                    "Cache-Control": { "schema": { "type": "string", "const": "no-store" }, "description": "The link expires: never cache the redirect" }
                }
            }));
            errors(
                &mut responses,
                &[
                    (
                        "404",
                        "No such chain for this caller, or this log keeps no entry tiles (read the entries from /ledger/entries)",
                        &["not-found"],
                    ),
                    INVALID,
                ],
            );
            (
                "getEntryTile",
                "1,024 entries of a chain as one compressed, immutable tile",
                "ledger",
                vec![
                    chain_param(),
                    param(
                        "index",
                        "path",
                        true,
                        "The tile: it holds entries 1024·index to 1024·index + 1023.",
                        json!({ "type": "integer", "minimum": 0, "maximum": MAX_QUERY_NUMBER }),
                    ),
                ],
                None,
            )
        }
        Operation::ConsistencyProof => {
            responses.insert(
                "200".into(),
                json_ok("RFC 9162 consistency proof", r("ConsistencyProof")),
            );
            errors(
                &mut responses,
                &[
                    ("404", "No such chain for this caller", &["not-found"]),
                    (
                        "422",
                        "Sizes that are not signed checkpoint sizes, or from > to",
                        &["validation-failed"],
                    ),
                ],
            );
            (
                "getConsistencyProof",
                "Consistency proof between two signed sizes",
                "ledger",
                vec![
                    chain_param(),
                    number_param("from", true, "The older size.", 0, MAX_QUERY_NUMBER),
                    number_param("to", true, "The newer size.", 0, MAX_QUERY_NUMBER),
                ],
                None,
            )
        }
        Operation::InclusionProof => {
            responses.insert("200".into(), json_ok("RFC 9162 inclusion proof", r("InclusionProof")));
            errors(
                &mut responses,
                &[
                    ("404", "No such chain for this caller", &["not-found"]),
                    (
                        "422",
                        "seq not below size, or size not a signed size",
                        &["validation-failed"],
                    ),
                ],
            );
            (
                "getInclusionProof",
                "Inclusion proof of one entry in a signed tree",
                "ledger",
                vec![
                    chain_param(),
                    number_param("seq", true, "The entry.", 0, MAX_QUERY_NUMBER),
                    number_param("size", true, "The tree size.", 0, MAX_QUERY_NUMBER),
                ],
                None,
            )
        }
        Operation::Erase => {
            responses.insert(
                "200".into(),
                json_ok("What was erased (erasing again changes nothing)", r("ErasureResult")),
            );
            errors(&mut responses, &[NOT_FOUND, TOO_LARGE, MEDIA, INVALID]);
            (
                "erasePersonalData",
                "Erase personal data (GDPR Art. 17) without breaking the ledger",
                "privacy",
                vec![],
                Some(r("ErasureInput")),
            )
        }
        Operation::PutRelationship => {
            responses.insert(
                "200".into(),
                json_ok(
                    "The relationship, with the receipt of the ledger entry that set it as it is (when the PUT changed nothing, nothing is written and that earlier entry's receipt is given again)",
                    r("Relationship"),
                ),
            );
            errors(&mut responses, &[TOO_LARGE, MEDIA, INVALID]);
            (
                "putRelationship",
                "Register or change a partner-customer relationship",
                "relationships",
                vec![
                    param(
                        "partnerId",
                        "path",
                        true,
                        "The partner.",
                        json!({ "type": "string", "pattern": PARTNER_ID }),
                    ),
                    customer_param(),
                ],
                Some(r("RelationshipInput")),
            )
        }
        Operation::GetRelationship => {
            responses.insert("200".into(), json_ok("The relationship", r("Relationship")));
            errors(
                &mut responses,
                &[("404", "No such relationship", &["not-found"]), INVALID],
            );
            (
                "getRelationship",
                "A partner-customer relationship",
                "relationships",
                vec![
                    param(
                        "partnerId",
                        "path",
                        true,
                        "The partner.",
                        json!({ "type": "string", "pattern": PARTNER_ID }),
                    ),
                    customer_param(),
                ],
                None,
            )
        }
        Operation::ImportRelationships => {
            responses.insert(
                "200".into(),
                json_ok(
                    "How many rows changed something; per row the entry that set its relationship as it is (written now, or earlier); per chain one receipt, for the highest of those entries, which covers every entry before it",
                    json!({
                        "type": "object",
                        "required": ["imported", "unchanged", "rows", "receipts"],
                        "properties": {
                            "imported": { "type": "integer" },
                            "unchanged": { "type": "integer" },
                            "rows": { "type": "array", "items": { "type": "object", "required": ["row", "partnerId", "customerId", "written", "seq", "entryHash"], "properties": {
                                "row": { "type": "integer" }, "partnerId": { "type": "string" }, "customerId": { "type": "string" },
                                "written": { "type": "boolean" },
                                "seq": { "type": ["integer", "null"], "description": "The entry that set the relationship as it is (null for one registered before entries were kept)." },
                                "entryHash": { "type": ["string", "null"], "pattern": "^[0-9a-f]{64}$" }
                            } } },
                            "receipts": { "type": "array", "items": { "type": "object", "required": ["chain", "seq", "receipt"], "properties": {
                                "chain": { "type": "string" }, "seq": { "type": "integer" }, "receipt": r("Receipt")
                            } } }
                        }
                    }),
                ),
            );
            errors(
                &mut responses,
                &[
                    TOO_LARGE,
                    ("415", "Body is not text/csv", &["unsupported-media-type"]),
                    (
                        "422",
                        "A row breaks a rule (errors name body:<row>[:<column>]); nothing is imported",
                        &["validation-failed"],
                    ),
                ],
            );
            (
                "importRelationships",
                "Import up to 10,000 relationships from CSV (partnerId,customerId,since,status): every row checked first; written per partner in transactions of up to 33 rows, each whole (re-run an interrupted import to finish it)",
                "relationships",
                vec![],
                None,
            )
        }
        Operation::Queue => {
            responses.insert(
                "200".into(),
                json_ok("A page of the queue: the next due first, then severity", r("Page")),
            );
            errors(&mut responses, &[INVALID]);
            (
                "getQueue",
                "Vendor support's queue: open requests across every partner on which support owes a reply",
                "vendor desk",
                vec![
                    param("product", "query", false, "Only this product.", r("Product")),
                    param(
                        "calendar",
                        "query",
                        false,
                        "Only requests served on this calendar.",
                        json!({ "type": "string", "enum": names_owned(calendars()) }),
                    ),
                    param("severity", "query", false, "Only this severity.", r("Severity")),
                    param(
                        "state",
                        "query",
                        false,
                        "pending (in time) or breached (late).",
                        json!({ "enum": ["pending", "breached"] }),
                    ),
                    param(
                        "assignee",
                        "query",
                        false,
                        "me, none, or an engineer's token subject.",
                        json!({ "type": "string", "pattern": SUBJECT }),
                    ),
                    limit_param(u64::from(store::PageSize::MAX), 25),
                    cursor_param(),
                ],
                None,
            )
        }
        Operation::SupportTopics => {
            responses.insert(
                "200".into(),
                json_ok("The support-topic catalogue", r("TopicCatalogue")),
            );
            errors(&mut responses, &[INVALID]);
            (
                "listSupportTopics",
                "The support-topic catalogue (supportTopicId on create)",
                "service requests",
                vec![param(
                    "product",
                    "query",
                    false,
                    "Only this product's topics.",
                    r("Product"),
                )],
                None,
            )
        }
        Operation::CreateWebhookEndpoint => {
            responses.insert(
                "201".into(),
                json!({
                    "description": "Created: the endpoint and its signing secret (shown only now). It is sent the partner's chain from its next entry on.",
                    "headers": { "Location": { "schema": { "type": "string" }, "description": "/webhook-endpoints/{endpointId}" } },
                    "content": { "application/json": { "schema": r("WebhookEndpointWithSecret") } },
                    "links": endpoint_links()
                }),
            );
            errors(
                &mut responses,
                &[
                    TOO_LARGE,
                    MEDIA,
                    (
                        "422",
                        "A field breaks a rule (a URL that is not https, or reaches a private, loopback, link-local or metadata address, or does not resolve), or the partner has 100 endpoints already",
                        &["validation-failed", "unprocessable-action"],
                    ),
                ],
            );
            (
                "createWebhookEndpoint",
                "Register a webhook endpoint (Standard Webhooks; the partner's chain, in order)",
                "webhooks",
                vec![],
                Some(r("WebhookEndpointInput")),
            )
        }
        Operation::ListWebhookEndpoints => {
            responses.insert(
                "200".into(),
                json_ok(
                    "The partner's endpoints, oldest first (never their secrets)",
                    json!({ "type": "object", "required": ["items"], "properties": { "items": { "type": "array", "items": r("WebhookEndpoint") } } }),
                ),
            );
            errors(&mut responses, &[]);
            (
                "listWebhookEndpoints",
                "The partner's webhook endpoints",
                "webhooks",
                vec![],
                None,
            )
        }
        Operation::GetWebhookEndpoint => {
            responses.insert("200".into(), json_ok("The endpoint", r("WebhookEndpoint")));
            errors(&mut responses, &[ENDPOINT_NOT_FOUND]);
            (
                "getWebhookEndpoint",
                "A webhook endpoint",
                "webhooks",
                vec![endpoint_param()],
                None,
            )
        }
        Operation::UpdateWebhookEndpoint => {
            responses.insert("200".into(), json_ok("The endpoint as changed", r("WebhookEndpoint")));
            errors(&mut responses, &ENDPOINT_CHANGE);
            (
                "updateWebhookEndpoint",
                "Change a webhook endpoint's URL, kinds or whether it is enabled",
                "webhooks",
                vec![endpoint_param()],
                Some(r("WebhookEndpointChange")),
            )
        }
        Operation::DeleteWebhookEndpoint => {
            responses.insert(
                "204".into(),
                json!({ "description": "Deleted: nothing is sent to it again" }),
            );
            errors(&mut responses, &[ENDPOINT_NOT_FOUND, ENDPOINT_CONFLICT]);
            (
                "deleteWebhookEndpoint",
                "Delete a webhook endpoint",
                "webhooks",
                vec![endpoint_param()],
                None,
            )
        }
        Operation::RotateWebhookSecret => {
            responses.insert(
                "200".into(),
                json_ok(
                    "The endpoint with its new secret (shown only now); the replaced one signs beside it until previousSecretExpiresAt",
                    r("WebhookEndpointWithSecret"),
                ),
            );
            errors(&mut responses, &ENDPOINT_CHANGE);
            (
                "rotateWebhookSecret",
                "Rotate a webhook endpoint's signing secret, with an overlap in which both sign",
                "webhooks",
                vec![endpoint_param()],
                Some(r("SecretRotation")),
            )
        }
        Operation::ReplayWebhooks => {
            responses.insert(
                "200".into(),
                json_ok("The endpoint, enabled, its cursor at fromSeq", r("WebhookEndpoint")),
            );
            errors(
                &mut responses,
                &[
                    ENDPOINT_NOT_FOUND,
                    ENDPOINT_CONFLICT,
                    TOO_LARGE,
                    MEDIA,
                    (
                        "422",
                        "fromSeq is missing or beyond the partner's chain",
                        &["validation-failed"],
                    ),
                ],
            );
            (
                "replayWebhooks",
                "Send the partner's chain to this endpoint again from an entry on (in order; each under the webhook-id it had)",
                "webhooks",
                vec![endpoint_param()],
                Some(json!({
                    "type": "object", "additionalProperties": false, "required": ["fromSeq"],
                    "properties": { "fromSeq": { "type": "integer", "minimum": 0, "maximum": MAX_QUERY_NUMBER, "description": "The seq to send from (at most the chain's size)" } }
                })),
            )
        }
        Operation::WebhookDeliveries => {
            responses.insert(
                "200".into(),
                json_ok(
                    "A page of the endpoint's delivery log, newest first (30 days; never bodies)",
                    json!({
                        "type": "object", "required": ["items", "nextCursor"],
                        "properties": {
                            "items": { "type": "array", "items": {
                                "type": "object",
                                "required": ["seq", "webhookId", "url", "attemptedAt", "status", "outcome", "error", "nextAttemptAt"],
                                "properties": {
                                    "seq": { "type": "integer" },
                                    "webhookId": { "type": "string" },
                                    "url": { "type": "string", "description": "Where it was sent" },
                                    "attemptedAt": r("Timestamp"),
                                    "status": { "type": ["integer", "null"], "description": "The receiver's status (null: no answer)" },
                                    "outcome": { "enum": crate::webhooks_api::OUTCOMES },
                                    "error": { "type": ["string", "null"], "description": "Why there was no answer" },
                                    "nextAttemptAt": nullable(r("Timestamp"))
                                }
                            } },
                            "nextCursor": { "type": ["string", "null"] }
                        }
                    }),
                ),
            );
            errors(&mut responses, &[ENDPOINT_NOT_FOUND, INVALID]);
            (
                "listWebhookDeliveries",
                "The endpoint's delivery log: each attempt's seq, webhook-id, status, outcome and next attempt",
                "webhooks",
                vec![
                    endpoint_param(),
                    param(
                        "outcome",
                        "query",
                        false,
                        "Only attempts with this outcome.",
                        json!({ "enum": crate::webhooks_api::OUTCOMES }),
                    ),
                    limit_param(crate::webhooks_api::MAX_DELIVERIES as u64, 25),
                    param(
                        "cursor",
                        "query",
                        false,
                        "The previous page's nextCursor.",
                        json!({ "type": "string", "pattern": "^[0-9]{15}#[0-9]{20}$" }),
                    ),
                ],
                None,
            )
        }
        Operation::Policy => {
            responses.insert(
                "200".into(),
                json!({
                    "description": "The policy document, exactly the bytes whose SHA-256 ledger entries pin (policy.sha256); immutable",
                    "headers": {
                        "ETag": { "description": "The document's SHA-256 (hex), quoted", "schema": { "type": "string" } },
                        "Repr-Digest": { "description": "RFC 9530: sha-256=:<base64>:", "schema": { "type": "string" } }
                    },
                    "content": { "application/toml": { "schema": { "type": "string" } } }
                }),
            );
            errors(
                &mut responses,
                &[
                    ("404", "The service never used a policy of this version", &["not-found"]),
                    INVALID,
                ],
            );
            (
                "getPolicy",
                "A support policy the service used, as pinned by ledger entries",
                "service requests",
                vec![param(
                    "version",
                    "path",
                    true,
                    "The policy's version (an entry's policy.version).",
                    json!({ "type": "string", "minLength": 1, "maxLength": 32 }),
                )],
                None,
            )
        }
    };
    let mut op = json!({
        "operationId": id,
        "summary": summary,
        "tags": [tag],
        "security": security,
        "parameters": params,
        "responses": responses,
    });
    if let Some(schema) = body {
        let media = if route.operation == Operation::ImportRelationships {
            "text/csv"
        } else {
            "application/json"
        };
        op["requestBody"] = json!({ "required": true, "content": { media: { "schema": schema } } });
    }
    if route.operation == Operation::ImportRelationships {
        op["requestBody"] = json!({ "required": true, "content": { "text/csv": { "schema": { "type": "string", "description": "A header row partnerId,customerId,since,status, then one row per relationship (since may be empty). At most 1,000 rows." } } } });
    }
    op
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(ops) = entry.as_object_mut() {
            ops.insert(route.method.to_lowercase(), operation(route));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ledgerdesk",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Service requests a CSP partner files on its customers' behalf, under the vendor's support policy, with every change recorded in a tamper-evident audit ledger. Identity comes only from the bearer token: partners' tokens (their own audience, the partner_id claim; scopes requests/read, requests/write, ledger/read) and vendor staff's (the vendor audience, no partner; requests/respond, ledger/audit, privacy/erase, relationships/admin), and webhooks/manage for a partner's webhook endpoints. Errors are RFC 9457 application/problem+json; a path the API does not have is 404 /problems/no-such-route, a method a path does not take 405 /problems/method-not-allowed with Allow.",
        },
        "servers": [{ "url": "http://127.0.0.1:3000", "description": "cargo run -p local" }],
        "paths": paths,
        "webhooks": {
            "ledgerEntry": {
                "post": {
                    "operationId": "receiveLedgerEntry",
                    "summary": "A ledger entry of the partner's chain, delivered to its endpoint",
                    "description": "Sent to each enabled endpoint, in seq order from its nextSeq, at least once (a repeat has the same webhook-id). Verify webhook-signature (v1: HMAC-SHA256 of `webhook-id.webhook-timestamp.body` under a secret in force; v1a: Ed25519 under publicKey) before reading the body.",
                    "parameters": [
                        { "name": "webhook-id", "in": "header", "required": true, "schema": { "type": "string", "pattern": "^msg_[^_]+_[0-9]+$" } },
                        { "name": "webhook-timestamp", "in": "header", "required": true, "schema": { "type": "string", "pattern": "^[0-9]+$" } },
                        { "name": "webhook-signature", "in": "header", "required": true, "schema": { "type": "string" } }
                    ],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": r("WebhookDelivery") } } },
                    "responses": {
                        "2XX": { "description": "Accepted: the next entry follows" },
                        "410": { "description": "Gone: the endpoint is disabled" },
                        "default": { "description": "Anything else, or no answer within 15 s: retried on the Standard Webhooks schedule (429 and 503 honour Retry-After)" }
                    }
                }
            }
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "Verified by API Gateway's JWT authorizer (locally: by the router, with the key in .ledgerdesk/)." }
            },
            "schemas": schemas(),
        },
        "x-scopes": names(SCOPES.iter().copied()),
    })
}

/// The document as committed: pretty JSON and a newline.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}
