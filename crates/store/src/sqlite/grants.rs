use super::*;

pub(super) fn code_from(r: &Row) -> rusqlite::Result<AuthCode> {
    Ok(AuthCode {
        code_hash: r.get("code_hash")?,
        grant_id: r.get("grant_id")?,
        client_id: r.get("client_id")?,
        user_id: r.get("user_id")?,
        session_id: r.get("session_id")?,
        redirect_uri: r.get("redirect_uri")?,
        code_challenge: r.get("code_challenge")?,
        scope: r.get("scope")?,
        audience: r.get("audience")?,
        nonce: r.get("nonce")?,
        auth_time: r.get("auth_time")?,
        expires_at: r.get("expires_at")?,
    })
}

/// A grant is live while neither it nor a family issued from it is revoked: every way a family
/// dies (revocation, reuse detection, session end, user block) then reaches the access tokens
/// minted from the grant, without a second write on any of those paths.
const GRANT_IS_LIVE: &str = "SELECT 1 FROM grants g WHERE g.grant_id = ?1 AND g.revoked_at IS NULL
     AND NOT EXISTS (SELECT 1 FROM families f WHERE f.grant_id = g.grant_id AND f.revoked_at IS NOT NULL)";

#[async_trait]
impl GrantStore for SqliteStore {
    async fn insert_code(&self, code: &AuthCode, now: UnixTime) -> Result<()> {
        self.run(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached("INSERT INTO grants (grant_id, client_id, user_id, created_at, session_id) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![code.grant_id, code.client_id, code.user_id, now, code.session_id])?;
            tx.prepare_cached(
                "INSERT INTO codes (code_hash, grant_id, client_id, user_id, session_id, redirect_uri, code_challenge, scope, audience, nonce, auth_time, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                code.code_hash,
                code.grant_id,
                code.client_id,
                code.user_id,
                code.session_id,
                code.redirect_uri,
                code.code_challenge,
                code.scope,
                code.audience,
                code.nonce,
                code.auth_time,
                code.expires_at
            ])?;
            tx.commit()
        })
    }

    async fn redeem_code(&self, code_hash: &str, now: UnixTime) -> Result<Redemption> {
        self.run(|c| {
            let fresh = c
                .prepare_cached("UPDATE codes SET used_at = ?2 WHERE code_hash = ?1 AND used_at IS NULL RETURNING *")?
                .query_row(params![code_hash, now], code_from)
                .optional()?;
            if let Some(code) = fresh {
                return Ok(Redemption::Fresh(code));
            }
            let spent = c.prepare_cached("SELECT * FROM codes WHERE code_hash = ?1")?.query_row([code_hash], code_from).optional()?;
            Ok(spent.map_or(Redemption::NotFound, Redemption::Replayed))
        })
    }

    async fn revoke_grant(&self, grant_id: &str, now: UnixTime) -> Result<()> {
        self.cascade(
            &[
                "UPDATE grants SET revoked_at = ?2 WHERE grant_id = ?1 AND revoked_at IS NULL",
                "UPDATE families SET revoked_at = ?2 WHERE grant_id = ?1 AND revoked_at IS NULL",
            ],
            grant_id,
            now,
        )
        .await
        .map(drop)
    }

    async fn grant_is_live(&self, grant_id: &str) -> Result<bool> {
        self.run(|c| c.prepare_cached(GRANT_IS_LIVE)?.exists([grant_id]))
    }
}
