//! `/api/v2/clients`: applications, with Auth0's fields, scopes and status codes. A client's
//! secret exists in clear only when it is generated (creation of a confidential client,
//! `rotate-secret`); only its hash is stored, so reads never carry it, and the creation and
//! rotation responses carry it only to callers holding a key scope (`read:client_keys`,
//! `read:client_credentials`, or the scope of the rotation itself).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use ratchet_core::client::{AppType, AudiencePolicy, AuthMethod, Client, ExpirationType, GrantType, RefreshTokenPolicy, RotationType};
use ratchet_core::jws::SigningAlg;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiQuery, Body, Caller, ListQuery, MgmtResult, chunk, created, no_content};
use crate::app::AppState;
use crate::service::manage::clients::{ClientChanges, ClientSpec, RefreshUpdate, WithSecret};

/// Scopes that may see a client secret.
const KEY_SCOPES: &[&str] = &["read:client_keys", "read:client_credentials"];

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, update_client, delete_client))
        .routes(routes!(rotate_secret))
}

/// An application as Auth0's Management API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    /// `spa`, `regular_web`, `native` or `non_interactive`.
    #[schema(value_type = String, example = "spa")]
    pub app_type: AppType,
    pub is_first_party: bool,
    pub oidc_conformant: bool,
    /// `none`, `client_secret_post` or `client_secret_basic`.
    #[schema(value_type = String, example = "none")]
    pub token_endpoint_auth_method: AuthMethod,
    #[schema(value_type = Vec<String>)]
    pub grant_types: Vec<GrantType>,
    pub callbacks: Vec<String>,
    pub allowed_logout_urls: Vec<String>,
    pub web_origins: Vec<String>,
    #[schema(value_type = RefreshTokenBody)]
    pub refresh_token: RefreshTokenPolicy,
    pub jwt_configuration: JwtConfiguration,
    /// Token requests must carry a DPoP proof (RFC 9449).
    pub require_proof_of_possession: bool,
    /// Only in the responses of creation and `rotate-secret`, to callers with a key scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// ID-token settings (`jwt_configuration`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtConfiguration {
    /// ID-token lifetime in seconds.
    pub lifetime_in_seconds: u32,
    /// The ID tokens' signing algorithm: `RS256` (default), `PS256`, `ES256` or `EdDSA`.
    #[serde(default)]
    #[schema(value_type = String, example = "RS256")]
    pub alg: SigningAlg,
}

impl ClientView {
    pub fn of(c: Client, secret: Option<String>) -> Self {
        ClientView {
            jwt_configuration: JwtConfiguration { lifetime_in_seconds: c.id_token_lifetime, alg: c.id_token_alg },
            client_id: c.client_id,
            name: c.name,
            app_type: c.app_type,
            is_first_party: true,
            oidc_conformant: true,
            token_endpoint_auth_method: c.token_endpoint_auth_method,
            grant_types: c.grant_types,
            callbacks: c.callbacks,
            allowed_logout_urls: c.allowed_logout_urls,
            web_origins: c.web_origins,
            refresh_token: c.refresh_token,
            require_proof_of_possession: c.require_proof_of_possession,
            client_secret: secret,
        }
    }

    fn with_secret(w: WithSecret, caller: &Caller, also: &[&str]) -> Self {
        let visible = KEY_SCOPES.iter().chain(also).any(|s| caller.has(s));
        ClientView::of(w.client, w.secret.filter(|_| visible).map(|s| s.expose().to_string()))
    }
}

/// The `refresh_token` object (Auth0's `ClientRefreshTokenConfiguration`): `rotation_type` and
/// `expiration_type` are required; omitted numbers keep their current (or default) values.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenBody {
    /// `rotating` or `non-rotating`.
    #[schema(value_type = String, example = "rotating")]
    pub rotation_type: RotationType,
    /// `expiring` or `non-expiring`.
    #[schema(value_type = String, example = "expiring")]
    pub expiration_type: ExpirationType,
    /// Seconds during which the previous refresh token still yields the same successor.
    pub leeway: Option<u32>,
    /// Absolute lifetime in seconds (1 … 31557600).
    pub token_lifetime: Option<u32>,
    pub infinite_token_lifetime: Option<bool>,
    /// Inactivity lifetime in seconds (1 … 31557600).
    pub idle_token_lifetime: Option<u32>,
    pub infinite_idle_token_lifetime: Option<bool>,
    /// Multi-resource refresh tokens: `[{audience, scope}]`; replaces the list when given.
    #[schema(value_type = Option<Vec<Object>>)]
    pub policies: Option<Vec<AudiencePolicy>>,
}

