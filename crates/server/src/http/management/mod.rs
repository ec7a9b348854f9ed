//! `/api/v2`: the Auth0-compatible Management API (Auth0 Management API v2 paths, fields, scopes,
//! status codes and error bodies; OAuth 2.0 Bearer tokens per RFC 6750 §2.1, issued by the
//! `client_credentials` grant of RFC 6749 §4.4 to clients holding a client grant). The contract
//! for users is `docs/management-api.md`.
//!
//! This module is the edge's framework: the [`Caller`] extractor (who calls, with which scopes),
//! the [`Body`] and [`ApiQuery`] extractors (validated input, 400 `invalid_body` /
//! `invalid_query` naming the field), the list responders (Auth0's bare array or
//! `include_totals` envelope, and checkpoint chunks), [`MgmtError`] (Auth0's error body), and one
//! middleware for what every route shares: rate limiting with `X-RateLimit-*` headers, CORS for
//! configured origins only, and a `sapi` audit event for each successful write. Each resource
//! family has its own file; its routes are registered together with their OpenAPI description
//! (utoipa), so `GET /api/v2/openapi.json` describes exactly what is routed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ratchet_core::audit::EventType;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::config::ManagementConfig;
use crate::http::client_address::ClientAddress;
use crate::service::audit::Record;
use crate::service::manage::{Checkpoint, Chunk, DEFAULT_PER_PAGE, ManageError, Page};

pub mod client_grants;
pub mod clients;
pub mod logs;
pub mod refresh_tokens;
pub mod resource_servers;
pub mod sessions;
pub mod stats;
pub mod user_blocks;
pub mod users;

/// Largest management request body (Auth0's limit).
pub const MAX_BODY: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Errors

/// An error answered with Auth0's management body: `{statusCode, error, message, errorCode}`.
#[derive(Debug, Clone)]
pub struct MgmtError {
    pub status: StatusCode,
    pub message: String,
    /// Auth0's machine code (`invalid_body`, `insufficient_scope`, `inexistent_user`, …); 401s
    /// carry none, as Auth0's.
    pub error_code: Option<&'static str>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl MgmtError {
    pub fn new(status: StatusCode, error_code: Option<&'static str>, message: impl Into<String>) -> Self {
        MgmtError { status, message: message.into(), error_code, headers: Vec::new() }
    }
    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalid_body"), message)
    }
    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalid_query_string"), message)
    }
    pub fn invalid_uri(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalid_uri"), message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, None, message)
    }
    pub fn insufficient_scope<S: AsRef<str>>(any_of: &[S]) -> Self {
        let names: Vec<&str> = any_of.iter().map(AsRef::as_ref).collect();
        Self::new(StatusCode::FORBIDDEN, Some("insufficient_scope"), format!("Insufficient scope, expected any of: {}", names.join(",")))
    }
    pub fn not_found(message: impl Into<String>, code: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, Some(code), message)
    }
    fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl From<ManageError> for MgmtError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Invalid(m) => MgmtError::invalid_body(m),
            ManageError::NotFound(r) => MgmtError::not_found(format!("{} does not exist.", r.noun()), r.error_code()),
            ManageError::Conflict(m) => MgmtError::new(StatusCode::CONFLICT, Some("conflict"), m),
            ManageError::Forbidden(m) => MgmtError::new(StatusCode::FORBIDDEN, Some("operation_not_supported"), m),
            ManageError::Store(ratchet_store::StoreError::Unavailable(m)) => {
                tracing::warn!(%m, "store unavailable");
                MgmtError::new(StatusCode::SERVICE_UNAVAILABLE, Some("temporarily_unavailable"), "The service is temporarily unavailable.")
            }
            ManageError::Store(other) => {
                tracing::error!(error = %other, "store failure");
                MgmtError::new(StatusCode::INTERNAL_SERVER_ERROR, Some("server_error"), "Internal error.")
            }
        }
    }
}

