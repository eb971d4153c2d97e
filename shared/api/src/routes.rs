//! The HTTP API's routes: one table, read by the Lambda handlers' dispatch, the local router,
//! and the tests that check `infra/template.yaml` and `openapi.json` against it.

/// Which Lambda function serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    CreateRequest,
    ListRequests,
    UpdateRequest,
}

impl Function {
    /// The function's crate (and binary) name.
    pub fn name(self) -> &'static str {
        match self {
            Function::CreateRequest => "create-request",
            Function::ListRequests => "list-requests",
            Function::UpdateRequest => "update-request",
        }
    }
}

pub const READ: &str = "requests/read";
pub const WRITE: &str = "requests/write";
pub const RESPOND: &str = "requests/respond";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// In API Gateway's syntax: `{name}` for a path parameter.
    pub path: &'static str,
    pub function: Function,
    /// A caller needs one of these scopes (also configured on the API Gateway route).
    pub scopes: &'static [&'static str],
}

impl Route {
    /// API Gateway's route key, e.g. `GET /service-requests/{id}`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/customers/{customerId}/service-requests",
        function: Function::CreateRequest,
        scopes: &[WRITE],
    },
    Route {
        method: "POST",
        path: "/service-requests",
        function: Function::CreateRequest,
        scopes: &[WRITE],
    },
    Route {
        method: "GET",
        path: "/service-requests",
        function: Function::ListRequests,
        scopes: &[READ],
    },
    Route {
        method: "GET",
        path: "/customers/{customerId}/service-requests",
        function: Function::ListRequests,
        scopes: &[READ],
    },
    Route {
        method: "GET",
        path: "/service-requests/{id}",
        function: Function::ListRequests,
        scopes: &[READ, RESPOND],
    },
    Route {
        method: "GET",
        path: "/service-requests/{id}/history",
        function: Function::ListRequests,
        scopes: &[READ, RESPOND],
    },
    Route {
        method: "PATCH",
        path: "/service-requests/{id}",
        function: Function::UpdateRequest,
        scopes: &[WRITE, RESPOND],
    },
];

/// The route with this key, if any.
pub fn by_key(key: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.key() == key)
}
