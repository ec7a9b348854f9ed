//! Several `ratchet serve` processes sharing one PostgreSQL database: any node serves any request,
//! rotation has exactly one winner across nodes, a killed node loses nothing a client received, and
//! a database outage gives clean 503s followed by recovery without restarting the nodes.
//!
//! Needs PostgreSQL at 127.0.0.1:5432 (user `postgres`, trust); `scripts/test` starts it. The
//! outage test runs its own private PostgreSQL instance so the shared one is never stopped.

use std::process::Stdio;
use std::time::{Duration, Instant};

use ratchet_core::client::{AppType, Client, NewClient};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::*;

const ISSUER: &str = "http://ratchet.test/";
const ISSUER_ORIGIN: &str = "http://ratchet.test";

/// A running `ratchet serve` process.
struct Node {
    base: String,
    child: Child,
}

impl Node {
    async fn start(database: &str) -> Node {
        Self::start_with(database, &[]).await
    }

    /// A node with extra `serve` flags.
    async fn start_with(database: &str, flags: &[&str]) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ratchet"))
            .args(["--database", database, "serve", "--listen", "127.0.0.1:0", "--issuer", ISSUER])
            .args(flags)
            .env("RATCHET_MASTER_KEY", MASTER_KEY)
            .env("RATCHET_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the ratchet binary runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return url.trim_end_matches('/').to_string();
                }
            }
            panic!("ratchet exited before listening");
        })
        .await
        .expect("the node starts within 30 s");
        // Keep draining stdout so the node never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Node { base, child }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A fresh database on the shared PostgreSQL server, dropped when the guard goes.
pub(crate) struct PgDatabase {
    name: String,
    pub(crate) url: String,
}

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

impl PgDatabase {
    pub(crate) async fn create() -> PgDatabase {
        let admin = sqlx::PgPool::connect(PG_ADMIN).await.expect("PostgreSQL must be running at 127.0.0.1:5432 (scripts/test starts it)");
        let name = format!("ratchet_mn_{}", hex::encode(ratchet_core::secret::random_bytes::<6>()));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
        admin.close().await;
        PgDatabase { url: format!("postgres://postgres@127.0.0.1:5432/{name}"), name }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Best effort, on a thread of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(PG_ADMIN).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&admin).await;
                }
            });
        })
        .join();
    }
}

async fn spa_client(database: &str, leeway: u32) -> Client {
    let store = ratchet_store::open(database).await.unwrap();
    let mut c = Client::new(
        hex::encode(ratchet_core::secret::random_bytes::<16>()),
        NewClient {
            name: "Multi-node SPA".into(),
            app_type: Some(AppType::Spa),
            callbacks: vec![CALLBACK.into()],
            logout_urls: vec![],
            web_origins: vec![SPA_ORIGIN.into()],
        },
        0,
    )
    .unwrap();
    c.refresh_token.leeway = leeway;
    store.insert_client(&c, None).await.unwrap();
    let users =
        ratchet_server::service::manage::users::UserService::new(store.clone(), std::sync::Arc::new(ratchet_server::clock::SystemClock));
    users.create(crate::support::new_user("alice@example.com", None)).await.ok();
    c
}

/// Signs in through `login_node` and exchanges the code at `token_node`; returns a refresh token.
async fn sign_in(login_node: &Node, token_node: &Node, client: &Client) -> String {
    sign_in_with(login_node, token_node, client, None).await
}