impl IntoResponse for MgmtError {
    fn into_response(self) -> Response {
        let reason = self.status.canonical_reason().unwrap_or("Error");
        let mut body = json!({"statusCode": self.status.as_u16(), "error": reason, "message": self.message});
        match self.error_code {
            Some(code) => body["errorCode"] = Value::from(code),
            None => body["attributes"] = json!({"error": self.message}),
        }
        let mut res = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            res.headers_mut().insert(name, value);
        }
        res
    }
}

pub type MgmtResult<T> = Result<T, MgmtError>;

// ---------------------------------------------------------------------------------------------
// Who calls

/// The authenticated caller of a management route: the client the access token was issued to
/// and the scopes it carries. The token is verified once per request, by [`layer`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: String,
    /// The token's subject (`{client_id}@clients` for machine-to-machine tokens, a user id for
    /// tokens issued to a signed-in administrator).
    pub subject: String,
    scopes: Vec<String>,
}

impl Caller {
    /// Succeeds when the token carries any of `any_of` (Auth0 lists each route's scopes as
    /// alternatives); else 403 `insufficient_scope` naming them.
    pub fn require(&self, any_of: &[&str]) -> MgmtResult<()> {
        if any_of.iter().any(|s| self.has(s)) { Ok(()) } else { Err(MgmtError::insufficient_scope(any_of)) }
    }
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// The outcome of authenticating a request, left in its extensions by the middleware.
#[derive(Clone)]
struct Authenticated(Result<Caller, MgmtError>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = MgmtError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Authenticated>() {
            Some(Authenticated(result)) => result.clone(),
            None => Err(MgmtError::unauthorized("Missing authentication")),
        }
    }
}

/// The identifier of the Management API for `issuer` (`{issuer}api/v2/`).
pub fn identifier(issuer: &url::Url) -> String {
    crate::service::manage::management_identifier(issuer)
}

fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, MgmtError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(MgmtError::unauthorized("Missing authentication"));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, t)| scheme.eq_ignore_ascii_case("bearer") && !t.is_empty() && !t.contains(' '))
        .map(|(_, t)| t)
        .ok_or_else(|| MgmtError::new(StatusCode::BAD_REQUEST, Some("Bearer"), "Bad HTTP authentication header format"))?;
    let invalid = || MgmtError::unauthorized("Invalid token");
    let claims = state.keys.current().signing.verify(token).ok_or_else(invalid)?;
    if claims["iss"].as_str() != Some(state.iss()) {
        return Err(invalid());
    }
    if claims["exp"].as_i64().is_none_or(|exp| exp <= state.now()) {
        return Err(MgmtError::unauthorized("Expired token"));
    }
    let audiences: Vec<&str> = match &claims["aud"] {
        Value::String(a) => vec![a.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.iter().any(|a| crate::service::manage::is_management_audience(&state.issuer, a)) {
        return Err(MgmtError::unauthorized("Invalid token"));
    }
    let subject = claims["sub"].as_str().ok_or_else(invalid)?.to_string();
    let client_id = claims["azp"].as_str().ok_or_else(invalid)?.to_string();
    let scopes = claims["scope"].as_str().unwrap_or_default().split_whitespace().map(str::to_string).collect();
    Ok(Caller { client_id, subject, scopes })
}

/// A user's token (issued to the admin console for an administrator, see
/// `service::manage::console`) is honoured only while its user is an unblocked administrator:
/// a demotion or a block takes effect at the next request, not when the token expires.
async fn still_administrator(state: &AppState, caller: Caller) -> Result<Caller, MgmtError> {
    if !caller.subject.starts_with(crate::service::manage::users::USER_ID_PREFIX) {
        return Ok(caller);
    }
    match state.store.user(&caller.subject).await {
        Ok(Some(u)) if u.admin && !u.blocked => Ok(caller),
        Ok(_) => Err(MgmtError::unauthorized("Invalid token")),
        Err(e) => Err(ManageError::Store(e).into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Input

/// A JSON request body deserialised into `T` (which should `deny_unknown_fields`): unknown
/// properties, wrong types and malformed JSON are 400 `invalid_body` naming the field.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = MgmtError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                MgmtError::new(StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"), "Payload too large: the limit is 1 MB")
            } else {
                MgmtError::invalid_body("Unreadable request body")
            }
        })?;
        if !is_json {
            return Err(MgmtError::invalid_body("Content-Type must be application/json"));
        }
        parse_json(&bytes).map(Body)
    }
}

