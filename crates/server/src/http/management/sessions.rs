//! Sessions: `GET|DELETE /users/{id}/sessions`, `GET|DELETE /sessions/{id}`,
//! `POST /sessions/{id}/revoke` (Auth0's paths, scopes and 202 answers). A session's `id` is the
//! `sid` of its ID tokens. Deleting ends single sign-on but keeps its refresh tokens (as Auth0);
//! revoking also revokes them.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiQuery, ListQuery, MgmtResult, accepted, chunk};
use crate::app::AppState;
use crate::service::manage::sessions::SessionView;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_of_user, delete_of_user)).routes(routes!(get_one, delete_one)).routes(routes!(revoke))
}

/// A user's sessions, a chunk at a time (`{sessions, next}`).
#[utoipa::path(get, path = "/users/{id}/sessions", tag = "sessions",
    params(("id" = String, Path, description = "The user id"), ListQuery),
    responses((status = 200, description = "`{sessions: [...], next}`", body = SessionChunk), (status = 404, description = "No such user")),
    security(("bearer" = ["read:sessions"])))]
async fn list_of_user(State(state): State<AppState>, Path(id): Path<String>, ApiQuery(q): ApiQuery<ListQuery>) -> MgmtResult<Response> {
    let got = state.manage.sessions.list_of_user(&id, &q.checkpoint()?).await?;
    Ok(chunk("sessions", got, |s| SessionView::new(&s)))
}

/// Ends every session of a user; their refresh tokens keep working (202).
#[utoipa::path(delete, path = "/users/{id}/sessions", tag = "sessions",
    params(("id" = String, Path, description = "The user id")),
    responses((status = 202, description = "Ended"), (status = 404, description = "No such user")),
    security(("bearer" = ["delete:sessions"])))]
async fn delete_of_user(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<Response> {
    state.manage.sessions.delete_of_user(&id).await?;
    Ok(accepted())
}

/// One session.
#[utoipa::path(get, path = "/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "The session id (sid)")),
    responses((status = 200, body = SessionView), (status = 404, description = "No such session")),
    security(("bearer" = ["read:sessions"])))]
async fn get_one(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<Response> {
    Ok(axum::Json(SessionView::new(&state.manage.sessions.get(&id).await?)).into_response())
}

/// Ends a session (single sign-on stops); its refresh tokens keep working (202).
#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "The session id (sid)")),
    responses((status = 202, description = "Ended"), (status = 404, description = "No such session")),
    security(("bearer" = ["delete:sessions"])))]
async fn delete_one(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<Response> {
    state.manage.sessions.delete(&id).await?;
    Ok(accepted())
}

/// Ends a session and revokes every refresh token issued in it (202).
#[utoipa::path(post, path = "/sessions/{id}/revoke", tag = "sessions",
    params(("id" = String, Path, description = "The session id (sid)")),
    responses((status = 202, description = "Revoked"), (status = 404, description = "No such session")),
    security(("bearer" = ["delete:sessions", "delete:refresh_tokens"])))]
async fn revoke(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<Response> {
    state.manage.sessions.revoke(&id).await?;
    Ok(accepted())
}

/// A chunk of sessions (for the OpenAPI document).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SessionChunk {
    sessions: Vec<SessionView>,
    /// The cursor for the next chunk (absent at the end).
    next: Option<String>,
}
