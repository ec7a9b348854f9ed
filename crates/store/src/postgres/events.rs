use sqlx::postgres::PgRow;

use super::*;

fn logged_from(r: &PgRow) -> Result<Logged> {
    Ok(Logged {
        log_id: r.try_get::<i64, _>("id").map_err(map_err)?.to_string(),
        event: Event {
            at: r.try_get("at").map_err(map_err)?,
            kind: r.try_get("type").map_err(map_err)?,
            client_id: r.try_get("client_id").map_err(map_err)?,
            user_id: r.try_get("user_id").map_err(map_err)?,
            description: r.try_get("description").map_err(map_err)?,
            details: from_json(r.try_get::<&str, _>("details").map_err(map_err)?)?,
            ip: r.try_get("ip").map_err(map_err)?,
            user_agent: r.try_get("user_agent").map_err(map_err)?,
        },
    })
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    params: Vec<Param>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    for p in params {
        query = match p {
            Param::Text(s) => query.bind(s),
            Param::Int(i) => query.bind(i),
        };
    }
    query
}

// The statements below are built at run time only from fixed fragments and placeholder numbers
// (`LogFilter::where_clause`); every value is bound, hence `AssertSqlSafe`.

#[async_trait]
impl EventStore for PostgresStore {
    async fn record(&self, e: &Event) -> Result<()> {
        self.record_many(std::slice::from_ref(e)).await
    }

    async fn record_many(&self, events: &[Event]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        for e in events {
            sqlx::query(
                "INSERT INTO events (at, type, client_id, user_id, description, details, ip, user_agent)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(e.at)
            .bind(&e.kind)
            .bind(&e.client_id)
            .bind(&e.user_id)
            .bind(&e.description)
            .bind(e.details.to_string())
            .bind(&e.ip)
            .bind(&e.user_agent)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn logs(&self, q: &LogQuery) -> Result<Vec<Logged>> {
        let (clause, params) = q.filter.where_clause(q.after.map(|a| (a, q.order)), |n| format!("${n}"));
        let n = params.len();
        let sql = format!("SELECT * FROM events WHERE {clause} ORDER BY {} LIMIT ${} OFFSET ${}", q.order.sql(), n + 1, n + 2);
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), params)
            .bind(i64::from(q.limit))
            .bind(i64::try_from(q.offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(logged_from).collect()
    }

    async fn count_logs(&self, filter: &LogFilter) -> Result<u64> {
        let (clause, params) = filter.where_clause(None, |n| format!("${n}"));
        let sql = format!("SELECT COUNT(*) FROM events WHERE {clause}");
        let n: i64 = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), params)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?
            .try_get(0)
            .map_err(map_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn log(&self, log_id: &str) -> Result<Option<Logged>> {
        let Ok(id) = log_id.parse::<i64>() else { return Ok(None) };
        let row = sqlx::query("SELECT * FROM events WHERE id = $1").bind(id).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(logged_from).transpose()
    }

    async fn count_event_users(&self, kind: &str, since: UnixTime) -> Result<u64> {
        let n: i64 = sqlx::query(
            "SELECT COUNT(DISTINCT e.user_id) FROM events e JOIN users u ON u.user_id = e.user_id
             WHERE e.type = $1 AND e.at >= $2",
        )
        .bind(kind)
        .bind(since)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?
        .try_get(0)
        .map_err(map_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
