use ratchet_core::brute_force::{Counter, Reserved, Windows};

use super::*;
use crate::login_attempts::{CLEAR_ACCOUNT, CLEAR_PAIR, PAIRS, RELEASE, RESERVE, reserved_from, spell};

fn sql(s: &str) -> String {
    spell(s, |n| format!("${n}"))
}

#[async_trait]
impl LoginAttemptStore for PostgresStore {
    async fn reserve_login_attempt(&self, account: &str, ip: &str, now: UnixTime, w: &Windows) -> Result<Reserved> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql(RESERVE)))
            .bind(account)
            .bind(ip)
            .bind(now)
            .bind(w.pair)
            .bind(w.ip)
            .bind(w.account)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        reserved_from(rows)
    }

    async fn login_succeeded(&self, account: &str, ip: &str, now: UnixTime) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(sqlx::AssertSqlSafe(sql(CLEAR_PAIR))).bind(account).bind(ip).execute(&mut *tx).await.map_err(map_err)?;
        sqlx::query(sqlx::AssertSqlSafe(sql(RELEASE))).bind(account).bind(ip).bind(now).execute(&mut *tx).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn pair_counters(&self, account: &str, now: UnixTime) -> Result<Vec<(String, Counter)>> {
        let rows: Vec<(String, i64, i64)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql(PAIRS))).bind(account).bind(now).fetch_all(&self.pool).await.map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|(ip, attempts, expires_at)| (ip, Counter { attempts: u32::try_from(attempts).unwrap_or(u32::MAX), expires_at }))
            .collect())
    }

    async fn clear_login_attempts(&self, account: &str) -> Result<u64> {
        let r = sqlx::query(sqlx::AssertSqlSafe(sql(CLEAR_ACCOUNT))).bind(account).execute(&self.pool).await.map_err(map_err)?;
        Ok(r.rows_affected())
    }
}
