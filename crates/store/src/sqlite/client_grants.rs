use super::*;

const COLUMNS: &str = "id, client_id, audience, scope, created_at";

fn grant_from(r: &Row) -> rusqlite::Result<ClientGrant> {
    Ok(ClientGrant {
        id: r.get(0)?,
        client_id: r.get(1)?,
        audience: r.get(2)?,
        scope: r.get::<_, String>(3)?.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        created_at: r.get(4)?,
    })
}

#[async_trait]
impl ClientGrantStore for SqliteStore {
    async fn insert_client_grant(&self, g: &ClientGrant) -> Result<()> {
        self.run(|c| {
            c.prepare_cached("INSERT INTO client_grants (id, client_id, audience, scope, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![g.id, g.client_id, g.audience, g.scope.join(" "), g.created_at])
        })
        .map(drop)
    }

    async fn client_grant(&self, id: &str) -> Result<Option<ClientGrant>> {
        self.run(|c| {
            c.prepare_cached(&format!("SELECT {COLUMNS} FROM client_grants WHERE id = ?1"))?.query_row([id], grant_from).optional()
        })
    }

    async fn client_grant_for(&self, client_id: &str, audience: &str) -> Result<Option<ClientGrant>> {
        self.run(|c| {
            c.prepare_cached(&format!("SELECT {COLUMNS} FROM client_grants WHERE client_id = ?1 AND audience = ?2"))?
                .query_row([client_id, audience], grant_from)
                .optional()
        })
    }

    async fn list_client_grants(&self, filter: &ClientGrantFilter, window: &Window) -> Result<(Vec<ClientGrant>, u64)> {
        let mut conditions = Vec::new();
        if let Some(id) = &filter.client_id {
            conditions.push(("client_id", id.as_str()));
        }
        if let Some(a) = &filter.audience {
            conditions.push(("audience", a.as_str()));
        }
        self.run(|c| list_window(c, ("client_grants", COLUMNS, "id"), &conditions, window, grant_from))
    }

    async fn update_client_grant(&self, id: &str, scope: &[String]) -> Result<bool> {
        self.run(|c| c.prepare_cached("UPDATE client_grants SET scope = ?2 WHERE id = ?1")?.execute(params![id, scope.join(" ")]))
            .map(|n| n == 1)
    }

    async fn delete_client_grant(&self, id: &str) -> Result<bool> {
        self.run(|c| c.prepare_cached("DELETE FROM client_grants WHERE id = ?1")?.execute([id])).map(|n| n == 1)
    }
}
