//! Brute-force protection at `/u/login` (docs/security.md): counters per (account, client
//! address) and per address, in the store (shared by nodes, kept across restarts), reserved before
//! the password is checked; the client address behind trusted proxies; blocks listed and lifted
//! through the Management API and the CLI.

use std::process::Command;

use serde_json::{Value, json};

use crate::login::{login_page, post_login};
use crate::multinode::PgDatabase;
use crate::support::*;

const ATTACKER: &str = "203.0.113.7";
const VICTIM: &str = "198.51.100.2";
const LIMIT: u32 = ratchet_core::brute_force::DEFAULT_POLICY.pair_max;

/// An app that believes the forwarding headers of the test client's own address (127.0.0.1),
/// so each test browser can speak from an address of its own.
async fn behind_a_proxy() -> TestApp {
    TestApp::spawn_with(|c| c.trusted_proxies = "127.0.0.1/32".parse().unwrap()).await
}

/// A browser whose requests carry `X-Forwarded-For: ip`.
fn browser_at(ip: &str) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("x-forwarded-for", ip.parse().unwrap());
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).default_headers(h).build().unwrap()
}

/// One sign-in attempt in `b` through a fresh login page; returns the status.
async fn attempt(app: &TestApp, b: &reqwest::Client, client_id: &str, password: &str) -> u16 {
    let (tx, _) = login_page(app, b, client_id).await;
    post_login(app, b, &tx, "alice@example.com", password).await.status().as_u16()
}

/// `LIMIT` wrong passwords for alice from `b`, each refused as wrong (400).
async fn fail_up_to_the_limit(app: &TestApp, b: &reqwest::Client, client_id: &str) {
    let (tx, _) = login_page(app, b, client_id).await;
    for i in 0..LIMIT {
        assert_eq!(post_login(app, b, &tx, "alice@example.com", "wrong-password").await.status(), 400, "attempt {i}");
    }
}

#[tokio::test]
async fn victim_is_not_locked_out_by_failures_from_another_ip() {
    let app = behind_a_proxy().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let attacker = browser_at(ATTACKER);
    fail_up_to_the_limit(&app, &attacker, &c.client_id).await;
    assert_eq!(attempt(&app, &attacker, &c.client_id, PASSWORD).await, 429, "the attacker's address is blocked, even with the password");
    assert_eq!(attempt(&app, &browser_at(VICTIM), &c.client_id, PASSWORD).await, 302, "the victim signs in from their own address");
}

#[tokio::test]
async fn parallel_guesses_never_exceed_the_limit() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = browser();
    let (tx, _) = login_page(&app, &b, &c.client_id).await;
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..25 {
        let (b, url, origin, tx) = (b.clone(), app.url("/u/login"), app.base.clone(), tx.clone());
        guesses.spawn(async move {
            let form = [("state", tx.as_str()), ("username", "alice@example.com"), ("password", &format!("guess-{i}"))];
            b.post(url).header("origin", origin).form(&form).send().await.unwrap().status().as_u16()
        });
    }
    let statuses = guesses.join_all().await;
    let checked = statuses.iter().filter(|s| **s == 400).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (LIMIT as usize, 25 - LIMIT as usize), "{statuses:?}");
    assert_eq!(app.events("f").await.len(), LIMIT as usize, "one failed-login event per password checked");
    assert_eq!(app.events("limit_wc").await.len(), 1, "the block is logged once");
}

#[tokio::test]
async fn success_clears_the_pair_counter() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = browser();
    let (tx, _) = login_page(&app, &b, &c.client_id).await;
    for _ in 0..LIMIT - 1 {
        assert_eq!(post_login(&app, &b, &tx, "alice@example.com", "wrong-password").await.status(), 400);
    }
    assert_eq!(attempt(&app, &b, &c.client_id, PASSWORD).await, 302);
    // The count starts again: a full allowance of mistakes before the next block.
    fail_up_to_the_limit(&app, &browser(), &c.client_id).await;
    assert_eq!(attempt(&app, &browser(), &c.client_id, PASSWORD).await, 429);
}

#[tokio::test]
async fn counters_survive_a_restart() {
    let first = TestApp::spawn().await;
    let c = first.spa().await;
    first.user("alice@example.com").await;
    fail_up_to_the_limit(&first, &browser(), &c.client_id).await;
    // A node started afresh on the same database file: nothing of the first one's memory.
    let url = format!("sqlite://{}", first.db_path.display());
    let restarted = TestApp::spawn_with(|config| config.database_url = url).await;
    assert_eq!(attempt(&restarted, &browser(), &c.client_id, PASSWORD).await, 429);
}

