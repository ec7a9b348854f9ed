use super::*;

#[async_trait]
impl ClientStore for SqliteStore {
    async fn insert_client(&self, client: &Client, secret_hash: Option<&str>) -> Result<()> {
        self.run(|c| {
            c.prepare_cached("INSERT INTO clients (client_id, secret_hash, data) VALUES (?1, ?2, ?3)")?.execute(params![
                client.client_id,
                secret_hash,
                json(client)
            ])
        })
        .map(drop)
    }

    async fn update_client(&self, client: &Client) -> Result<bool> {
        self.run(|c| {
            c.prepare_cached("UPDATE clients SET data = ?2 WHERE client_id = ?1")?.execute(params![client.client_id, json(client)])
        })
        .map(|n| n == 1)
    }

    async fn client(&self, client_id: &str) -> Result<Option<StoredClient>> {
        self.run(|c| {
            c.prepare_cached("SELECT secret_hash, data FROM clients WHERE client_id = ?1")?
                .query_row([client_id], |r| Ok(StoredClient { secret_hash: r.get(0)?, client: from_json(&r.get::<_, String>(1)?)? }))
                .optional()
        })
    }

    async fn clients(&self) -> Result<Vec<Client>> {
        self.run(|c| {
            c.prepare_cached("SELECT data FROM clients ORDER BY client_id")?
                .query_map([], |r| from_json(&r.get::<_, String>(0)?))?
                .collect()
        })
    }

    async fn list_clients(&self, window: &Window) -> Result<(Vec<Client>, u64)> {
        self.run(|c| list_window(c, ("clients", "data", "client_id"), &[], window, |r| from_json(&r.get::<_, String>(0)?)))
    }

    async fn set_client_secret(&self, client_id: &str, secret_hash: &str) -> Result<bool> {
        self.run(|c| c.prepare_cached("UPDATE clients SET secret_hash = ?2 WHERE client_id = ?1")?.execute(params![client_id, secret_hash]))
            .map(|n| n == 1)
    }

    async fn delete_client(&self, client_id: &str, now: UnixTime) -> Result<bool> {
        let deleted = self
            .cascade(
                &[
                    "DELETE FROM client_grants WHERE client_id = ?1",
                    "UPDATE families SET revoked_at = ?2 WHERE client_id = ?1 AND revoked_at IS NULL",
                    "UPDATE grants SET revoked_at = ?2 WHERE client_id = ?1 AND revoked_at IS NULL",
                    "DELETE FROM codes WHERE client_id = ?1",
                    "DELETE FROM clients WHERE client_id = ?1",
                ],
                client_id,
                now,
            )
            .await?;
        Ok(deleted == 1)
    }
}