/// Parses a JSON document into `T`, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> MgmtResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = inner.to_string();
        // serde_json appends " at line L column C"; the field path says more.
        let what = what.split(" at line ").next().unwrap_or(&what).to_string();
        if path.is_empty() || path == "." {
            MgmtError::invalid_body(format!("Payload validation error: {what}"))
        } else {
            MgmtError::invalid_body(format!("Payload validation error: {what} on property {path}"))
        }
    })
}

/// Query parameters deserialised into `T`; a wrong type is 400 naming the parameter. Parameters
/// that `T` does not know are ignored (SDKs send `fields`, `include_fields`, `search_engine` …).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = MgmtError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| MgmtError::invalid_query(format!("Query validation error: {} on parameter {}", e.inner(), e.path())))
    }
}

/// The paging parameters every list route takes. Kept as strings so it can be `flatten`ed into a
/// route's own query type (flattened numbers do not survive URL-encoded deserialisation).
#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page index of the results to return (0-based).
    #[param(value_type = Option<u32>)]
    pub page: Option<String>,
    /// Number of results per page (1–100, default 50).
    #[param(value_type = Option<u32>)]
    pub per_page: Option<String>,
    /// Return results inside an object with the total (`true`) or as a plain array (`false`).
    #[param(value_type = Option<bool>)]
    pub include_totals: Option<String>,
    /// Checkpoint paging: the cursor returned as `next` by the previous call.
    pub from: Option<String>,
    /// Checkpoint paging: how many results to return (1–100, default 50).
    #[param(value_type = Option<u32>)]
    pub take: Option<String>,
}

fn number(name: &str, v: &Option<String>, default: u32) -> MgmtResult<u32> {
    match v.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => {
            s.parse().map_err(|_| MgmtError::invalid_query(format!("Query validation error: {name} must be a non-negative integer")))
        }
    }
}

impl ListQuery {
    pub fn page(&self) -> MgmtResult<Page> {
        Page::new(number("page", &self.page, 0)?, number("per_page", &self.per_page, DEFAULT_PER_PAGE)?).map_err(query_error)
    }
    /// Whether checkpoint paging (`from`/`take`) was asked for.
    pub fn by_checkpoint(&self) -> bool {
        self.from.is_some() || self.take.is_some()
    }
    pub fn checkpoint(&self) -> MgmtResult<Checkpoint> {
        Checkpoint::new(self.from.clone(), number("take", &self.take, DEFAULT_PER_PAGE)?).map_err(query_error)
    }
    pub fn include_totals(&self) -> MgmtResult<bool> {
        match self.include_totals.as_deref() {
            None | Some("") | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(MgmtError::invalid_query("Query validation error: include_totals must be true or false")),
        }
    }
    /// Answers a page of `listed` as Auth0 does: a bare array, or with `include_totals` the
    /// envelope `{start, limit, length, total, <key>: […]}`.
    pub fn respond<T: Serialize>(&self, key: &str, listed: crate::service::manage::Listed<T>) -> MgmtResult<Response> {
        let page = self.page()?;
        if !self.include_totals()? {
            return Ok(axum::Json(listed.items).into_response());
        }
        let mut body = json!({
            "start": page.offset(),
            "limit": page.per_page,
            "length": listed.items.len(),
            "total": listed.total,
        });
        body[key] = serde_json::to_value(listed.items).unwrap_or_default();
        Ok(axum::Json(body).into_response())
    }
}

fn query_error(e: ManageError) -> MgmtError {
    match e {
        ManageError::Invalid(m) => MgmtError::invalid_query(format!("Query validation error: {m}")),
        other => other.into(),
    }
}

/// Answers a checkpoint chunk: `{<key>: […], next}` (`next` absent at the end).
pub fn chunk<T, V: Serialize>(key: &str, chunk: Chunk<T>, view: impl FnMut(T) -> V) -> Response {
    let mut body = json!({});
    body[key] = serde_json::to_value(chunk.items.into_iter().map(view).collect::<Vec<_>>()).unwrap_or_default();
    if let Some(next) = chunk.next {
        body["next"] = Value::from(next);
    }
    axum::Json(body).into_response()
}

