//! `ratchet-bench`: refresh-token rotation throughput of a real `ratchet serve` process.
//!
//! 1. Starts `ratchet serve --listen 127.0.0.1:0` on a fresh temporary SQLite file (or the given
//!    `--database`), and provisions with the `ratchet` CLI: an SPA client (rotating, leeway 0),
//!    a user, and an API (so every refresh signs two RS256 JWTs: the ID token and the access token).
//! 2. Obtains one refresh token per chain through the real browser sign-in flow (`/authorize` with
//!    PKCE → `/u/login` → callback code → `/oauth/token`).
//! 3. Runs the chains closed-loop for a bounded time: each request presents the token the previous
//!    response returned. Reports refresh/s and latency percentiles.
//!    With `--dpop`, every store is measured a second time in the same run with DPoP (RFC 9449):
//!    each chain holds an ES256 key, its families are bound to it, and every refresh carries a
//!    fresh proof (one more signature check and a replay-cache entry per refresh on the server).
//!    With `--management`, every store is also measured with Management API traffic beside the
//!    refreshes, and listing 10 000 users and 100 000 log events page by page is timed (see
//!    `management.rs`). With `--families N`, every store is measured again holding N more live
//!    families, then again while `ratchet purge` deletes N dead families and N old audit events
//!    (see `seed.rs`). With `--algs ES256,EdDSA`, every store is measured again with the client's
//!    ID tokens (`jwt_configuration.alg`) and the API's access tokens (`signing_alg`) signed with
//!    each of those algorithms, and reported as a ratio to the RS256 refresh.
//! 4. Measures, before and after the load, the machine's signing rate of each algorithm measured
//!    (RS256, and those of `--algs`) with the server's own code (`ratchet_core::jws::SigningKey::sign`)
//!    on every core, and reports throughput as a fraction of the bound `signing rate / 2 signatures
//!    per refresh` of the row's algorithm.
//!
//! The server and the load generator share the machine; the load generator runs on one thread and
//! its CPU use is reported next to the server's.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use ratchet_core::dpop::ClientKey;
use ratchet_core::jws::{SigningAlg, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Parser, Debug, Clone)]
#[command(name = "ratchet-bench", about = "Refresh-token rotation throughput of a real ratchet server")]
struct Args {
    /// The ratchet binary to run.
    #[arg(long, default_value = "target/release/ratchet")]
    server_bin: PathBuf,
    /// Concurrent closed-loop refresh chains (one refresh-token family each); a comma-separated
    /// list measures each count in turn (e.g. `1,16,64,256`).
    #[arg(long, value_delimiter = ',', default_value = "16")]
    chains: Vec<usize>,
    /// Measured duration in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Warm-up before measuring, in seconds (same load, not counted).
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// `sqlite` (the default: a fresh SQLite file in a temporary directory) or a database URL
    /// (`postgres://…`; the database must exist; it is migrated; to reuse it across runs, set the same
    /// `RATCHET_MASTER_KEY` every time, otherwise a random master key is used). Repeat it to measure
    /// several stores in one run against the same signing bound.
    #[arg(long)]
    database: Vec<String>,
    /// Seconds spent measuring the RS256 signing rate (twice: before and after the load).
    #[arg(long, default_value_t = 3)]
    sign_seconds: u64,
    /// Also replay the server's per-refresh work in-process (store calls as `exchange_refresh_token`
    /// makes them, with and without the two signatures, no HTTP) to show where the time goes.
    #[arg(long)]
    diagnose: bool,
    /// Also measure every store with DPoP (ES256 proofs on every refresh, families bound to the
    /// chain's key), in the same run, and report the ratio to the plain refresh.
    #[arg(long)]
    dpop: bool,
    /// Also measure every store with Management API reads and writes beside the refreshes (in
    /// the same run, reported as a ratio to the plain refresh), and the cost of listing 10 000
    /// users and 100 000 log events a page at a time.
    #[arg(long)]
    management: bool,
    /// Also measure every store holding this many more live families (bulk-loaded), and then with
    /// as many dead families and old audit events purged (`ratchet purge`) while it runs.
    #[arg(long)]
    families: Option<usize>,
    /// Also measure every store with the client's ID tokens and the API's access tokens signed
    /// with each of these algorithms (comma-separated: PS256, ES256, EdDSA), in the same run,
    /// reported as a ratio to the RS256 refresh; each algorithm's signing cost is measured too.
    #[arg(long, value_delimiter = ',')]
    algs: Vec<SigningAlg>,
}

/// What runs beside the refresh chains, or how they refresh.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    Plain,
    /// Every refresh carries a DPoP proof and the families are bound to the chain's key.
    Dpop,
    /// Management API traffic runs beside the refreshes.
    Management,
    /// The store holds `--families` more live families.
    Families,
    /// The store also holds `--families` dead families and old events, purged during the load.
    Purge,
    /// ID tokens and access tokens are signed with this algorithm instead of RS256.
    Alg(SigningAlg),
}

impl Scenario {
    fn suffix(self) -> &'static str {
        match self {
            Scenario::Plain => "",
            Scenario::Dpop => "+dpop",
            Scenario::Management => "+mgmt",
            Scenario::Families => "+families",
            Scenario::Purge => "+purge",
            Scenario::Alg(SigningAlg::RS256) => "",
            Scenario::Alg(SigningAlg::PS256) => "+PS256",
            Scenario::Alg(SigningAlg::ES256) => "+ES256",
            Scenario::Alg(SigningAlg::EdDSA) => "+EdDSA",
        }
    }

    /// The algorithm the run's tokens are signed with.
    fn alg(self) -> SigningAlg {
        match self {
            Scenario::Alg(alg) => alg,
            _ => SigningAlg::RS256,
        }
    }
}

