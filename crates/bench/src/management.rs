//! The Management API beside the refresh hot path (`--management`):
//!
//! - **Traffic**: an M2M client with a client grant for the Management API (provisioned with the
//!   CLI, as an operator would) reads and writes through `/api/v2` at a steady rate while the
//!   refresh chains run: a page of users, a user's refresh tokens, a checkpoint read of the logs,
//!   the active-user count, and a rename of the benchmark's own client (a write to the row every
//!   refresh reads). The refresh rows with and without it are measured in the same run.
//! - **Listing**: a store seeded with 10 000 users and 100 000 log events, read a page of 100 at a
//!   time through `/api/v2` by checkpoint (`from`/`take`) from the first page to the last. The
//!   report is the mean time of the last ten pages over that of the first ten: a ratio near 1
//!   means the cost of a page does not grow with how far into the listing it is.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use ratchet_store::{Event, User};
use serde_json::{Value, json};

use super::{Args, cli};

/// Users and events the listing measurement seeds.
const USERS: usize = 10_000;
const EVENTS: usize = 100_000;
/// Items per page (the Management API's maximum).
const PAGE: usize = 100;
/// Management requests per second beside the refresh load, under the default rate limit (50/s).
pub const TRAFFIC_RATE: u32 = 40;

/// A caller of the Management API with a client-credentials token.
pub struct Manager {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Manager {
    /// Creates an M2M client and its client grant for the Management API of the server at
    /// `base` with the CLI, and gets a token by `client_credentials`.
    pub async fn provision(args: &Args, database: &str, master_key: &str, base: &str) -> anyhow::Result<Manager> {
        let m2m = cli(args, database, master_key, &["clients", "create", "--name", "bench-m2m", "--type", "m2m", "--json"])?;
        let client_id = m2m["client_id"].as_str().context("client_id")?;
        let secret = m2m["client_secret"].as_str().context("client_secret")?;
        let audience = format!("{base}/api/v2/");
        let mut grant = vec!["client-grants", "create", "--client-id", client_id, "--audience", &audience, "--issuer"];
        let issuer = format!("{base}/");
        grant.push(&issuer);
        for scope in ["read:users", "read:refresh_tokens", "read:logs", "read:stats", "read:clients", "update:clients"] {
            grant.extend(["--scope", scope]);
        }
        grant.push("--json");
        cli(args, database, master_key, &grant)?;
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{base}/oauth/token"))
            .json(&json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "audience": audience}))
            .send()
            .await?;
        ensure!(r.status() == 200, "client_credentials answered {}: {}", r.status(), r.text().await?);
        let body: Value = r.json().await?;
        let token = body["access_token"].as_str().context("no access_token")?.to_string();
        Ok(Manager { http, base: base.to_string(), token })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut r = self.http.request(method, format!("{}/api/v2{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await?;
        let status = r.status();
        let text = r.text().await?;
        ensure!(status.is_success(), "{path}: {status}: {text}");
        Ok(serde_json::from_str(&text)?)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }
}

/// What the management traffic did.
#[derive(Default)]
pub struct Traffic {
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub window: Duration,
}

/// Reads and writes through `/api/v2` at [`TRAFFIC_RATE`] requests/s until `deadline`, counting
/// those from `measure_from` on. `client_id` is renamed back and forth (its rotation settings
/// are untouched); `email` is a user whose refresh tokens are read.
pub async fn traffic(m: Manager, client_id: String, email: String, measure_from: Instant, deadline: Instant) -> Traffic {
    let encoded: String = url::form_urlencoded::byte_serialize(format!("email:\"{email}\"").as_bytes()).collect();
    let user_id = match m.get(&format!("/users?q={encoded}")).await {
        Ok(found) => found[0]["user_id"].as_str().map(|s| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()),
        Err(e) => return Traffic { errors: 1, first_error: Some(e.to_string()), ..Traffic::default() },
    };
    let Some(user_id) = user_id else {
        return Traffic { errors: 1, first_error: Some(format!("no user {email}")), ..Traffic::default() };
    };
    let mut t = Traffic::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / TRAFFIC_RATE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0u64.. {
        tick.tick().await;
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let r = match i % 5 {
            0 => m.get("/users?per_page=50").await,
            1 => m.get(&format!("/users/{user_id}/refresh-tokens")).await,
            2 => m.get("/logs?from=0&take=50").await,
            3 => m.get("/stats/active-users").await,
            _ => m.call(reqwest::Method::PATCH, &format!("/clients/{client_id}"), Some(json!({"name": format!("B{}", i % 2)}))).await,
        };
        if now < measure_from {
            continue;
        }
        match r {
            Ok(_) => t.ok += 1,
            Err(e) => {
                t.errors += 1;
                t.first_error.get_or_insert(e.to_string());
            }
        }
    }
    t.window = deadline.saturating_duration_since(measure_from);
    t
}

/// The cost of checkpoint pages from the first to the last of a long listing.
pub struct Walk {
    pub what: &'static str,
    pub items: usize,
    pub pages: usize,
    /// Mean time per page of the first and of the last ten pages.
    pub first: Duration,
    pub last: Duration,
}

/// Seeds `database` with [`USERS`] users and [`EVENTS`] events, starts a server on it and walks
/// both listings through `/api/v2`.
pub async fn listing(args: &Args, database: &str, master_key: &str) -> anyhow::Result<Vec<Walk>> {
    seed(database).await?;
    // Reading as fast as possible: above the per-caller rate limit (50/s by default).
    let server = super::start_server(args, database, master_key, &["--management-rate-limit", "100000"]).await?;
    let m = Manager::provision(args, database, master_key, &server.base).await?;
    let users = walk("users", |from| {
        let m = &m;
        async move {
            let path = match from {
                Some(f) => format!("/users?take={PAGE}&from={}", url::form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>()),
                None => format!("/users?take={PAGE}"),
            };
            let chunk = m.get(&path).await?;
            let n = chunk["users"].as_array().map_or(0, Vec::len);
            Ok((n, chunk["next"].as_str().map(str::to_string)))
        }
    })
    .await?;
    let logs = walk("log events", |from| {
        let m = &m;
        async move {
            let page = m.get(&format!("/logs?take={PAGE}&from={}", from.as_deref().unwrap_or("0"))).await?;
            let items = page.as_array().context("logs: not an array")?;
            let next = if items.len() == PAGE { items.last().and_then(|l| l["log_id"].as_str()).map(str::to_string) } else { None };
            Ok((items.len(), next))
        }
    })
    .await?;
    Ok(vec![users, logs])
}

/// Reads pages with `page(from)` (→ items on the page, the next cursor) until there is no next.
async fn walk<F, Fut>(what: &'static str, page: F) -> anyhow::Result<Walk>
where
    F: Fn(Option<String>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(usize, Option<String>)>>,
{
    let (mut times, mut items, mut from) = (Vec::new(), 0, None);
    loop {
        let t0 = Instant::now();
        let (n, next) = page(from.take()).await?;
        times.push(t0.elapsed());
        items += n;
        match next {
            Some(n) => from = Some(n),
            None => break,
        }
    }
    ensure!(times.len() >= 20, "{what}: only {} pages", times.len());
    let mean = |s: &[Duration]| s.iter().sum::<Duration>() / s.len() as u32;
    // The very last page may be short: the last ten full pages before it.
    let full = &times[..times.len() - 1];
    Ok(Walk { what, items, pages: times.len(), first: mean(&full[..10]), last: mean(&full[full.len() - 10..]) })
}

/// Inserts the users and events of the listing measurement through the store.
async fn seed(database: &str) -> anyhow::Result<()> {
    let store = ratchet_store::open(database).await?;
    let now = super::unix_now();
    let run = hex::encode(ratchet_core::secret::random_bytes::<4>());
    let users: Vec<User> = (0..USERS)
        .map(|i| User::new(format!("ratchet|bench{run}{i:06}"), format!("list{run}-{i}@example.com"), format!("User {i}"), "-".into(), now))
        .collect();
    for batch in users.chunks(64) {
        let mut set = tokio::task::JoinSet::new();
        for u in batch {
            let (store, u) = (store.clone(), u.clone());
            set.spawn(async move { store.insert_user(&u).await });
        }
        for inserted in set.join_all().await {
            inserted?;
        }
    }
    let events: Vec<Event> = (0..EVENTS)
        .map(|i| Event {
            at: now - (EVENTS - i) as i64,
            kind: if i % 7 == 0 { "f" } else { "s" }.into(),
            client_id: None,
            user_id: Some(users[i % USERS].user_id.clone()),
            description: "Login".into(),
            details: json!({}),
            ip: Some("203.0.113.7".into()),
            user_agent: Some("ratchet-bench".into()),
        })
        .collect();
    for chunk in events.chunks(5_000) {
        store.record_many(chunk).await?;
    }
    Ok(())
}

pub fn report_walks(spec: &str, walks: &[Walk]) {
    println!("listing:       {spec}: {USERS} users and {EVENTS} log events seeded, read through /api/v2 by checkpoint, {PAGE} per page");
    println!("| store | listing | items | pages | first 10 pages ms/page | last 10 pages ms/page | last/first |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for w in walks {
        println!(
            "| {spec} | {} | {} | {} | {:.2} | {:.2} | {:.2} |",
            w.what,
            w.items,
            w.pages,
            w.first.as_secs_f64() * 1e3,
            w.last.as_secs_f64() * 1e3,
            w.last.as_secs_f64() / w.first.as_secs_f64()
        );
    }
    println!();
}