/// `201 Created` with a JSON body.
pub fn created<T: Serialize>(body: T) -> Response {
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

/// `202 Accepted` (Auth0 answers revocations so), empty body.
pub fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

/// `204 No Content` (Auth0 answers deletions so).
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

// ---------------------------------------------------------------------------------------------
// The router

#[derive(OpenApi)]
#[openapi(
    info(title = "Ratchet Management API", description = "Auth0-compatible Management API v2 (docs/management-api.md)"),
    servers((url = "/api/v2")),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The routes of `/api/v2` with their OpenAPI description: one `routes()` per resource family,
/// each registering its handlers with `utoipa_axum::routes!` so route and description cannot part.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(clients::routes())
        .merge(resource_servers::routes())
        .merge(client_grants::routes())
        .merge(users::routes())
        .merge(user_blocks::routes())
        .merge(refresh_tokens::routes())
        .merge(sessions::routes())
        .merge(logs::routes())
        .merge(stats::routes())
        .split_for_parts()
}

/// `/api/v2`, ready to be nested: the routes, `GET /openapi.json`, the shared middleware.
pub fn router(state: &AppState) -> Router<AppState> {
    let (routes, doc) = api();
    let scopes = Arc::new(Scopes::from_document(&doc));
    let doc: Arc<Value> = Arc::new(serde_json::to_value(&doc).expect("the OpenAPI document serialises"));
    let limiter = Arc::new(RateLimiter::new(&state.management));
    // (axum refuses a route layer on a router without routes.)
    let routes = if doc["paths"].as_object().is_some_and(|p| !p.is_empty()) {
        routes.route_layer(axum::middleware::from_fn_with_state(scopes, require_scopes))
    } else {
        routes
    };
    routes
        .route("/openapi.json", axum::routing::get(move || async move { axum::Json((*doc).clone()) }))
        .fallback(not_found)
        .method_not_allowed_fallback(|| async {
            MgmtError::new(StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"), "Method not allowed")
        })
        .layer(axum::middleware::from_fn_with_state((state.clone(), limiter), layer))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}

/// The scopes each route accepts, read from its OpenAPI `security` (one place declares them):
/// the requirements are alternatives, and each requirement's scopes are all needed (OpenAPI
/// 3.1 §4.8.30). Auth0 lists most routes' scopes as alternatives, so most requirements hold one.
struct Scopes(HashMap<(Method, String), Vec<Vec<String>>>);

impl Scopes {
    fn from_document(doc: &utoipa::openapi::OpenApi) -> Scopes {
        let doc = serde_json::to_value(doc).unwrap_or_default();
        let mut map = HashMap::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else { continue };
                let alternatives: Vec<Vec<String>> = op["security"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|req| req["bearer"].as_array())
                    .map(|scopes| scopes.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                    .collect();
                map.insert((method, format!("/api/v2{path}")), alternatives);
            }
        }
        Scopes(map)
    }
}

