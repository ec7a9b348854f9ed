use super::*;

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
        self.run(|c| {
            c.prepare_cached("SELECT data FROM apis WHERE identifier = ?1")?
                .query_row([identifier], |r| from_json(&r.get::<_, String>(0)?))
                .optional()
        })
    }
}
