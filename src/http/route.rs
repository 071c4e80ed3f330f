//! What a route is. Every route is registered together with a `RouteSpec` that says what kind
//! of operation it is (for faults, capacity, maintenance, metrics and the access log), who may
//! call it, its API segment, whether it takes `Idempotency-Key`, and whether its answers carry
//! secrets. The layers (identity, gate, access log, policy, faults, idempotency) read the spec
//! of the matched route; none of them looks at the path. A new route family declares its
//! routes here and inherits every layer's behaviour from the declaration.
//!
//! The only path tests outside `http/routes/` are in this module: the sandbox prefix
//! (`/s/{id}/…`), which is resolved before routing.

use crate::domain::consent::{Principal, ScopeRule};
use crate::domain::customer::CustomerKind;
use crate::domain::fault::RequestKind;
use crate::http::error::ApiError;
use axum::http::{Method, StatusCode};
use std::collections::HashMap;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

/// Who may call a route, and so which credentials the identity layer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A customer's access token (`Authorization: Bearer`), through a connecting company.
    Customer,
    /// Anyone; an access token is read if one is sent (userinfo, the authorization server's
    /// pages, public information, docs).
    Public,
    /// A connecting company with its client id and secret (HTTP Basic).
    Client,
    /// The sandbox's admin key (control plane).
    Admin,
    /// The server's operator key; operator routes belong to no sandbox.
    Operator,
}

/// How a route's refusals are shaped when a layer in front of the handler answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answers {
    /// A problem document (RFC 9457).
    Problem,
    /// The token endpoint's error body (RFC 6749 §5.2).
    OAuth,
    /// An HTML page a browser shows.
    Page,
}

/// Whom `auth` capacity limits charge for a request of the authorization server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charged {
    /// Not counted by capacity limits (login and consent posts, discovery, keys).
    Nobody,
    /// The client named by the `client_id` query parameter (the authorization request).
    QueryClient,
    /// The client of the access token (userinfo) or of the request's own credentials.
    Caller,
}

/// The API segment of a route: which kind of customer its tokens must belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Personal,
    Corporation,
}

impl Segment {
    /// 403 `wrong_segment` unless the token's customer belongs to this segment.
    pub fn check_principal(self, who: &Principal) -> Result<(), ApiError> {
        match (self, who.customer_kind) {
            (Segment::Personal, CustomerKind::Individual) | (Segment::Corporation, CustomerKind::Corporation) => Ok(()),
            (Segment::Personal, CustomerKind::Corporation) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "wrong_segment",
                "this token belongs to a corporate customer; call /corporation/v1 instead of /personal/v1",
            )),
            (Segment::Corporation, CustomerKind::Individual) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "wrong_segment",
                "this token belongs to an individual customer; call /personal/v1 instead of /corporation/v1",
            )),
        }
    }
}

/// 403 `insufficient_scope` unless the token's grant satisfies `rule`.
pub fn check_scope(rule: ScopeRule, who: &Principal) -> Result<(), ApiError> {
    if rule.allows(who) {
        Ok(())
    } else {
        Err(ApiError::insufficient_scope(rule.label()))
    }
}

/// The declaration of one route (all methods of one registration).
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    /// The operation kind for faults, capacity, maintenance and metrics; `None` for routes no
    /// policy touches (control plane, operator API, docs, probes, the bank's approval pages).
    pub kind: Option<RequestKind>,
    /// Who may call it.
    pub caller: Caller,
    /// Its API segment, for customer routes.
    pub segment: Option<Segment>,
    /// The scope its operation needs from the customer's token.
    pub scope: Option<ScopeRule>,
    /// Whether its POST takes `Idempotency-Key`.
    pub keyed: bool,
    /// Whether its requests or answers carry tokens, secrets or customer data (`no-store`).
    pub secrets: bool,
    /// Whether its calls go into the access log.
    pub logged: bool,
    /// Whether it changes the sandbox's whole world (reset, snapshots): it closes the gate
    /// itself, so the request must not hold a pass.
    pub lifecycle: bool,
    /// Whether its pages may be framed (Swagger UI may not: clickjacking).
    pub framable: bool,
    /// How refusals made in front of the handler are shaped.
    pub answers: Answers,
    /// Whom `auth` capacity limits charge.
    pub charged: Charged,
    /// Whether it stays up through stops and maintenance (public information: it is how
    /// connecting companies learn about them).
    pub always_up: bool,
}

impl RouteSpec {
    const BASE: RouteSpec = RouteSpec {
        kind: None,
        caller: Caller::Public,
        segment: None,
        scope: None,
        keyed: false,
        secrets: false,
        logged: true,
        lifecycle: false,
        framable: true,
        answers: Answers::Problem,
        charged: Charged::Caller,
        always_up: false,
    };

    /// A reference API of a segment (account data through a customer's token).
    pub const fn reference(segment: Segment) -> RouteSpec {
        RouteSpec {
            kind: Some(RequestKind::Reference),
            caller: Caller::Customer,
            segment: Some(segment),
            ..Self::BASE
        }
    }

