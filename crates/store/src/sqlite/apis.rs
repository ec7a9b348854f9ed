use super::*;
use crate::catalog::Invalidation;

#[async_trait]
impl ApiStore for SqliteStore {
    async fn insert_api(&self, api: &Api) -> Result<()> {
        self.run(|c| {
            c.prepare_cached("INSERT INTO apis (id, identifier, data) VALUES (?1, ?2, ?3)")?.execute(params![
                api.id,
                api.identifier,
                json(api)
            ])
        })
        .map(drop)
    }

    async fn api(&self, identifier: &str) -> Result<Option<Api>> {
        let cache = &self.db.catalog;
        self.run(|c| {
            let now = std::time::Instant::now();
            observe_other_connections(c, cache)?;
            if let Some(hit) = cache.api(identifier, now) {
                return Ok(Some(hit));
            }
            let ticket = cache.ticket();
            let found: Option<Api> = c
                .prepare_cached("SELECT data FROM apis WHERE identifier = ?1")?
                .query_row([identifier], |r| from_json(&r.get::<_, String>(0)?))
                .optional()?;
            if let Some(api) = &found {
                cache.put_api(ticket, api.clone(), now);
            }
            Ok(found)
        })
    }

    async fn api_by_id(&self, id: &str) -> Result<Option<Api>> {
        self.run(|c| {
            c.prepare_cached("SELECT data FROM apis WHERE id = ?1")?.query_row([id], |r| from_json(&r.get::<_, String>(0)?)).optional()
        })
    }

    async fn list_apis(&self, window: &Window) -> Result<(Vec<Api>, u64)> {
        self.run(|c| list_window(c, ("apis", "data", "id"), &[], window, |r| from_json(&r.get::<_, String>(0)?)))
    }

    async fn update_api(&self, api: &Api) -> Result<bool> {
        let updated = self.run(|c| {
            c.prepare_cached("UPDATE apis SET data = ?3 WHERE id = ?1 AND identifier = ?2")?.execute(params![
                api.id,
                api.identifier,
                json(api)
            ])
        });
        self.db.catalog.invalidate(&Invalidation::Api(api.identifier.clone()));
        updated.map(|n| n == 1)
    }

    async fn delete_api(&self, id: &str, now: UnixTime) -> Result<bool> {
        let deleted = self
            .cascade(
                &[
                    "DELETE FROM client_grants WHERE audience = (SELECT identifier FROM apis WHERE id = ?1)",
                    "UPDATE families SET revoked_at = ?2 WHERE audience = (SELECT identifier FROM apis WHERE id = ?1) AND revoked_at IS NULL",
                    "DELETE FROM apis WHERE id = ?1",
                ],
                id,
                now,
            )
            .await;
        self.db.catalog.invalidate(&Invalidation::Api(id.to_string()));
        Ok(deleted? == 1)
    }
}