/// As [`sign_in`], with a DPoP proof by `key` at the code exchange (when given).
async fn sign_in_with(login_node: &Node, token_node: &Node, client: &Client, key: Option<&ratchet_core::dpop::ClientKey>) -> String {
    let b = browser();
    let (verifier, challenge) = pkce();
    let mut u = url::Url::parse(&login_node.url("/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", &client.client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid offline_access")
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let r = b.get(u.as_str()).send().await.unwrap();
    let login = r.headers()["location"].to_str().unwrap().to_string();
    let tx = login.trim_start_matches("/u/login?state=").to_string();
    let r = b
        .post(login_node.url("/u/login"))
        .header("origin", ISSUER_ORIGIN)
        .form(&[("state", tx.as_str()), ("username", "alice@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{:?}", r.text().await);
    let code = param(r.headers()["location"].to_str().unwrap(), "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client.client_id.as_str()),
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
        ("redirect_uri", CALLBACK),
    ];
    let proof = key.map(token_proof);
    let (s, body) = post_token_with(token_node, &form, proof.as_deref()).await.unwrap();
    assert_eq!(s, 200, "{body}");
    body["refresh_token"].as_str().unwrap().to_string()
}

async fn post_token(node: &Node, form: &[(&str, &str)]) -> Result<(u16, Value), reqwest::Error> {
    post_token_with(node, form, None).await
}

/// `POST /oauth/token` with a `DPoP` header when `proof` is given.
async fn post_token_with(node: &Node, form: &[(&str, &str)], proof: Option<&str>) -> Result<(u16, Value), reqwest::Error> {
    let mut req = reqwest::Client::builder().timeout(Duration::from_secs(15)).build()?.post(node.url("/oauth/token")).form(form);
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    let r = req.send().await?;
    let s = r.status().as_u16();
    Ok((s, r.json().await.unwrap_or(Value::Null)))
}

/// A proof by `key` for the token endpoint as the nodes publish it (under the shared issuer).
fn token_proof(key: &ratchet_core::dpop::ClientKey) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    key.proof("POST", &format!("{ISSUER}oauth/token"), now, None, None)
}

async fn refresh(node: &Node, client: &Client, rt: &str) -> Result<(u16, Value), reqwest::Error> {
    post_token(node, &[("grant_type", "refresh_token"), ("client_id", &client.client_id), ("refresh_token", rt)]).await
}

#[tokio::test]
async fn any_node_serves_any_request_and_reuse_is_detected_across_nodes() {
    let db = PgDatabase::create().await;
    let (a, b, c) = (Node::start(&db.url).await, Node::start(&db.url).await, Node::start(&db.url).await);
    let jwks: Vec<Value> = futures_join(&[&a, &b, &c], "/.well-known/jwks.json").await;
    assert_eq!(jwks[0], jwks[1]);
    assert_eq!(jwks[1], jwks[2]);
    let client = spa_client(&db.url, 0).await;
    let rt0 = sign_in(&a, &a, &client).await;
    let (s, r1) = refresh(&b, &client, &rt0).await.unwrap();
    assert_eq!(s, 200, "refresh on node B of a token issued by node A");
    let rt1 = r1["refresh_token"].as_str().unwrap().to_string();
    let (s, r2) = refresh(&c, &client, &rt1).await.unwrap();
    assert_eq!(s, 200, "refresh again on node C");
    let rt2 = r2["refresh_token"].as_str().unwrap().to_string();
    // rt1 was rotated by C; presenting it at A is reuse, detected there.
    let (s, body) = refresh(&a, &client, &rt1).await.unwrap();
    assert_eq!((s, body["error_description"].as_str()), (403, Some("Unknown or invalid refresh token.")));
    let (s, _) = refresh(&b, &client, &rt2).await.unwrap();
    assert_eq!(s, 403, "the whole family died");
    let store = ratchet_store::open(&db.url).await.unwrap();
    let ferrt = store.events(&ratchet_store::EventQuery { kind: Some("ferrt".into()), user_id: None, limit: 10 }).await.unwrap();
    assert_eq!(ferrt.len(), 1);
    assert_eq!(ferrt[0].details["tokenCounter"], 1);
    assert_eq!(ferrt[0].details["latestCounter"], 2);
}

async fn futures_join(nodes: &[&Node], path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for n in nodes {
        out.push(reqwest::get(n.url(path)).await.unwrap().json().await.unwrap());
    }
    out
}

#[tokio::test]
async fn dpop_proof_replayed_to_another_node_is_refused_and_the_family_needs_its_key_on_every_node() {
    let db = PgDatabase::create().await;
    let (a, b) = (Node::start(&db.url).await, Node::start(&db.url).await);
    let client = spa_client(&db.url, 0).await;
    let key = ratchet_core::dpop::ClientKey::generate();
    let rt0 = sign_in_with(&a, &a, &client, Some(&key)).await;
    let refresh_with = |node: &Node, rt: &str, proof: Option<&str>| {
        let form = [("grant_type", "refresh_token"), ("client_id", client.client_id.as_str()), ("refresh_token", rt)];
        let (url, form, proof) = (node.url("/oauth/token"), form.map(|(k, v)| (k, v.to_string())), proof.map(str::to_string));
        async move {
            let mut req = reqwest::Client::new().post(url).form(&form);
            if let Some(p) = proof {
                req = req.header("DPoP", p);
            }
            let r = req.send().await.unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let proof = token_proof(&key);
    let (s, body) = refresh_with(&a, &rt0, Some(&proof)).await;
    assert_eq!((s, body["token_type"].as_str()), (200, Some("DPoP")), "{body}");
    let rt1 = body["refresh_token"].as_str().unwrap().to_string();
    // The same proof sent to node B (with the new token): B sees A's replay-cache entry.
    let (s, body) = refresh_with(&b, &rt1, Some(&proof)).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
    // A thief with the token but without the key, at either node: refused, nothing revoked.
    let (s, _) = refresh_with(&b, &rt1, None).await;
    assert_eq!(s, 403);
    let (s, _) = refresh_with(&a, &rt0, Some(&token_proof(&ratchet_core::dpop::ClientKey::generate()))).await;
    assert_eq!(s, 403);
    let (s, body) = refresh_with(&b, &rt1, Some(&token_proof(&key))).await;
    assert_eq!(s, 200, "the key holder is still signed in, on any node: {body}");
    let store = ratchet_store::open(&db.url).await.unwrap();
    let failed = store.events(&ratchet_store::EventQuery { kind: Some("fertft".into()), user_id: None, limit: 10 }).await.unwrap();
    let reasons: Vec<&str> = failed.iter().filter_map(|e| e.details["failure_reason"].as_str()).collect();
    for r in ["dpop_replay", "dpop_proof_missing", "dpop_key_mismatch"] {
        assert!(reasons.contains(&r), "{r} audited: {reasons:?}");
    }
}

#[tokio::test]
async fn concurrent_presentations_across_nodes_have_exactly_one_winner() {
    let db = PgDatabase::create().await;
    let nodes = std::sync::Arc::new(vec![Node::start(&db.url).await, Node::start(&db.url).await, Node::start(&db.url).await]);
    let client = spa_client(&db.url, 0).await;
    let rt = sign_in(&nodes[0], &nodes[1], &client).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32 {
        let (nodes, client, rt) = (nodes.clone(), client.clone(), rt.clone());
        tasks.spawn(async move { refresh(&nodes[i % 3], &client, &rt).await.unwrap() });
    }
    let results: Vec<(u16, Value)> = tasks.join_all().await;
    let winners: Vec<&Value> = results.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b).collect();
    assert_eq!(winners.len(), 1, "{:?}", results.iter().map(|(s, _)| s).collect::<Vec<_>>());
    assert!(results.iter().all(|(s, b)| *s == 200 || (*s == 403 && b["error"] == "invalid_grant")));
    let (s, _) = refresh(&nodes[2], &client, winners[0]["refresh_token"].as_str().unwrap()).await.unwrap();
    assert_eq!(s, 403, "reuse revoked the family, the winner's token included");
}

#[tokio::test]
async fn killing_a_node_under_load_loses_no_token_a_client_received() {
    let db = PgDatabase::create().await;
    let mut nodes = vec![Node::start(&db.url).await, Node::start(&db.url).await, Node::start(&db.url).await];
    // A retry after a lost response is what leeway is for.
    let client = spa_client(&db.url, 10).await;
    let mut chains = Vec::new();
    for i in 0..6 {
        chains.push(sign_in(&nodes[i % 3], &nodes[(i + 1) % 3], &client).await);
    }
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let alive = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(3));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut rt) in chains.into_iter().enumerate() {
        let (bases, client, alive) = (bases.clone(), client.clone(), alive.clone());
        tasks.spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(4);
            let mut n = i;
            let mut ok = 0u32;
            while Instant::now() < deadline {
                let node = &bases[n % alive.load(std::sync::atomic::Ordering::SeqCst)];
                let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
                let r = http
                    .post(format!("{node}/oauth/token"))
                    .form(&[("grant_type", "refresh_token"), ("client_id", client.client_id.as_str()), ("refresh_token", rt.as_str())])
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => {
                        let body: Value = r.json().await.unwrap();
                        rt = body["refresh_token"].as_str().unwrap().to_string();
                        ok += 1;
                    }
                    Ok(r) => panic!("chain {i}: refresh failed with {} {:?}", r.status(), r.text().await),
                    // The node died mid-request: retry the same token elsewhere.
                    Err(_) => {}
                }
                n += 1;
            }
            (rt, ok)
        });
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Stop routing to node C, then kill it hard while requests may still be in flight there.
    alive.store(2, std::sync::atomic::Ordering::SeqCst);
    nodes[2].child.start_kill().unwrap();
    let _ = nodes[2].child.wait().await;
    let results = tasks.join_all().await;
    for (i, (rt, ok)) in results.iter().enumerate() {
        assert!(*ok > 0, "chain {i} made progress");
        let (s, body) = refresh(&nodes[i % 2], &client, rt).await.unwrap();
        assert_eq!(s, 200, "chain {i}: the last token received still works: {body}");
    }
    nodes.truncate(2);
}