mod management;
mod seed;

const CALLBACK: &str = "http://127.0.0.1:1/cb";
const AUDIENCE: &str = "https://bench";
const PASSWORD: &str = "bench password 1";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(!args.chains.is_empty() && args.chains.iter().all(|c| *c > 0) && args.seconds > 0, "--chains and --seconds must be positive");
    ensure!(args.server_bin.exists(), "{} not found: build it with `cargo build --release -p ratchet-server`", args.server_bin.display());
    let dir = tempfile::tempdir()?;
    let specs = if args.database.is_empty() { vec!["sqlite".to_string()] } else { args.database.clone() };
    // A reused database needs the master key its secrets were sealed under.
    let master_key = match std::env::var("RATCHET_MASTER_KEY") {
        Ok(k) if !k.trim().is_empty() => k,
        _ => hex::encode(ratchet_core::secret::random_bytes::<32>()),
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());

    // RS256 first: the bound of every row but those of `--algs`.
    let mut algs = vec![SigningAlg::RS256];
    algs.extend(args.algs.iter().copied().filter(|a| *a != SigningAlg::RS256));
    algs.dedup();
    let sign_before =
        algs.iter().map(|&alg| measure_signing(alg, cpus, Duration::from_secs(args.sign_seconds))).collect::<anyhow::Result<Vec<_>>>()?;
    let mut loads = Vec::new();
    let mut walks = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let database = match spec.as_str() {
            "sqlite" => format!("sqlite://{}", dir.path().join(format!("bench-{i}.db")).display()),
            url => url.to_string(),
        };
        // The load generator is one thread: it leaves the rest of the machine to the server.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        // The data scenarios come last: they grow the database the others would then run on.
        let seeded = args.families.is_some();
        let variants = [
            (true, Scenario::Plain),
            (args.dpop, Scenario::Dpop),
            (args.management, Scenario::Management),
            (seeded, Scenario::Families),
            (seeded, Scenario::Purge),
        ];
        let alg_variants = algs[1..].iter().map(|&a| (true, Scenario::Alg(a)));
        for &chains in &args.chains {
            // The algorithm rows before the data scenarios, which grow the database.
            let (before, after) = variants.split_at(3);
            for (_, variant) in before.iter().copied().chain(alg_variants.clone()).chain(after.iter().copied()).filter(|(on, _)| *on) {
                let load = rt.block_on(run_load(&args, &database, &master_key, variant, chains))?;
                loads.push((format!("{spec}{}", variant.suffix()), database.clone(), load));
            }
        }
        if args.management {
            let listing_db = match spec.as_str() {
                "sqlite" => format!("sqlite://{}", dir.path().join(format!("listing-{i}.db")).display()),
                url => url.to_string(),
            };
            walks.push((spec.clone(), rt.block_on(management::listing(&args, &listing_db, &master_key))?));
        }
    }

    let mut signs = Vec::with_capacity(algs.len());
    for (&alg, before) in algs.iter().zip(sign_before) {
        signs.push(Signing::around(before, measure_signing(alg, cpus, Duration::from_secs(args.sign_seconds))?));
    }
    let sign_of = |alg: SigningAlg| signs.iter().find(|s| s.alg == alg).expect("every algorithm measured is signed");
    for (spec, database, load) in &loads {
        report(&args, spec, database, cpus, load, sign_of(load.alg));
    }
    summary(&loads, &signs);
    // Each variant beside the plain refresh of the same store and chain count, in the same run.
    let rate = |l: &Load| l.latencies.len() as f64 / l.window.as_secs_f64();
    let p99 = |l: &Load| {
        let mut lat = l.latencies.clone();
        lat.sort_unstable();
        percentile(&lat, 99.0)
    };
    for (spec, _, plain) in &loads {
        for (other, _, load) in loads.iter().filter(|(_, _, l)| l.chains == plain.chains) {
            if let Some(suffix) = other.strip_prefix(spec.as_str()).filter(|s| !s.is_empty() && !spec.contains('+')) {
                println!(
                    "{suffix:<10} {} vs {}, {} chains: {:.0} refresh/s vs {:.0} = {:.2}; p99 {:.2} ms vs {:.2} ms = {:.2}",
                    redact(other),
                    redact(spec),
                    plain.chains,
                    rate(load),
                    rate(plain),
                    rate(load) / rate(plain),
                    p99(load),
                    p99(plain),
                    p99(load) / p99(plain)
                );
                if load.alg != plain.alg {
                    let us = |l: &Load| 1e6 / sign_of(l.alg).single;
                    let cpu = |l: &Load| l.server_cpu / rate(l) * 1e6;
                    println!(
                        "{:<10} one {} signature {:.0} µs vs {} {:.0} µs = {:.2}; server CPU per refresh {:.0} µs vs {:.0} µs = {:.2}",
                        "",
                        load.alg,
                        us(load),
                        plain.alg,
                        us(plain),
                        us(load) / us(plain),
                        cpu(load),
                        cpu(plain),
                        cpu(load) / cpu(plain)
                    );
                }
            }
        }
    }
    println!();
    for (spec, w) in &walks {
        management::report_walks(spec, w);
    }
    if args.diagnose {
        diagnose::run(&args, cpus)?;
    }
    Ok(())
}