impl RefreshTokenBody {
    /// The policy this object sets over `current`; validated with the client as a whole.
    fn over(self, mut p: RefreshTokenPolicy) -> RefreshTokenPolicy {
        p.rotation_type = self.rotation_type;
        p.expiration_type = self.expiration_type;
        if self.expiration_type == ExpirationType::NonExpiring {
            (p.infinite_token_lifetime, p.infinite_idle_token_lifetime) = (true, true);
        }
        if let Some(v) = self.leeway {
            p.leeway = v;
        }
        if let Some(v) = self.token_lifetime {
            p.token_lifetime = v;
        }
        if let Some(v) = self.infinite_token_lifetime {
            p.infinite_token_lifetime = v;
        }
        if let Some(v) = self.idle_token_lifetime {
            p.idle_token_lifetime = v;
        }
        if let Some(v) = self.infinite_idle_token_lifetime {
            p.infinite_idle_token_lifetime = v;
        }
        if let Some(v) = self.policies {
            p.policies = v;
        }
        p
    }
}

/// `jwt_configuration` in a request: the ID tokens' lifetime and signing algorithm. An
/// algorithm other than the four is refused as the body is parsed (400 `invalid_body`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtConfigurationBody {
    pub lifetime_in_seconds: Option<u32>,
    /// `RS256`, `PS256`, `ES256` or `EdDSA` (HS256 is refused).
    #[schema(value_type = Option<String>, example = "ES256")]
    pub alg: Option<SigningAlg>,
}

/// `POST /clients`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    pub name: String,
    /// `spa` (default), `regular_web`, `native` or `non_interactive`.
    #[schema(value_type = Option<String>)]
    pub app_type: Option<AppType>,
    #[serde(default)]
    pub callbacks: Vec<String>,
    #[serde(default)]
    pub allowed_logout_urls: Vec<String>,
    #[serde(default)]
    pub web_origins: Vec<String>,
    #[schema(value_type = Option<Vec<String>>)]
    pub grant_types: Option<Vec<GrantType>>,
    pub refresh_token: Option<RefreshTokenBody>,
    pub jwt_configuration: Option<JwtConfigurationBody>,
    pub require_proof_of_possession: Option<bool>,
}

/// `PATCH /clients/{id}`: the fields given replace the current ones.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClient {
    pub name: Option<String>,
    pub callbacks: Option<Vec<String>>,
    pub allowed_logout_urls: Option<Vec<String>>,
    pub web_origins: Option<Vec<String>>,
    #[schema(value_type = Option<Vec<String>>)]
    pub grant_types: Option<Vec<GrantType>>,
    pub refresh_token: Option<RefreshTokenBody>,
    pub jwt_configuration: Option<JwtConfigurationBody>,
    pub require_proof_of_possession: Option<bool>,
}

/// Lists applications: a bare array, `{start, limit, length, total, clients}` with
/// `include_totals=true`, or `{clients, next}` with `from`/`take`.
#[utoipa::path(
    get, path = "/clients", tag = "clients", params(ListQuery),
    responses((status = 200, body = Vec<ClientView>)),
    security(("bearer" = ["read:clients"]), ("bearer" = ["read:client_keys"]), ("bearer" = ["read:client_credentials"]), ("bearer" = ["read:client_summary"]))
)]
async fn list_clients(State(state): State<AppState>, ApiQuery(q): ApiQuery<ListQuery>) -> MgmtResult<Response> {
    let service = &state.manage.clients;
    if q.by_checkpoint() {
        return Ok(chunk("clients", service.list_from(&q.checkpoint()?).await?, |c| ClientView::of(c, None)));
    }
    let listed = service.list(q.page()?).await?;
    q.respond("clients", listed.map(|c| ClientView::of(c, None)))
}

