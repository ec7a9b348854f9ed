use super::*;

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
        let row = sqlx::query("SELECT data FROM apis WHERE identifier = $1")
            .bind(identifier)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| from_json(r.try_get::<&str, _>("data").map_err(map_err)?)).transpose()
    }
}