    /// An update API of a segment; takes `Idempotency-Key`.
    pub const fn update(segment: Segment, scope: ScopeRule) -> RouteSpec {
        RouteSpec {
            kind: Some(RequestKind::Update),
            caller: Caller::Customer,
            segment: Some(segment),
            scope: Some(scope),
            keyed: true,
            ..Self::BASE
        }
    }

    /// Public information (bank, branches, calendar, maintenance notices).
    pub const fn public_information() -> RouteSpec {
        RouteSpec {
            kind: Some(RequestKind::Reference),
            always_up: true,
            ..Self::BASE
        }
    }

    /// An endpoint of the authorization server.
    pub const fn oauth(kind: RequestKind) -> RouteSpec {
        RouteSpec {
            kind: Some(kind),
            secrets: true,
            answers: if matches!(kind, RequestKind::Token) {
                Answers::OAuth
            } else {
                Answers::Problem
            },
            charged: Charged::Nobody,
            ..Self::BASE
        }
    }

    /// Discovery documents and keys of the authorization server.
    pub const fn discovery() -> RouteSpec {
        RouteSpec {
            kind: Some(RequestKind::Auth),
            charged: Charged::Nobody,
            ..Self::BASE
        }
    }

    /// The sandbox's control plane (admin key); its POSTs take `Idempotency-Key` only where
    /// `keyed` says so.
    pub const fn admin() -> RouteSpec {
        RouteSpec {
            caller: Caller::Admin,
            secrets: true,
            ..Self::BASE
        }
    }

    /// The operator API (operator key), never logged in a sandbox's access log.
    pub const fn operator() -> RouteSpec {
        RouteSpec {
            caller: Caller::Operator,
            secrets: true,
            logged: false,
            ..Self::BASE
        }
    }

    /// A connecting company's own API (HTTP Basic), e.g. its webhook endpoints.
    pub const fn client() -> RouteSpec {
        RouteSpec {
            caller: Caller::Client,
            ..Self::BASE
        }
    }

    /// Documentation and probes: public, not logged.
    pub const fn docs() -> RouteSpec {
        RouteSpec {
            logged: false,
            ..Self::BASE
        }
    }

    /// The bank's own pages (the approval page): public, logged, no policy.
    pub const fn bank_page() -> RouteSpec {
        Self::BASE
    }

    /// A page of a sandbox's developer portal: its own cookie session (checked by the page),
    /// not in the access log it shows, never cached or framed, refusals as pages. No policy
    /// touches it: the portal is how a user lifts a stop or ends a maintenance window.
    pub const fn portal() -> RouteSpec {
        RouteSpec {
            logged: false,
            secrets: true,
            framable: false,
            answers: Answers::Page,
            ..Self::BASE
        }
    }

    /// A page of the operator's portal: belongs to no sandbox, like the operator API.
    pub const fn operator_portal() -> RouteSpec {
        RouteSpec {
            caller: Caller::Operator,
            ..Self::portal()
        }
    }

    pub const fn keyed(self) -> RouteSpec {
        RouteSpec { keyed: true, ..self }
    }

    pub const fn with_scope(self, scope: ScopeRule) -> RouteSpec {
        RouteSpec {
            scope: Some(scope),
            ..self
        }
    }

    pub const fn lifecycle(self) -> RouteSpec {
        RouteSpec {
            lifecycle: true,
            ..self
        }
    }

    pub const fn not_logged(self) -> RouteSpec {
        RouteSpec { logged: false, ..self }
    }

    pub const fn not_framable(self) -> RouteSpec {
        RouteSpec {
            framable: false,
            ..self
        }
    }

    pub const fn secret(self) -> RouteSpec {
        RouteSpec { secrets: true, ..self }
    }

    pub const fn answered_as(self, answers: Answers) -> RouteSpec {
        RouteSpec { answers, ..self }
    }

    pub const fn charged(self, charged: Charged) -> RouteSpec {
        RouteSpec { charged, ..self }
    }

    /// Whether the request must hold a pass of its sandbox's gate (every route but the
    /// lifecycle calls and the operator API).
    pub fn gated(&self) -> bool {
        !self.lifecycle && self.caller != Caller::Operator
    }

    /// Whether a POST with `Idempotency-Key` is replayed for `method`.
    pub fn takes_keys(&self, method: &Method) -> bool {
        self.keyed && method == Method::POST
    }
}

/// The declarations of every route, by route template and method.
#[derive(Default, Debug)]
pub struct RouteTable {
    routes: HashMap<Box<str>, Vec<(Method, RouteSpec)>>,
}

/// Swagger UI's own routes (merged from its crate, so not declared one by one): docs that
/// must not be framed.
pub const SWAGGER_UI: RouteSpec = RouteSpec::docs().not_framable();

