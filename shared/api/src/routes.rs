//! The HTTP API's routes: one table, read by the Lambda handlers' dispatch, the local router,
//! and the tests that check `infra/template.yaml` and `openapi.json` against it.

/// Which Lambda function serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    CreateRequest,
    ListRequests,
    UpdateRequest,
    ErasePersonalData,
    Admin,
    Webhooks,
    Evidence,
}

impl Function {
    /// The function's crate (and binary) name.
    pub fn name(self) -> &'static str {
        match self {
            Function::CreateRequest => "create-request",
            Function::ListRequests => "list-requests",
            Function::UpdateRequest => "update-request",
            Function::ErasePersonalData => "erase-personal-data",
            Function::Admin => "admin",
            Function::Webhooks => "webhook-endpoints",
            Function::Evidence => "evidence",
        }
    }

    pub const ALL: [Function; 7] = [
        Function::CreateRequest,
        Function::ListRequests,
        Function::UpdateRequest,
        Function::ErasePersonalData,
        Function::Admin,
        Function::Webhooks,
        Function::Evidence,
    ];
}

pub const READ: &str = "requests/read";
pub const WRITE: &str = "requests/write";
pub const RESPOND: &str = "requests/respond";
/// A partner reads its own chain through the ledger API.
pub const LEDGER_READ: &str = "ledger/read";
/// The vendor's auditors (fraud review) read any chain.
pub const LEDGER_AUDIT: &str = "ledger/audit";
/// The privacy team erases personal data.
pub const PRIVACY_ERASE: &str = "privacy/erase";
/// The vendor maintains partner–customer relationships.
pub const RELATIONSHIPS_ADMIN: &str = "relationships/admin";
/// A partner manages its webhook endpoints.
pub const WEBHOOKS_MANAGE: &str = "webhooks/manage";

/// Every scope the API knows.
pub const SCOPES: &[&str] = &[
    READ,
    WRITE,
    RESPOND,
    LEDGER_READ,
    LEDGER_AUDIT,
    PRIVACY_ERASE,
    RELATIONSHIPS_ADMIN,
    WEBHOOKS_MANAGE,
];

/// What a route does (the handler that answers it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    CreateForCustomer,
    CreateForOwnTenant,
    List,
    ListForCustomer,
    Get,
    History,
    Evidence,
    Update,
    LedgerCheckpoint,
    LedgerEntries,
    LedgerEntryTile,
    ConsistencyProof,
    InclusionProof,
    Erase,
    PutRelationship,
    GetRelationship,
    ImportRelationships,
    Queue,
    SupportTopics,
    Policy,
    CreateWebhookEndpoint,
    ListWebhookEndpoints,
    GetWebhookEndpoint,
    UpdateWebhookEndpoint,
    DeleteWebhookEndpoint,
    RotateWebhookSecret,
    ReplayWebhooks,
    WebhookDeliveries,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// In API Gateway's syntax: `{name}` for a path parameter.
    pub path: &'static str,
    pub function: Function,
    pub operation: Operation,
    /// A caller needs one of these scopes (also configured on the API Gateway route).
    pub scopes: &'static [&'static str],
}

impl Route {
    /// API Gateway's route key, e.g. `GET /service-requests/{id}`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

const fn route(
    method: &'static str,
    path: &'static str,
    function: Function,
    operation: Operation,
    scopes: &'static [&'static str],
) -> Route {
    Route {
        method,
        path,
        function,
        operation,
        scopes,
    }
}

use Function::{Admin, CreateRequest, ErasePersonalData, Evidence, ListRequests, UpdateRequest, Webhooks};
use Operation as Op;

