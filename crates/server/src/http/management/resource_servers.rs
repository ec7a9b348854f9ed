//! `/api/v2/resource-servers`: APIs and their permissions (`scopes`), with Auth0's fields and
//! status codes (`PATCH` answers 201, as Auth0 documents it). `{id}` is an API's id or its
//! identifier, URL-encoded. The Management API is listed as a system API and cannot be changed.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use ratchet_core::client::ApiScope;
use ratchet_core::jws::SigningAlg;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiQuery, Body, ListQuery, MgmtError, MgmtResult, created, no_content};
use crate::app::AppState;
use crate::service::manage::apis::{ApiChanges, NewApi, ResourceServer};
use crate::service::manage::{Listed, ManageError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_resource_servers, create_resource_server)).routes(routes!(
        get_resource_server,
        update_resource_server,
        delete_resource_server
    ))
}

/// One permission of an API.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeBody {
    pub value: String,
    #[serde(default)]
    pub description: String,
}

fn scopes_in(s: Vec<ScopeBody>) -> Vec<ApiScope> {
    s.into_iter().map(|s| ApiScope { value: s.value, description: s.description }).collect()
}

/// An API as Auth0's Management API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceServerView {
    pub id: String,
    pub name: String,
    /// The audience clients ask tokens for.
    pub identifier: String,
    pub is_system: bool,
    pub scopes: Vec<ScopeBody>,
    /// The access tokens' signing algorithm.
    #[schema(value_type = String, example = "RS256")]
    pub signing_alg: SigningAlg,
    pub allow_offline_access: bool,
    /// Access-token lifetime in seconds.
    pub token_lifetime: u32,
    pub token_lifetime_for_web: u32,
    pub skip_consent_for_verifiable_first_party_clients: bool,
}

impl From<ResourceServer> for ResourceServerView {
    fn from(rs: ResourceServer) -> Self {
        let a = rs.api;
        ResourceServerView {
            id: a.id,
            name: a.name,
            identifier: a.identifier,
            is_system: rs.is_system,
            scopes: a.scopes.into_iter().map(|s| ScopeBody { value: s.value, description: s.description }).collect(),
            signing_alg: a.signing_alg,
            allow_offline_access: a.allow_offline_access,
            token_lifetime: a.token_lifetime,
            token_lifetime_for_web: a.token_lifetime,
            skip_consent_for_verifiable_first_party_clients: true,
        }
    }
}

fn view(api: ratchet_core::client::Api) -> ResourceServerView {
    ResourceServer { api, is_system: false }.into()
}

/// `POST /resource-servers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateResourceServer {
    /// The audience (1 … 600 characters, no spaces); it never changes.
    pub identifier: String,
    pub name: Option<String>,
    #[serde(default)]
    pub scopes: Vec<ScopeBody>,
    /// `RS256` (default), `PS256`, `ES256` or `EdDSA`; anything else (HS256 included) is 400.
    #[schema(value_type = Option<String>, example = "ES256")]
    pub signing_alg: Option<SigningAlg>,
    /// Access-token lifetime in seconds (default 86400, at most 2592000).
    pub token_lifetime: Option<u32>,
    #[serde(default)]
    pub allow_offline_access: bool,
}

/// `PATCH /resource-servers/{id}`: the fields given replace the current ones (`scopes` as a whole).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateResourceServer {
    pub name: Option<String>,
    pub scopes: Option<Vec<ScopeBody>>,
    /// `RS256`, `PS256`, `ES256` or `EdDSA`.
    #[schema(value_type = Option<String>, example = "ES256")]
    pub signing_alg: Option<SigningAlg>,
    pub token_lifetime: Option<u32>,
    pub allow_offline_access: Option<bool>,
}