// ---- Provisioning with the CLI ----

fn cli(args: &Args, database: &str, master_key: &str, cmd: &[&str]) -> anyhow::Result<Value> {
    let out = Command::new(&args.server_bin)
        .arg("--database")
        .arg(database)
        .args(cmd)
        .env("RATCHET_MASTER_KEY", master_key)
        .output()
        .with_context(|| format!("cannot run {}", args.server_bin.display()))?;
    ensure!(out.status.success(), "`ratchet {}` failed: {}", cmd.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    serde_json::from_slice(&out.stdout).with_context(|| format!("`ratchet {}` did not print JSON", cmd.join(" ")))
}

struct Server {
    child: tokio::process::Child,
    base: String,
    pid: u32,
}

/// Starts `ratchet serve` on `database` with the extra `serve` flags `flags`.
async fn start_server(args: &Args, database: &str, master_key: &str, flags: &[&str]) -> anyhow::Result<Server> {
    let mut child = tokio::process::Command::new(&args.server_bin)
        .arg("--database")
        .arg(database)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(flags)
        .env("RATCHET_MASTER_KEY", master_key)
        .env("RATCHET_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", args.server_bin.display()))?;
    let pid = child.id().context("the server exited at once")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("listening on ") {
                return Ok(url.trim().trim_end_matches('/').to_string());
            }
        }
        bail!("the server exited before listening")
    })
    .await
    .context("the server did not print `listening on …` within 60 s")??;
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Server { child, base, pid })
}

// ---- The real sign-in flow ----

fn param(url: &url::Url, k: &str) -> Option<String> {
    url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned())
}

/// One browser sign-in with PKCE; returns the first refresh token of a new family.
async fn sign_in(base: &str, client_id: &str, email: &str, dpop: Option<&ClientKey>) -> anyhow::Result<String> {
    let browser = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build()?;
    let verifier = ratchet_core::secret::random_token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut authorize = url::Url::parse(&format!("{base}/authorize"))?;
    authorize
        .query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile email offline_access")
        .append_pair("audience", AUDIENCE)
        .append_pair("state", "bench-state")
        .append_pair("nonce", "bench-nonce")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let r = browser.get(authorize).send().await?;
    ensure!(r.status() == 302, "/authorize answered {}", r.status());
    let login = r.headers()["location"].to_str()?.to_string();
    ensure!(login.starts_with("/u/login?state="), "/authorize redirected to {login}");
    // The CSRF cookie (`ratchet_csrf`) stays in the browser's cookie store.
    let html = browser.get(format!("{base}{login}")).send().await?.text().await?;
    let tx = html
        .split("name=\"state\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .context("no hidden state field on the login page")?
        .to_string();
    let r = browser
        .post(format!("{base}/u/login"))
        .header("origin", base)
        .form(&[("state", tx.as_str()), ("username", email), ("password", PASSWORD)])
        .send()
        .await?;
    ensure!(r.status() == 302, "/u/login answered {}", r.status());
    let callback = url::Url::parse(r.headers()["location"].to_str()?)?;
    let code = param(&callback, "code").with_context(|| format!("no code in {callback}"))?;
    let mut exchange = browser.post(format!("{base}/oauth/token"));
    if let Some(key) = dpop {
        exchange = exchange.header("DPoP", key.proof("POST", &format!("{base}/oauth/token"), unix_now(), None, None));
    }
    let r = exchange
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", CALLBACK),
        ])
        .send()
        .await?;
    ensure!(r.status() == 200, "code exchange answered {}: {}", r.status(), r.text().await?);
    let body: Value = r.json().await?;
    ensure!(
        body["id_token"].is_string() && body["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3),
        "expected an ID token and a JWT access token: {body}"
    );
    Ok(body["refresh_token"].as_str().context("no refresh token")?.to_string())
}

// ---- The load ----

struct Load {
    chains: usize,
    /// The algorithm of the ID tokens and access tokens.
    alg: SigningAlg,
    /// The server's resident memory at the end of the measured window, in bytes.
    server_rss: u64,
    /// Latencies (µs) of the refreshes completed inside the measured window.
    latencies: Vec<u32>,
    window: Duration,
    errors: u64,
    first_error: Option<String>,
    chains_lost: usize,
    server_cpu: f64,
    /// Cores busy in the database server's processes (every `postgres` process of the machine;
    /// none for SQLite, which runs inside the server).
    database_cpu: Option<f64>,
    self_cpu: f64,
    /// Busy cores of the whole machine (every process, including a database server and anything
    /// else running).
    machine_cpu: f64,
    /// The Management API traffic beside the refreshes, if any.
    traffic: Option<management::Traffic>,
    /// How long the purge run during the load took, and how many rows it deleted.
    purge: Option<(Duration, u64)>,
}

