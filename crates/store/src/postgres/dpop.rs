use super::*;

#[async_trait]
impl DpopReplayCache for PostgresStore {
    async fn use_dpop_proof(&self, replay_key: &str, expires_at: UnixTime) -> Result<bool> {
        let r = sqlx::query("INSERT INTO dpop_proofs (replay_key, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(replay_key)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }
}
