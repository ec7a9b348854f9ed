use tokio::sync::oneshot;

use super::*;
use crate::group_commit::{QueuedRotation, by_position, take_batch};

pub(super) fn family_from(r: &PgRow) -> Result<Family> {
    let id: String = r.try_get("family_id").map_err(map_err)?;
    let counter: i64 = r.try_get("counter").map_err(map_err)?;
    Ok(Family {
        id: FamilyId::parse(&id).ok_or_else(|| StoreError::Other("corrupt family id".into()))?,
        grant_id: r.try_get("grant_id").map_err(map_err)?,
        client_id: r.try_get("client_id").map_err(map_err)?,
        user_id: r.try_get("user_id").map_err(map_err)?,
        session_id: r.try_get("session_id").map_err(map_err)?,
        audience: r.try_get("audience").map_err(map_err)?,
        scope: r.try_get("scope").map_err(map_err)?,
        rotating: r.try_get("rotating").map_err(map_err)?,
        counter: u64::try_from(counter).map_err(|_| StoreError::Other("corrupt family counter".into()))?,
        created_at: r.try_get("created_at").map_err(map_err)?,
        expires_at: r.try_get("expires_at").map_err(map_err)?,
        idle_expires_at: r.try_get("idle_expires_at").map_err(map_err)?,
        rotated_at: r.try_get("rotated_at").map_err(map_err)?,
        revoked_at: r.try_get("revoked_at").map_err(map_err)?,
        auth_time: r.try_get("auth_time").map_err(map_err)?,
        jkt: r.try_get("jkt").map_err(map_err)?,
    })
}

fn record_from(r: &PgRow) -> Result<FamilyRecord> {
    Ok(FamilyRecord {
        family: family_from(r)?,
        initial: Seen { ip: r.try_get("initial_ip").map_err(map_err)?, user_agent: r.try_get("initial_user_agent").map_err(map_err)? },
        last: Seen { ip: r.try_get("last_ip").map_err(map_err)?, user_agent: r.try_get("last_user_agent").map_err(map_err)? },
        last_exchanged_at: r.try_get("last_exchanged_at").map_err(map_err)?,
    })
}

