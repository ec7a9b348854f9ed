//! Refresh tokens: `GET|DELETE /users/{id}/refresh-tokens`, `GET|DELETE /refresh-tokens/{id}`,
//! `POST /refresh-tokens/revoke` (Auth0's paths, scopes and 202 answers). A refresh token's `id`
//! is its family id (not a secret); revoking it revokes every token of the family.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiQuery, Body, ListQuery, MgmtResult, accepted, chunk};
use crate::app::AppState;
use crate::service::manage::ManageError;
use crate::service::manage::refresh_tokens::{MAX_REVOKE_IDS, RefreshTokenView, RevokeTarget};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_of_user, revoke_of_user)).routes(routes!(get_one, delete_one)).routes(routes!(revoke))
}

/// A user's refresh tokens, a chunk at a time (`{tokens, next}`).
#[utoipa::path(get, path = "/users/{id}/refresh-tokens", tag = "refresh-tokens",
    params(("id" = String, Path, description = "The user id"), ListQuery),
    responses((status = 200, description = "`{tokens: [...], next}`", body = RefreshTokenChunk), (status = 404, description = "No such user")),
    security(("bearer" = ["read:refresh_tokens"])))]
async fn list_of_user(State(state): State<AppState>, Path(id): Path<String>, ApiQuery(q): ApiQuery<ListQuery>) -> MgmtResult<Response> {
    let rts = &state.manage.refresh_tokens;
    Ok(chunk("tokens", rts.list_of_user(&id, &q.checkpoint()?).await?, |r| rts.view(&r)))
}

/// Revokes every refresh token of a user (202).
#[utoipa::path(delete, path = "/users/{id}/refresh-tokens", tag = "refresh-tokens",
    params(("id" = String, Path, description = "The user id")),
    responses((status = 202, description = "Revoked"), (status = 404, description = "No such user")),
    security(("bearer" = ["delete:refresh_tokens"])))]
async fn revoke_of_user(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<Response> {
    state.manage.refresh_tokens.revoke_of_user(&id).await?;
    Ok(accepted())
}

/// One refresh token.
#[utoipa::path(get, path = "/refresh-tokens/{id}", tag = "refresh-tokens",
    params(("id" = String, Path, description = "The refresh token id")),
    responses((status = 200, body = RefreshTokenView), (status = 404, description = "No such refresh token")),
    security(("bearer" = ["read:refresh_tokens"])))]
async fn get_one(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<Response> {
    let rts = &state.manage.refresh_tokens;
    Ok(axum::Json(rts.view(&rts.get(&id).await?)).into_response())
}

/// Revokes one refresh token (its family) (202).
#[utoipa::path(delete, path = "/refresh-tokens/{id}", tag = "refresh-tokens",
    params(("id" = String, Path, description = "The refresh token id")),
    responses((status = 202, description = "Revoked"), (status = 404, description = "No such refresh token")),
    security(("bearer" = ["delete:refresh_tokens"])))]
async fn delete_one(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<Response> {
    state.manage.refresh_tokens.revoke_one(&id).await?;
    Ok(accepted())
}

/// What `POST /refresh-tokens/revoke` takes: `ids` alone, or `user_id` [+ `client_id` [+ `audience`]].
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// Up to 100 refresh token ids.
    pub ids: Option<Vec<String>>,
    pub user_id: Option<String>,
    /// Only with `user_id`.
    pub client_id: Option<String>,
    /// Only with `user_id` and `client_id`.
    pub audience: Option<String>,
}

impl RevokeBody {
    fn target(self) -> Result<RevokeTarget, ManageError> {
        let invalid = |m: &str| ManageError::Invalid(format!("Payload validation error: {m}"));
        match self {
            RevokeBody { ids: Some(ids), user_id: None, client_id: None, audience: None } => {
                if ids.is_empty() || ids.len() > MAX_REVOKE_IDS {
                    return Err(invalid(&format!("ids must hold 1 to {MAX_REVOKE_IDS} items")));
                }
                Ok(RevokeTarget::Ids(ids))
            }
            RevokeBody { ids: None, user_id: Some(user_id), client_id, audience } => {
                if audience.is_some() && client_id.is_none() {
                    return Err(invalid("audience needs client_id"));
                }
                Ok(RevokeTarget::User { user_id, client_id, audience })
            }
            _ => Err(invalid("give ids alone, or user_id with an optional client_id and audience")),
        }
    }
}

/// Revokes refresh tokens by ids, or by user [+ client [+ audience]] (202).
#[utoipa::path(post, path = "/refresh-tokens/revoke", tag = "refresh-tokens",
    request_body = RevokeBody,
    responses((status = 202, description = "Revoked"), (status = 400, description = "Invalid combination")),
    security(("bearer" = ["delete:refresh_tokens"])))]
async fn revoke(State(state): State<AppState>, Body(body): Body<RevokeBody>) -> MgmtResult<Response> {
    state.manage.refresh_tokens.revoke(&body.target()?).await?;
    Ok(accepted())
}

/// A chunk of refresh tokens (for the OpenAPI document).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RefreshTokenChunk {
    tokens: Vec<RefreshTokenView>,
    /// The cursor for the next chunk (absent at the end).
    next: Option<String>,
}
