//! The audit trail (Auth0 log event codes) and the Prometheus counters for the same outcomes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use ratchet_store::Event;
use serde_json::Value;

use crate::app::AppState;

/// Counters by event code since start, exported on `/metrics`.
#[derive(Default)]
pub struct Audit {
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

impl Audit {
    /// Prometheus text exposition of the counters.
    pub fn render(&self) -> String {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mut out =
            String::from("# HELP ratchet_events_total Audit events by Auth0 log event code.\n# TYPE ratchet_events_total counter\n");
        for (k, v) in counts.iter() {
            out.push_str(&format!("ratchet_events_total{{type=\"{k}\"}} {v}\n"));
        }
        out
    }
}

/// One audit event about to be recorded.
pub struct Record<'a> {
    pub kind: &'static str,
    pub description: &'a str,
    pub client_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub details: Value,
}

impl AppState {
    /// Records an event and counts it. A failure to write the trail is logged, never fatal to
    /// the request that caused it.
    pub async fn record(&self, r: Record<'_>) {
        *self.audit.counts.lock().unwrap_or_else(|p| p.into_inner()).entry(r.kind).or_default() += 1;
        let event = Event {
            at: self.now(),
            kind: r.kind.to_string(),
            client_id: r.client_id.map(str::to_string),
            user_id: r.user_id.map(str::to_string),
            description: r.description.to_string(),
            details: r.details,
        };
        if let Err(e) = self.store.record(&event).await {
            tracing::warn!(error = %e, kind = r.kind, "could not record audit event");
        }
    }
}