#[async_trait]
impl FamilyStore for PostgresStore {
    async fn insert_family(&self, f: &Family, seen: &Seen) -> Result<()> {
        sqlx::query(
            "INSERT INTO families (family_id, grant_id, client_id, user_id, session_id, audience,
                                   scope, rotating, counter, created_at, expires_at,
                                   idle_expires_at, rotated_at, revoked_at, auth_time,
                                   initial_ip, initial_user_agent, last_ip, last_user_agent, jkt)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $16, $17, $18)",
        )
        .bind(f.id.to_string())
        .bind(&f.grant_id)
        .bind(&f.client_id)
        .bind(&f.user_id)
        .bind(&f.session_id)
        .bind(&f.audience)
        .bind(&f.scope)
        .bind(f.rotating)
        .bind(counter_param(f.counter)?)
        .bind(f.created_at)
        .bind(f.expires_at)
        .bind(f.idle_expires_at)
        .bind(f.rotated_at)
        .bind(f.revoked_at)
        .bind(f.auth_time)
        .bind(&seen.ip)
        .bind(&seen.user_agent)
        .bind(&f.jkt)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn import_families(&self, families: &[Family]) -> Result<()> {
        // One statement per call: each column travels as one array, unnested into rows.
        let text = |f: fn(&Family) -> Option<String>| families.iter().map(f).collect::<Vec<_>>();
        let time = |f: fn(&Family) -> Option<i64>| families.iter().map(f).collect::<Vec<_>>();
        let counters = families.iter().map(|f| counter_param(f.counter)).collect::<Result<Vec<_>>>()?;
        sqlx::query(
            "INSERT INTO families (family_id, grant_id, client_id, user_id, session_id, audience, scope, rotating, counter,
                                   created_at, expires_at, idle_expires_at, rotated_at, revoked_at, auth_time, jkt)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bool[],
                                  $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::text[])",
        )
        .bind(text(|f| Some(f.id.to_string())))
        .bind(text(|f| Some(f.grant_id.clone())))
        .bind(text(|f| Some(f.client_id.clone())))
        .bind(text(|f| Some(f.user_id.clone())))
        .bind(text(|f| f.session_id.clone()))
        .bind(text(|f| f.audience.clone()))
        .bind(text(|f| Some(f.scope.clone())))
        .bind(families.iter().map(|f| f.rotating).collect::<Vec<_>>())
        .bind(counters)
        .bind(time(|f| Some(f.created_at)))
        .bind(time(|f| f.expires_at))
        .bind(time(|f| f.idle_expires_at))
        .bind(time(|f| Some(f.rotated_at)))
        .bind(time(|f| f.revoked_at))
        .bind(time(|f| Some(f.auth_time)))
        .bind(text(|f| f.jkt.clone()))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn family(&self, id: &FamilyId) -> Result<Option<Family>> {
        let row = sqlx::query("SELECT * FROM families WHERE family_id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(family_from).transpose()
    }

    async fn rotate(&self, rot: &Rotation<'_>) -> Result<Option<Rotated>> {
        if rot.dpop.is_some() {
            // Never grouped (see `crate::group_commit`): its own statement, as before.
            return self.rotate_alone(rot).await;
        }
        let waiting = {
            let mut q = lock(&self.rotations);
            if q.leading {
                let (reply, outcome) = oneshot::channel();
                q.waiting.push(Waiting { rotation: QueuedRotation::new(rot), reply });
                Some(outcome)
            } else {
                q.leading = true;
                None
            }
        };
        match waiting {
            // A statement is in flight: the next one carries this rotation.
            Some(outcome) => outcome.await.unwrap_or_else(|_| Err(StoreError::Other("the rotation writer stopped".into()))),
            // Nothing in flight: this caller's statement goes now, alone, as it always did; what
            // queues meanwhile is handed to a leader task when it is done (or dropped).
            None => {
                let _handover = Handover(self);
                self.rotate_alone(rot).await
            }
        }
    }

    fn rotation_batches(&self) -> RotationBatches {
        self.rotation_batches.snapshot()
    }

    async fn touch_family(&self, id: &FamilyId, now: UnixTime, idle_expires_at: Option<UnixTime>, seen: &Seen) -> Result<()> {
        sqlx::query(
            "UPDATE families SET idle_expires_at = $2, last_exchanged_at = $3, last_ip = $4, last_user_agent = $5
             WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .bind(id.to_string())
        .bind(idle_expires_at)
        .bind(now)
        .bind(&seen.ip)
        .bind(&seen.user_agent)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn revoke_family(&self, id: &FamilyId, now: UnixTime) -> Result<bool> {
        let r = sqlx::query("UPDATE families SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn revoke_families(&self, f: &FamilyFilter, now: UnixTime) -> Result<u64> {
        if f.is_empty() {
            return Err(StoreError::Other(EMPTY_FAMILY_FILTER.into()));
        }
        // Each condition is skipped when its parameter is NULL, so one statement serves all
        // filters. The casts type the NULLs; `IS NOT DISTINCT FROM` is SQLite's `IS`.
        let (aud_given, aud) = match &f.audience {
            Some(a) => (true, a.clone()),
            None => (false, None),
        };
        let r = sqlx::query(
            "UPDATE families SET revoked_at = $1 WHERE revoked_at IS NULL
               AND ($2::text IS NULL OR user_id = $2::text)
               AND ($3::text IS NULL OR client_id = $3::text)
               AND ($4::text IS NULL OR session_id = $4::text)
               AND ($5::text IS NULL OR grant_id = $5::text)
               AND (NOT $6::boolean OR audience IS NOT DISTINCT FROM $7::text)
               AND ($8::boolean IS NULL OR rotating = $8::boolean)",
        )
        .bind(now)
        .bind(&f.user_id)
        .bind(&f.client_id)
        .bind(&f.session_id)
        .bind(&f.grant_id)
        .bind(aud_given)
        .bind(aud)
        .bind(f.rotating)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn evict_families(&self, user_id: &str, client_id: &str, keep: u32, spare: Option<&FamilyId>, now: UnixTime) -> Result<u64> {
        let offset = if spare.is_some() { keep.saturating_sub(1) } else { keep };
        // The outer `revoked_at IS NULL` keeps the first revocation time of a family that a
        // concurrent statement revoked after this one took its snapshot.
        let r = sqlx::query(
            "UPDATE families SET revoked_at = $4 WHERE revoked_at IS NULL AND family_id IN (
               SELECT family_id FROM families
               WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL AND family_id <> $5
                 AND (expires_at IS NULL OR expires_at > $4)
                 AND (idle_expires_at IS NULL OR idle_expires_at > $4)
               ORDER BY created_at DESC, family_id COLLATE \"C\" DESC OFFSET $3)",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(i64::from(offset))
        .bind(now)
        .bind(spare.map(|f| f.to_string()).unwrap_or_default())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn revoke_family_ids(&self, ids: &[FamilyId], now: UnixTime) -> Result<Vec<Family>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        let rows = sqlx::query("UPDATE families SET revoked_at = $2 WHERE family_id = ANY($1::text[]) AND revoked_at IS NULL RETURNING *")
            .bind(&ids)
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(family_from).collect()
    }

    async fn family_record(&self, id: &FamilyId) -> Result<Option<FamilyRecord>> {
        let row = sqlx::query("SELECT * FROM families WHERE family_id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(record_from).transpose()
    }

    async fn families_of(&self, user_id: &str, after: Option<&FamilyId>, now: UnixTime, limit: u32) -> Result<Vec<FamilyRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM families WHERE user_id = $1 AND family_id > $2 AND revoked_at IS NULL
               AND (expires_at IS NULL OR expires_at > $3) AND (idle_expires_at IS NULL OR idle_expires_at > $3)
             ORDER BY family_id LIMIT $4",
        )
        .bind(user_id)
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(record_from).collect()
    }

    async fn count_live_families(&self, now: UnixTime) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM families WHERE revoked_at IS NULL
               AND (expires_at IS NULL OR expires_at > $1) AND (idle_expires_at IS NULL OR idle_expires_at > $1)",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Selects a rotated family `r` with its user's columns as `user_*` and its API's as `api_data`
/// (the end of the batch statement; the single one spells it out, to stay a literal).
const WITH_USER_AND_API: &str = "SELECT r.*, u.user_id AS user_user_id, u.email AS user_email, u.name AS user_name,
       u.password_hash AS user_password_hash, u.blocked AS user_blocked, u.admin AS user_admin, u.created_at AS user_created_at,
       u.email_verified AS user_email_verified, u.user_metadata AS user_user_metadata,
       u.app_metadata AS user_app_metadata, u.updated_at AS user_updated_at, u.last_login AS user_last_login,
       u.last_ip AS user_last_ip, u.logins_count AS user_logins_count, a.data AS api_data
FROM r LEFT JOIN users u ON u.user_id = r.user_id LEFT JOIN apis a ON a.identifier = r.audience";

/// Most rotations one statement carries.
const MAX_BATCH: usize = 256;

fn rotated_from(r: &PgRow) -> Result<Rotated> {
    let family = family_from(r)?;
    // The user's columns come back as `user_*` (all NULL when the user is gone).
    let user = match r.try_get::<Option<String>, _>("user_user_id").map_err(map_err)? {
        Some(_) => Some(super::users::user_with_prefix(r, "user_")?),
        None => None,
    };
    let api = r.try_get::<Option<&str>, _>("api_data").map_err(map_err)?.map(from_json).transpose()?;
    Ok(Rotated { family, user, api })
}

/// Group commit on PostgreSQL: at most one rotation statement per node is in flight; the
/// rotations that arrive meanwhile wait here, and the next statement carries them all (one round
/// trip and one WAL flush for the group). See [`crate::group_commit`].
#[derive(Default)]
pub(super) struct RotationQueue {
    /// Whether a statement is in flight (its caller, or the leader task, answers the queue).
    leading: bool,
    waiting: Vec<Waiting>,
}

pub(super) struct Waiting {
    rotation: QueuedRotation,
    reply: oneshot::Sender<Result<Option<Rotated>>>,
}

fn lock(q: &std::sync::Mutex<RotationQueue>) -> std::sync::MutexGuard<'_, RotationQueue> {
    q.lock().unwrap_or_else(|p| p.into_inner())
}

/// Held by a caller whose statement is in flight; when it ends (or the caller's future is
/// dropped), whatever queued meanwhile goes to a leader task, or the store is idle again.
struct Handover<'a>(&'a PostgresStore);

impl Drop for Handover<'_> {
    fn drop(&mut self) {
        let mut q = lock(&self.0.rotations);
        if q.waiting.is_empty() {
            q.leading = false;
            return;
        }
        drop(q);
        let store = self.0.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn(store.lead())),
            // No runtime (it is shutting down): nobody can wait for an answer either.
            Err(_) => {
                let mut q = lock(&store.rotations);
                q.waiting.clear();
                q.leading = false;
            }
        }
    }
}

