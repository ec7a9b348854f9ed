use super::*;

pub(super) fn event_from(r: &Row) -> rusqlite::Result<Event> {
    Ok(Event {
        at: r.get("at")?,
        kind: r.get("type")?,
        client_id: r.get("client_id")?,
        user_id: r.get("user_id")?,
        description: r.get("description")?,
        details: from_json(&r.get::<_, String>("details")?)?,
    })
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn record(&self, e: &Event) -> Result<()> {
        self.record_many(std::slice::from_ref(e)).await
    }

    async fn record_many(&self, events: &[Event]) -> Result<()> {
        let events = events.to_vec();
        self.run_in_background(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO events (at, type, client_id, user_id, description, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for e in &events {
                    insert.execute(params![e.at, e.kind, e.client_id, e.user_id, e.description, e.details.to_string()])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn events(&self, q: &EventQuery) -> Result<Vec<Event>> {
        let limit = if q.limit == 0 { 100 } else { q.limit };
        self.run(|c| {
            c.prepare_cached(
                "SELECT * FROM events WHERE (?1 IS NULL OR type = ?1) AND (?2 IS NULL OR user_id = ?2) ORDER BY id DESC LIMIT ?3",
            )?
            .query_map(params![q.kind, q.user_id, limit], event_from)?
            .collect()
        })
    }
}