async fn run_load(args: &Args, database: &str, master_key: &str, variant: Scenario, chains: usize) -> anyhow::Result<Load> {
    let dpop = variant == Scenario::Dpop;
    let extra = args.families.unwrap_or(0);
    if variant == Scenario::Families {
        eprintln!("seeded {extra} live families in {:.1?}", seed::live_families(database, extra).await?);
    }
    let alg = variant.alg();
    let client = cli(
        args,
        database,
        master_key,
        &[
            "clients",
            "create",
            "--id-token-alg",
            alg.as_str(),
            "--name",
            "B",
            "--type",
            "spa",
            "--callback",
            CALLBACK,
            "--web-origin",
            "http://127.0.0.1:1",
            "--rotation",
            "rotating",
            "--leeway",
            "0",
            "--json",
        ],
    )?;
    let client_id = client["client_id"].as_str().context("client_id")?.to_string();
    ensure!(client["refresh_token"]["rotation_type"] == "rotating" && client["refresh_token"]["leeway"] == 0, "{client}");
    // New users per run, so a reused database works; the API may exist from an earlier run.
    let emails = users(args, database, master_key, chains).await?;
    let email = emails[0].clone();
    if let Err(e) = cli(args, database, master_key, &["apis", "create", "--audience", AUDIENCE, "--allow-offline-access", "--json"]) {
        ensure!(e.to_string().contains("already exists"), e);
    }
    // Every run sets the algorithm: the API outlives the run that last changed it.
    let api = cli(args, database, master_key, &["apis", "update", AUDIENCE, "--signing-alg", alg.as_str(), "--json"])?;
    ensure!(api["signing_alg"] == alg.as_str() && client["id_token_alg"] == alg.as_str(), "{api} {client}");

    let mut server = start_server(args, database, master_key, &[]).await?;
    let base = server.base.clone();
    let mut tokens = Vec::with_capacity(chains);
    for i in 0..chains {
        let key = dpop.then(ClientKey::generate);
        tokens.push((sign_in(&base, &client_id, &emails[i % emails.len()], key.as_ref()).await?, key));
    }
    let htu = format!("{base}/oauth/token");
    if variant == Scenario::Purge {
        // After the server's own purge at start-up, so that the one measured finds the rows.
        eprintln!("seeded {extra} dead families and {extra} old events in {:.1?}", seed::dead_rows(database, extra).await?);
    }

    let addr = url::Url::parse(&base)?.socket_addrs(|| None)?.into_iter().next().context("server address")?;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.warmup);
    let deadline = measure_from + Duration::from_secs(args.seconds);
    let errors = Arc::new(AtomicU64::new(0));
    let manager = match variant {
        Scenario::Management => Some(management::Manager::provision(args, database, master_key, &base).await?),
        _ => None,
    };
    let traffic = manager.map(|m| tokio::spawn(management::traffic(m, client_id.clone(), email.clone(), measure_from, deadline)));
    // The purge starts with the measured window, as another process (the CLI) would run it.
    let purge = (variant == Scenario::Purge).then(|| {
        let (args, database, master_key) = (args.clone(), database.to_string(), master_key.to_string());
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            tokio::task::spawn_blocking(move || {
                let t0 = Instant::now();
                let out = cli(&args, &database, &master_key, &["purge", "--json"])?;
                Ok::<_, anyhow::Error>((t0.elapsed(), out["purged"].as_u64().unwrap_or(0)))
            })
            .await?
        })
    });
    let mut set = tokio::task::JoinSet::new();
    for (rt, key) in tokens {
        let http = Http1::connect(addr).await?;
        let dpop = key.map(|k| (k, htu.clone()));
        set.spawn(chain(http, client_id.clone(), rt, dpop, measure_from, deadline, errors.clone()));
    }
    // CPU accounting over the measured window.
    tokio::time::sleep_until(measure_from.into()).await;
    let postgres = database.starts_with("postgres");
    let (server_cpu0, self_cpu0, machine0) = (cpu_seconds(server.pid), cpu_seconds(std::process::id()), machine_busy_seconds());
    let database_cpu0 = postgres.then(postgres_cpu_seconds);
    let t0 = Instant::now();
    tokio::time::sleep_until(deadline.into()).await;
    let (server_cpu1, self_cpu1, machine1) = (cpu_seconds(server.pid), cpu_seconds(std::process::id()), machine_busy_seconds());
    let database_cpu1 = postgres.then(postgres_cpu_seconds);
    let server_rss = resident_bytes(server.pid);
    let window = t0.elapsed();

    let mut latencies = Vec::new();
    let mut first_error = None;
    let mut chains_lost = 0;
    let all = tokio::time::timeout(Duration::from_secs(30), set.join_all()).await.context("chains did not stop within 30 s")?;
    for (lat, err) in all {
        latencies.extend(lat);
        if let Some(e) = err {
            chains_lost += 1;
            first_error.get_or_insert(e);
        }
    }
    let traffic = match traffic {
        Some(t) => Some(t.await?),
        None => None,
    };
    let purge = match purge {
        Some(p) => Some(p.await??),
        None => None,
    };
    server.child.start_kill()?;
    let _ = tokio::time::timeout(Duration::from_secs(10), server.child.wait()).await;
    Ok(Load {
        chains,
        alg,
        server_rss,
        latencies,
        window,
        errors: errors.load(Ordering::Relaxed),
        first_error,
        chains_lost,
        server_cpu: (server_cpu1 - server_cpu0) / window.as_secs_f64(),
        database_cpu: database_cpu0.zip(database_cpu1).map(|(a, b)| (b - a) / window.as_secs_f64()),
        self_cpu: (self_cpu1 - self_cpu0) / window.as_secs_f64(),
        machine_cpu: (machine1 - machine0) / window.as_secs_f64(),
        traffic,
        purge,
    })
}

