//! `GET /stats/active-users`: how many users signed in during the last 30 days, as a bare JSON
//! number (Auth0 Management API v2 Stats). `GET /stats/live`: Ratchet's extension, how many
//! sessions and refresh-token families are live now (the admin console's overview).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
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

/// What is live now (a Ratchet extension, not in Auth0's API).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct LiveCounts {
    /// Sessions at the authorization server whose absolute and idle expiries are both ahead.
    sessions: u64,
    /// Refresh-token families neither revoked nor expired: the refresh tokens that can still be
    /// exchanged, one per sign-in however often it rotated.
    refresh_token_families: u64,
}

/// How many sessions and refresh-token families are live now (Ratchet's extension).
#[utoipa::path(
    get, path = "/stats/live", tag = "stats",
    responses((status = 200, description = "Live sessions and refresh-token families", body = LiveCounts)),
    security(("bearer" = ["read:stats"]))
)]
async fn live(State(state): State<AppState>) -> MgmtResult<Json<LiveCounts>> {
    let sessions = state.manage.sessions.count_live().await?;
    let refresh_token_families = state.manage.refresh_tokens.count_live().await?;
    Ok(Json(LiveCounts { sessions, refresh_token_families }))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(active_users)).routes(routes!(live))
}
