use super::*;

#[async_trait]
impl DpopReplayCache for SqliteStore {
    async fn use_dpop_proof(&self, replay_key: &str, expires_at: UnixTime) -> Result<bool> {
        self.run(|c| {
            c.prepare_cached("INSERT INTO dpop_proofs (replay_key, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
                .execute(params![replay_key, expires_at])
        })
        .map(|n| n == 1)
    }
}