/// One closed-loop chain: each refresh presents the token the previous response returned.
async fn chain(
    mut http: Http1,
    client_id: String,
    mut rt: String,
    dpop: Option<(ClientKey, String)>,
    measure_from: Instant,
    deadline: Instant,
    errors: Arc<AtomicU64>,
) -> (Vec<u32>, Option<String>) {
    let mut lat = Vec::with_capacity(16_384);
    loop {
        let t0 = Instant::now();
        if t0 >= deadline {
            return (lat, None);
        }
        // Refresh tokens are base64url and client ids hex: no form escaping needed.
        let body = format!("grant_type=refresh_token&client_id={client_id}&refresh_token={rt}");
        // A fresh proof per request (signed by the load generator: it counts in its CPU share).
        let proof = dpop.as_ref().map(|(k, htu)| k.proof("POST", htu, unix_now(), None, None));
        let result = match http.post_form("/oauth/token", &body, proof.as_deref()).await {
            Ok((200, text)) => extract_refresh_token(&text).ok_or_else(|| format!("no refresh_token in {text}")),
            Ok((status, text)) => Err(format!("{status}: {text}")),
            Err(e) => Err(e.to_string()),
        };
        let t1 = Instant::now();
        match result {
            Ok(next) => rt = next,
            Err(e) => {
                errors.fetch_add(1, Ordering::Relaxed);
                // The family may be revoked now: this chain cannot continue.
                return (lat, Some(e));
            }
        }
        if t0 >= measure_from && t1 <= deadline {
            lat.push(u32::try_from((t1 - t0).as_micros()).unwrap_or(u32::MAX));
        }
    }
}

/// One keep-alive HTTP/1.1 connection that does only what the measured requests need (a form
/// POST, a `Content-Length` response). The load generator shares the two cores with the server,
/// so each microsecond it spends is one the server does not get: a general-purpose client
/// (reqwest) cost ~58 µs of CPU per request here, this one about a third of that.
struct Http1 {
    stream: tokio::net::TcpStream,
    host: String,
    buf: Vec<u8>,
}

impl Http1 {
    async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Http1 { stream, host: addr.to_string(), buf: Vec::with_capacity(8192) })
    }

    /// Sends a form POST and returns the status and body of the response.
    async fn post_form(&mut self, path: &str, body: &str, dpop: Option<&str>) -> anyhow::Result<(u16, String)> {
        use tokio::io::AsyncWriteExt;
        let dpop = dpop.map(|p| format!("DPoP: {p}\r\n")).unwrap_or_default();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n{dpop}Content-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream.write_all(request.as_bytes()).await?;
        self.buf.clear();
        let (head_len, status, content_length) = loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end])?;
                let status = head.get(9..12).and_then(|s| s.parse().ok()).context("bad status line")?;
                let length = head
                    .lines()
                    .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
                    .context("response without Content-Length")?
                    .1
                    .trim()
                    .parse::<usize>()?;
                break (end + 4, status, length);
            }
            self.read_more().await?;
        };
        while self.buf.len() < head_len + content_length {
            self.read_more().await?;
        }
        let body = String::from_utf8(self.buf[head_len..head_len + content_length].to_vec())?;
        Ok((status, body))
    }

    async fn read_more(&mut self) -> anyhow::Result<()> {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        ensure!(n > 0, "the server closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// The `refresh_token` member of a token response, without a full JSON parse (the load generator
/// shares the CPU with the server, so it does as little as possible).
fn extract_refresh_token(body: &str) -> Option<String> {
    let start = body.find("\"refresh_token\":\"")? + "\"refresh_token\":\"".len();
    let len = body[start..].find('"')?;
    Some(body[start..start + len].to_string())
}

/// Seconds since the Unix epoch (a proof's `iat`).
fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The users the chains sign in as: one for up to 200 chains; beyond, one per chain, since a user
/// holds at most 200 live families per client (Auth0's limit, enforced by the server) and the
/// benchmark measures rotation, not that cap. The first is created with the CLI as an operator
/// would; more are inserted through the store with one password hash (hashing hundreds of
/// passwords one CLI process at a time would take longer than the measurement).
async fn users(args: &Args, database: &str, master_key: &str, chains: usize) -> anyhow::Result<Vec<String>> {
    let run = hex::encode(ratchet_core::secret::random_bytes::<4>());
    let first = format!("bench-{run}@example.com");
    cli(args, database, master_key, &["users", "create", "--email", &first, "--password", PASSWORD, "--json"])?;
    if chains <= ratchet_core::family::MAX_FAMILIES_PER_USER_CLIENT as usize {
        return Ok(vec![first]);
    }
    let store = ratchet_store::open(database).await?;
    let hash = ratchet_core::password::hash_password(PASSWORD)?;
    let mut emails = vec![first];
    for i in 1..chains {
        let email = format!("bench-{run}-{i}@example.com");
        let user = ratchet_store::User::new(format!("ratchet|bench{run}{i:06}"), email.clone(), email.clone(), hash.clone(), unix_now());
        store.insert_user(&user).await?;
        emails.push(email);
    }
    Ok(emails)
}

/// Resident memory of process `pid` (Linux `/proc`; 0 elsewhere).
fn resident_bytes(pid: u32) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return 0 };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// User + system CPU seconds of process `pid` so far (Linux `/proc`; 0 elsewhere).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0) + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / clock_ticks()
}

/// User + system CPU seconds so far of every PostgreSQL server process of the machine (the backends
/// serving the server's connections, the WAL writer, the checkpointer …); a process that ended
/// meanwhile takes its seconds with it, so the database server should run nothing else.
fn postgres_cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0.0 };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres"))
        .map(cpu_seconds)
        .sum()
}