#[tokio::test]
async fn second_node_sees_the_counters_of_the_first() {
    let db = PgDatabase::create().await;
    let first = TestApp::spawn_with(|config| config.database_url = db.url.clone()).await;
    let second = TestApp::spawn_with(|config| config.database_url = db.url.clone()).await;
    let c = first.spa().await;
    first.user("alice@example.com").await;
    fail_up_to_the_limit(&first, &browser(), &c.client_id).await;
    assert_eq!(attempt(&second, &browser(), &c.client_id, PASSWORD).await, 429, "the second node counts the first one's failures");
    // Two nodes racing: still at most the limit of checks between them.
    let _ = second.state.store.clear_login_attempts("alice@example.com").await.unwrap();
    let (b1, b2) = (browser(), browser());
    let ((tx1, _), (tx2, _)) = (login_page(&first, &b1, &c.client_id).await, login_page(&second, &b2, &c.client_id).await);
    let mut statuses = Vec::new();
    for _ in 0..LIMIT {
        let (a, b) = tokio::join!(
            post_login(&first, &b1, &tx1, "alice@example.com", "wrong-password"),
            post_login(&second, &b2, &tx2, "alice@example.com", "wrong-password")
        );
        statuses.extend([a.status().as_u16(), b.status().as_u16()]);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), LIMIT as usize, "{statuses:?}");
}

#[tokio::test]
async fn trusted_proxy_forwarded_address_is_used() {
    let app = behind_a_proxy().await;
    let c = app.spa().await;
    let u = app.user("alice@example.com").await;
    assert_eq!(attempt(&app, &browser_at(&format!("192.0.2.1, {VICTIM}")), &c.client_id, PASSWORD).await, 302);
    let u = app.state.store.user(&u.user_id).await.unwrap().unwrap();
    assert_eq!(u.last_ip.as_deref(), Some(VICTIM), "the rightmost address the proxy appended");
    assert_eq!(app.events("s").await[0].ip.as_deref(), Some(VICTIM), "the audit trail records the same address");
}

#[tokio::test]
async fn untrusted_proxy_forwarded_address_is_ignored() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let u = app.user("alice@example.com").await;
    fail_up_to_the_limit(&app, &browser_at(ATTACKER), &c.client_id).await;
    assert_eq!(attempt(&app, &browser_at(VICTIM), &c.client_id, PASSWORD).await, 429, "a made-up header does not escape the block");
    app.state.manage.users.unblock_brute_force(&u.user_id).await.unwrap();
    assert_eq!(attempt(&app, &browser_at(VICTIM), &c.client_id, PASSWORD).await, 302);
    let u = app.state.store.user(&u.user_id).await.unwrap().unwrap();
    assert_eq!(u.last_ip.as_deref(), Some("127.0.0.1"), "the TCP peer, not the header");
}

#[tokio::test]
async fn unblock_brute_force_clears_the_block() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let u = app.user("alice@example.com").await;
    let path = format!("/api/v2/user-blocks/{}", u.user_id.replace('|', "%7C"));
    let http = reqwest::Client::new();
    let blocks = || async {
        let r = http.get(app.url(&path)).bearer_auth(app.management_token("admin", &["read:users"])).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    assert_eq!(blocks().await, json!({"blocked_for": []}));

    // Through the Management API.
    fail_up_to_the_limit(&app, &browser(), &c.client_id).await;
    let blocked =
        json!({"blocked_for": [{"identifier": "alice@example.com", "ip": "127.0.0.1", "connection": "Username-Password-Authentication"}]});
    assert_eq!(blocks().await, blocked);
    let unblock = |scopes: &'static [&'static str]| http.delete(app.url(&path)).bearer_auth(app.management_token("admin", scopes)).send();
    assert_eq!(unblock(&["read:users"]).await.unwrap().status(), 403, "unblocking needs update:users");
    assert_eq!(unblock(&["update:users"]).await.unwrap().status(), 204);
    assert_eq!(blocks().await, json!({"blocked_for": []}));
    assert_eq!(attempt(&app, &browser(), &c.client_id, PASSWORD).await, 302);

    // Through the CLI, on the same database.
    fail_up_to_the_limit(&app, &browser(), &c.client_id).await;
    let out = Command::new(env!("CARGO_BIN_EXE_ratchet"))
        .env("RATCHET_DATABASE_URL", format!("sqlite://{}", app.db_path.display()))
        .args(["users", "unblock-brute-force", &u.user_id, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["blocked_for"], blocked["blocked_for"], "the CLI names the blocks it lifted");
    assert_eq!(attempt(&app, &browser(), &c.client_id, PASSWORD).await, 302);
}
