use ratchet_core::brute_force::{Counter, Reserved, Windows};

use super::*;
use crate::login_attempts::{CLEAR_ACCOUNT, CLEAR_PAIR, PAIRS, RELEASE, RESERVE, reserved_from, spell};

fn sql(s: &str) -> String {
    spell(s, |n| format!("?{n}"))
}

#[async_trait]
impl LoginAttemptStore for SqliteStore {
    async fn reserve_login_attempt(&self, account: &str, ip: &str, now: UnixTime, w: &Windows) -> Result<Reserved> {
        let rows = self.run(|c| {
            c.prepare_cached(&sql(RESERVE))?
                .query_map(params![account, ip, now, w.pair, w.ip, w.account], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<(String, i64, i64)>>>()
        })?;
        reserved_from(rows)
    }

    async fn login_succeeded(&self, account: &str, ip: &str, now: UnixTime) -> Result<()> {
        self.run(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(&sql(CLEAR_PAIR))?.execute(params![account, ip])?;
            tx.prepare_cached(&sql(RELEASE))?.execute(params![account, ip, now])?;
            tx.commit()
        })
    }

    async fn pair_counters(&self, account: &str, now: UnixTime) -> Result<Vec<(String, Counter)>> {
        self.run(|c| {
            c.prepare_cached(&sql(PAIRS))?
                .query_map(params![account, now], |r| {
                    Ok((r.get(0)?, Counter { attempts: u32::try_from(r.get::<_, i64>(1)?).unwrap_or(u32::MAX), expires_at: r.get(2)? }))
                })?
                .collect()
        })
    }

    async fn clear_login_attempts(&self, account: &str) -> Result<u64> {
        self.run(|c| c.prepare_cached(&sql(CLEAR_ACCOUNT))?.execute(params![account])).map(|n| n as u64)
    }
}
