//! `GET /logs`, `GET /logs/{id}`, `GET /users/{id}/logs`: the audit trail as Auth0's Management
//! API v2 serves it. A search (`q` or `search`, the same subset of Auth0's Lucene syntax; see
//! `service::manage::logs::parse_search`) is paged with `page`/`per_page` and sorted with
//! `sort=date:-1|1`; `from` (a `log_id`) with `take` reads the events after it instead, oldest
//! first, as a plain array (every other parameter ignored, as Auth0's). Each route needs
//! `read:logs` or `read:logs_users`, enforced from its `security` declaration by the framework.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use ratchet_store::LogFilter;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiQuery, ListQuery, MgmtError, MgmtResult};
use crate::app::AppState;
use crate::service::manage::ManageError;
use crate::service::manage::logs::{Log, parse_search, parse_sort};

/// The search parameters of `GET /logs` (paging comes from [`ListQuery`]).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogSearch {
    /// A search in Auth0's Lucene syntax, the subset `type:CODE`, `user_id:ID`, `client_id:ID`
    /// and `date:[FROM TO TO]` (ISO 8601 or `*`) joined by spaces or `AND` (the node `auth0` and
    /// `auth0-python` SDKs send `search`).
    pub q: Option<String>,
    /// The same as `q`.
    pub search: Option<String>,
    /// `date:-1` (newest first, the default) or `date:1`.
    pub sort: Option<String>,
}

/// Paging and sorting of `GET /users/{id}/logs`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogSort {
    /// `date:-1` (newest first, the default) or `date:1`.
    pub sort: Option<String>,
}

/// A `ManageError::Invalid` about query parameters is Auth0's `invalid_query_string`.
fn query_error(e: ManageError) -> MgmtError {
    match e {
        ManageError::Invalid(m) => MgmtError::invalid_query(m),
        other => other.into(),
    }
}

/// Log events matching a search, or after a checkpoint.
#[utoipa::path(
    get, path = "/logs", tag = "logs",
    params(ListQuery, LogSearch),
    responses(
        (status = 200, description = "A page of log events (an array, or `{start, limit, length, total, logs}` with `include_totals=true`); with `from`, the events after that log_id as an array", body = [Log]),
        (status = 400, description = "Unsupported search, sort or paging"),
        (status = 401, description = "Missing or invalid token"),
        (status = 403, description = "Insufficient scope"),
    ),
    security(("bearer" = ["read:logs"]), ("bearer" = ["read:logs_users"]))
)]
async fn list_logs(
    State(state): State<AppState>,
    ApiQuery(list): ApiQuery<ListQuery>,
    ApiQuery(search): ApiQuery<LogSearch>,
) -> MgmtResult<Response> {
    if let Some(from) = list.from.as_deref().filter(|f| !f.is_empty()) {
        let take = list.checkpoint()?.take;
        let logs = state.manage.logs.after(from, take).await.map_err(query_error)?;
        return Ok(Json(logs).into_response());
    }
    let q = match (search.search.as_deref().filter(|s| !s.is_empty()), search.q.as_deref().filter(|s| !s.is_empty())) {
        (Some(a), Some(b)) if a != b => return Err(MgmtError::invalid_query("Give the search in q or in search, not two different ones")),
        (a, b) => a.or(b).unwrap_or_default(),
    };
    let filter = parse_search(q).map_err(query_error)?;
    let order = parse_sort(search.sort.as_deref()).map_err(query_error)?;
    let listed = state.manage.logs.search(&filter, order, list.page()?).await.map_err(query_error)?;
    list.respond("logs", listed)
}

/// One log event by its `log_id`.
#[utoipa::path(
    get, path = "/logs/{id}", tag = "logs",
    params(("id" = String, Path, description = "The log_id")),
    responses(
        (status = 200, description = "The log event", body = Log),
        (status = 404, description = "No such log event (`inexistent_log`)"),
    ),
    security(("bearer" = ["read:logs"]), ("bearer" = ["read:logs_users"]))
)]
async fn get_log(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<Json<Log>> {
    Ok(Json(state.manage.logs.get(&id).await?))
}

/// A user's log events (kept after the user is deleted, for the retention period).
#[utoipa::path(
    get, path = "/users/{id}/logs", tag = "logs",
    params(("id" = String, Path, description = "The user_id (percent-encoded)"), ListQuery, LogSort),
    responses(
        (status = 200, description = "A page of the user's log events (an array, or the `include_totals` envelope)", body = [Log]),
        (status = 400, description = "Unsupported sort or paging"),
    ),
    security(("bearer" = ["read:logs"]), ("bearer" = ["read:logs_users"]))
)]
async fn user_logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(list): ApiQuery<ListQuery>,
    ApiQuery(sort): ApiQuery<LogSort>,
) -> MgmtResult<Response> {
    let order = parse_sort(sort.sort.as_deref()).map_err(query_error)?;
    let filter = LogFilter { user_id: Some(id), ..LogFilter::default() };
    let listed = state.manage.logs.search(&filter, order, list.page()?).await.map_err(query_error)?;
    list.respond("logs", listed)
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_logs)).routes(routes!(get_log)).routes(routes!(user_logs))
}
