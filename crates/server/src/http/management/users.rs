//! Users: `GET|POST /users`, `GET|PATCH|DELETE /users/{id}`, `GET /users-by-email` (Auth0's
//! paths, scopes and status codes). Ids are `ratchet|…`, percent-encoded in paths
//! (`ratchet%7C…`). The rules live in the user service; this edge parses and maps.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ratchet_core::secret::Secret;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiQuery, Body, ListQuery, MgmtError, MgmtResult, chunk, created, no_content};
use crate::app::AppState;
use crate::service::manage::ManageError;
use crate::service::manage::users::{NewUser, USER_EXISTS, UserChanges, UserView};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(get_one, update, delete)).routes(routes!(by_email))
}

/// Auth0 answers a taken email with `auth0_idp_error`.
fn user_error(e: ManageError) -> MgmtError {
    match e {
        ManageError::Conflict(m) if m == USER_EXISTS => MgmtError::new(StatusCode::CONFLICT, Some("auth0_idp_error"), m),
        e => e.into(),
    }
}

/// The search parameters of `GET /users`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// Exact `email:"…"` and `user_id:"…"` terms joined by AND; anything else is 400.
    pub q: Option<String>,
    /// Accepted and ignored (the SDKs send it).
    pub search_engine: Option<String>,
}

/// Users, a page at a time in id order: by `page`/`per_page` as Auth0 does, or by checkpoint
/// (`from`/`take`, answered `{users, next}`), which costs the same on the last page as the first.
#[utoipa::path(get, path = "/users", tag = "users",
    params(ListQuery, UserSearch),
    responses((status = 200, description = "An array, or `{start, limit, length, total, users}` with include_totals", body = Vec<UserView>),
              (status = 400, description = "Unsupported query")),
    security(("bearer" = ["read:users"])))]
async fn list(State(state): State<AppState>, ApiQuery(q): ApiQuery<ListQuery>, ApiQuery(s): ApiQuery<UserSearch>) -> MgmtResult<Response> {
    let invalid_query = |e| match e {
        ManageError::Invalid(m) => MgmtError::invalid_query(m),
        e => e.into(),
    };
    let users = &state.manage.users;
    if q.by_checkpoint() {
        return Ok(chunk("users", users.list_from(s.q.as_deref(), &q.checkpoint()?).await.map_err(invalid_query)?, |u| UserView::new(&u)));
    }
    let listed = users.list(s.q.as_deref(), q.page()?).await.map_err(invalid_query)?;
    q.respond("users", listed.map(|u| UserView::new(&u)))
}

/// What `POST /users` takes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    /// Must be `Username-Password-Authentication`.
    pub connection: String,
    pub email: String,
    /// 8 to 1024 characters.
    pub password: String,
    pub name: Option<String>,
    pub blocked: Option<bool>,
    pub email_verified: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub user_metadata: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub app_metadata: Option<Map<String, Value>>,
}

/// Creates a user (201; 409 `auth0_idp_error` when the email is taken).
#[utoipa::path(post, path = "/users", tag = "users",
    request_body = CreateUserBody,
    responses((status = 201, body = UserView), (status = 400, description = "Invalid body"), (status = 409, description = "The user already exists.")),
    security(("bearer" = ["create:users"])))]
async fn create(State(state): State<AppState>, Body(b): Body<CreateUserBody>) -> MgmtResult<Response> {
    let new = NewUser {
        connection: b.connection,
        email: b.email,
        password: Secret::new(b.password),
        name: b.name,
        blocked: b.blocked.unwrap_or(false),
        admin: false,
        email_verified: b.email_verified.unwrap_or(false),
        user_metadata: b.user_metadata.unwrap_or_default(),
        app_metadata: b.app_metadata.unwrap_or_default(),
    };
    let user = state.manage.users.create(new).await.map_err(user_error)?;
    Ok(created(UserView::new(&user)))
}

/// One user.
#[utoipa::path(get, path = "/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user id (percent-encoded)")),
    responses((status = 200, body = UserView), (status = 404, description = "The user does not exist.")),
    security(("bearer" = ["read:users"])))]
async fn get_one(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<Response> {
    Ok(axum::Json(UserView::new(&state.manage.users.get(&id).await?)).into_response())
}

/// What `PATCH /users/{id}` takes: root fields replace, metadata merges one level deep (a `null`
/// value deletes its key).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserBody {
    pub connection: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub name: Option<String>,
    pub blocked: Option<bool>,
    pub email_verified: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub user_metadata: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    pub app_metadata: Option<Map<String, Value>>,
}

/// Changes a user; blocking ends their sessions and revokes their refresh tokens.
#[utoipa::path(patch, path = "/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user id (percent-encoded)")),
    request_body = UpdateUserBody,
    responses((status = 200, body = UserView), (status = 404, description = "The user does not exist."), (status = 409, description = "The email is taken")),
    security(("bearer" = ["update:users"])))]
async fn update(State(state): State<AppState>, Path(id): Path<String>, Body(b): Body<UpdateUserBody>) -> MgmtResult<Response> {
    let changes = UserChanges {
        connection: b.connection,
        email: b.email,
        password: b.password.map(Secret::new),
        name: b.name,
        blocked: b.blocked,
        admin: None,
        email_verified: b.email_verified,
        user_metadata: b.user_metadata,
        app_metadata: b.app_metadata,
    };
    let user = state.manage.users.update(&id, changes).await.map_err(user_error)?;
    Ok(axum::Json(UserView::new(&user)).into_response())
}

/// Deletes a user, their sessions, and revokes their refresh tokens (204).
#[utoipa::path(delete, path = "/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user id (percent-encoded)")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "The user does not exist.")),
    security(("bearer" = ["delete:users"])))]
async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<Response> {
    state.manage.users.delete(&id).await?;
    Ok(no_content())
}

/// The parameter of `GET /users-by-email`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ByEmail {
    /// The email address (any case).
    pub email: Option<String>,
}

/// The users with an email address (an array of zero or one).
#[utoipa::path(get, path = "/users-by-email", tag = "users",
    params(ByEmail),
    responses((status = 200, body = Vec<UserView>), (status = 400, description = "Missing email")),
    security(("bearer" = ["read:users"])))]
async fn by_email(State(state): State<AppState>, ApiQuery(q): ApiQuery<ByEmail>) -> MgmtResult<Response> {
    let Some(email) = q.email.filter(|e| !e.trim().is_empty()) else {
        return Err(MgmtError::invalid_query("Query validation error: Missing required 'email' parameter."));
    };
    let users = state.manage.users.by_email(&email).await?;
    Ok(axum::Json(users.iter().map(UserView::new).collect::<Vec<_>>()).into_response())
}