/// Group commit (issue 14; `ratchet_store::group_commit`): a rotation is acknowledged only after
/// the commit that carries it, so killing the server (SIGKILL) while rotations are being committed
/// in groups loses none a client received a 200 for. Concurrent refresh chains run against one
/// `ratchet serve`; it is killed under load, then restarted on the same database, and each chain's
/// last received token still refreshes. (A lost acknowledged rotation would leave the family one
/// step behind, and that token would be one it never issued: refused. Leeway lets a chain whose
/// last request was committed but not answered present its previous token again.)
async fn crash_mid_batch(database: &str) {
    const CHAINS: usize = 16;
    let mut node = Node::start(database).await;
    let client = spa_client(database, 60).await;
    let mut chains = Vec::new();
    for _ in 0..CHAINS {
        chains.push(sign_in(&node, &node, &client).await);
    }
    let base = node.base.clone();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut rt) in chains.into_iter().enumerate() {
        let (base, client) = (base.clone(), client.clone());
        tasks.spawn(async move {
            let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
            let mut acknowledged = 0u32;
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let r = http
                    .post(format!("{base}/oauth/token"))
                    .form(&[("grant_type", "refresh_token"), ("client_id", client.client_id.as_str()), ("refresh_token", rt.as_str())])
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                        Ok(body) => {
                            rt = body["refresh_token"].as_str().unwrap().to_string();
                            acknowledged += 1;
                        }
                        // Killed while sending the body: not acknowledged.
                        Err(_) => break,
                    },
                    Ok(r) => panic!("chain {i}: refresh failed with {} {:?}", r.status(), r.text().await),
                    // The server is gone.
                    Err(_) => break,
                }
            }
            (rt, acknowledged)
        });
    }
    // Under load until the server has committed some rotations in groups (bounded), then killed.
    let started = Instant::now();
    let (mut largest, mut metrics) = (0u64, String::new());
    while largest < 2 && started.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        metrics = reqwest::get(node.url("/metrics")).await.unwrap().text().await.unwrap();
        largest = metrics
            .lines()
            .find_map(|l| l.strip_prefix("ratchet_rotation_batch_largest "))
            .and_then(|v| v.trim().parse().ok())
            .expect("the batch metric is exported");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    node.child.start_kill().unwrap();
    let _ = node.child.wait().await;
    let results = tasks.join_all().await;
    assert!(largest > 1, "the server committed rotations in groups before it was killed: {metrics}");
    let node = Node::start(database).await;
    for (i, (rt, acknowledged)) in results.iter().enumerate() {
        assert!(*acknowledged > 0, "chain {i} made progress");
        let (s, body) = refresh(&node, &client, rt).await.unwrap();
        assert_eq!(s, 200, "chain {i}: the last token received after {acknowledged} refreshes still works: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_mid_batch_loses_no_acknowledged_rotation_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    crash_mid_batch(&format!("sqlite://{}", dir.path().join("crash.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_mid_batch_loses_no_acknowledged_rotation_on_postgres() {
    let db = PgDatabase::create().await;
    crash_mid_batch(&db.url).await;
}

/// A private PostgreSQL instance (initdb in a temp dir, run as the `postgres` user).
struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: std::path::PathBuf,
}

