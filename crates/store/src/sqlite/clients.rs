use super::*;
use crate::catalog::Invalidation;

impl SqliteStore {
    /// Drops the cached client after a write through this handle, whatever its outcome (the
    /// connection's own commits do not change its `data_version`).
    fn forget_client<T>(&self, client_id: &str, written: Result<T>) -> Result<T> {
        self.db.catalog.invalidate(&Invalidation::Client(client_id.to_string()));
        written
    }
}

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
        let updated = self.run(|c| {
            c.prepare_cached("UPDATE clients SET data = ?2 WHERE client_id = ?1")?.execute(params![client.client_id, json(client)])
        });
        self.forget_client(&client.client_id, updated).map(|n| n == 1)
    }

    async fn client(&self, client_id: &str) -> Result<Option<StoredClient>> {
        let cache = &self.db.catalog;
        self.run(|c| {
            let now = std::time::Instant::now();
            observe_other_connections(c, cache)?;
            if let Some(hit) = cache.client(client_id, now) {
                return Ok(Some(hit));
            }
            let ticket = cache.ticket();
            let found = c
                .prepare_cached("SELECT secret_hash, data FROM clients WHERE client_id = ?1")?
                .query_row([client_id], |r| Ok(StoredClient { secret_hash: r.get(0)?, client: from_json(&r.get::<_, String>(1)?)? }))
                .optional()?;
            if let Some(client) = &found {
                cache.put_client(ticket, client.clone(), now);
            }
            Ok(found)
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
        let updated = self.run(|c| {
            c.prepare_cached("UPDATE clients SET secret_hash = ?2 WHERE client_id = ?1")?.execute(params![client_id, secret_hash])
        });
        self.forget_client(client_id, updated).map(|n| n == 1)
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
            .await;
        Ok(self.forget_client(client_id, deleted)? == 1)
    }
}
