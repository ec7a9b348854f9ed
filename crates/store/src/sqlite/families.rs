use super::users::user_from;
use super::*;
use crate::group_commit::QueuedRotation;

pub(super) fn family_from(r: &Row) -> rusqlite::Result<Family> {
    let id: String = r.get("family_id")?;
    Ok(Family {
        id: FamilyId::parse(&id).ok_or_else(|| corrupt("family id"))?,
        grant_id: r.get("grant_id")?,
        client_id: r.get("client_id")?,
        user_id: r.get("user_id")?,
        session_id: r.get("session_id")?,
        audience: r.get("audience")?,
        scope: r.get("scope")?,
        rotating: r.get("rotating")?,
        counter: r.get::<_, i64>("counter")? as u64,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        idle_expires_at: r.get("idle_expires_at")?,
        rotated_at: r.get("rotated_at")?,
        revoked_at: r.get("revoked_at")?,
        auth_time: r.get("auth_time")?,
        jkt: r.get("jkt")?,
    })
}

fn record_from(r: &Row) -> rusqlite::Result<FamilyRecord> {
    Ok(FamilyRecord {
        family: family_from(r)?,
        initial: Seen { ip: r.get("initial_ip")?, user_agent: r.get("initial_user_agent")? },
        last: Seen { ip: r.get("last_ip")?, user_agent: r.get("last_user_agent")? },
        last_exchanged_at: r.get("last_exchanged_at")?,
    })
}

#[async_trait]
impl FamilyStore for SqliteStore {
    async fn insert_family(&self, f: &Family, seen: &Seen) -> Result<()> {
        self.run(|c| insert_family(c, f, seen))
    }

