use super::*;
use crate::catalog::Invalidation;

impl PostgresStore {
    async fn read_api(&self, identifier: &str) -> Result<Option<Api>> {
        let row = sqlx::query("SELECT data FROM apis WHERE identifier = $1")
            .bind(identifier)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| from_json(r.try_get::<&str, _>("data").map_err(map_err)?)).transpose()
    }

    /// Drops the cached API (by identifier or id) after a write through this handle, whatever its
    /// outcome; other nodes learn of it from the trigger's notification.
    fn forget_api<T>(&self, key: &str, written: Result<T>) -> Result<T> {
        self.catalog.cache.invalidate(&Invalidation::Api(key.to_string()));
        written
    }
}

#[async_trait]
impl ApiStore for PostgresStore {
    async fn insert_api(&self, api: &Api) -> Result<()> {
        sqlx::query("INSERT INTO apis (id, identifier, data) VALUES ($1, $2, $3)")
            .bind(&api.id)
            .bind(&api.identifier)
            .bind(json(api))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn api(&self, identifier: &str) -> Result<Option<Api>> {
        self.catalog.listen(&self.pool);
        let now = std::time::Instant::now();
        if let Some(hit) = self.catalog.cache.api(identifier, now) {
            return Ok(Some(hit));
        }
        let ticket = self.catalog.cache.ticket();
        let found = self.read_api(identifier).await?;
        if let Some(api) = &found {
            self.catalog.cache.put_api(ticket, api.clone(), now);
        }
        Ok(found)
    }

    async fn api_by_id(&self, id: &str) -> Result<Option<Api>> {
        let row = sqlx::query("SELECT data FROM apis WHERE id = $1").bind(id).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.map(|r| from_json(r.try_get::<&str, _>("data").map_err(map_err)?)).transpose()
    }

    async fn list_apis(&self, window: &Window) -> Result<(Vec<Api>, u64)> {
        list_window(&self.pool, ("apis", "data", "id"), &[], window, |r| from_json(r.try_get::<&str, _>("data").map_err(map_err)?)).await
    }

    async fn update_api(&self, api: &Api) -> Result<bool> {
        let r = sqlx::query("UPDATE apis SET data = $3 WHERE id = $1 AND identifier = $2")
            .bind(&api.id)
            .bind(&api.identifier)
            .bind(json(api))
            .execute(&self.pool)
            .await
            .map_err(map_err);
        Ok(self.forget_api(&api.identifier, r)?.rows_affected() == 1)
    }

    async fn delete_api(&self, id: &str, now: UnixTime) -> Result<bool> {
        let deleted = self
            .cascade(
                &[
                    "DELETE FROM client_grants WHERE audience = (SELECT identifier FROM apis WHERE id = $1)",
                    "UPDATE families SET revoked_at = $2 WHERE audience = (SELECT identifier FROM apis WHERE id = $1) AND revoked_at IS NULL",
                    "DELETE FROM apis WHERE id = $1",
                ],
                id,
                now,
            )
            .await;
        Ok(self.forget_api(id, deleted)? == 1)
    }
}