impl PrivatePostgres {
    async fn start() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries in /usr/lib/postgresql")
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .max()
            .unwrap();
        let dir = tempfile::Builder::new().prefix("ratchet-pg-").tempdir().unwrap();
        {
            let mut chown = std::process::Command::new("chown");
            chown.args(["postgres:postgres", dir.path().to_str().unwrap()]);
            run(chown);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let data = dir.path().join("data");
        run(as_postgres(&bin.join("initdb"), &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "--no-sync"]));
        let pg = PrivatePostgres { dir, port, bin };
        pg.up();
        pg
    }

    fn up(&self) {
        let data = self.dir.path().join("data");
        let opts = format!("-p {} -k {} -h 127.0.0.1 -F", self.port, self.dir.path().display());
        let log = self.dir.path().join("log");
        run(as_postgres(
            &self.bin.join("pg_ctl"),
            &["-D", data.to_str().unwrap(), "-o", &opts, "-l", log.to_str().unwrap(), "-w", "-t", "30", "start"],
        ));
    }

    fn down(&self) {
        let data = self.dir.path().join("data");
        run(as_postgres(&self.bin.join("pg_ctl"), &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "-t", "30", "stop"]));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = as_postgres(&self.bin.join("pg_ctl"), &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"]).output();
    }
}

