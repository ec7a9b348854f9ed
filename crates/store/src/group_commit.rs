//! Group commit of rotations: the parts both engines share, free of any database.
//!
//! Under load many refreshes arrive at once, and each used to pay for its own commit (SQLite: the
//! WAL append and lock round of an autocommit statement; PostgreSQL: a round trip and a WAL
//! flush). Databases amortise that cost by committing a group of transactions together; the
//! adapters do the same with rotations (issue 14): while one commit is in flight, the rotations
//! that arrive wait in a queue, and the next commit carries all of them. Each caller still
//! learns whether its own conditional update won, and gets only its own row. A caller that finds
//! nothing in flight commits alone, exactly as before (one autocommit statement): group commit
//! never costs the uncontended case anything. See `sqlite` (flat combining on the calling
//! thread) and `postgres` (one `UPDATE … FROM UNNEST` statement per batch) for each engine's way.
//!
//! Rotations with a DPoP proof (RFC 9449) never join a group: their write also spends the proof
//! in the replay cache, and a replayed proof must undo that rotation alone, not its neighbours'.
//! They take the single path (one statement or transaction of their own), as before.

use std::sync::atomic::{AtomicU64, Ordering};

use ratchet_core::UnixTime;
use ratchet_core::family::FamilyId;

use crate::{Rotation, Seen};

/// How rotations were committed since the store was opened: `commits` commits (transactions or
/// statements) carried `rotations` rotations, at most `largest` in one. Exported as metrics, and
/// how the contract suite proves that concurrent rotations were grouped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RotationBatches {
    pub commits: u64,
    pub rotations: u64,
    pub largest: u64,
}

/// The counters behind [`RotationBatches`].
#[derive(Debug, Default)]
pub(crate) struct BatchCounter {
    commits: AtomicU64,
    rotations: AtomicU64,
    largest: AtomicU64,
}

impl BatchCounter {
    /// Records one commit that carried `n` rotation attempts (won or lost).
    pub(crate) fn record(&self, n: usize) {
        let n = n as u64;
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.rotations.fetch_add(n, Ordering::Relaxed);
        self.largest.fetch_max(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> RotationBatches {
        RotationBatches {
            commits: self.commits.load(Ordering::Relaxed),
            rotations: self.rotations.load(Ordering::Relaxed),
            largest: self.largest.load(Ordering::Relaxed),
        }
    }
}

/// A [`Rotation`] without a DPoP proof, owned, so it can wait in a queue for another caller's
/// commit.
#[derive(Debug, Clone)]
pub(crate) struct QueuedRotation {
    pub id: FamilyId,
    pub client_id: String,
    pub from: u64,
    pub now: UnixTime,
    pub idle_expires_at: Option<UnixTime>,
    pub seen: Seen,
}

impl QueuedRotation {
    /// An owned copy of `r`; its proof (if any) is dropped: proofs never join a group.
    pub(crate) fn new(r: &Rotation<'_>) -> Self {
        debug_assert!(r.dpop.is_none(), "rotations with a DPoP proof take the single path");
        QueuedRotation {
            id: *r.id,
            client_id: r.client_id.to_string(),
            from: r.from,
            now: r.now,
            idle_expires_at: r.idle_expires_at,
            seen: r.seen.clone(),
        }
    }

    pub(crate) fn as_rotation(&self) -> Rotation<'_> {
        Rotation {
            id: &self.id,
            client_id: &self.client_id,
            from: self.from,
            now: self.now,
            idle_expires_at: self.idle_expires_at,
            seen: &self.seen,
            dpop: None,
        }
    }
}

/// Takes the next batch out of `queue`, in arrival order: at most `max` entries and at most one
/// per family (`family_of`). A second presentation of a family stays queued for the next batch,
/// so it is decided against the first one's committed outcome, exactly as if the two had come
/// one after the other: it loses if the first won, and can still win if the first lost (e.g. it
/// was a stale counter). One statement never has to decide between two updates of one row.
pub(crate) fn take_batch<T>(queue: &mut Vec<T>, max: usize, family_of: impl Fn(&T) -> FamilyId) -> Vec<T> {
    let mut batch: Vec<T> = Vec::with_capacity(queue.len().min(max));
    let mut rest = Vec::new();
    for item in queue.drain(..) {
        if batch.len() < max && !batch.iter().any(|b| family_of(b) == family_of(&item)) {
            batch.push(item);
        } else {
            rest.push(item);
        }
    }
    *queue = rest;
    batch
}

/// Puts the rows a batch statement returned back in request order: `rows` are `(position, row)`
/// with 0-based positions into a batch of `n`; a request without a row lost (`None`).
pub(crate) fn by_position<T>(n: usize, rows: Vec<(usize, T)>) -> Vec<Option<T>> {
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for (i, row) in rows {
        if let Some(slot) = out.get_mut(i) {
            *slot = Some(row);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_takes_one_presentation_per_family_and_leaves_the_rest_in_order() {
        let (a, b, c) = (FamilyId::random(), FamilyId::random(), FamilyId::random());
        let mut queue = vec![(a, 1), (b, 2), (a, 3), (c, 4), (a, 5), (b, 6)];
        let batch = take_batch(&mut queue, 10, |(f, _)| *f);
        assert_eq!(batch, [(a, 1), (b, 2), (c, 4)]);
        assert_eq!(queue, [(a, 3), (a, 5), (b, 6)], "the duplicates wait for the next batch, in arrival order");
        assert_eq!(take_batch(&mut queue, 10, |(f, _)| *f), [(a, 3), (b, 6)]);
        assert_eq!(take_batch(&mut queue, 10, |(f, _)| *f), [(a, 5)]);
        assert!(take_batch(&mut queue, 10, |(f, _)| *f).is_empty());
    }

    #[test]
    fn a_batch_is_bounded() {
        let mut queue: Vec<FamilyId> = (0..5).map(|_| FamilyId::random()).collect();
        let all = queue.clone();
        assert_eq!(take_batch(&mut queue, 3, |f| *f), all[..3]);
        assert_eq!(queue, all[3..]);
    }

    #[test]
    fn rows_go_back_to_their_requests_and_the_others_lost() {
        assert_eq!(by_position(4, vec![(2, "c"), (0, "a")]), [Some("a"), None, Some("c"), None]);
        assert_eq!(by_position(2, vec![(7, "x")]), [None, None], "a position outside the batch is ignored");
    }

    #[test]
    fn the_counter_reports_commits_rotations_and_the_largest_batch() {
        let c = BatchCounter::default();
        for n in [1, 3, 2] {
            c.record(n);
        }
        assert_eq!(c.snapshot(), RotationBatches { commits: 3, rotations: 6, largest: 3 });
    }
}