impl RouteTable {
    /// The declaration of `route` (the matched template) for `method`. Swagger UI's routes are
    /// the only ones registered without one.
    pub fn spec(&self, method: &Method, route: &str) -> &RouteSpec {
        self.routes
            .get(route)
            .and_then(|by_method| {
                by_method
                    .iter()
                    .find(|(m, _)| m == method)
                    // HEAD is routed to the GET handler: it is that route.
                    .or_else(|| by_method.first())
                    .map(|(_, s)| s)
            })
            .unwrap_or(&SWAGGER_UI)
    }

    /// Whether `route` was declared (for the completeness test).
    pub fn declares(&self, method: &Method, route: &str) -> bool {
        self.routes
            .get(route)
            .is_some_and(|ms| ms.iter().any(|(m, _)| m == method))
    }

    /// Who may call `route` (by its first declared method).
    pub fn caller_of_path(&self, route: &str) -> Option<Caller> {
        self.routes.get(route)?.first().map(|(_, s)| s.caller)
    }

    /// Every declared (method, route, spec).
    pub fn iter(&self) -> impl Iterator<Item = (&Method, &str, &RouteSpec)> {
        self.routes
            .iter()
            .flat_map(|(route, ms)| ms.iter().map(move |(m, s)| (m, &**route, s)))
    }

    /// Whether `op` ("METHOD /route") is an operation that fault rules can match.
    pub fn faultable(&self, op: &str) -> bool {
        let Some((method, route)) = op.split_once(' ') else {
            return false;
        };
        let Ok(method) = method.parse::<Method>() else {
            return false;
        };
        self.routes
            .get(route)
            .is_some_and(|ms| ms.iter().any(|(m, s)| *m == method && s.kind.is_some()))
    }

    fn insert(&mut self, method: Method, route: &str, spec: RouteSpec) {
        self.routes.entry(route.into()).or_default().push((method, spec));
    }
}

/// Routes being registered with their declarations: an `OpenApiRouter` (for the handlers and
/// their OpenAPI description) and the table the layers read.
pub struct Routes {
    pub router: OpenApiRouter,
    pub table: RouteTable,
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new()
    }
}

impl Routes {
    pub fn new() -> Routes {
        Routes {
            router: OpenApiRouter::new(),
            table: RouteTable::default(),
        }
    }

    /// Starts from a description (its info, schemes and tags).
    pub fn with_openapi(doc: utoipa::openapi::OpenApi) -> Routes {
        Routes {
            router: OpenApiRouter::with_openapi(doc),
            table: RouteTable::default(),
        }
    }

    /// Registers the handlers of one `routes!(…)` under `spec`, for every path and method
    /// their OpenAPI description names.
    pub fn add(mut self, spec: RouteSpec, handlers: UtoipaMethodRouter) -> Routes {
        for (path, item) in &handlers.1.paths {
            for method in methods_of(item) {
                self.table.insert(method, path, spec);
            }
        }
        self.router = self.router.routes(handlers);
        self
    }

    /// Registers a route that has no OpenAPI description (pages, the description itself).
    pub fn page(mut self, spec: RouteSpec, path: &str, method: Method, handler: axum::routing::MethodRouter) -> Routes {
        self.table.insert(method, path, spec);
        self.router = self.router.route(path, handler);
        self
    }

    /// Declares a route whose handler is added elsewhere.
    pub fn declare(mut self, spec: RouteSpec, path: &str, method: Method) -> Routes {
        self.table.insert(method, path, spec);
        self
    }

    pub fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        for (route, ms) in other.table.routes {
            self.table.routes.entry(route).or_default().extend(ms);
        }
        self
    }
}

fn methods_of(item: &utoipa::openapi::PathItem) -> Vec<Method> {
    let mut methods = Vec::new();
    for (m, op) in [
        (Method::GET, &item.get),
        (Method::POST, &item.post),
        (Method::PUT, &item.put),
        (Method::PATCH, &item.patch),
        (Method::DELETE, &item.delete),
        (Method::HEAD, &item.head),
        (Method::OPTIONS, &item.options),
    ] {
        if op.is_some() {
            methods.push(m);
        }
    }
    methods
}

/// Where a request's path says it goes: a created sandbox (`/s/{id}/…`, with the prefix
/// removed) or the default one.
pub enum SandboxPath<'a> {
    /// The default sandbox's routes (and the operator API).
    Default,
    /// A created sandbox: its id and the route path without the prefix (starting with `/`
    /// once `/` is put in front; empty for the sandbox's root).
    Created { id: &'a str, tail: &'a str },
}

impl<'a> SandboxPath<'a> {
    pub fn of(path: &'a str) -> SandboxPath<'a> {
        match path.strip_prefix("/s/") {
            Some(rest) => {
                let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
                SandboxPath::Created { id, tail }
            }
            None => SandboxPath::Default,
        }
    }
}

/// Whether a created sandbox's tail names the operator API (served at the root only).
pub fn is_operator_tail(tail: &str) -> bool {
    tail == "operator" || tail.starts_with("operator/")
}

/// Whether a created sandbox's tail is Swagger UI without its slash (its own redirect would
/// drop the sandbox prefix).
pub fn is_bare_swagger_ui(tail: &str) -> bool {
    tail == "swagger-ui"
}
