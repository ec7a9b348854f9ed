//! The `ratchet` command line (DESIGN §2): `--json` output, refresh-token settings with Auth0's
//! validation, env twins, and the audit trail reader.

use std::process::Command;

use serde_json::Value;

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli { dir: tempfile::tempdir().unwrap() }
    }

    fn db(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("cli.db").display())
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_ratchet")).env("RATCHET_DATABASE_URL", self.db()).args(args).output().unwrap();
        (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    }

    fn json(&self, args: &[&str]) -> Value {
        let (ok, out, err) = self.run(args);
        assert!(ok, "{args:?}: {err}");
        assert_eq!(out.lines().count(), 1, "--json prints one object and nothing else: {out}");
        serde_json::from_str(&out).unwrap()
    }
}

#[test]
fn clients_create_show_update_and_delete_with_json_output() {
    let cli = Cli::new();
    let c = cli.json(&[
        "clients",
        "create",
        "--name",
        "App",
        "--type",
        "spa",
        "--callback",
        "http://localhost:8080/cb",
        "--web-origin",
        "http://localhost:8080",
        "--leeway",
        "3",
        "--json",
    ]);
    let id = c["client_id"].as_str().unwrap();
    assert!(c.get("client_secret").is_none(), "SPAs are public clients");
    assert_eq!(c["refresh_token"]["rotation_type"], "rotating");
    assert_eq!(c["refresh_token"]["expiration_type"], "expiring");
    assert_eq!(c["refresh_token"]["leeway"], 3);
    let shown = cli.json(&["clients", "show", id, "--json"]);
    assert_eq!(shown, c);
    let updated = cli.json(&["clients", "update", id, "--absolute-lifetime", "86400", "--idle-lifetime", "3600", "--json"]);
    assert_eq!(updated["refresh_token"]["token_lifetime"], 86400);
    assert_eq!(updated["refresh_token"]["idle_token_lifetime"], 3600);
    let list = cli.json(&["clients", "list", "--json"]);
    assert_eq!(list["clients"].as_array().unwrap().len(), 1);
    assert_eq!(cli.json(&["clients", "delete", id, "--json"])["deleted"], true);
    assert!(!cli.run(&["clients", "show", id]).0);
}

