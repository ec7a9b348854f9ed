use super::users::user_from;
use super::*;

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
        // Three statements on the connection, held once. (Not one transaction: measured, BEGIN and
        // COMMIT around them cost more than they save; the reads follow the committed write.)
        // With a DPoP proof, the update and the replay-cache insert are one transaction: a replayed
        // proof undoes the rotation.
        self.run(|c| {
            let tx = r.dpop.map(|_| c.unchecked_transaction()).transpose()?;
            let family = c
                .prepare_cached(
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
                .optional()?;
            let Some(family) = family else { return Ok(None) };
            if let (Some(tx), Some(p)) = (tx, r.dpop) {
                let spent = tx
                    .prepare_cached("INSERT INTO dpop_proofs (replay_key, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
                    .execute(params![p.replay_key, p.replay_expires_at])?;
                if spent == 0 {
                    // Dropping the transaction rolls the rotation back.
                    return Ok(Some(Err(())));
                }
                tx.commit()?;
            }
            let user = c.prepare_cached("SELECT * FROM users WHERE user_id = ?1")?.query_row([&family.user_id], user_from).optional()?;
            let api = match &family.audience {
                Some(a) => c
                    .prepare_cached("SELECT data FROM apis WHERE identifier = ?1")?
                    .query_row([a], |r| from_json(&r.get::<_, String>(0)?))
                    .optional()?,
                None => None,
            };
            Ok(Some(Ok(Rotated { family, user, api })))
        })?
        .map(|r| r.map_err(|()| StoreError::Conflict(REPLAYED_PROOF.into())))
        .transpose()
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
