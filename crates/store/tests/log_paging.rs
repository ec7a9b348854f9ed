//! How reading the audit trail scales with its size (issue 9's performance note): 100 000 events
//! on SQLite, read 100 at a time by checkpoint (`LogQuery::after`, a keyset on the log id) from
//! the first page to the last, and offset pages over the first 1 000 search results (the most the
//! Management API pages through). Prints the time of the first and last pages and their ratio; it
//! asserts nothing about time (the machine is shared), only that every event is read once.
//! Run: `cargo test -p ratchet-store --release --test log_paging -- --ignored --nocapture`.

use std::time::Instant;

use ratchet_store::{Event, LogFilter, LogOrder, LogQuery};

const EVENTS: i64 = 100_000;
const PAGE: u32 = 100;

#[tokio::test]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn checkpoint_pages_cost_the_same_from_first_to_last() {
    let dir = tempfile::tempdir().unwrap();
    let store = ratchet_store::open(&format!("sqlite://{}", dir.path().join("logs.db").display())).await.unwrap();
    let batch: Vec<Event> = (0..EVENTS)
        .map(|i| Event {
            at: 1_700_000_000 + i / 10,
            kind: if i % 7 == 0 { "f" } else { "s" }.into(),
            client_id: Some(format!("client-{}", i % 5)),
            user_id: Some(format!("user-{}", i % 1000)),
            description: "Login".into(),
            details: serde_json::json!({ "i": i }),
            ip: Some("203.0.113.7".into()),
            user_agent: Some("bench".into()),
        })
        .collect();
    for chunk in batch.chunks(5000) {
        store.record_many(chunk).await.unwrap();
    }

    for (name, filter) in [("all events", LogFilter::default()), ("type:f", LogFilter { kind: Some("f".into()), ..Default::default() })] {
        let mut after = None;
        let mut times = Vec::new();
        let mut read = 0usize;
        loop {
            let started = Instant::now();
            let page = store
                .logs(&LogQuery { filter: filter.clone(), order: LogOrder::OldestFirst, after, offset: 0, limit: PAGE })
                .await
                .unwrap();
            times.push(started.elapsed());
            let Some(last) = page.last() else { break };
            after = Some(last.log_id.parse().unwrap());
            read += page.len();
        }
        let expected = store.count_logs(&filter).await.unwrap() as usize;
        assert_eq!(read, expected, "{name}: every event read once");
        let pages = times.len() - 1;
        let avg = |s: &[std::time::Duration]| s.iter().sum::<std::time::Duration>() / s.len() as u32;
        let (first, last) = (avg(&times[..10]), avg(&times[pages - 10..pages]));
        println!(
            "checkpoint, {name}: {pages} pages of {PAGE}; first 10 pages {first:?}/page, last 10 {last:?}/page, ratio last/first {:.2}",
            last.as_secs_f64() / first.as_secs_f64()
        );
    }

    let mut times = Vec::new();
    for page in 0..10u64 {
        let started = Instant::now();
        let q = LogQuery {
            filter: LogFilter::default(),
            order: LogOrder::NewestFirst,
            after: None,
            offset: page * u64::from(PAGE),
            limit: PAGE,
        };
        assert_eq!(store.logs(&q).await.unwrap().len(), PAGE as usize);
        times.push(started.elapsed());
    }
    println!(
        "offset pages 0..9 (the first 1 000 results, newest first): page 0 {:?}, page 9 {:?}, ratio {:.2}",
        times[0],
        times[9],
        times[9].as_secs_f64() / times[0].as_secs_f64()
    );
}
