use super::*;

#[async_trait]
impl EventStore for PostgresStore {
    async fn record(&self, e: &Event) -> Result<()> {
        self.record_many(std::slice::from_ref(e)).await
    }

    async fn record_many(&self, events: &[Event]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        for e in events {
            sqlx::query("INSERT INTO events (at, type, client_id, user_id, description, details) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(e.at)
                .bind(&e.kind)
                .bind(&e.client_id)
                .bind(&e.user_id)
                .bind(&e.description)
                .bind(e.details.to_string())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn events(&self, q: &EventQuery) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT * FROM events
             WHERE ($1::text IS NULL OR type = $1::text) AND ($2::text IS NULL OR user_id = $2::text)
             ORDER BY id DESC LIMIT $3",
        )
        .bind(&q.kind)
        .bind(&q.user_id)
        .bind(i64::from(if q.limit == 0 { 100 } else { q.limit }))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(Event {
                    at: r.try_get("at").map_err(map_err)?,
                    kind: r.try_get("type").map_err(map_err)?,
                    client_id: r.try_get("client_id").map_err(map_err)?,
                    user_id: r.try_get("user_id").map_err(map_err)?,
                    description: r.try_get("description").map_err(map_err)?,
                    details: from_json(r.try_get::<&str, _>("details").map_err(map_err)?)?,
                })
            })
            .collect()
    }
}
