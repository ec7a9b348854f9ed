//! Bulk data for the scale-with-data rows (`--families N`): the refresh hot path must cost the
//! same whether the store holds a handful of families or a million, and the purge of a million
//! dead families and a month of audit events must not stall it.

use std::time::Duration;

use ratchet_core::family::{Family, FamilyId};
use ratchet_store::Event;

/// Rows per bulk insert (one transaction or statement each).
const BATCH: usize = 10_000;

/// A family of another client and user, as many real ones would be: `dead` ones were revoked
/// long enough ago for the purge to take them.
fn family(i: usize, now: i64, dead: bool) -> Family {
    let created = now - 40 * 86_400;
    Family {
        id: FamilyId::random(),
        grant_id: format!("seed-grant-{i}"),
        client_id: format!("seed-client-{}", i % 100),
        user_id: format!("ratchet|seed{}", i / 50),
        session_id: None,
        audience: Some(super::AUDIENCE.into()),
        scope: "openid profile email offline_access".into(),
        rotating: true,
        counter: (i % 1000) as u64,
        created_at: created,
        expires_at: Some(now + 30 * 86_400),
        idle_expires_at: Some(now + 15 * 86_400),
        rotated_at: created,
        revoked_at: dead.then_some(now - 10 * 86_400),
        auth_time: created,
        jkt: None,
    }
}

/// Inserts `n` live families; returns how long it took.
pub async fn live_families(database: &str, n: usize) -> anyhow::Result<Duration> {
    let store = ratchet_store::open(database).await?;
    let (t0, now) = (std::time::Instant::now(), super::unix_now());
    for start in (0..n).step_by(BATCH) {
        let batch: Vec<Family> = (start..n.min(start + BATCH)).map(|i| family(i, now, false)).collect();
        store.import_families(&batch).await?;
    }
    Ok(t0.elapsed())
}

/// Inserts `n` families revoked ten days ago and `n` audit events older than the retention:
/// everything the next purge deletes. Returns how long it took.
pub async fn dead_rows(database: &str, n: usize) -> anyhow::Result<Duration> {
    let store = ratchet_store::open(database).await?;
    let (t0, now) = (std::time::Instant::now(), super::unix_now());
    for start in (0..n).step_by(BATCH) {
        let batch: Vec<Family> = (start..n.min(start + BATCH)).map(|i| family(n + i, now, true)).collect();
        store.import_families(&batch).await?;
        let events: Vec<Event> = (start..n.min(start + BATCH))
            .map(|i| Event {
                at: now - 60 * 86_400 + (i % 86_400) as i64,
                kind: "sertft".into(),
                client_id: Some(format!("seed-client-{}", i % 100)),
                user_id: Some(format!("ratchet|seed{}", i / 50)),
                description: "Refresh token exchanged".into(),
                details: serde_json::json!({}),
                ip: Some("198.51.100.7".into()),
                user_agent: Some("ratchet-bench seed".into()),
            })
            .collect();
        store.record_many(&events).await?;
    }
    Ok(t0.elapsed())
}