/// Refuses a routed request whose token carries none of the route's scope alternatives (403
/// `insufficient_scope`, before the handler parses anything), and an unauthenticated one (401).
/// A route without a `security` declaration needs only a valid token.
async fn require_scopes(
    State(scopes): State<Arc<Scopes>>,
    path: axum::extract::MatchedPath,
    caller: Result<Caller, MgmtError>,
    req: Request,
    next: Next,
) -> Response {
    let caller = match caller {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Some(alternatives) = scopes.0.get(&(req.method().clone(), path.as_str().to_string()))
        && !alternatives.is_empty()
        && !alternatives.iter().any(|all| all.iter().all(|s| caller.has(s)))
    {
        let named: Vec<String> = alternatives.iter().map(|all| all.join(" ")).collect();
        return MgmtError::insufficient_scope(&named).into_response();
    }
    next.run(req).await
}

/// Unknown `/api/v2` paths: 404 for authenticated callers, 401 for others (the path says nothing
/// to someone without a token).
async fn not_found(_: Caller) -> MgmtError {
    MgmtError::not_found("Not Found", "not_found")
}

// ---------------------------------------------------------------------------------------------
// What every route shares

/// Token buckets per caller: `rate` requests per second sustained, `rate` at once. Time comes
/// from the server's clock in whole seconds (the unit of `X-RateLimit-Reset`), so tests can hold it.
pub struct RateLimiter {
    rate: i64,
    buckets: Mutex<HashMap<String, (i64, i64)>>,
}

/// How a request stands against its caller's limit.
struct Allowance {
    allowed: bool,
    remaining: u32,
    /// Seconds until the bucket is full again (rounded up).
    reset_in: u64,
}

impl RateLimiter {
    pub fn new(config: &ManagementConfig) -> Self {
        RateLimiter { rate: i64::from(config.rate_limit.max(1)), buckets: Mutex::new(HashMap::new()) }
    }

    fn take(&self, key: &str, now: i64) -> Allowance {
        let rate = self.rate;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 10_000 {
            // Forget full buckets (callers idle for a second or more) so the map stays bounded.
            buckets.retain(|_, (_, at)| *at >= now);
        }
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((rate, now));
        *tokens = (*tokens + (now - *at).max(0) * rate).min(rate);
        *at = now;
        let allowed = *tokens >= 1;
        if allowed {
            *tokens -= 1;
        }
        let reset_in = if *tokens >= rate { 0 } else { 1 };
        Allowance { allowed, remaining: *tokens as u32, reset_in }
    }
}

async fn layer(State((state, limiter)): State<(AppState, Arc<RateLimiter>)>, mut req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string);
    let cors = origin.filter(|o| state.management.cors_origins.iter().any(|allowed| allowed == o));
    if req.method() == Method::OPTIONS {
        return with_cors(StatusCode::NO_CONTENT.into_response(), cors.as_deref(), true);
    }
    if req.uri().path().ends_with("/openapi.json") {
        return with_cors(next.run(req).await, cors.as_deref(), false);
    }
    let authenticated = match authenticate(&state, req.headers()) {
        Ok(caller) => still_administrator(&state, caller).await,
        Err(e) => Err(e),
    };
    let key = match &authenticated {
        Ok(caller) => format!("client:{}", caller.client_id),
        Err(_) => match req.extensions().get::<ClientAddress>() {
            Some(ClientAddress(ip)) => format!("ip:{ip}"),
            None => "anonymous".into(),
        },
    };
    let allowance = limiter.take(&key, state.now());
    let limit = limiter.rate as u64;
    let reset_at = state.now() as u64 + allowance.reset_in;
    let mut res = if allowance.allowed {
        let caller = authenticated.as_ref().ok().cloned();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        req.extensions_mut().insert(Authenticated(authenticated));
        let res = next.run(req).await;
        if let Some(caller) = caller
            && method != Method::GET
            && method != Method::HEAD
            && res.status().is_success()
        {
            state
                .record(Record {
                    kind: EventType::ManagementApiWrite,
                    description: &format!("Management API operation: {method} {path}"),
                    client_id: Some(&caller.client_id),
                    user_id: None,
                    details: json!({"request": {"method": method.as_str(), "path": path}, "response": {"statusCode": res.status().as_u16()}}),
                })
                .await;
        }
        res
    } else {
        MgmtError::new(
            StatusCode::TOO_MANY_REQUESTS,
            Some("too_many_requests"),
            "Too many requests. Check the X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset headers.",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(allowance.reset_in.max(1)))
        .into_response()
    };
    let h = res.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(allowance.remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset_at));
    with_cors(res, cors.as_deref(), false)
}

/// CORS for an allowed origin only (RFC 6454 origins, exact match); others get no CORS headers,
/// so browsers keep the response from the page.
fn with_cors(mut res: Response, origin: Option<&str>, preflight: bool) -> Response {
    let Some(origin) = origin.and_then(|o| HeaderValue::from_str(o).ok()) else { return res };
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After"),
    );
    if preflight {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PATCH, PUT, DELETE"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Authorization, Content-Type"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    res
}