#[test]
fn confidential_clients_get_a_url_safe_secret_shown_once() {
    let cli = Cli::new();
    let c = cli.json(&["clients", "create", "--name", "Backend", "--type", "m2m", "--json"]);
    let secret = c["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43 && secret.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'));
    let shown = cli.json(&["clients", "show", c["client_id"].as_str().unwrap(), "--json"]);
    assert!(shown.get("client_secret").is_none(), "only its hash is stored");
}

#[test]
fn refresh_settings_follow_auth0_validation() {
    let cli = Cli::new();
    let spa = ["clients", "create", "--name", "App", "--type", "spa"];
    let (ok, _, err) = cli.run(&[&spa[..], &["--absolute-lifetime", "100", "--idle-lifetime", "200"]].concat());
    assert!(!ok && err.contains("idle_token_lifetime"), "{err}");
    let (ok, _, err) = cli.run(&[&spa[..], &["--non-expiring"]].concat());
    assert!(!ok, "SPAs cannot have non-expiring refresh tokens: {err}");
    let (ok, _, _) = cli.run(&[&spa[..], &["--absolute-lifetime", "0"]].concat());
    assert!(!ok, "lifetimes start at 1 s");
    let (ok, _, _) = cli.run(&[&spa[..], &["--absolute-lifetime", "31557601"]].concat());
    assert!(!ok, "lifetimes end at one year");
    let (ok, _, _) = cli.run(&["clients", "create", "--name", "N", "--type", "native", "--rotation", "rotating", "--non-expiring"]);
    assert!(!ok, "rotation requires expiration");
    let native = cli.json(&["clients", "create", "--name", "N", "--type", "native", "--json"]);
    assert_eq!(native["refresh_token"]["rotation_type"], "non-rotating", "Auth0's default outside SPAs");
    let rotated = cli.json(&["clients", "update", native["client_id"].as_str().unwrap(), "--rotation", "rotating", "--json"]);
    assert_eq!(rotated["refresh_token"]["expiration_type"], "expiring", "turning rotation on makes tokens expire");
    let (ok, _, _) = cli.run(&["clients", "create", "--name", "Bad", "--type", "spa", "--callback", "javascript:alert(1)"]);
    assert!(!ok, "callbacks must be http(s) URLs");
}

#[test]
fn users_and_apis_are_created_with_json_output() {
    let cli = Cli::new();
    let u = cli.json(&["users", "create", "--email", "Bob@Example.com", "--password", "long enough", "--json"]);
    assert_eq!(u["email"], "bob@example.com");
    assert!(u["user_id"].as_str().unwrap().starts_with("ratchet|"));
    assert!(!cli.run(&["users", "create", "--email", "bob@example.com", "--password", "long enough"]).0, "emails are unique");
    assert!(!cli.run(&["users", "create", "--email", "x@example.com", "--password", "short"]).0);
    let api =
        cli.json(&["apis", "create", "--audience", "https://api.example", "--allow-offline-access", "--token-lifetime", "600", "--json"]);
    assert_eq!(api["allow_offline_access"], true);
    assert_eq!(api["token_lifetime"], 600);
    assert!(cli.run(&["users", "block", u["user_id"].as_str().unwrap()]).0);
    assert!(cli.run(&["users", "delete", u["user_id"].as_str().unwrap()]).0);
    assert!(!cli.run(&["users", "delete", u["user_id"].as_str().unwrap()]).0);
}

#[test]
fn logs_are_readable_as_json() {
    let cli = Cli::new();
    let logs = cli.json(&["logs", "--json"]);
    assert_eq!(logs["logs"], serde_json::json!([]));
    assert!(cli.run(&["migrate"]).0);
}

#[test]
fn users_are_listed_shown_updated_and_blocked_through_the_management_layer() {
    let cli = Cli::new();
    let u = cli.json(&["users", "create", "--email", "ann@example.com", "--password", "long enough", "--name", "Ann", "--json"]);
    let id = u["user_id"].as_str().unwrap();
    assert_eq!(u["identities"][0]["provider"], "auth0", "the same user object as /api/v2");
    cli.json(&["users", "create", "--email", "ben@example.com", "--password", "long enough", "--json"]);
    let all = cli.json(&["users", "list", "--json"]);
    assert_eq!(all["total"], 2);
    let one = cli.json(&["users", "list", "--q", "email:\"ann@example.com\"", "--json"]);
    assert_eq!(one["users"].as_array().unwrap().len(), 1);
    let (ok, _, err) = cli.run(&["users", "list", "--q", "name:ann"]);
    assert!(!ok && err.contains("email:"), "unsupported queries fail naming what is supported: {err}");
    assert_eq!(cli.json(&["users", "show", id, "--json"])["name"], "Ann");
    let updated = cli.json(&["users", "update", id, "--name", "Annie", "--email-verified", "true", "--json"]);
    assert_eq!((updated["name"].as_str(), updated["email_verified"].as_bool()), (Some("Annie"), Some(true)));
    assert_eq!(cli.json(&["users", "block", id, "--json"])["blocked"], true);
    assert_eq!(cli.json(&["users", "unblock", id, "--json"])["blocked"], false);
    let (ok, _, err) = cli.run(&["users", "show", "ratchet|nobody"]);
    assert!(!ok && err.contains("no such user"), "{err}");
}

#[test]
fn sessions_and_refresh_tokens_are_listed_and_revoked_per_user() {
    let cli = Cli::new();
    let u = cli.json(&["users", "create", "--email", "cy@example.com", "--password", "long enough", "--json"]);
    let id = u["user_id"].as_str().unwrap();
    assert_eq!(cli.json(&["sessions", "list", "--user", id, "--json"]), serde_json::json!({"sessions": []}));
    assert_eq!(cli.json(&["refresh-tokens", "list", "--user", id, "--json"]), serde_json::json!({"tokens": []}));
    assert_eq!(cli.json(&["refresh-tokens", "revoke", "--user", id, "--client", "c1", "--json"])["revoked"], 0);
    assert_eq!(cli.json(&["sessions", "revoke", "--user", id, "--with-refresh-tokens", "--json"])["sessions"], 0);
    let (ok, _, err) = cli.run(&["refresh-tokens", "revoke", "00000000000000000000000000000000"]);
    assert!(!ok && err.contains("no such"), "{err}");
    let (ok, _, err) = cli.run(&["sessions", "list", "--user", "ratchet|nobody"]);
    assert!(!ok && err.contains("no such user"), "{err}");
    assert!(!cli.run(&["refresh-tokens", "revoke"]).0, "an id or --user is required");
    let (ok, help, _) = cli.run(&["refresh-tokens", "revoke", "--help"]);
    assert!(ok && help.contains("--client") && help.contains("Revoke one refresh token"), "{help}");
}

#[test]
fn apis_have_permissions_and_are_listed_shown_updated_and_deleted() {
    let cli = Cli::new();
    let api =
        cli.json(&["apis", "create", "--audience", "https://api.example", "--scope", "read:a=Read A", "--scope", "write:a", "--json"]);
    assert_eq!(api["scopes"], serde_json::json!([{"value": "read:a", "description": "Read A"}, {"value": "write:a", "description": ""}]));
    let (ok, _, err) = cli.run(&["apis", "create", "--audience", "https://b.example", "--scope", "bad scope"]);
    assert!(!ok && err.contains("scope"), "{err}");
    let list = cli.json(&["apis", "list", "--json"]);
    let apis = list["apis"].as_array().unwrap();
    assert_eq!(apis.len(), 2);
    assert_eq!((apis[0]["identifier"].as_str(), apis[0]["is_system"].as_bool()), (Some("http://127.0.0.1:3000/api/v2/"), Some(true)));
    assert_eq!(apis[1]["identifier"], "https://api.example");
    let shown = cli.json(&["apis", "show", "https://api.example", "--json"]);
    assert_eq!((shown["id"].clone(), shown["is_system"].as_bool()), (api["id"].clone(), Some(false)));
    let updated = cli.json(&["apis", "update", api["id"].as_str().unwrap(), "--scope", "read:b", "--token-lifetime", "60", "--json"]);
    assert_eq!(updated["scopes"], serde_json::json!([{"value": "read:b", "description": ""}]));
    assert_eq!(updated["token_lifetime"], 60);
    let (ok, _, err) = cli.run(&["apis", "delete", "http://127.0.0.1:3000/api/v2/"]);
    assert!(!ok && err.contains("system"), "the Management API is immutable: {err}");
    assert_eq!(cli.json(&["apis", "delete", "https://api.example", "--json"])["deleted"], true);
    let (ok, _, err) = cli.run(&["apis", "show", "https://api.example"]);
    assert!(!ok && err.contains("no such API"), "{err}");
}

#[test]
fn client_grants_are_created_listed_and_deleted() {
    let cli = Cli::new();
    cli.json(&["apis", "create", "--audience", "https://api.example", "--scope", "read:a", "--json"]);
    let m2m = cli.json(&["clients", "create", "--name", "Backend", "--type", "m2m", "--json"]);
    let id = m2m["client_id"].as_str().unwrap();
    let g = cli.json(&["client-grants", "create", "--client-id", id, "--audience", "https://api.example", "--scope", "read:a", "--json"]);
    assert_eq!((g["client_id"].as_str(), g["audience"].as_str()), (Some(id), Some("https://api.example")));
    assert_eq!(g["scope"], serde_json::json!(["read:a"]));
    let (ok, _, err) = cli.run(&["client-grants", "create", "--client-id", id, "--audience", "https://api.example"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = cli.run(&["client-grants", "create", "--client-id", id, "--audience", "https://nope.example"]);
    assert!(!ok && err.contains("no such API"), "{err}");
    // The Management API, as Auth0's SDKs name it, with Auth0's scopes.
    let mgmt = cli.json(&[
        "client-grants",
        "create",
        "--client-id",
        id,
        "--audience",
        "https://127.0.0.1:3000/api/v2/",
        "--scope",
        "read:users",
        "--scope",
        "read:clients",
        "--json",
    ]);
    assert_eq!(mgmt["audience"], "http://127.0.0.1:3000/api/v2/");
    let (ok, _, err) = cli.run(&[
        "client-grants",
        "create",
        "--client-id",
        id,
        "--audience",
        "https://api.example",
        "--scope",
        "admin",
        "--issuer",
        "http://x/",
    ]);
    assert!(!ok && err.contains("admin"), "{err}");
    assert_eq!(cli.json(&["client-grants", "list", "--json"])["client_grants"].as_array().unwrap().len(), 2);
    let only = cli.json(&["client-grants", "list", "--audience", "https://api.example", "--json"]);
    assert_eq!(only["client_grants"], serde_json::json!([g]));
    assert_eq!(cli.json(&["client-grants", "delete", g["id"].as_str().unwrap(), "--json"])["deleted"], true);
    assert!(!cli.run(&["client-grants", "delete", g["id"].as_str().unwrap()]).0);
    assert_eq!(cli.json(&["client-grants", "list", "--client-id", id, "--json"])["client_grants"].as_array().unwrap().len(), 1);
}

#[test]
fn rotate_secret_gives_a_new_url_safe_secret() {
    let cli = Cli::new();
    let c = cli.json(&["clients", "create", "--name", "Backend", "--type", "m2m", "--json"]);
    let id = c["client_id"].as_str().unwrap();
    let rotated = cli.json(&["clients", "rotate-secret", id, "--json"]);
    let secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(secret, c["client_secret"].as_str().unwrap());
    assert!(secret.len() >= 43 && secret.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'));
    let spa = cli.json(&["clients", "create", "--name", "App", "--json"]);
    assert!(!cli.run(&["clients", "rotate-secret", spa["client_id"].as_str().unwrap()]).0, "public clients have no secret");
    assert!(!cli.run(&["clients", "rotate-secret", "ghost"]).0);
}

#[test]
fn every_command_has_a_help_text_of_its_own() {
    let cli = Cli::new();
    for (args, expected) in [
        (&["clients", "create", "--help"][..], "Register an application"),
        (&["clients", "rotate-secret", "--help"][..], "new secret"),
        (&["apis", "update", "--help"][..], "permissions"),
        (&["client-grants", "create", "--help"][..], "client_credentials"),
        (&["client-grants", "--help"][..], "client grants"),
        (&["keys", "rotate", "--help"][..], "--prepublish"),
        (&["keys", "revoke", "--help"][..], "--force"),
    ] {
        let (ok, out, err) = cli.run(args);
        assert!(ok, "{args:?}: {err}");
        assert!(out.contains(expected), "{args:?}: {out}");
        assert!(!out.contains("URL lists"), "not the URL flags' comment: {out}");
    }
}

#[test]
fn clients_update_require_dpop_sets_require_proof_of_possession() {
    let cli = Cli::new();
    let c = cli.json(&["clients", "create", "--name", "SPA", "--callback", "http://localhost:3000/cb", "--json"]);
    assert_eq!(c["require_proof_of_possession"], false);
    let id = c["client_id"].as_str().unwrap();
    let u = cli.json(&["clients", "update", id, "--require-dpop", "true", "--json"]);
    assert_eq!(u["require_proof_of_possession"], true);
    assert_eq!(cli.json(&["clients", "show", id, "--json"])["require_proof_of_possession"], true);
    let u = cli.json(&["clients", "update", id, "--require-dpop", "false", "--json"]);
    assert_eq!(u["require_proof_of_possession"], false);
    let (ok, _, _) = cli.run(&["clients", "update", id, "--require-dpop", "maybe"]);
    assert!(!ok, "only true or false");
}

#[tokio::test]
async fn purge_deletes_long_dead_families_and_keeps_live_ones() {
    use ratchet_core::family::{Family, FamilyId};
    let cli = Cli::new();
    cli.json(&["clients", "list", "--json"]); // creates the database
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let family = |revoked_at| Family {
        id: FamilyId::random(),
        grant_id: "g".into(),
        client_id: "c".into(),
        user_id: "u".into(),
        session_id: None,
        audience: None,
        scope: "openid offline_access".into(),
        rotating: true,
        counter: 0,
        created_at: now - 10 * 86_400,
        expires_at: None,
        idle_expires_at: None,
        rotated_at: now - 10 * 86_400,
        revoked_at,
        auth_time: now - 10 * 86_400,
        jkt: None,
    };
    let (dead, live) = (family(Some(now - 2 * 86_400)), family(None));
    let store = ratchet_store::open(&cli.db()).await.unwrap();
    store.import_families(&[dead.clone(), live.clone()]).await.unwrap();
    drop(store);
    let purged = cli.json(&["purge", "--json"]);
    assert!(purged["purged"].as_u64().unwrap() >= 1, "{purged}");
    let store = ratchet_store::open(&cli.db()).await.unwrap();
    assert_eq!(store.family(&dead.id).await.unwrap(), None, "revoked two days ago: purged");
    assert_eq!(store.family(&live.id).await.unwrap(), Some(live));
}

#[test]
fn clients_create_refuses_non_loopback_http_callbacks_unless_allowed() {
    let cli = Cli::new();
    let args = ["clients", "create", "--name", "App", "--type", "spa", "--callback", "http://app.example/cb", "--json"];
    let (ok, _, err) = cli.run(&args);
    assert!(!ok && err.contains("http"), "{err}");
    let mut allowed = args.to_vec();
    allowed.push("--allow-insecure-callbacks");
    assert_eq!(cli.json(&allowed)["callbacks"][0], "http://app.example/cb");
}

#[test]
fn keys_list_rotate_and_revoke_from_the_command_line() {
    let cli = Cli::new();
    let listed = cli.json(&["keys", "list", "--json"]);
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4, "a signing key of each type and a refresh MAC key exist from the start: {listed}");
    for (k, kind) in keys.iter().zip(["signing", "signing-ec", "signing-ed", "refresh"]) {
        assert_eq!((k["kind"].as_str(), k["id"].as_u64(), k["state"].as_str()), (Some(kind), Some(1), Some("active")));
        assert!(k["kid"].is_string() && k["created_at"].is_i64() && k["activates_at"].is_i64(), "{k}");
    }
    let signing_kid = keys[0]["kid"].as_str().unwrap();
    assert_eq!(signing_kid.len(), 43, "a signing key's kid is its RFC 7638 thumbprint");

    let next = cli.json(&["keys", "rotate", "--kind", "signing", "--prepublish", "3600", "--json"]);
    assert_eq!((next["id"].as_u64(), next["state"].as_str()), (Some(2), Some("next")));
    assert_eq!(next["activates_at"].as_i64().unwrap() - next["created_at"].as_i64().unwrap(), 3600);
    let (ok, _, err) = cli.run(&["keys", "revoke", "--kind", "signing", signing_kid]);
    assert!(!ok && err.contains("active"), "the active key cannot be revoked: {err}");
    let cancelled = cli.json(&["keys", "revoke", "--kind", "signing", "2", "--json"]);
    assert_eq!((cancelled["state"].as_str(), &cancelled["kid"]), (Some("revoked"), &Value::Null), "a next key can be withdrawn");

    let mac = cli.json(&["keys", "rotate", "--kind", "refresh", "--prepublish", "0", "--json"]);
    assert_eq!((mac["id"].as_u64(), mac["kid"].as_str(), mac["state"].as_str()), (Some(2), Some("2"), Some("active")));
    let (ok, _, err) = cli.run(&["keys", "revoke", "--kind", "refresh", "1"]);
    assert!(!ok && err.contains("--force"), "revoking a MAC key that still verifies signs people out, so it needs --force: {err}");
    assert_eq!(cli.json(&["keys", "revoke", "--kind", "refresh", "1", "--force", "--json"])["state"], "revoked");
    let states: Vec<_> = cli.json(&["keys", "list", "--json"])["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| format!("{} {} {}", k["kind"].as_str().unwrap(), k["id"], k["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        ["signing 1 active", "signing 2 revoked", "signing-ec 1 active", "signing-ed 1 active", "refresh 1 revoked", "refresh 2 active"]
    );
    let (ok, human, _) = cli.run(&["keys", "list"]);
    assert!(ok && human.lines().count() == 6 && !human.contains("retiring"), "{human}");
}

#[test]
fn signing_algorithms_are_set_and_refused_from_the_command_line() {
    let cli = Cli::new();
    let c = cli.json(&["clients", "create", "--name", "Fast", "--id-token-alg", "ES256", "--json"]);
    assert_eq!(c["id_token_alg"], "ES256");
    let id = c["client_id"].as_str().unwrap();
    assert_eq!(cli.json(&["clients", "update", id, "--id-token-alg", "EdDSA", "--json"])["id_token_alg"], "EdDSA");
    assert_eq!(cli.json(&["clients", "create", "--name", "Default", "--json"])["id_token_alg"], "RS256", "RS256 unless chosen");
    let api = cli.json(&["apis", "create", "--audience", "https://fast.example", "--signing-alg", "PS256", "--json"]);
    assert_eq!(api["signing_alg"], "PS256");
    assert_eq!(cli.json(&["apis", "update", "https://fast.example", "--signing-alg", "ES256", "--json"])["signing_alg"], "ES256");
    assert_eq!(cli.json(&["apis", "show", "https://fast.example", "--json"])["signing_alg"], "ES256");
    for bad in ["HS256", "none", "es256"] {
        let (ok, _, err) = cli.run(&["clients", "update", id, "--id-token-alg", bad]);
        assert!(!ok && err.contains("not supported"), "{bad}: {err}");
        let (ok, _, err) = cli.run(&["apis", "create", "--audience", "https://bad.example", "--signing-alg", bad]);
        assert!(!ok && err.contains("not supported"), "{bad}: {err}");
    }
    assert_eq!(cli.json(&["clients", "show", id, "--json"])["id_token_alg"], "EdDSA", "a refused change changes nothing");
}

#[test]
fn keys_rotate_refuses_a_negative_prepublication() {
    let cli = Cli::new();
    let (ok, _, err) = cli.run(&["keys", "rotate", "--kind", "signing", "--prepublish=-1"]);
    assert!(!ok && err.contains("--prepublish"), "{err}");
}

#[test]
fn administrators_are_made_and_unmade_with_the_cli() {
    let cli = Cli::new();
    let u = cli.json(&["users", "create", "--email", "root@example.com", "--password", "long enough", "--admin", "--json"]);
    let id = u["user_id"].as_str().unwrap();
    cli.json(&["users", "create", "--email", "plain@example.com", "--password", "long enough", "--json"]);
    let listing = |cli: &Cli| cli.run(&["users", "list"]).1;
    let admins = |out: String| out.lines().filter(|l| l.ends_with("(administrator)")).map(str::to_string).collect::<Vec<_>>();
    let list = admins(listing(&cli));
    assert!(list.len() == 1 && list[0].starts_with(id), "{list:?}");
    cli.json(&["users", "update", id, "--admin", "false", "--json"]);
    assert!(admins(listing(&cli)).is_empty());
    cli.json(&["users", "update", id, "--admin", "true", "--json"]);
    assert_eq!(admins(listing(&cli)).len(), 1);
}

#[test]
fn migrate_creates_the_admin_console_client() {
    let cli = Cli::new();
    assert!(cli.run(&["migrate"]).0);
    let c = cli.json(&["clients", "show", "ratchet-admin", "--json"]);
    assert_eq!(c["callbacks"], serde_json::json!(["http://127.0.0.1:3000/admin/"]));
    assert_eq!(c["web_origins"], serde_json::json!(["http://127.0.0.1:3000"]));
    assert_eq!(c["app_type"], "spa");
    assert_eq!(c["refresh_token"]["rotation_type"], "rotating");
    assert!(cli.run(&["migrate"]).0, "idempotent");
}

#[test]
fn serve_demo_creates_and_prints_the_demo_administrator() {
    use std::io::{BufRead, BufReader};
    let cli = Cli::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ratchet"))
        .env("RATCHET_DATABASE_URL", cli.db())
        .args(["serve", "--listen", "127.0.0.1:0", "--demo", "--demo-listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut printed = Vec::new();
    // Read until the last line of the demo banner (or until the process ends, if it fails).
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let last = line.starts_with("demo admin:");
        printed.push(line);
        if last {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(printed.iter().any(|l| l == "demo admin:     admin@example.com / ratchet-admin"), "{printed:?}");
    assert!(printed.iter().any(|l| l.starts_with("admin console:  http://127.0.0.1:") && l.ends_with("/admin/")), "{printed:?}");
    let (_, list, _) = cli.run(&["users", "list"]);
    assert!(list.lines().any(|l| l.contains("admin@example.com") && l.ends_with("(administrator)")), "{list}");
}

/// A change the CLI (another process) makes to the SQLite file of a running server is seen by the
/// server's very next request, although the server had the client and the API cached: SQLite's
/// `data_version` tells it another connection committed (crates/store/src/catalog.rs).
#[tokio::test]
async fn cli_client_change_reaches_running_server() {
    let app = crate::support::TestApp::spawn().await;
    let audience = "https://cli-cache.example.com/";
    app.api(audience, false).await;
    let (id, secret) = app.m2m_client(audience, &[]).await;
    for _ in 0..2 {
        let (s, body) = app.client_credentials(&id, &secret, audience, None).await;
        assert_eq!((s, body["expires_in"].as_i64()), (200, Some(3600)), "{body}");
    }
    let database = format!("sqlite://{}", app.db_path.display());
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ratchet")).env("RATCHET_DATABASE_URL", &database).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    cli(&["apis", "update", audience, "--token-lifetime", "600", "--json"]);
    let (s, body) = app.client_credentials(&id, &secret, audience, None).await;
    assert_eq!((s, body["expires_in"].as_i64()), (200, Some(600)), "the lifetime set by the CLI: {body}");
    let rotated = cli(&["clients", "rotate-secret", &id, "--json"]);
    let (s, body) = app.client_credentials(&id, &secret, audience, None).await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_client")), "the secret the CLI replaced is refused at once");
    let (s, _) = app.client_credentials(&id, rotated["client_secret"].as_str().unwrap(), audience, None).await;
    assert_eq!(s, 200);
    cli(&["clients", "delete", &id, "--json"]);
    let (s, _) = app.client_credentials(&id, rotated["client_secret"].as_str().unwrap(), audience, None).await;
    assert_eq!(s, 401, "the client the CLI deleted is unknown at once");
}
