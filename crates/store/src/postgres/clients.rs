use super::*;
use crate::catalog::Invalidation;

impl PostgresStore {
    async fn read_client(&self, client_id: &str) -> Result<Option<StoredClient>> {
        let row = sqlx::query("SELECT secret_hash, data FROM clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| {
            Ok(StoredClient {
                client: from_json(r.try_get::<&str, _>("data").map_err(map_err)?)?,
                secret_hash: r.try_get("secret_hash").map_err(map_err)?,
            })
        })
        .transpose()
    }

    /// Drops the cached client after a write through this handle, whatever its outcome (a failed
    /// commit may still have happened); other nodes learn of it from the trigger's notification.
    fn forget_client<T>(&self, client_id: &str, written: Result<T>) -> Result<T> {
        self.catalog.cache.invalidate(&Invalidation::Client(client_id.to_string()));
        written
    }
}

#[async_trait]
impl ClientStore for PostgresStore {
    async fn insert_client(&self, client: &Client, secret_hash: Option<&str>) -> Result<()> {
        sqlx::query("INSERT INTO clients (client_id, secret_hash, data) VALUES ($1, $2, $3)")
            .bind(&client.client_id)
            .bind(secret_hash)
            .bind(json(client))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn update_client(&self, client: &Client) -> Result<bool> {
        let r = sqlx::query("UPDATE clients SET data = $2 WHERE client_id = $1")
            .bind(&client.client_id)
            .bind(json(client))
            .execute(&self.pool)
            .await
            .map_err(map_err);
        Ok(self.forget_client(&client.client_id, r)?.rows_affected() == 1)
    }

    async fn client(&self, client_id: &str) -> Result<Option<StoredClient>> {
        self.catalog.listen(&self.pool);
        let now = std::time::Instant::now();
        if let Some(hit) = self.catalog.cache.client(client_id, now) {
            return Ok(Some(hit));
        }
        let ticket = self.catalog.cache.ticket();
        let found = self.read_client(client_id).await?;
        if let Some(c) = &found {
            self.catalog.cache.put_client(ticket, c.clone(), now);
        }
        Ok(found)
    }

    async fn clients(&self) -> Result<Vec<Client>> {
        // COLLATE "C": byte order, as SQLite sorts, whatever the database's default collation.
        let rows = sqlx::query("SELECT data FROM clients ORDER BY client_id COLLATE \"C\"").fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(|r| from_json(r.try_get::<&str, _>("data").map_err(map_err)?)).collect()
    }

    async fn list_clients(&self, window: &Window) -> Result<(Vec<Client>, u64)> {
        list_window(&self.pool, ("clients", "data", "client_id"), &[], window, |r| {
            from_json(r.try_get::<&str, _>("data").map_err(map_err)?)
        })
        .await
    }

    async fn set_client_secret(&self, client_id: &str, secret_hash: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE clients SET secret_hash = $2 WHERE client_id = $1")
            .bind(client_id)
            .bind(secret_hash)
            .execute(&self.pool)
            .await
            .map_err(map_err);
        Ok(self.forget_client(client_id, r)?.rows_affected() == 1)
    }

    async fn delete_client(&self, client_id: &str, now: UnixTime) -> Result<bool> {
        let deleted = self
            .cascade(
                &[
                    "DELETE FROM client_grants WHERE client_id = $1",
                    "UPDATE families SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
                    "UPDATE grants SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
                    "DELETE FROM codes WHERE client_id = $1",
                    "DELETE FROM clients WHERE client_id = $1",
                ],
                client_id,
                now,
            )
            .await;
        Ok(self.forget_client(client_id, deleted)? == 1)
    }
}
