use rusqlite::types::Value as SqlValue;

use super::*;

pub(super) fn event_from(r: &Row) -> rusqlite::Result<Event> {
    Ok(Event {
        at: r.get("at")?,
        kind: r.get("type")?,
        client_id: r.get("client_id")?,
        user_id: r.get("user_id")?,
        description: r.get("description")?,
        details: from_json(&r.get::<_, String>("details")?)?,
        ip: r.get("ip")?,
        user_agent: r.get("user_agent")?,
    })
}

fn logged_from(r: &Row) -> rusqlite::Result<Logged> {
    Ok(Logged { log_id: r.get::<_, i64>("id")?.to_string(), event: event_from(r)? })
}

fn sql_params(params: Vec<Param>) -> Vec<SqlValue> {
    params
        .into_iter()
        .map(|p| match p {
            Param::Text(s) => SqlValue::Text(s),
            Param::Int(i) => SqlValue::Integer(i),
        })
        .collect()
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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
                    "INSERT INTO events (at, type, client_id, user_id, description, details, ip, user_agent)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for e in &events {
                    insert.execute(params![
                        e.at,
                        e.kind,
                        e.client_id,
                        e.user_id,
                        e.description,
                        e.details.to_string(),
                        e.ip,
                        e.user_agent
                    ])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn logs(&self, q: &LogQuery) -> Result<Vec<Logged>> {
        let (clause, params) = q.filter.where_clause(q.after.map(|a| (a, q.order)), |n| format!("?{n}"));
        let mut params = sql_params(params);
        let n = params.len();
        params.push(SqlValue::Integer(i64::from(q.limit)));
        params.push(SqlValue::Integer(clamp(q.offset)));
        let sql = format!("SELECT * FROM events WHERE {clause} ORDER BY {} LIMIT ?{} OFFSET ?{}", q.order.sql(), n + 1, n + 2);
        self.run(|c| c.prepare_cached(&sql)?.query_map(rusqlite::params_from_iter(params), logged_from)?.collect())
    }

    async fn count_logs(&self, filter: &LogFilter) -> Result<u64> {
        let (clause, params) = filter.where_clause(None, |n| format!("?{n}"));
        let sql = format!("SELECT COUNT(*) FROM events WHERE {clause}");
        let n: i64 = self.run(|c| c.prepare_cached(&sql)?.query_row(rusqlite::params_from_iter(sql_params(params)), |r| r.get(0)))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn log(&self, log_id: &str) -> Result<Option<Logged>> {
        let Ok(id) = log_id.parse::<i64>() else { return Ok(None) };
        self.run(|c| c.prepare_cached("SELECT * FROM events WHERE id = ?1")?.query_row(params![id], logged_from).optional())
    }

    async fn count_event_users(&self, kind: &str, since: UnixTime) -> Result<u64> {
        let n: i64 = self.run(|c| {
            c.prepare_cached(
                "SELECT COUNT(DISTINCT e.user_id) FROM events e JOIN users u ON u.user_id = e.user_id
                 WHERE e.type = ?1 AND e.at >= ?2",
            )?
            .query_row(params![kind, since], |r| r.get(0))
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
