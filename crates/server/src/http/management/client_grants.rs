//! `/api/v2/client-grants`: which API a client may get `client_credentials` tokens for, with
//! which scopes (each one of the API's permissions). One grant per client and API (409).

use axum::extract::{Path, State};
use axum::response::Response;
use ratchet_store::{ClientGrant, ClientGrantFilter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiQuery, Body, ListQuery, MgmtError, MgmtResult, chunk, created, no_content};
use crate::app::AppState;
use crate::service::manage::client_grants::NewClientGrant;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_client_grants, create_client_grant)).routes(routes!(
        get_client_grant,
        update_client_grant,
        delete_client_grant
    ))
}

/// A client grant as Auth0's Management API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientGrantView {
    pub id: String,
    pub client_id: String,
    pub audience: String,
    pub scope: Vec<String>,
    /// Always `client` (machine-to-machine access).
    pub subject_type: &'static str,
}

impl From<ClientGrant> for ClientGrantView {
    fn from(g: ClientGrant) -> Self {
        ClientGrantView { id: g.id, client_id: g.client_id, audience: g.audience, scope: g.scope, subject_type: "client" }
    }
}

/// `POST /client-grants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientGrant {
    pub client_id: String,
    /// The API's identifier (the Management API: `https://{host}/api/v2/`).
    pub audience: String,
    #[serde(default)]
    pub scope: Vec<String>,
    /// Only `client`.
    pub subject_type: Option<String>,
}

/// `PATCH /client-grants/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientGrant {
    pub scope: Vec<String>,
}

/// Filters of `GET /client-grants`, next to the paging parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantsQuery {
    /// Only this client's grants.
    pub client_id: Option<String>,
    /// Only the grants for this API.
    pub audience: Option<String>,
}

/// Lists client grants: a bare array, `{start, limit, length, total, client_grants}` with
/// `include_totals=true`, or `{client_grants, next}` with `from`/`take`.
#[utoipa::path(
    get, path = "/client-grants", tag = "client-grants", params(GrantsQuery, ListQuery),
    responses((status = 200, body = Vec<ClientGrantView>)),
    security(("bearer" = ["read:client_grants"]))
)]
async fn list_client_grants(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<GrantsQuery>,
    ApiQuery(list): ApiQuery<ListQuery>,
) -> MgmtResult<Response> {
    let filter = ClientGrantFilter { client_id: q.client_id.filter(|s| !s.is_empty()), audience: q.audience.filter(|s| !s.is_empty()) };
    let service = &state.manage.client_grants;
    if list.by_checkpoint() {
        return Ok(chunk("client_grants", service.list_from(filter, &list.checkpoint()?).await?, ClientGrantView::from));
    }
    let listed = service.list(filter, list.page()?).await?;
    list.respond("client_grants", listed.map(ClientGrantView::from))
}

/// Creates a grant (201): 404 when the client or the API does not exist, 400 naming a scope the
/// API does not define, 409 when the client already has a grant for the API.
#[utoipa::path(
    post, path = "/client-grants", tag = "client-grants", request_body = CreateClientGrant,
    responses((status = 201, body = ClientGrantView), (status = 400, description = "Invalid body"), (status = 404, description = "No such client or API"), (status = 409, description = "A grant exists")),
    security(("bearer" = ["create:client_grants"]))
)]
async fn create_client_grant(State(state): State<AppState>, Body(b): Body<CreateClientGrant>) -> MgmtResult<Response> {
    if b.subject_type.as_deref().is_some_and(|t| t != "client") {
        return Err(MgmtError::invalid_body("Payload validation error: subject_type must be client"));
    }
    let new = NewClientGrant { client_id: b.client_id, audience: b.audience, scope: b.scope };
    Ok(created(ClientGrantView::from(state.manage.client_grants.create(new).await?)))
}

/// Reads a grant.
#[utoipa::path(
    get, path = "/client-grants/{id}", tag = "client-grants", params(("id" = String, Path, description = "The grant's id")),
    responses((status = 200, body = ClientGrantView), (status = 404, description = "inexistent_client_grant")),
    security(("bearer" = ["read:client_grants"]))
)]
async fn get_client_grant(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<axum::Json<ClientGrantView>> {
    Ok(axum::Json(state.manage.client_grants.get(&id).await?.into()))
}

/// Replaces a grant's scopes.
#[utoipa::path(
    patch, path = "/client-grants/{id}", tag = "client-grants", params(("id" = String, Path, description = "The grant's id")),
    request_body = UpdateClientGrant,
    responses((status = 200, body = ClientGrantView), (status = 400, description = "Invalid body"), (status = 404, description = "inexistent_client_grant")),
    security(("bearer" = ["update:client_grants"]))
)]
async fn update_client_grant(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<UpdateClientGrant>,
) -> MgmtResult<axum::Json<ClientGrantView>> {
    Ok(axum::Json(state.manage.client_grants.update(&id, b.scope).await?.into()))
}

/// Deletes a grant (204): the client gets no more tokens for that API.
#[utoipa::path(
    delete, path = "/client-grants/{id}", tag = "client-grants", params(("id" = String, Path, description = "The grant's id")),
    responses((status = 204), (status = 404, description = "inexistent_client_grant")),
    security(("bearer" = ["delete:client_grants"]))
)]
async fn delete_client_grant(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<Response> {
    state.manage.client_grants.delete(&id).await?;
    Ok(no_content())
}
