use super::*;

const COLUMNS: &str = "id, client_id, audience, scope, created_at";

fn grant_from(r: &PgRow) -> Result<ClientGrant> {
    let scope: String = r.try_get("scope").map_err(map_err)?;
    Ok(ClientGrant {
        id: r.try_get("id").map_err(map_err)?,
        client_id: r.try_get("client_id").map_err(map_err)?,
        audience: r.try_get("audience").map_err(map_err)?,
        scope: scope.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        created_at: r.try_get("created_at").map_err(map_err)?,
    })
}

#[async_trait]
impl ClientGrantStore for PostgresStore {
    async fn insert_client_grant(&self, g: &ClientGrant) -> Result<()> {
        sqlx::query("INSERT INTO client_grants (id, client_id, audience, scope, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&g.id)
            .bind(&g.client_id)
            .bind(&g.audience)
            .bind(g.scope.join(" "))
            .bind(g.created_at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn client_grant(&self, id: &str) -> Result<Option<ClientGrant>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM client_grants WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(grant_from).transpose()
    }

    async fn client_grant_for(&self, client_id: &str, audience: &str) -> Result<Option<ClientGrant>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM client_grants WHERE client_id = $1 AND audience = $2")))
            .bind(client_id)
            .bind(audience)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(grant_from).transpose()
    }

    async fn list_client_grants(&self, filter: &ClientGrantFilter, window: &Window) -> Result<(Vec<ClientGrant>, u64)> {
        let mut conditions = Vec::new();
        if let Some(id) = &filter.client_id {
            conditions.push(("client_id", id.as_str()));
        }
        if let Some(a) = &filter.audience {
            conditions.push(("audience", a.as_str()));
        }
        list_window(&self.pool, ("client_grants", COLUMNS, "id"), &conditions, window, grant_from).await
    }

    async fn update_client_grant(&self, id: &str, scope: &[String]) -> Result<bool> {
        let r = sqlx::query("UPDATE client_grants SET scope = $2 WHERE id = $1")
            .bind(id)
            .bind(scope.join(" "))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_client_grant(&self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM client_grants WHERE id = $1").bind(id).execute(&self.pool).await.map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }
}