    async fn import_families(&self, families: &[Family]) -> Result<()> {
        let families = families.to_vec();
        self.run_in_background(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for f in &families {
                insert_family(&tx, f, &Seen::default())?;
            }
            tx.commit()
        })
        .await
    }

    async fn family(&self, id: &FamilyId) -> Result<Option<Family>> {
        // This sees every rotation committed before it (by this process: same connection; by
        // another: WAL snapshots start per statement). A stale read could only lose the
        // conditional write in `rotate`, never win it.
        self.run(|c| c.prepare_cached("SELECT * FROM families WHERE family_id = ?1")?.query_row([id.to_string()], family_from).optional())
    }

    async fn rotate(&self, r: &Rotation<'_>) -> Result<Option<Rotated>> {
        if r.dpop.is_some() {
            // Never grouped (see `crate::group_commit`): its own transaction, as before.
            self.db.rotation_batches.record(1);
            return self.run(|c| rotate_with_proof(c, r))?.map(|r| r.map_err(|()| StoreError::Conflict(REPLAYED_PROOF.into()))).transpose();
        }
        // Uncontended: the connection is free, so commit now, with whatever is already queued.
        let conn = match self.db.conn.try_lock() {
            Ok(conn) => Some(conn),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        if let Some(conn) = conn {
            let queued = std::mem::take(&mut *lock(&self.db.rotations));
            return self.run_locked(conn, |c| self.commit_rotations(c, Some(r), queued)).expect("the caller's own result");
        }
        // Contended: queue the rotation, then wait for the connection. Whoever holds it next
        // commits everything queued by then, perhaps this one.
        let waiting = Arc::new(Waiting { rotation: QueuedRotation::new(r), outcome: Mutex::new(None) });
        lock(&self.db.rotations).push(waiting.clone());
        let conn = lock(&self.db.conn);
        if let Some(outcome) = lock(&waiting.outcome).take() {
            return outcome;
        }
        // Still unanswered: only a holder of the connection drains the queue and answers it, and
        // this caller holds it now, so the rotation is still queued; commit the queue.
        let queued = std::mem::take(&mut *lock(&self.db.rotations));
        self.run_locked(conn, |c| self.commit_rotations(c, None, queued));
        lock(&waiting.outcome).take().expect("a queued rotation is answered by the commit that drains it")
    }

    fn rotation_batches(&self) -> RotationBatches {
        self.db.rotation_batches.snapshot()
    }

    async fn touch_family(&self, id: &FamilyId, now: UnixTime, idle_expires_at: Option<UnixTime>, seen: &Seen) -> Result<()> {
        self.run(|c| {
            c.prepare_cached(
                "UPDATE families SET idle_expires_at = ?2, last_exchanged_at = ?3, last_ip = ?4, last_user_agent = ?5
                 WHERE family_id = ?1 AND revoked_at IS NULL",
            )?
            .execute(params![id.to_string(), idle_expires_at, now, seen.ip, seen.user_agent])
        })
        .map(drop)
    }

    async fn revoke_family(&self, id: &FamilyId, now: UnixTime) -> Result<bool> {
        self.run(|c| {
            c.prepare_cached("UPDATE families SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL")?
                .execute(params![id.to_string(), now])
        })
        .map(|n| n == 1)
    }

    async fn revoke_families(&self, f: &FamilyFilter, now: UnixTime) -> Result<u64> {
        if f.is_empty() {
            return Err(StoreError::Other(EMPTY_FAMILY_FILTER.into()));
        }
        // Each condition is skipped when its parameter is NULL, so one statement serves all filters.
        let (aud_given, aud) = match &f.audience {
            Some(a) => (true, a.clone()),
            None => (false, None),
        };
        let f = f.clone();
        self.run_in_background(move |c| {
            c.prepare_cached(
                "UPDATE families SET revoked_at = ?1 WHERE revoked_at IS NULL
                   AND (?2 IS NULL OR user_id = ?2) AND (?3 IS NULL OR client_id = ?3)
                   AND (?4 IS NULL OR session_id = ?4) AND (?5 IS NULL OR grant_id = ?5)
                   AND (?6 = 0 OR audience IS ?7) AND (?8 IS NULL OR rotating = ?8)",
            )?
            .execute(params![now, f.user_id, f.client_id, f.session_id, f.grant_id, aud_given, aud, f.rotating])
            .map(|n| n as u64)
        })
        .await
    }

    async fn evict_families(&self, user_id: &str, client_id: &str, keep: u32, spare: Option<&FamilyId>, now: UnixTime) -> Result<u64> {
        let offset = if spare.is_some() { keep.saturating_sub(1) } else { keep };
        let spare = spare.map(|f| f.to_string()).unwrap_or_default();
        self.run(|c| {
            c.prepare_cached(
                "UPDATE families SET revoked_at = ?4 WHERE family_id IN (
                   SELECT family_id FROM families
                   WHERE user_id = ?1 AND client_id = ?2 AND revoked_at IS NULL AND family_id <> ?5
                     AND (expires_at IS NULL OR expires_at > ?4) AND (idle_expires_at IS NULL OR idle_expires_at > ?4)
                   ORDER BY created_at DESC, family_id DESC LIMIT -1 OFFSET ?3)",
            )?
            .execute(params![user_id, client_id, offset, now, spare])
            .map(|n| n as u64)
        })
    }

    async fn revoke_family_ids(&self, ids: &[FamilyId], now: UnixTime) -> Result<Vec<Family>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = json(&ids.iter().map(|i| i.to_string()).collect::<Vec<_>>());
        self.run(|c| {
            c.prepare_cached(
                "UPDATE families SET revoked_at = ?2
                 WHERE family_id IN (SELECT value FROM json_each(?1)) AND revoked_at IS NULL RETURNING *",
            )?
            .query_map(params![ids, now], family_from)?
            .collect()
        })
    }

    async fn family_record(&self, id: &FamilyId) -> Result<Option<FamilyRecord>> {
        self.run(|c| c.prepare_cached("SELECT * FROM families WHERE family_id = ?1")?.query_row([id.to_string()], record_from).optional())
    }

    async fn families_of(&self, user_id: &str, after: Option<&FamilyId>, now: UnixTime, limit: u32) -> Result<Vec<FamilyRecord>> {
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        self.run(|c| {
            c.prepare_cached(
                "SELECT * FROM families WHERE user_id = ?1 AND family_id > ?2 AND revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > ?3) AND (idle_expires_at IS NULL OR idle_expires_at > ?3)
                 ORDER BY family_id LIMIT ?4",
            )?
            .query_map(params![user_id, after, now, limit], record_from)?
            .collect()
        })
    }

    async fn count_live_families(&self, now: UnixTime) -> Result<u64> {
        let n: i64 = self.run(|c| {
            c.prepare_cached(
                "SELECT COUNT(*) FROM families WHERE revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > ?1) AND (idle_expires_at IS NULL OR idle_expires_at > ?1)",
            )?
            .query_row([now], |r| r.get(0))
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// A rotation waiting in the queue, and where the commit that carries it leaves its outcome.
pub(super) struct Waiting {
    rotation: QueuedRotation,
    outcome: Mutex<Option<Result<Option<Rotated>>>>,
}

impl SqliteStore {
    /// Commits `own` (the caller's rotation, if it has not queued it) and every `queued` one
    /// together, answers the queued ones and returns the outcome of `own`. Runs on the calling
    /// thread, holding the connection: flat combining, so a batch costs no thread hand-off.
    fn commit_rotations(
        &self,
        c: &mut Connection,
        own: Option<&Rotation<'_>>,
        queued: Vec<Arc<Waiting>>,
    ) -> Option<Result<Option<Rotated>>> {
        let batch: Vec<Rotation<'_>> = own.cloned().into_iter().chain(queued.iter().map(|w| w.rotation.as_rotation())).collect();
        let mut outcomes = rotate_together(c, &batch).into_iter();
        self.db.rotation_batches.record(batch.len());
        let own_outcome = if own.is_some() { outcomes.next() } else { None };
        for (w, outcome) in queued.iter().zip(outcomes) {
            *lock(&w.outcome) = Some(outcome);
        }
        own_outcome
    }
}

/// Rotates each of `batch` and commits them together; the outcomes are in batch order.
///
/// One rotation alone is one autocommit statement (plus the two reads), as it always was: a
/// transaction around it would only add BEGIN and COMMIT. Several are one `BEGIN IMMEDIATE …
/// COMMIT`: one WAL append and one lock round for all. Each conditional `UPDATE` sees the ones
/// before it in the batch, so two presentations of one family in a batch decide as if one came
/// after the other: exactly one wins. Nothing is answered before the COMMIT succeeds. If the
/// database is unavailable (another process holds the write lock past the busy timeout), every
/// rotation of the batch gets that answer; on any other error the batch is rolled back and each
/// rotation runs alone, so each caller learns its own outcome.
fn rotate_together(c: &mut Connection, batch: &[Rotation<'_>]) -> Vec<Result<Option<Rotated>>> {
    if let [r] = batch {
        return vec![rotate_one(c, r).map_err(map_err)];
    }
    let together = (|| {
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcomes = batch.iter().map(|r| rotate_one(&tx, r)).collect::<rusqlite::Result<Vec<_>>>()?;
        tx.commit()?;
        Ok(outcomes)
    })();
    match together.map_err(map_err) {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(StoreError::Unavailable(m)) => batch.iter().map(|_| Err(StoreError::Unavailable(m.clone()))).collect(),
        Err(_) => batch.iter().map(|r| rotate_one(c, r).map_err(map_err)).collect(),
    }
}

/// The conditional update of one rotation without a proof, then the user and API it needs.
/// (Alone, not one transaction: measured, BEGIN and COMMIT around them cost more than they save;
/// the reads follow the committed write.)
fn rotate_one(c: &Connection, r: &Rotation<'_>) -> rusqlite::Result<Option<Rotated>> {
    let Some(family) = update_for_rotation(c, r)? else { return Ok(None) };
    rotated(c, family).map(Some)
}

/// A rotation with a DPoP proof: the update and the replay-cache insert are one transaction, so
/// a replayed proof (`Err(())`) undoes the rotation.
fn rotate_with_proof(c: &mut Connection, r: &Rotation<'_>) -> rusqlite::Result<Option<std::result::Result<Rotated, ()>>> {
    let tx = c.transaction()?;
    let Some(family) = update_for_rotation(&tx, r)? else { return Ok(None) };
    if let Some(p) = r.dpop {
        let spent = tx
            .prepare_cached("INSERT INTO dpop_proofs (replay_key, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
            .execute(params![p.replay_key, p.replay_expires_at])?;
        if spent == 0 {
            // Dropping the transaction rolls the rotation back.
            return Ok(Some(Err(())));
        }
    }
    tx.commit()?;
    rotated(c, family).map(|r| Some(Ok(r)))
}

/// The rotation write: moves the counter if the presented one is current and the family live.
fn update_for_rotation(c: &Connection, r: &Rotation<'_>) -> rusqlite::Result<Option<Family>> {
    c.prepare_cached(
        "UPDATE families SET counter = counter + 1, rotated_at = ?4, last_exchanged_at = ?4, last_ip = ?6, last_user_agent = ?7,
           idle_expires_at = CASE WHEN ?5 IS NULL OR expires_at IS NULL THEN ?5 ELSE MIN(?5, expires_at) END
         WHERE family_id = ?1 AND client_id = ?2 AND counter = ?3 AND rotating = 1 AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > ?4) AND (idle_expires_at IS NULL OR idle_expires_at > ?4)
           AND (jkt IS NULL OR jkt = ?8)
         RETURNING *",
    )?
    .query_row(
        params![
            r.id.to_string(),
            r.client_id,
            r.from as i64,
            r.now,
            r.idle_expires_at,
            r.seen.ip,
            r.seen.user_agent,
            r.dpop.map(|p| p.jkt)
        ],
        family_from,
    )
    .optional()
}

/// A rotated family with its user and API.
fn rotated(c: &Connection, family: Family) -> rusqlite::Result<Rotated> {
    let user = c.prepare_cached("SELECT * FROM users WHERE user_id = ?1")?.query_row([&family.user_id], user_from).optional()?;
    let api = match &family.audience {
        Some(a) => c
            .prepare_cached("SELECT data FROM apis WHERE identifier = ?1")?
            .query_row([a], |r| from_json(&r.get::<_, String>(0)?))
            .optional()?,
        None => None,
    };
    Ok(Rotated { family, user, api })
}

/// Inserts one family; `seen` is its first (and so far last) device.
fn insert_family(c: &Connection, f: &Family, seen: &Seen) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO families (family_id, grant_id, client_id, user_id, session_id, audience, scope, rotating, counter, created_at, expires_at, idle_expires_at, rotated_at, revoked_at, auth_time, initial_ip, initial_user_agent, last_ip, last_user_agent, jkt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?16, ?17, ?18)",
    )?
    .execute(params![
        f.id.to_string(),
        f.grant_id,
        f.client_id,
        f.user_id,
        f.session_id,
        f.audience,
        f.scope,
        f.rotating,
        f.counter as i64,
        f.created_at,
        f.expires_at,
        f.idle_expires_at,
        f.rotated_at,
        f.revoked_at,
        f.auth_time,
        seen.ip,
        seen.user_agent,
        f.jkt
    ])
    .map(drop)
}
