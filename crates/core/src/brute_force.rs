//! Brute-force protection for password sign-in (Auth0's "brute-force protection" and
//! "suspicious IP throttling", docs/security.md): three counters per attempt, kept in the store so
//! every node sees the same ones.
//!
//! - **(account, IP)**: at most [`Policy::pair_max`] attempts per window. Only this counter locks
//!   anyone out, and only the one address that failed: the correct password from another address
//!   is never refused because of someone else's failures.
//! - **IP**: at most [`Policy::ip_max`] attempts per window across every account (one address
//!   guessing many accounts).
//! - **account**: attempts from everywhere. It never refuses; it slows checks down a little
//!   ([`slowdown`]), which costs an attacker spread over many addresses time and costs the real
//!   user at most a couple of seconds.
//!
//! An attempt is *reserved* (every counter incremented, atomically, in the store) before the
//! password is checked, and [`assess`] decides on the counts that reservation returned. So N
//! parallel guesses see N distinct counts and at most the limit of them are checked. A success
//! clears its (account, IP) counter and gives back its reservation on the other two.

use std::time::Duration;

use crate::UnixTime;

/// Windows (seconds) of the three counters. Windows are fixed: they start at the first attempt
/// counted and a counter starts again from zero once its window is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub pair: i64,
    pub ip: i64,
    pub account: i64,
}

/// The limits of brute-force protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Attempts per (account, IP) per window: Auth0's default, 10.
    pub pair_max: u32,
    /// Attempts per IP per window, across accounts.
    pub ip_max: u32,
    pub windows: Windows,
}

/// Auth0's default of 10 per (account, IP) (here per 15 minutes), 100 per IP per hour.
pub const DEFAULT_POLICY: Policy = Policy { pair_max: 10, ip_max: 100, windows: Windows { pair: 15 * 60, ip: 3600, account: 3600 } };

/// A counter as the reservation left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counter {
    /// Attempts counted in the current window, this one included.
    pub attempts: u32,
    /// When the current window ends.
    pub expires_at: UnixTime,
}

/// The three counters after reserving one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reserved {
    pub pair: Counter,
    pub ip: Counter,
    pub account: Counter,
}

/// Which limit refused an attempt (Auth0's log event types `limit_wc` and `limit_mu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// Too many attempts for this account from this address.
    AccountFromIp,
    /// Too many attempts from this address, across accounts.
    Ip,
}

/// What to do with a reserved attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password after waiting `delay`.
    Check { delay: Duration },
    /// Refuse without checking; the client may retry after `retry_after` seconds. `first` is
    /// true for the attempt that crossed the limit (the one to log: a block is logged once).
    Refuse { block: Block, retry_after: u64, first: bool },
}

/// Decides on a reserved attempt (see the module documentation).
pub fn assess(policy: &Policy, r: &Reserved, now: UnixTime) -> Verdict {
    let retry = |c: &Counter| (c.expires_at - now).max(1) as u64;
    if r.pair.attempts > policy.pair_max {
        return Verdict::Refuse { block: Block::AccountFromIp, retry_after: retry(&r.pair), first: r.pair.attempts == policy.pair_max + 1 };
    }
    if r.ip.attempts > policy.ip_max {
        return Verdict::Refuse { block: Block::Ip, retry_after: retry(&r.ip), first: r.ip.attempts == policy.ip_max + 1 };
    }
    Verdict::Check { delay: slowdown(policy, r.account.attempts) }
}

/// Longest added delay, whatever the pressure on an account.
pub const MAX_SLOWDOWN: Duration = Duration::from_secs(2);

/// The delay before checking a password for an account with `attempts` in its window, from
/// everywhere: none up to the pair limit (a user mistyping never waits), then 100 ms more for
/// every further `pair_max` attempts, at most [`MAX_SLOWDOWN`].
pub fn slowdown(policy: &Policy, attempts: u32) -> Duration {
    let over = attempts.saturating_sub(policy.pair_max);
    if over == 0 {
        return Duration::ZERO;
    }
    let steps = over.div_ceil(policy.pair_max.max(1));
    Duration::from_millis(100 * u64::from(steps)).min(MAX_SLOWDOWN)
}

/// Whether an (account, IP) counter is a block: its next attempt would be refused.
pub fn is_blocked(policy: &Policy, pair: &Counter, now: UnixTime) -> bool {
    pair.attempts >= policy.pair_max && now < pair.expires_at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(attempts: u32) -> Counter {
        Counter { attempts, expires_at: 1_000 }
    }

    fn reserved(pair: u32, ip: u32, account: u32) -> Reserved {
        Reserved { pair: counter(pair), ip: counter(ip), account: counter(account) }
    }

    #[test]
    fn the_attempt_past_the_pair_limit_is_refused_and_logged_once() {
        let p = DEFAULT_POLICY;
        assert!(matches!(assess(&p, &reserved(10, 10, 10), 900), Verdict::Check { .. }));
        assert_eq!(assess(&p, &reserved(11, 11, 11), 900), Verdict::Refuse { block: Block::AccountFromIp, retry_after: 100, first: true });
        assert!(matches!(assess(&p, &reserved(12, 12, 12), 900), Verdict::Refuse { first: false, .. }));
    }

    #[test]
    fn the_ip_limit_refuses_across_accounts() {
        let p = DEFAULT_POLICY;
        assert_eq!(assess(&p, &reserved(1, 101, 1), 999), Verdict::Refuse { block: Block::Ip, retry_after: 1, first: true });
    }

    #[test]
    fn account_wide_pressure_only_slows_down() {
        let p = DEFAULT_POLICY;
        assert_eq!(assess(&p, &reserved(1, 1, 10), 0), Verdict::Check { delay: Duration::ZERO });
        assert_eq!(assess(&p, &reserved(1, 1, 11), 0), Verdict::Check { delay: Duration::from_millis(100) });
        assert_eq!(assess(&p, &reserved(1, 1, 30), 0), Verdict::Check { delay: Duration::from_millis(200) });
        assert_eq!(assess(&p, &reserved(1, 1, u32::MAX), 0), Verdict::Check { delay: MAX_SLOWDOWN });
    }

    #[test]
    fn a_pair_is_blocked_at_the_limit_until_its_window_ends() {
        let p = DEFAULT_POLICY;
        assert!(!is_blocked(&p, &counter(9), 0));
        assert!(is_blocked(&p, &counter(10), 999));
        assert!(!is_blocked(&p, &counter(10), 1_000));
    }
}