fn as_postgres(program: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new("runuser");
    c.args(["-u", "postgres", "--", program.to_str().unwrap()]).args(args);
    c
}

fn run(mut c: std::process::Command) {
    let out = c.output().expect("command runs");
    assert!(out.status.success(), "{c:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn database_outage_gives_clean_503s_and_nodes_recover_by_themselves() {
    let pg = PrivatePostgres::start().await;
    let node = Node::start(&pg.url()).await;
    let client = spa_client(&pg.url(), 0).await;
    let rt0 = sign_in(&node, &node, &client).await;
    let (s, body) = refresh(&node, &client, &rt0).await.unwrap();
    assert_eq!(s, 200);
    let rt1 = body["refresh_token"].as_str().unwrap().to_string();

    pg.down();
    let started = Instant::now();
    let (s, body) = refresh(&node, &client, &rt1).await.expect("an answer, not a hang");
    assert_eq!((s, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10), "fails fast: {:?}", started.elapsed());
    let health = reqwest::get(node.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 503);
    let _: Value = health.json().await.expect("a JSON health body");

    pg.up();
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (s, body) = refresh(&node, &client, &rt1).await.unwrap();
        if s == 200 {
            break body;
        }
        assert_eq!(s, 503, "only unavailability while recovering: {body}");
        assert!(Instant::now() < deadline, "the node did not recover within 30 s");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(body["refresh_token"].is_string(), "the token presented during the outage was not consumed");
    assert_eq!(reqwest::get(node.url("/healthz")).await.unwrap().status(), 200);
}

#[tokio::test]
async fn healthz_is_503_when_store_is_unreachable() {
    let pg = PrivatePostgres::start().await;
    let app = TestApp::spawn_with(|c| c.database_url = pg.url()).await;
    let healthz = || async { reqwest::Client::new().get(app.url("/healthz")).timeout(Duration::from_secs(30)).send().await };
    assert_eq!(healthz().await.unwrap().status(), 200);
    pg.down();
    let r = healthz().await.expect("an answer, not a hang");
    assert_eq!(r.status(), 503, "a load balancer takes the node out of rotation");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    pg.up();
    let deadline = Instant::now() + Duration::from_secs(30);
    while healthz().await.unwrap().status() != 200 {
        assert!(Instant::now() < deadline, "healthy again within 30 s of the store coming back");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// `ratchet keys rotate --kind KIND --prepublish SECONDS --json` against `database`.
fn rotate_keys(database: &str, kind: &str, prepublish: &str) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ratchet"))
        .args(["--database", database, "keys", "rotate", "--kind", kind, "--prepublish", prepublish, "--json"])
        .env("RATCHET_MASTER_KEY", MASTER_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The kids of the published RSA keys (their RS256 JWKs; the other key types rotate on their own).
async fn jwks_kids(node: &Node) -> Vec<String> {
    let jwks: Value = reqwest::get(node.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().filter(|k| k["alg"] == "RS256").map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

fn jwt_kid(jwt: &str) -> String {
    use base64::Engine;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(jwt.split('.').next().unwrap()).unwrap();
    serde_json::from_slice::<Value>(&header).unwrap()["kid"].as_str().unwrap().to_string()
}

fn refresh_mac_kid(rt: &str) -> u8 {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(rt).unwrap()[1]
}

async fn userinfo_status(node: &Node, access_token: &str) -> u16 {
    reqwest::Client::new().get(node.url("/userinfo")).bearer_auth(access_token).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn key_rotation_on_three_nodes_keeps_live_tokens_valid() {
    let db = PgDatabase::create().await;
    let flags = ["--key-reload-interval", "1"];
    let nodes = [Node::start_with(&db.url, &flags).await, Node::start_with(&db.url, &flags).await, Node::start_with(&db.url, &flags).await];
    let client = spa_client(&db.url, 0).await;
    // Live tokens of three users' families, issued before the rotation.
    let mut chain = sign_in(&nodes[0], &nodes[1], &client).await;
    let (s, body) = refresh(&nodes[2], &client, &chain).await.unwrap();
    assert_eq!(s, 200, "{body}");
    chain = body["refresh_token"].as_str().unwrap().to_string();
    let old_kid = jwt_kid(body["id_token"].as_str().unwrap());
    let opaque = body["access_token"].as_str().unwrap().to_string();
    let untouched: Vec<String> = [sign_in(&nodes[1], &nodes[2], &client).await, sign_in(&nodes[2], &nodes[0], &client).await].into();
    assert_eq!(refresh_mac_kid(&chain), 1);

    // Published at once on every node's next reload (1 s), issuing 4 s later.
    let signing = rotate_keys(&db.url, "signing", "4");
    let new_kid = signing["kid"].as_str().unwrap().to_string();
    let mac = rotate_keys(&db.url, "refresh", "4");
    assert_eq!(mac["id"], 2);
    let published = Instant::now() + Duration::from_secs(20);
    for node in &nodes {
        while !jwks_kids(node).await.contains(&new_kid) {
            assert!(Instant::now() < published, "every node publishes the next key within 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Keep refreshing round the nodes: every exchange succeeds, and within a bounded time every
    // node issues with the new keys.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut switched = [false; 3];
    while switched.contains(&false) {
        assert!(Instant::now() < deadline, "every node issues with the new keys within 30 s: {switched:?}");
        for (i, node) in nodes.iter().enumerate() {
            let (s, body) = refresh(node, &client, &chain).await.unwrap();
            assert_eq!(s, 200, "node {i}: a live token keeps refreshing through the rotation: {body}");
            chain = body["refresh_token"].as_str().unwrap().to_string();
            let kid = jwt_kid(body["id_token"].as_str().unwrap());
            assert!(kid == old_kid || kid == new_kid, "node {i} signs with a published key");
            if kid == new_kid {
                assert!(jwks_kids(node).await.contains(&old_kid), "node {i}: the retiring key stays published");
            }
            switched[i] = kid == new_kid && refresh_mac_kid(&chain) == 2;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (node, rt) in nodes.iter().zip(untouched.iter()) {
        let (s, body) = refresh(node, &client, rt).await.unwrap();
        assert_eq!(s, 200, "a refresh token made with the old MAC key still refreshes: {body}");
        assert_eq!(refresh_mac_kid(body["refresh_token"].as_str().unwrap()), 2);
    }
    for node in &nodes {
        assert_eq!(jwks_kids(node).await, vec![old_kid.clone(), new_kid.clone()]);
        assert_eq!(userinfo_status(node, &opaque).await, 200, "an opaque access token from before the rotation still works");
    }
}

/// How long a change made through one node may take to reach the others (the catalog cache,
/// docs/deploy.md): PostgreSQL delivers the change notification when the change commits.
const CATALOG_STALENESS_BOUND: Duration = Duration::from_secs(2);

/// `client_credentials` at `node`: the status and `expires_in`.
async fn client_credentials(node: &Node, client_id: &str, secret: &str, audience: &str) -> (u16, Option<i64>) {
    let form = [("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret), ("audience", audience)];
    let (s, body) = post_token(node, &form).await.unwrap();
    (s, body["expires_in"].as_i64())
}

/// Polls `node` until `client_credentials` answers `expected`, failing after the bound.
async fn answers_within_bound(node: &Node, client_id: &str, secret: &str, audience: &str, expected: (u16, Option<i64>), what: &str) {
    let deadline = Instant::now() + CATALOG_STALENESS_BOUND;
    loop {
        let got = client_credentials(node, client_id, secret, audience).await;
        if got == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{what} at {}: still {got:?} after {CATALOG_STALENESS_BOUND:?}", node.base);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A machine-to-machine client with a grant for `audience` and `scopes`, written to the database.
async fn m2m_client(store: &std::sync::Arc<dyn ratchet_store::Store>, audience: &str, scopes: &[&str]) -> (String, String) {
    let client = Client::new(
        hex::encode(ratchet_core::secret::random_bytes::<16>()),
        NewClient {
            name: "Backend".into(),
            app_type: Some(AppType::NonInteractive),
            callbacks: vec![],
            logout_urls: vec![],
            web_origins: vec![],
        },
        0,
    )
    .unwrap();
    let secret = ratchet_core::secret::random_token();
    store.insert_client(&client, Some(&ratchet_core::secret::hash(&secret))).await.unwrap();
    let grant = ratchet_store::ClientGrant {
        id: format!("cgr_{}", hex::encode(ratchet_core::secret::random_bytes::<8>())),
        client_id: client.client_id.clone(),
        audience: audience.into(),
        scope: scopes.iter().map(|s| s.to_string()).collect(),
        created_at: 0,
    };
    store.insert_client_grant(&grant).await.unwrap();
    (client.client_id, secret)
}

/// A client and an API changed through node A's Management API are refused in their old form by
/// nodes B and C within the bound, although every node had them cached.
#[tokio::test]
async fn client_change_reaches_every_node_within_bound() {
    let db = PgDatabase::create().await;
    let (a, b, c) = (Node::start(&db.url).await, Node::start(&db.url).await, Node::start(&db.url).await);
    let store = ratchet_store::open(&db.url).await.unwrap();
    let audience = "https://cache.example.com/";
    let api = ratchet_core::client::Api::new("api_cache".into(), audience.into(), None, false, Some(3600)).unwrap();
    store.insert_api(&api).await.unwrap();
    let (id, secret) = m2m_client(&store, audience, &[]).await;
    let management = format!("{ISSUER}api/v2/");
    let (admin_id, admin_secret) = m2m_client(&store, &management, &["update:resource_servers", "update:client_keys"]).await;
    // Every node reads (and so caches) the client and the API, twice.
    for node in [&a, &b, &c, &a, &b, &c] {
        assert_eq!(client_credentials(node, &id, &secret, audience).await, (200, Some(3600)));
    }
    let (s, body) = post_token(
        &a,
        &[("grant_type", "client_credentials"), ("client_id", &admin_id), ("client_secret", &admin_secret), ("audience", &management)],
    )
    .await
    .unwrap();
    assert_eq!(s, 200, "{body}");
    let bearer = format!("Bearer {}", body["access_token"].as_str().unwrap());
    let http = reqwest::Client::new();

    // The API's token lifetime changes through node A.
    let r = http
        .patch(a.url(&format!("/api/v2/resource-servers/{}", api.id)))
        .header("authorization", &bearer)
        .json(&serde_json::json!({"token_lifetime": 600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    assert_eq!(client_credentials(&a, &id, &secret, audience).await, (200, Some(600)), "node A sees its own change at once");
    for node in [&b, &c] {
        answers_within_bound(node, &id, &secret, audience, (200, Some(600)), "the old token lifetime").await;
    }

    // The client's secret is rotated through node A: the old one is refused everywhere.
    let r = http.post(a.url(&format!("/api/v2/clients/{id}/rotate-secret"))).header("authorization", &bearer).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(client_credentials(&a, &id, &secret, audience).await, (401, None), "node A refuses the old secret at once");
    for node in [&b, &c] {
        answers_within_bound(node, &id, &secret, audience, (401, None), "the old secret").await;
        assert_eq!(client_credentials(node, &id, new_secret, audience).await, (200, Some(600)));
    }

    // A change written to the database by anything else (the CLI, psql) reaches every node too.
    let mut api = store.api(audience).await.unwrap().unwrap();
    api.token_lifetime = 120;
    assert!(store.update_api(&api).await.unwrap());
    for node in [&a, &b, &c] {
        answers_within_bound(node, &id, new_secret, audience, (200, Some(120)), "the lifetime written to the database").await;
    }
}
