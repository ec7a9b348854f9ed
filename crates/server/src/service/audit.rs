//! The audit trail (Auth0 log event codes) and the Prometheus counters for the same outcomes.
//!
//! Failures and security events (`f`, `fertft`, `ferrt`, `srrt`, `fco`, …) are written before the
//! response is sent. High-volume successes (`sertft`, `seacft`, `s`, `ssa`, `slo`) go through a
//! queue that one background task writes in batches, one transaction per batch, so a refresh does
//! not wait for its own log row; the queue is flushed on shutdown and by [`AppState::flush_audit`].
//!
//! This is the same group commit as the rotations' (`ratchet_store::group_commit`): one writer,
//! one commit in flight, and whatever queued while it was in flight goes in the next commit. Two
//! differences follow from nobody waiting for an audit row: the writer lingers [`LINGER`] after
//! the first event of a batch (a rotation cannot: its client waits for the commit), and the
//! writer is a task of its own (a rotation's group is committed by one of its waiting callers,
//! which saves the hand-off).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ratchet_core::audit::EventType;
use ratchet_store::{Event, Seen, Store};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::app::AppState;

/// Events waiting in the queue at most; past that, callers write synchronously (backpressure).
const QUEUE: usize = 16_384;
/// Events written per transaction at most.
const BATCH: usize = 512;
/// How long the writer waits after the first event of a batch for more to join it. Under load a
/// write per few events would cost more in thread wake-ups than the inserts themselves; idle, an
/// event is on disk this much later (and a flush waits at most this long).
const LINGER: std::time::Duration = std::time::Duration::from_millis(10);

enum Queued {
    Event(Event),
    Flush(oneshot::Sender<()>),
}

/// Counters by event code since start (exported on `/metrics`) and the write queue.
pub struct Audit {
    counts: Mutex<BTreeMap<EventType, u64>>,
    queue: mpsc::Sender<Queued>,
}

impl Audit {
    /// Starts the background writer for `store`.
    pub fn start(store: Arc<dyn Store>) -> Audit {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, rx));
        Audit { counts: Mutex::new(BTreeMap::new()), queue }
    }

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

async fn write_batches(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Queued>) {
    let mut events = Vec::with_capacity(BATCH);
    let mut acks = Vec::new();
    while let Some(first) = rx.recv().await {
        if matches!(first, Queued::Event(_)) {
            tokio::time::sleep(LINGER).await;
        }
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Queued::Event(e) => events.push(e),
                Queued::Flush(ack) => acks.push(ack),
            }
            if events.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !events.is_empty() {
            if let Err(e) = store.record_many(&events).await {
                tracing::warn!(error = %e, lost = events.len(), "could not record audit events");
            }
            events.clear();
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}

/// High-volume successes, written in background batches.
fn is_buffered(kind: EventType) -> bool {
    use EventType::*;
    matches!(kind, RefreshExchanged | CodeExchanged | LoginSucceeded | SilentAuthSucceeded | LogoutSucceeded | ClientCredentialsExchanged)
}

tokio::task_local! {
    /// Where the request being served came from (set for each request by `http::seen::scope`).
    static SEEN: Seen;
}

/// Runs `f` (a request being served) with `seen` as the origin of the events it records.
pub async fn seen_in<F: std::future::Future>(seen: Seen, f: F) -> F::Output {
    SEEN.scope(seen, f).await
}

/// Where the request being served came from; empty outside a request (the CLI, background tasks).
pub fn current_seen() -> Seen {
    SEEN.try_with(Seen::clone).unwrap_or_default()
}

/// One audit event about to be recorded.
pub struct Record<'a> {
    pub kind: EventType,
    pub description: &'a str,
    pub client_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub details: Value,
}

impl AppState {
    /// Records an event and counts it, with the ip address and user agent of the request being
    /// served if any (see [`seen_in`]). A failure to write the trail is logged, never fatal to
    /// the request that caused it.
    pub async fn record(&self, r: Record<'_>) {
        let seen = current_seen();
        *self.audit.counts.lock().unwrap_or_else(|p| p.into_inner()).entry(r.kind).or_default() += 1;
        let event = Event {
            at: self.now(),
            kind: r.kind.code().to_string(),
            client_id: r.client_id.map(str::to_string),
            user_id: r.user_id.map(str::to_string),
            description: r.description.to_string(),
            details: r.details,
            ip: seen.ip,
            user_agent: seen.user_agent,
        };
        let event = if is_buffered(r.kind) {
            match self.audit.queue.try_send(Queued::Event(event)) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(Queued::Event(e)) | mpsc::error::TrySendError::Closed(Queued::Event(e))) => e,
                Err(_) => return,
            }
        } else {
            event
        };
        if let Err(e) = self.store.record(&event).await {
            tracing::warn!(error = %e, kind = r.kind.code(), "could not record audit event");
        }
    }

    /// Waits until every event queued so far is written.
    pub async fn flush_audit(&self) {
        let (ack, done) = oneshot::channel();
        if self.audit.queue.send(Queued::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}
