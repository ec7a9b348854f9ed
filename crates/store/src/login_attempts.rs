//! Sign-in attempt counters for brute-force protection (`ratchet_core::brute_force`): in the
//! database, so every node of a deployment counts the same attempts and a restart forgets none.

use async_trait::async_trait;
use ratchet_core::UnixTime;
use ratchet_core::brute_force::{Counter, Reserved, Windows};

use crate::Result;

#[async_trait]
pub trait LoginAttemptStore: Send + Sync {
    /// Reserves one sign-in attempt for `account` (the identifier as typed, normalised) from
    /// `ip`, in ONE statement: the (account, IP), IP and account counters each go up by one (or
    /// start again at one when their window is over, with a new window of `windows`), and their
    /// new values are returned. Of N concurrent callers, each sees a different count.
    async fn reserve_login_attempt(&self, account: &str, ip: &str, now: UnixTime, windows: &Windows) -> Result<Reserved>;
    /// A successful sign-in: clears the (account, IP) counter and gives back the reservation on
    /// the IP and account counters.
    async fn login_succeeded(&self, account: &str, ip: &str, now: UnixTime) -> Result<()>;
    /// The (account, IP) counters of `account` whose window is not over at `now`, by IP.
    async fn pair_counters(&self, account: &str, now: UnixTime) -> Result<Vec<(String, Counter)>>;
    /// Deletes the (account, IP) and account counters of `account` (an administrator's unblock);
    /// returns how many there were.
    async fn clear_login_attempts(&self, account: &str) -> Result<u64>;
}

/// The reservation statement; `{n}` is replaced by each engine's n-th placeholder. Parameters:
/// account, ip, now, and the pair, IP and account windows. SET expressions read the row as it
/// was (SQL UPDATE semantics), so both CASEs test the old window.
pub(crate) const RESERVE: &str = "INSERT INTO login_attempts (kind, account, ip, attempts, expires_at)
     VALUES ('pair', {1}, {2}, 1, {3} + {4}), ('ip', '', {2}, 1, {3} + {5}), ('account', {1}, '', 1, {3} + {6})
     ON CONFLICT (kind, account, ip) DO UPDATE SET
       attempts = CASE WHEN login_attempts.expires_at <= {3} THEN 1 ELSE login_attempts.attempts + 1 END,
       expires_at = CASE WHEN login_attempts.expires_at <= {3} THEN excluded.expires_at ELSE login_attempts.expires_at END
     RETURNING kind, attempts, expires_at";

pub(crate) const CLEAR_PAIR: &str = "DELETE FROM login_attempts WHERE kind = 'pair' AND account = {1} AND ip = {2}";
pub(crate) const RELEASE: &str = "UPDATE login_attempts SET attempts = attempts - 1
     WHERE attempts > 0 AND expires_at > {3}
       AND ((kind = 'ip' AND account = '' AND ip = {2}) OR (kind = 'account' AND account = {1} AND ip = ''))";
pub(crate) const PAIRS: &str =
    "SELECT ip, attempts, expires_at FROM login_attempts WHERE account = {1} AND kind = 'pair' AND expires_at > {2} ORDER BY ip";
pub(crate) const CLEAR_ACCOUNT: &str = "DELETE FROM login_attempts WHERE account = {1} AND kind IN ('pair', 'account')";

/// `sql` with `{n}` spelled by `placeholder(n)`.
pub(crate) fn spell(sql: &str, placeholder: impl Fn(usize) -> String) -> String {
    (1..=6).fold(sql.to_string(), |s, n| s.replace(&format!("{{{n}}}"), &placeholder(n)))
}

/// The reservation's rows, by kind, as [`Reserved`].
pub(crate) fn reserved_from(rows: impl IntoIterator<Item = (String, i64, i64)>) -> Result<Reserved> {
    let mut r = Reserved::default();
    for (kind, attempts, expires_at) in rows {
        let c = Counter { attempts: u32::try_from(attempts).unwrap_or(u32::MAX), expires_at };
        match kind.as_str() {
            "pair" => r.pair = c,
            "ip" => r.ip = c,
            "account" => r.account = c,
            other => return Err(crate::StoreError::Other(format!("corrupt login attempt kind {other}"))),
        }
    }
    Ok(r)
}