pub const ROUTES: &[Route] = &[
    route(
        "POST",
        "/customers/{customerId}/service-requests",
        CreateRequest,
        Op::CreateForCustomer,
        &[WRITE],
    ),
    route(
        "POST",
        "/service-requests",
        CreateRequest,
        Op::CreateForOwnTenant,
        &[WRITE],
    ),
    route("GET", "/service-requests", ListRequests, Op::List, &[READ]),
    route(
        "GET",
        "/customers/{customerId}/service-requests",
        ListRequests,
        Op::ListForCustomer,
        &[READ],
    ),
    route("GET", "/service-requests/{id}", ListRequests, Op::Get, &[READ, RESPOND]),
    route(
        "GET",
        "/service-requests/{id}/history",
        ListRequests,
        Op::History,
        &[READ, RESPOND],
    ),
    route(
        "GET",
        "/service-requests/{id}/evidence",
        Evidence,
        Op::Evidence,
        &[READ, LEDGER_READ, LEDGER_AUDIT],
    ),
    route(
        "PATCH",
        "/service-requests/{id}",
        UpdateRequest,
        Op::Update,
        &[WRITE, RESPOND],
    ),
    route(
        "GET",
        "/ledger/checkpoint",
        ListRequests,
        Op::LedgerCheckpoint,
        &[LEDGER_READ, LEDGER_AUDIT],
    ),
    route(
        "GET",
        "/ledger/entries",
        ListRequests,
        Op::LedgerEntries,
        &[LEDGER_READ, LEDGER_AUDIT],
    ),
    route(
        "GET",
        "/ledger/entry-tiles/{index}",
        ListRequests,
        Op::LedgerEntryTile,
        &[LEDGER_READ, LEDGER_AUDIT],
    ),
    route(
        "GET",
        "/ledger/proofs/consistency",
        ListRequests,
        Op::ConsistencyProof,
        &[LEDGER_READ, LEDGER_AUDIT],
    ),
    route(
        "GET",
        "/ledger/proofs/inclusion",
        ListRequests,
        Op::InclusionProof,
        &[LEDGER_READ, LEDGER_AUDIT],
    ),
    route(
        "POST",
        "/privacy/erasures",
        ErasePersonalData,
        Op::Erase,
        &[PRIVACY_ERASE],
    ),
    route(
        "PUT",
        "/relationships/{partnerId}/{customerId}",
        Admin,
        Op::PutRelationship,
        &[RELATIONSHIPS_ADMIN],
    ),
    route(
        "GET",
        "/relationships/{partnerId}/{customerId}",
        Admin,
        Op::GetRelationship,
        &[RELATIONSHIPS_ADMIN],
    ),
    route(
        "POST",
        "/relationships/import",
        Admin,
        Op::ImportRelationships,
        &[RELATIONSHIPS_ADMIN],
    ),
    route("GET", "/queue", ListRequests, Op::Queue, &[RESPOND]),
    route("GET", "/support-topics", ListRequests, Op::SupportTopics, SCOPES),
    route("GET", "/policies/{version}", ListRequests, Op::Policy, SCOPES),
    route(
        "POST",
        "/webhook-endpoints",
        Webhooks,
        Op::CreateWebhookEndpoint,
        &[WEBHOOKS_MANAGE],
    ),
    route(
        "GET",
        "/webhook-endpoints",
        Webhooks,
        Op::ListWebhookEndpoints,
        &[WEBHOOKS_MANAGE],
    ),
    route(
        "GET",
        "/webhook-endpoints/{endpointId}",
        Webhooks,
        Op::GetWebhookEndpoint,
        &[WEBHOOKS_MANAGE],
    ),
    route(
        "PATCH",
        "/webhook-endpoints/{endpointId}",
        Webhooks,
        Op::UpdateWebhookEndpoint,
        &[WEBHOOKS_MANAGE],
    ),
    route(
        "DELETE",
        "/webhook-endpoints/{endpointId}",
        Webhooks,
        Op::DeleteWebhookEndpoint,
        &[WEBHOOKS_MANAGE],
    ),
    route(
        "POST",
        "/webhook-endpoints/{endpointId}/rotate-secret",
        Webhooks,
        Op::RotateWebhookSecret,
        &[WEBHOOKS_MANAGE],
    ),
    route(
        "POST",
        "/webhook-endpoints/{endpointId}/replay",
        Webhooks,
        Op::ReplayWebhooks,
        &[WEBHOOKS_MANAGE],
    ),
    route(
        "GET",
        "/webhook-endpoints/{endpointId}/deliveries",
        Webhooks,
        Op::WebhookDeliveries,
        &[WEBHOOKS_MANAGE],
    ),
];

/// The route with this key, if any.
pub fn by_key(key: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.key() == key)
}

/// The routes of one function.
pub fn of(function: Function) -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().filter(move |r| r.function == function)
}

/// How a method and a path resolve against the route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The route, and its path parameters.
    Route(&'static Route, Vec<(&'static str, String)>),
    /// The path exists, but not with this method: the methods it takes.
    MethodNotAllowed(Vec<&'static str>),
    NoSuchRoute,
}

/// Match `path` against a route's path pattern (`{name}` matches one non-empty segment).
fn matches(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut params = Vec::new();
    let mut want = pattern.trim_start_matches('/').split('/');
    let mut have = path.trim_start_matches('/').split('/');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(h)) => {
                if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    if h.is_empty() {
                        return None;
                    }
                    params.push((name, h.to_owned()));
                } else if w != h {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Resolve a request line: the route it reaches, or why none.
pub fn resolve(method: &str, path: &str) -> Resolution {
    let mut allow = Vec::new();
    for route in ROUTES {
        if let Some(params) = matches(route.path, path) {
            if route.method.eq_ignore_ascii_case(method) {
                return Resolution::Route(route, params);
            }
            allow.push(route.method);
        }
    }
    if allow.is_empty() {
        Resolution::NoSuchRoute
    } else {
        allow.sort_unstable();
        allow.dedup();
        Resolution::MethodNotAllowed(allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_routes_or_say_why_not() {
        match resolve("GET", "/service-requests/01ABC/history") {
            Resolution::Route(route, params) => {
                assert_eq!(route.operation, Operation::History);
                assert_eq!(params, vec![("id", "01ABC".to_owned())]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            resolve("DELETE", "/service-requests/01ABC"),
            Resolution::MethodNotAllowed(vec!["GET", "PATCH"])
        );
        assert_eq!(resolve("GET", "/nope"), Resolution::NoSuchRoute);
        assert_eq!(resolve("GET", "/service-requests//history"), Resolution::NoSuchRoute);
        assert_eq!(
            resolve("GET", "/service-requests/x/history/more"),
            Resolution::NoSuchRoute
        );
        // Every route resolves to itself.
        for route in ROUTES {
            let path = route.path.replace('{', "x").replace('}', "");
            assert!(
                matches!(resolve(route.method, &path), Resolution::Route(r, _) if r == route),
                "{}",
                route.key()
            );
        }
    }
}