/// Lists APIs, the Management API first, or only those named by `identifiers` (repeatable, at
/// most 10): a bare array, or with `include_totals=true` `{start, limit, length, total, resource_servers}`.
#[utoipa::path(
    get, path = "/resource-servers", tag = "resource-servers",
    params(ListQuery, ("identifiers" = Option<Vec<String>>, Query, description = "Only the APIs with these identifiers (repeatable, at most 10)")),
    responses((status = 200, body = Vec<ResourceServerView>)),
    security(("bearer" = ["read:resource_servers"]))
)]
async fn list_resource_servers(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
    RawQuery(raw): RawQuery,
) -> MgmtResult<Response> {
    // `identifiers` repeats (`?identifiers=a&identifiers=b`), which the typed query cannot hold.
    let identifiers: Vec<String> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "identifiers")
        .map(|(_, v)| v.into_owned())
        .collect();
    if !identifiers.is_empty() {
        let found = state.manage.apis.with_identifiers(&identifiers).await.map_err(|e| match e {
            ManageError::Invalid(m) => MgmtError::invalid_query(m),
            e => e.into(),
        })?;
        let total = found.len() as u64;
        return q.respond("resource_servers", Listed { items: found, total }.map(ResourceServerView::from));
    }
    let listed = state.manage.apis.list(q.page()?).await?;
    q.respond("resource_servers", listed.map(ResourceServerView::from))
}

/// Registers an API (201); 409 when the identifier is taken.
#[utoipa::path(
    post, path = "/resource-servers", tag = "resource-servers", request_body = CreateResourceServer,
    responses((status = 201, body = ResourceServerView), (status = 400, description = "Invalid body"), (status = 409, description = "Identifier taken")),
    security(("bearer" = ["create:resource_servers"]))
)]
async fn create_resource_server(State(state): State<AppState>, Body(b): Body<CreateResourceServer>) -> MgmtResult<Response> {
    let new = NewApi {
        identifier: b.identifier,
        name: b.name,
        scopes: scopes_in(b.scopes),
        token_lifetime: b.token_lifetime,
        allow_offline_access: b.allow_offline_access,
        signing_alg: b.signing_alg,
    };
    Ok(created(view(state.manage.apis.create(new).await?)))
}

/// Reads an API by id or by its (URL-encoded) identifier.
#[utoipa::path(
    get, path = "/resource-servers/{id}", tag = "resource-servers", params(("id" = String, Path, description = "The API's id or identifier")),
    responses((status = 200, body = ResourceServerView), (status = 404, description = "inexistent_resource_server")),
    security(("bearer" = ["read:resource_servers"]))
)]
async fn get_resource_server(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<axum::Json<ResourceServerView>> {
    Ok(axum::Json(state.manage.apis.get(&id).await?.into()))
}

/// Changes an API (201, as Auth0); the Management API cannot be changed (403).
#[utoipa::path(
    patch, path = "/resource-servers/{id}", tag = "resource-servers", params(("id" = String, Path, description = "The API's id or identifier")),
    request_body = UpdateResourceServer,
    responses((status = 201, body = ResourceServerView), (status = 403, description = "A system API"), (status = 404, description = "inexistent_resource_server")),
    security(("bearer" = ["update:resource_servers"]))
)]
async fn update_resource_server(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<UpdateResourceServer>,
) -> MgmtResult<Response> {
    let changes = ApiChanges {
        name: b.name,
        scopes: b.scopes.map(scopes_in),
        token_lifetime: b.token_lifetime,
        allow_offline_access: b.allow_offline_access,
        signing_alg: b.signing_alg,
    };
    Ok(created(view(state.manage.apis.update(&id, changes).await?)).into_response())
}

/// Deletes an API and the client grants for it, revoking the refresh tokens issued for it (204);
/// the Management API cannot be deleted (403).
#[utoipa::path(
    delete, path = "/resource-servers/{id}", tag = "resource-servers", params(("id" = String, Path, description = "The API's id or identifier")),
    responses((status = 204), (status = 403, description = "A system API"), (status = 404, description = "inexistent_resource_server")),
    security(("bearer" = ["delete:resource_servers"]))
)]
async fn delete_resource_server(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<Response> {
    state.manage.apis.delete(&id).await?;
    Ok(no_content())
}