impl PostgresStore {
    /// One rotation, one statement (with a DPoP proof, spending it too).
    async fn rotate_alone(&self, rot: &Rotation<'_>) -> Result<Option<Rotated>> {
        // One statement: a concurrent winner's commit makes this row fail `counter = $3` on the
        // re-check, so exactly one of N racing callers (on any node) gets the row back. The user
        // and API come back with it, saving the hot path two round trips. With a DPoP proof, the
        // same statement spends it in the replay cache: a replay violates the key's uniqueness,
        // which aborts the whole statement, the rotation included.
        let row = sqlx::query(
            "WITH r AS (
               UPDATE families SET counter = counter + 1, rotated_at = $4, last_exchanged_at = $4, last_ip = $6, last_user_agent = $7,
                 idle_expires_at = CASE WHEN $5::bigint IS NULL OR expires_at IS NULL THEN $5::bigint ELSE LEAST($5::bigint, expires_at) END
               WHERE family_id = $1 AND client_id = $2 AND counter = $3 AND rotating AND revoked_at IS NULL
                 AND (expires_at IS NULL OR expires_at > $4) AND (idle_expires_at IS NULL OR idle_expires_at > $4)
                 AND (jkt IS NULL OR jkt = $8::text)
               RETURNING *),
             p AS (INSERT INTO dpop_proofs (replay_key, expires_at) SELECT $9::text, $10::bigint FROM r WHERE $9::text IS NOT NULL)
             SELECT r.*, u.user_id AS user_user_id, u.email AS user_email, u.name AS user_name,
                    u.password_hash AS user_password_hash, u.blocked AS user_blocked, u.admin AS user_admin, u.created_at AS user_created_at,
                    u.email_verified AS user_email_verified, u.user_metadata AS user_user_metadata,
                    u.app_metadata AS user_app_metadata, u.updated_at AS user_updated_at, u.last_login AS user_last_login,
                    u.last_ip AS user_last_ip, u.logins_count AS user_logins_count, a.data AS api_data
             FROM r LEFT JOIN users u ON u.user_id = r.user_id LEFT JOIN apis a ON a.identifier = r.audience",
        )
        .bind(rot.id.to_string())
        .bind(rot.client_id)
        .bind(counter_param(rot.from)?)
        .bind(rot.now)
        .bind(rot.idle_expires_at)
        .bind(&rot.seen.ip)
        .bind(&rot.seen.user_agent)
        .bind(rot.dpop.map(|p| p.jkt))
        .bind(rot.dpop.map(|p| p.replay_key))
        .bind(rot.dpop.map(|p| p.replay_expires_at))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::Conflict(_) => StoreError::Conflict(REPLAYED_PROOF.into()),
            other => other,
        })?;
        self.rotation_batches.record(1);
        row.as_ref().map(rotated_from).transpose()
    }

    /// The leader task: commits the queue a batch at a time until it is empty.
    async fn lead(self) {
        loop {
            let batch = {
                let mut q = lock(&self.rotations);
                let batch = take_batch(&mut q.waiting, MAX_BATCH, |w| w.rotation.id);
                if batch.is_empty() {
                    q.leading = false;
                    return;
                }
                batch
            };
            let rotations: Vec<Rotation<'_>> = batch.iter().map(|w| w.rotation.as_rotation()).collect();
            let outcomes = self.rotate_together(&rotations).await;
            drop(rotations);
            for (w, outcome) in batch.into_iter().zip(outcomes) {
                // A caller that gave up (its request was dropped) no longer listens.
                let _ = w.reply.send(outcome);
            }
        }
    }

    /// Rotates each of `batch` (at most one per family, none with a proof) in one statement; the
    /// outcomes are in batch order.
    ///
    /// The arrays are unnested with their positions; the `UPDATE … FROM` applies each row's own
    /// conditions, and PostgreSQL re-checks them against the newest row version when a
    /// concurrent writer (another node) committed first, exactly as the single statement does,
    /// so exactly one of N racing presentations wins on any node. Each returned row carries its
    /// request's position. If the database is unavailable, every rotation gets that answer; on
    /// any other error (e.g. a deadlock with another node's batch locking the same families in
    /// another order: PostgreSQL aborts one of the two statements, which then changed nothing)
    /// each rotation runs alone, so each caller learns its own outcome.
    async fn rotate_together(&self, batch: &[Rotation<'_>]) -> Vec<Result<Option<Rotated>>> {
        if let [rot] = batch {
            return vec![self.rotate_alone(rot).await];
        }
        let together = self.rotate_in_one_statement(batch).await;
        match together {
            Ok(outcomes) => {
                self.rotation_batches.record(batch.len());
                outcomes.into_iter().map(Ok).collect()
            }
            Err(StoreError::Unavailable(m)) => batch.iter().map(|_| Err(StoreError::Unavailable(m.clone()))).collect(),
            Err(_) => {
                let mut outcomes = Vec::with_capacity(batch.len());
                for rot in batch {
                    outcomes.push(self.rotate_alone(rot).await);
                }
                outcomes
            }
        }
    }

    async fn rotate_in_one_statement(&self, batch: &[Rotation<'_>]) -> Result<Vec<Option<Rotated>>> {
        let counters = batch.iter().map(|r| counter_param(r.from)).collect::<Result<Vec<_>>>()?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH q AS (
               SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[])
                 WITH ORDINALITY AS q(family_id, client_id, from_counter, now, idle_expires_at, ip, user_agent, position)),
             r AS (
               UPDATE families f SET counter = f.counter + 1, rotated_at = q.now, last_exchanged_at = q.now, last_ip = q.ip,
                 last_user_agent = q.user_agent,
                 idle_expires_at = CASE WHEN q.idle_expires_at IS NULL OR f.expires_at IS NULL THEN q.idle_expires_at
                                   ELSE LEAST(q.idle_expires_at, f.expires_at) END
               FROM q
               WHERE f.family_id = q.family_id AND f.client_id = q.client_id AND f.counter = q.from_counter AND f.rotating
                 AND f.revoked_at IS NULL AND (f.expires_at IS NULL OR f.expires_at > q.now)
                 AND (f.idle_expires_at IS NULL OR f.idle_expires_at > q.now) AND f.jkt IS NULL
               RETURNING f.*, q.position)
             {WITH_USER_AND_API}"
        )))
        .bind(batch.iter().map(|r| r.id.to_string()).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.client_id).collect::<Vec<_>>())
        .bind(counters)
        .bind(batch.iter().map(|r| r.now).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.idle_expires_at).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.seen.ip.as_deref()).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.seen.user_agent.as_deref()).collect::<Vec<_>>())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let rows = rows
            .iter()
            .map(|row| {
                let position: i64 = row.try_get("position").map_err(map_err)?;
                Ok((usize::try_from(position - 1).unwrap_or(usize::MAX), rotated_from(row)?))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(by_position(batch.len(), rows))
    }
}