/// Busy CPU seconds of the whole machine so far (all CPUs; `/proc/stat` minus idle and iowait).
fn machine_busy_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else { return 0.0 };
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else { return 0.0 };
    let v: Vec<f64> = cpu.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (total - idle) / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

// ---- The signing bound ----

struct Signing {
    alg: SigningAlg,
    threads: usize,
    /// Signatures per second on `threads` threads.
    rate: f64,
    /// Signatures per second on one thread.
    single: f64,
    /// The two measurements `rate` averages: before and after the load runs.
    before_after: (f64, f64),
}

impl Signing {
    /// The mean of a measurement before and one after the load, so that a machine whose speed
    /// drifts during the run (this one is a VM with neighbours) biases neither side of the ratio.
    fn around(before: Signing, after: Signing) -> Signing {
        Signing {
            alg: before.alg,
            threads: before.threads,
            rate: (before.rate + after.rate) / 2.0,
            single: (before.single + after.single) / 2.0,
            before_after: (before.rate, after.rate),
        }
    }
}

/// Signs ID-token-sized claims with `alg` with the server's code on `threads` threads for `d`.
fn sign_rate(alg: SigningAlg, der: &[u8], threads: usize, d: Duration) -> anyhow::Result<f64> {
    let claims = json!({
        "iss": "http://127.0.0.1:3000/", "sub": "ratchet|0123456789abcdef0123456789abcdef",
        "aud": ["https://bench", "http://127.0.0.1:3000/userinfo"], "iat": 1_700_000_000, "exp": 1_700_086_400,
        "scope": "openid profile email offline_access", "azp": "0123456789abcdef0123456789abcdef",
        "jti": "0123456789abcdef0123456789abcdef",
    });
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (der, claims) = (der.to_vec(), claims.clone());
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let key = SigningKey::from_pkcs8(alg.key_type(), &der)?;
                let mut n = 0u64;
                while start.elapsed() < d {
                    std::hint::black_box(key.sign(alg, &claims)?);
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.join().map_err(|_| anyhow::anyhow!("a signing thread panicked"))??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

fn measure_signing(alg: SigningAlg, cpus: usize, d: Duration) -> anyhow::Result<Signing> {
    let (_, der) = SigningKey::generate(alg.key_type())?;
    let single = sign_rate(alg, &der, 1, d / 2)?;
    let rate = sign_rate(alg, &der, cpus, d)?;
    Ok(Signing { alg, threads: cpus, rate, single, before_after: (rate, rate) })
}

// ---- Report ----

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn report(args: &Args, spec: &str, database: &str, cpus: usize, load: &Load, sign: &Signing) {
    let mut lat = load.latencies.clone();
    lat.sort_unstable();
    let n = lat.len();
    let rps = n as f64 / load.window.as_secs_f64();
    let (p50, p90, p99, max) = (percentile(&lat, 50.0), percentile(&lat, 90.0), percentile(&lat, 99.0), percentile(&lat, 100.0));
    let bound = sign.rate / 2.0;
    let fraction = rps / bound;
    let engine = match spec {
        "sqlite" => "sqlite (fresh temp file)".to_string(),
        "sqlite+dpop" => "sqlite (fresh temp file), DPoP: an ES256 proof on every refresh".to_string(),
        s if s.ends_with("+dpop") => format!("{}, DPoP: an ES256 proof on every refresh", redact(database)),
        "sqlite+mgmt" => format!("sqlite (fresh temp file), Management API traffic beside ({}/s)", management::TRAFFIC_RATE),
        s if s.ends_with("+mgmt") => format!("{}, Management API traffic beside ({}/s)", redact(database), management::TRAFFIC_RATE),
        s if s.ends_with("+families") => format!("{}, {} more live families", redact(database), args.families.unwrap_or(0)),
        s if s.ends_with("+purge") => {
            format!("{}, purging {} dead families and old events during the load", redact(database), args.families.unwrap_or(0))
        }
        _ if load.alg != SigningAlg::RS256 => format!("{}, {} ID tokens and access tokens", redact(database), load.alg),
        _ => redact(database),
    };
    let server_us_per_refresh = load.server_cpu / rps * 1e6;
    let sign_us = 1e6 / sign.single;
    println!(
        "ratchet-bench: {} chains, {} s measured after {} s warm-up, {engine}, {cpus} CPUs shared by server and load generator",
        load.chains, args.seconds, args.warmup
    );
    println!("refreshes:     {n} ok in {:.2} s, {} errors ({} chains lost)", load.window.as_secs_f64(), load.errors, load.chains_lost);
    if let Some(e) = &load.first_error {
        println!("first error:   {e}");
    }
    if let Some((took, rows)) = load.purge {
        println!("purge:         {rows} rows deleted by `ratchet purge` in {took:.1?}, started with the measured window");
    }
    if let Some(t) = &load.traffic {
        println!(
            "management:    {} /api/v2 requests ok ({:.0}/s: users, refresh tokens, logs, stats, client renames), {} errors{}",
            t.ok,
            t.ok as f64 / t.window.as_secs_f64(),
            t.errors,
            t.first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default()
        );
    }
    println!("throughput:    {rps:.0} refresh/s");
    println!("latency:       p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms");
    println!(
        "CPU:           server {:.2} cores ({server_us_per_refresh:.0} µs CPU per refresh), load generator {:.2} cores, whole machine {:.2} of {cpus} cores busy",
        load.server_cpu, load.self_cpu, load.machine_cpu
    );
    if let Some(db) = load.database_cpu {
        println!("database:      PostgreSQL processes {db:.2} cores ({:.0} µs CPU per refresh)", db / rps * 1e6);
    }
    println!(
        "{} signing: {:.0} signatures/s on {} threads (mean of {:.0} before and {:.0} after the load; {:.0}/s on one thread = {sign_us:.0} µs each), server code `SigningKey::sign`",
        sign.alg, sign.rate, sign.threads, sign.before_after.0, sign.before_after.1, sign.single
    );
    let (b, a) = sign.before_after;
    if (b - a).abs() > 0.1 * b.max(a) {
        println!("warning:       the signing rate changed by more than 10 % during the run: the machine was not steady, repeat the run");
    }
    println!("bound:         {bound:.0} refresh/s (2 {} signatures per refresh: ID token + JWT access token)", sign.alg);
    println!("efficiency:    {:.1} % of the bound", fraction * 100.0);
    println!(
        "budget:        2 signatures = {:.0} µs of the {server_us_per_refresh:.0} µs server CPU per refresh; the rest ({:.0} µs) is HTTP, JSON, store calls and audit",
        2.0 * sign_us,
        server_us_per_refresh - 2.0 * sign_us
    );
    let met = fraction >= 0.85 && p99 < 10.0 && load.errors == 0;
    println!("target:        ≥ 85 % of the bound and p99 < 10 ms with no errors: {}", if met { "MET" } else { "MISSED" });
    println!();
    println!(
        "| chains | seconds | refresh/s | p50 ms | p90 ms | p99 ms | errors | {} sign/s ({} thr) | bound refresh/s | % of bound |",
        sign.alg, sign.threads
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {rps:.0} | {p50:.2} | {p90:.2} | {p99:.2} | {} | {:.0} | {bound:.0} | {:.1} % |",
        load.chains,
        args.seconds,
        load.errors,
        sign.rate,
        fraction * 100.0
    );
}

/// One table of every run: what the issue's figure of merit is (server CPU per refresh against
/// the cost of the signatures it makes), throughput, tail latency and the server's memory.
fn summary(loads: &[(String, String, Load)], signs: &[Signing]) {
    let sign_of = |alg: SigningAlg| signs.iter().find(|s| s.alg == alg).expect("every algorithm measured is signed");
    let costs: Vec<String> = signs.iter().map(|s| format!("{} {:.0} µs", s.alg, 1e6 / s.single)).collect();
    println!(
        "summary: server CPU per refresh against its 2 signatures of the row's algorithm ({} each on one thread, measured in this run)",
        costs.join(", ")
    );
    println!(
        "| store | chains | refresh/s | p50 ms | p99 ms | server CPU µs/refresh | 2 signatures µs | CPU / signatures | database CPU µs/refresh | server RSS MB | % of bound | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (spec, _, load) in loads {
        let sign = sign_of(load.alg);
        let sign_us = 1e6 / sign.single;
        let mut lat = load.latencies.clone();
        lat.sort_unstable();
        let rps = lat.len() as f64 / load.window.as_secs_f64();
        let cpu_us = load.server_cpu / rps * 1e6;
        let database_us = load.database_cpu.map_or("–".to_string(), |db| format!("{:.0}", db / rps * 1e6));
        println!(
            "| {} | {} | {rps:.0} | {:.2} | {:.2} | {cpu_us:.0} | {:.0} | {:.2} | {database_us} | {:.0} | {:.1} % | {} |",
            redact(spec),
            load.chains,
            percentile(&lat, 50.0),
            percentile(&lat, 99.0),
            2.0 * sign_us,
            cpu_us / (2.0 * sign_us),
            load.server_rss as f64 / (1024.0 * 1024.0),
            rps / (sign.rate / 2.0) * 100.0,
            load.errors
        );
    }
    println!();
}

/// A database URL with any password hidden.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((creds, host)) => format!("{scheme}://{}:***@{host}", creds.split(':').next().unwrap_or_default()),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// In-process replays of the refresh hot path, without HTTP, on a runtime shaped like the server's
/// (`cpus` async workers): the same store calls in the same order as the server's hot path
/// (client read, then `rotate`, which brings the user and API back), optionally with the two RS256
/// signatures inline on the async worker (as the server signs) or on the blocking pool. (Success
/// audit events are written in batches off the request path, so they are not replayed here.)
mod diagnose {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use ratchet_core::client::{Api, AppType, Client, NewClient};
    use ratchet_core::family::{Family, FamilyGrant, idle_deadline};
    use ratchet_core::jws::SigningKey;
    use ratchet_store::{Rotation, Seen, Store, User};
    use serde_json::json;

    use super::Args;

    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Sign {
        None,
        Inline,
        Blocking,
    }

    struct Variant {
        name: &'static str,
        /// The conditional write (`rotate`, which also reads the user and API back).
        store: bool,
        /// The client read that precedes it (client authentication).
        client_read: bool,
        sign: Sign,
    }

    pub fn run(args: &Args, cpus: usize) -> anyhow::Result<()> {
        let variants = [
            Variant { name: "store calls only (client read + rotate, as the server)", store: true, client_read: true, sign: Sign::None },
            Variant { name: "rotate only", store: true, client_read: false, sign: Sign::None },
            Variant { name: "2 signatures only, inline on the async workers", store: false, client_read: false, sign: Sign::Inline },
            Variant {
                name: "store calls + 2 signatures inline (the server's shape, without HTTP)",
                store: true,
                client_read: true,
                sign: Sign::Inline,
            },
            Variant { name: "store calls + 2 signatures on the blocking pool", store: true, client_read: true, sign: Sign::Blocking },
        ];
        let secs = args.seconds.clamp(2, 5);
        let chains = args.chains[0];
        println!();
        println!(
            "diagnosis: the refresh hot path replayed in-process, {chains} concurrent chains, {cpus} async workers, {secs} s each, no HTTP"
        );
        println!("| variant | ops/s | p50 ms | p99 ms | CPU cores |");
        println!("|---|---:|---:|---:|---:|");
        for v in &variants {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(cpus).enable_all().build()?;
            let (ops, p50, p99, cpu) = rt.block_on(probe(v, chains, Duration::from_secs(secs)))?;
            println!("| {} | {ops:.0} | {p50:.2} | {p99:.2} | {cpu:.2} |", v.name);
        }
        Ok(())
    }

    async fn probe(v: &Variant, chains: usize, d: Duration) -> anyhow::Result<(f64, f64, f64, f64)> {
        let dir = tempfile::tempdir()?;
        let store: Arc<dyn Store> = ratchet_store::open(&format!("sqlite://{}", dir.path().join("probe.db").display())).await?;
        let now = 1_700_000_000;
        let client = Client::new(
            "0123456789abcdef0123456789abcdef".into(),
            NewClient { name: "probe".into(), app_type: Some(AppType::Spa), callbacks: vec![super::CALLBACK.into()], ..Default::default() },
            now,
        )?;
        store.insert_client(&client, None).await?;
        store.insert_api(&Api::new("api_probe".into(), super::AUDIENCE.into(), None, true, None)?).await?;
        let user = User::new("ratchet|probe".into(), "probe@example.com".into(), "probe".into(), "x".into(), now);
        store.insert_user(&user).await?;
        let key = Arc::new(SigningKey::generate(ratchet_core::jws::KeyType::Rsa)?.0);
        let mut families = Vec::new();
        for i in 0..chains {
            let f = Family::born(
                FamilyGrant {
                    grant_id: format!("gr_{i}"),
                    client_id: client.client_id.clone(),
                    user_id: user.user_id.clone(),
                    session_id: None,
                    audience: Some(super::AUDIENCE.into()),
                    scope: "openid offline_access".into(),
                    auth_time: now,
                },
                &client.refresh_token,
                now,
            );
            store.insert_family(&f, &Seen::default()).await?;
            families.push(f);
        }
        let cpu0 = super::cpu_seconds(std::process::id());
        let start = Instant::now();
        let deadline = start + d;
        let mut set = tokio::task::JoinSet::new();
        for f in families {
            let (store, key, client_id, policy) = (store.clone(), key.clone(), client.client_id.clone(), client.refresh_token.clone());
            let (use_store, client_read, sign) = (v.store, v.client_read, v.sign);
            set.spawn(async move {
                let mut lat = Vec::new();
                let mut counter = 0u64;
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    if client_read {
                        store.client(&client_id).await?.expect("client");
                    }
                    if use_store {
                        let seen = Seen::default();
                        let rotation = Rotation { id: &f.id, client_id: &f.client_id, from: counter, now, idle_expires_at: idle_deadline(&policy, f.expires_at, now), seen: &seen, dpop: None };
                        let r = store.rotate(&rotation).await?;
                        let r = r.expect("uncontended rotation");
                        assert!(r.user.is_some() && r.api.is_some(), "the user and API come back");
                    }
                    counter += 1;
                    let claims = json!({"iss": "http://127.0.0.1:3000/", "sub": "ratchet|probe", "aud": super::AUDIENCE, "iat": now, "exp": now + 3600, "jti": counter});
                    match sign {
                        Sign::None => {}
                        Sign::Inline => {
                            std::hint::black_box(key.sign(ratchet_core::jws::SigningAlg::RS256, &claims)?);
                            std::hint::black_box(key.sign(ratchet_core::jws::SigningAlg::RS256, &claims)?);
                        }
                        Sign::Blocking => {
                            let key = key.clone();
                            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                                std::hint::black_box(key.sign(ratchet_core::jws::SigningAlg::RS256, &claims)?);
                                std::hint::black_box(key.sign(ratchet_core::jws::SigningAlg::RS256, &claims)?);
                                Ok(())
                            })
                            .await??;
                        }
                    }
                    lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
                anyhow::Ok(lat)
            });
        }
        let mut all = Vec::new();
        while let Some(r) = tokio::time::timeout(d + Duration::from_secs(30), set.join_next()).await? {
            all.extend(r??);
        }
        let elapsed = start.elapsed().as_secs_f64();
        let cpu = (super::cpu_seconds(std::process::id()) - cpu0) / elapsed;
        all.sort_unstable();
        Ok((all.len() as f64 / elapsed, super::percentile(&all, 50.0), super::percentile(&all, 99.0), cpu))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_the_refresh_token() {
        let body = r#"{"access_token":"a.b.c","token_type":"Bearer","expires_in":86400,"scope":"openid","id_token":"x.y.z","refresh_token":"AQE_-x"}"#;
        assert_eq!(extract_refresh_token(body).as_deref(), Some("AQE_-x"));
        assert_eq!(extract_refresh_token(r#"{"access_token":"a"}"#), None);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile(&v, 50.0), 51.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
    }
}
