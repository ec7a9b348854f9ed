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
