//! Brute-force blocks: `GET|DELETE /user-blocks/{id}` (Auth0's paths, scopes and answers). A
//! block is an address from which too many sign-in attempts for the user were made; the rules
//! live in `ratchet_core::brute_force` and the user service.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{MgmtResult, no_content};
use crate::app::AppState;
use crate::service::manage::users::BruteForceBlock;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_blocks, unblock))
}

/// The answer of `GET /user-blocks/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBlocks {
    pub blocked_for: Vec<BruteForceBlock>,
}

/// The addresses from which the user's sign-ins are currently refused by brute-force protection.
#[utoipa::path(get, path = "/user-blocks/{id}", tag = "user-blocks",
    params(("id" = String, Path, description = "The user id (percent-encoded)")),
    responses((status = 200, body = UserBlocks), (status = 404, description = "The user does not exist.")),
    security(("bearer" = ["read:users"])))]
async fn get_blocks(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<Response> {
    let blocked_for = state.manage.users.brute_force_blocks(&id).await?;
    Ok(axum::Json(UserBlocks { blocked_for }).into_response())
}

/// Lifts the user's brute-force blocks from every address (204).
#[utoipa::path(delete, path = "/user-blocks/{id}", tag = "user-blocks",
    params(("id" = String, Path, description = "The user id (percent-encoded)")),
    responses((status = 204, description = "Unblocked"), (status = 404, description = "The user does not exist.")),
    security(("bearer" = ["update:users"])))]
async fn unblock(State(state): State<AppState>, Path(id): Path<String>) -> MgmtResult<Response> {
    state.manage.users.unblock_brute_force(&id).await?;
    Ok(no_content())
}