/// Creates an application (201); a confidential one gets a generated secret.
#[utoipa::path(
    post, path = "/clients", tag = "clients", request_body = CreateClient,
    responses((status = 201, body = ClientView), (status = 400, description = "Invalid body")),
    security(("bearer" = ["create:clients"]))
)]
async fn create_client(State(state): State<AppState>, caller: Caller, Body(b): Body<CreateClient>) -> MgmtResult<Response> {
    let app_type = b.app_type.unwrap_or(AppType::Spa);
    let default = RefreshTokenPolicy::default_for(app_type);
    let spec = ClientSpec {
        name: b.name,
        app_type: Some(app_type),
        callbacks: b.callbacks,
        allowed_logout_urls: b.allowed_logout_urls,
        web_origins: b.web_origins,
        grant_types: b.grant_types,
        refresh_token: b.refresh_token.map(|r| RefreshUpdate::Replace(r.over(default))),
        id_token_lifetime: b.jwt_configuration.as_ref().and_then(|j| j.lifetime_in_seconds),
        id_token_alg: b.jwt_configuration.as_ref().and_then(|j| j.alg),
        require_proof_of_possession: b.require_proof_of_possession,
    };
    let created_client = state.manage.clients.create(spec).await?;
    Ok(created(ClientView::with_secret(created_client, &caller, &["create:client_credentials"])))
}

/// Reads an application (never its secret: only its hash is stored).
#[utoipa::path(
    get, path = "/clients/{id}", tag = "clients", params(("id" = String, Path, description = "The client_id")),
    responses((status = 200, body = ClientView), (status = 404, description = "inexistent_client")),
    security(("bearer" = ["read:clients"]), ("bearer" = ["read:client_keys"]), ("bearer" = ["read:client_credentials"]), ("bearer" = ["read:client_summary"]))
)]
async fn get_client(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<axum::Json<ClientView>> {
    Ok(axum::Json(ClientView::of(state.manage.clients.get(&id).await?, None)))
}

/// Changes an application; the result is validated as a whole (URLs, the `refresh_token`
/// object with Auth0's rules, grant types).
#[utoipa::path(
    patch, path = "/clients/{id}", tag = "clients", params(("id" = String, Path, description = "The client_id")), request_body = UpdateClient,
    responses((status = 200, body = ClientView), (status = 400, description = "Invalid body"), (status = 404, description = "inexistent_client")),
    security(("bearer" = ["update:clients"]), ("bearer" = ["update:client_keys"]), ("bearer" = ["update:client_credentials"]))
)]
async fn update_client(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<UpdateClient>,
) -> MgmtResult<axum::Json<ClientView>> {
    let service = &state.manage.clients;
    let refresh_token = match b.refresh_token {
        Some(r) => Some(RefreshUpdate::Replace(r.over(service.get(&id).await?.refresh_token))),
        None => None,
    };
    let changes = ClientChanges {
        name: b.name,
        callbacks: b.callbacks,
        allowed_logout_urls: b.allowed_logout_urls,
        web_origins: b.web_origins,
        grant_types: b.grant_types,
        refresh_token,
        id_token_lifetime: b.jwt_configuration.as_ref().and_then(|j| j.lifetime_in_seconds),
        id_token_alg: b.jwt_configuration.as_ref().and_then(|j| j.alg),
        require_proof_of_possession: b.require_proof_of_possession,
    };
    Ok(axum::Json(ClientView::of(service.update(&id, changes).await?, None)))
}

/// Deletes an application (204): its client grants go, its refresh tokens are revoked.
#[utoipa::path(
    delete, path = "/clients/{id}", tag = "clients", params(("id" = String, Path, description = "The client_id")),
    responses((status = 204), (status = 404, description = "inexistent_client")),
    security(("bearer" = ["delete:clients"]))
)]
async fn delete_client(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<Response> {
    state.manage.clients.delete(&id).await?;
    Ok(no_content())
}

/// Gives a confidential application a new secret (200, the client with `client_secret`); the
/// old secret stops working at once.
#[utoipa::path(
    post, path = "/clients/{id}/rotate-secret", tag = "clients", params(("id" = String, Path, description = "The client_id")),
    responses((status = 200, body = ClientView), (status = 404, description = "inexistent_client")),
    security(("bearer" = ["update:client_keys"]))
)]
async fn rotate_secret(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> MgmtResult<Response> {
    let rotated = state.manage.clients.rotate_secret(&id).await?;
    Ok(axum::Json(ClientView::with_secret(rotated, &caller, &["update:client_keys"])).into_response())
}
