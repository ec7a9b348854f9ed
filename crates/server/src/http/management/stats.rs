//! `GET /stats/active-users`: how many users signed in during the last 30 days, as a bare JSON
//! number (Auth0 Management API v2 Stats).

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::MgmtResult;
use crate::app::AppState;

/// The number of users with a successful login in the last 30 days.
#[utoipa::path(
    get, path = "/stats/active-users", tag = "stats",
    responses((status = 200, description = "A bare number", body = u64)),
    security(("bearer" = ["read:stats"]))
)]
async fn active_users(State(state): State<AppState>) -> MgmtResult<Json<u64>> {
    Ok(Json(state.manage.logs.active_users().await?))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(active_users))
}
