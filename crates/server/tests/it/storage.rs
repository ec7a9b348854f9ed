//! What the database holds (DESIGN §4.6, §4.7): constant storage per family whatever the number
//! of rotations, and no usable secret anywhere in a dump (tables or raw `.db`/`-wal` bytes).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ratchet_core::client::{AppType, Client};
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

use crate::support::*;

const EMAIL: &str = "alice@example.com";

fn read_only(app: &TestApp) -> Connection {
    Connection::open_with_flags(&app.db_path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn table_names(db: &Connection) -> Vec<String> {
    let mut stmt = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

fn column_names(db: &Connection, table: &str) -> Vec<String> {
    let mut stmt = db.prepare(&format!("PRAGMA table_info(\"{table}\")")).unwrap();
    stmt.query_map([], |r| r.get("name")).unwrap().collect::<Result<_, _>>().unwrap()
}

/// `(rows, bytes)` the `families` table holds for one family. Bytes count every column of the row:
/// text and blobs by length, integers as 8 bytes (SQLite's variable-width integer encoding would
/// otherwise make counter 1000 two bytes "larger" than counter 1, which is not growth).
fn family_footprint(db: &Connection, family_id: &str) -> (i64, i64) {
    let cols = column_names(db, "families");
    let bytes = cols
        .iter()
        .map(|c| {
            format!(
                "CASE typeof(\"{c}\") WHEN 'null' THEN 0 WHEN 'integer' THEN 8 WHEN 'real' THEN 8 ELSE length(CAST(\"{c}\" AS BLOB)) END"
            )
        })
        .collect::<Vec<_>>()
        .join(" + ");
    db.query_row(&format!("SELECT count(*), coalesce(sum({bytes}), 0) FROM families WHERE family_id = ?1"), [family_id], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .unwrap()
}

/// Row counts of every table.
fn row_counts(db: &Connection) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for t in table_names(db) {
        let n: i64 = db.query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| r.get(0)).unwrap();
        out.insert(t, n);
    }
    out
}

#[tokio::test]
async fn a_family_takes_the_same_storage_after_1000_rotations_as_after_one() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    app.user(EMAIL).await;
    let http = reqwest::Client::new();
    let rotate = |rt: String| {
        let (http, url, cid) = (http.clone(), app.url("/oauth/token"), client.client_id.clone());
        async move {
            let r = http
                .post(url)
                .form(&[("grant_type", "refresh_token"), ("client_id", cid.as_str()), ("refresh_token", rt.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_string()
        }
    };
    // Family A: rotated once. Family B: rotated once, measured, then 999 more times.
    let a = rotate(app.refresh_token(&client, EMAIL).await).await;
    let mut b = rotate(app.refresh_token(&client, EMAIL).await).await;
    let (fa, fb) = (app.family_of(&a).await.id.to_string(), app.family_of(&b).await.id.to_string());
    let db = read_only(&app);
    let a_after_1 = family_footprint(&db, &fa);
    let b_after_1 = family_footprint(&db, &fb);
    let counts_after_1 = row_counts(&db);
    assert_eq!(a_after_1.0, 1, "one row per family");
    assert_eq!(a_after_1, b_after_1, "two families after one rotation each are the same size");

    for _ in 1..1000 {
        b = rotate(b).await;
    }
    assert_eq!(app.family_of(&b).await.counter, 1000);
    let b_after_1000 = family_footprint(&db, &fb);
    let counts_after_1000 = row_counts(&db);
    assert_eq!(b_after_1000, b_after_1, "rows and bytes of the family after 1000 rotations vs after 1");
    assert_eq!(family_footprint(&db, &fa), a_after_1, "the other family is untouched");
    // No table other than the audit trail gains rows from rotations.
    let mut grown: Vec<(String, i64, i64)> =
        counts_after_1000.iter().filter(|(t, n)| counts_after_1[*t] != **n).map(|(t, n)| (t.clone(), counts_after_1[t], *n)).collect();
    grown.retain(|(t, _, _)| t != "events");
    assert!(grown.is_empty(), "tables that grew with rotations: {grown:?}");
}

/// Everything a dump of the database could leak from.
struct Secrets {
    /// `(label, bytes)` of every needle that must not appear.
    needles: Vec<(String, Vec<u8>)>,
}

impl Secrets {
    fn new() -> Self {
        Secrets { needles: Vec::new() }
    }

    /// A secret string, and its last 16 characters.
    fn add(&mut self, label: &str, s: &str) {
        assert!(s.len() >= 16, "{label} is a real secret: {s}");
        self.needles.push((format!("{label} (whole)"), s.as_bytes().to_vec()));
        self.needles.push((format!("{label} (last 16)"), s.as_bytes()[s.len() - 16..].to_vec()));
    }

    /// A refresh token: also its raw bytes and its 32-byte MAC, raw, hex and base64.
    fn add_refresh_token(&mut self, label: &str, rt: &str) {
        self.add(label, rt);
        let raw = URL_SAFE_NO_PAD.decode(rt).expect("refresh tokens are base64url");
        let mac = &raw[raw.len() - 32..];
        self.needles.push((format!("{label} (raw bytes)"), raw.clone()));
        self.needles.push((format!("{label} (raw MAC)"), mac.to_vec()));
        self.needles.push((format!("{label} (hex MAC)"), hex::encode(mac).into_bytes()));
        self.needles.push((format!("{label} (base64 MAC)"), STANDARD.encode(mac).into_bytes()));
        self.needles.push((format!("{label} (base64url MAC)"), URL_SAFE_NO_PAD.encode(mac).into_bytes()));
    }

    fn add_token_response(&mut self, label: &str, body: &Value) {
        for k in ["access_token", "id_token"] {
            if let Some(t) = body[k].as_str() {
                self.add(&format!("{label} {k}"), t);
            }
        }
        if let Some(rt) = body["refresh_token"].as_str() {
            self.add_refresh_token(&format!("{label} refresh_token"), rt);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The value of cookie `name` from the `Set-Cookie` headers of `r`.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let (k, rest) = v.split_once('=')?;
        (k == name).then(|| rest.split(';').next().unwrap_or_default().to_string())
    })
}

/// A full sign-in that records every secret the browser and the client see.
async fn sign_in_recording(
    app: &TestApp,
    client: &Client,
    secret: Option<&str>,
    scope: &str,
    audience: Option<&str>,
    s: &mut Secrets,
    label: &str,
) -> Value {
    let b = browser();
    let (verifier, challenge) = pkce();
    let a = Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope, audience, extra: vec![] };
    let r = b.get(app.authorize_url(&a, &challenge, "st4te")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    s.add(&format!("{label} csrf cookie"), &set_cookie(&r, "ratchet_csrf").expect("a CSRF cookie"));
    let login = r.headers()["location"].to_str().unwrap().to_string();
    let html = b.get(app.url(&login)).send().await.unwrap().text().await.unwrap();
    let tx = html.split("name=\"state\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let r = b
        .post(app.url("/u/login"))
        .header("origin", &app.base)
        .form(&[("state", tx.as_str()), ("username", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    s.add(&format!("{label} session cookie"), &set_cookie(&r, "ratchet_session").expect("a session cookie"));
    let code = param(r.headers()["location"].to_str().unwrap(), "code").expect("a code");
    s.add(&format!("{label} code"), &code);
    s.add(&format!("{label} code_verifier"), &verifier);
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", client.client_id.as_str()),
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
        ("redirect_uri", CALLBACK),
    ];
    if let Some(sec) = secret {
        form.push(("client_secret", sec));
    }
    let (st, body) = app.token(&form).await;
    assert_eq!(st, 200, "{body}");
    s.add_token_response(&format!("{label} code exchange"), &body);
    body
}

async fn refresh_recording(app: &TestApp, client: &Client, secret: Option<&str>, rt: &str, s: &mut Secrets, label: &str) -> Value {
    let mut form = vec![("grant_type", "refresh_token"), ("client_id", client.client_id.as_str()), ("refresh_token", rt)];
    if let Some(sec) = secret {
        form.push(("client_secret", sec));
    }
    let (st, body) = app.token(&form).await;
    assert_eq!(st, 200, "{body}");
    s.add_token_response(label, &body);
    body
}

#[tokio::test]
async fn a_database_dump_contains_no_usable_token_or_secret() {
    let app = TestApp::spawn().await;
    app.api("https://api.example", true).await;
    let spa = app.spa_with_policy(|p| p.leeway = 30).await;
    let (web, web_secret) = app.client_with(AppType::RegularWeb, |_| {}).await;
    let web_secret = web_secret.unwrap();
    let user = app.user(EMAIL).await;
    let mut s = Secrets::new();
    s.add("client secret", &web_secret);
    s.add("password", PASSWORD);

    // SPA with an API (JWT access tokens): rotations, a leeway retry, and a revoked family.
    let body = sign_in_recording(&app, &spa, None, "openid profile email offline_access", Some("https://api.example"), &mut s, "spa").await;
    let mut rt = body["refresh_token"].as_str().unwrap().to_string();
    let mut previous = rt.clone();
    for i in 0..5 {
        let body = refresh_recording(&app, &spa, None, &rt, &mut s, &format!("spa refresh {i}")).await;
        previous = std::mem::replace(&mut rt, body["refresh_token"].as_str().unwrap().to_string());
    }
    refresh_recording(&app, &spa, None, &previous, &mut s, "spa leeway retry").await;
    // SPA without an API (opaque access tokens), then revoked.
    let body = sign_in_recording(&app, &spa, None, "openid offline_access", None, &mut s, "spa opaque").await;
    let opaque_rt = body["refresh_token"].as_str().unwrap().to_string();
    refresh_recording(&app, &spa, None, &opaque_rt, &mut s, "spa opaque refresh").await;
    let r = reqwest::Client::new()
        .post(app.url("/oauth/revoke"))
        .form(&[("client_id", spa.client_id.as_str()), ("token", opaque_rt.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A confidential client (non-rotating refresh token, used twice).
    let body = sign_in_recording(&app, &web, Some(&web_secret), "openid offline_access", None, &mut s, "web").await;
    let web_rt = body["refresh_token"].as_str().unwrap().to_string();
    for i in 0..2 {
        refresh_recording(&app, &web, Some(&web_secret), &web_rt, &mut s, &format!("web refresh {i}")).await;
    }

    // The raw files first (WAL included, as the running server leaves them), then every column
    // of every row of every table.
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", app.db_path.display());
        if let Ok(bytes) = std::fs::read(&path) {
            files.push((path, bytes));
        }
    }
    assert!(files.iter().any(|(p, b)| p.ends_with("-wal") && !b.is_empty()), "the WAL is part of the dump");
    let db = read_only(&app);
    let mut dump: Vec<u8> = Vec::new();
    for t in table_names(&db) {
        let cols = column_names(&db, &t);
        let select = cols.iter().map(|c| format!("CAST(\"{c}\" AS BLOB)")).collect::<Vec<_>>().join(", ");
        let mut stmt = db.prepare(&format!("SELECT {select} FROM \"{t}\"")).unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..cols.len() {
                if let Some(v) = row.get::<_, Option<Vec<u8>>>(i).unwrap() {
                    dump.extend_from_slice(&v);
                    dump.push(0);
                }
            }
        }
    }
    files.push(("logical dump of every table".into(), dump));

    // Positive controls: the dump does hold the non-secret data (so the search can fail).
    let family_id = app.family_of(&rt).await.id.to_string();
    let raw: Vec<u8> =
        files.iter().filter(|(p, _)| !p.ends_with("-shm") && !p.starts_with("logical")).flat_map(|(_, b)| b.clone()).collect();
    let logical = &files.last().unwrap().1;
    for (what, needle) in [("user id", user.user_id.as_bytes()), ("email", EMAIL.as_bytes()), ("family id", family_id.as_bytes())] {
        assert!(contains(logical, needle) && contains(&raw, needle), "control: the {what} is in the dump");
    }

    assert!(s.needles.len() > 100, "{} needles", s.needles.len());
    let mut leaks = Vec::new();
    for (label, needle) in &s.needles {
        for (where_, hay) in &files {
            if contains(hay, needle) {
                leaks.push(format!("{label} in {where_}"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets found in the database dump:\n{}", leaks.join("\n"));
}
