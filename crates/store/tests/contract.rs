//! The contract of the storage port, written once and run on every engine.
//!
//! Each behaviour is an `async fn name(s: &Db)`; the `contract!` macro instantiates it as
//! `sqlite::name` (a fresh database file in a temporary directory) and `postgres::name` (a fresh
//! database `ratchet_test_<random>` on the server at `RATCHET_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432`, dropped afterwards). The PostgreSQL tests fail, never
//! skip, when that server is unreachable. Every test is bounded by [`TEST_TIMEOUT`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ratchet_core::UnixTime;
use ratchet_core::client::{Api, ApiScope, AppType, Client, NewClient};
use ratchet_core::family::{Family, FamilyId};
use ratchet_store::{
    AuthCode, ClientGrant, ClientGrantFilter, Event, EventQuery, FamilyFilter, LogFilter, LogOrder, LogQuery, Logged, REPLAYED_PROOF,
    Redemption, Rotated, Rotation, RotationProof, Seen, Session, Store, StoreError, User, UserFilter, Window,
};

type Db = Arc<dyn Store>;

const TEST_TIMEOUT: Duration = Duration::from_secs(60);
const NOW: UnixTime = 1_700_000_000;
const DAY: i64 = 86_400;
/// How many callers race in the concurrency tests.
const RACERS: usize = 16;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn client(id: &str) -> Client {
    let host = id.to_lowercase();
    Client::new(
        id.to_string(),
        NewClient {
            name: format!("App {id}"),
            app_type: Some(AppType::Spa),
            callbacks: vec![format!("https://{host}.example.com/callback")],
            logout_urls: vec![format!("https://{host}.example.com/")],
            web_origins: vec![format!("https://{host}.example.com")],
        },
        NOW,
    )
    .expect("a valid client")
}

/// A user with every profile field set.
fn user(id: &str) -> User {
    let mut u = User::new(
        id.to_string(),
        format!("{id}@example.com"),
        format!("User {id}"),
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        NOW,
    );
    u.email_verified = true;
    u.user_metadata = serde_json::json!({"theme": "dark", "n": 1}).as_object().cloned().unwrap();
    u.app_metadata = serde_json::json!({"plan": {"tier": "gold"}}).as_object().cloned().unwrap();
    u.updated_at = Some(NOW + 1);
    u.last_login = Some(NOW + 2);
    u.last_ip = Some("192.0.2.1".into());
    u.logins_count = 3;
    u
}

fn seen(ip: &str, ua: &str) -> Seen {
    Seen { ip: Some(ip.to_string()), user_agent: Some(ua.to_string()) }
}

fn session(id_hash: &str, user_id: &str) -> Session {
    Session {
        id_hash: id_hash.to_string(),
        sid: format!("sid-{id_hash}"),
        user_id: user_id.to_string(),
        auth_time: NOW,
        expires_at: NOW + 3 * DAY,
        idle_expires_at: NOW + DAY,
        created_at: NOW,
        last_interacted_at: NOW,
        initial: seen("192.0.2.7", "Browser/1"),
        last: seen("192.0.2.7", "Browser/1"),
    }
}

/// A code with every optional field set.
fn code(code_hash: &str, grant_id: &str, client_id: &str, user_id: &str) -> AuthCode {
    AuthCode {
        code_hash: code_hash.to_string(),
        grant_id: grant_id.to_string(),
        client_id: client_id.to_string(),
        user_id: user_id.to_string(),
        session_id: Some(format!("session-of-{user_id}")),
        redirect_uri: "https://app.example.com/callback".into(),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        scope: "openid profile offline_access".into(),
        audience: Some("https://api.example.com".into()),
        nonce: Some("n-0S6_WzA2Mj".into()),
        auth_time: NOW - 30,
        expires_at: NOW + 600,
    }
}

/// A live rotating family with every optional field set.
fn family(grant_id: &str, client_id: &str, user_id: &str) -> Family {
    Family {
        id: FamilyId::random(),
        grant_id: grant_id.to_string(),
        client_id: client_id.to_string(),
        user_id: user_id.to_string(),
        session_id: Some(format!("session-of-{user_id}")),
        audience: Some("https://api.example.com".into()),
        scope: "openid offline_access".into(),
        rotating: true,
        counter: 0,
        created_at: NOW,
        expires_at: Some(NOW + 30 * DAY),
        idle_expires_at: Some(NOW + 15 * DAY),
        rotated_at: NOW,
        revoked_at: None,
        auth_time: NOW - 5,
        jkt: None,
    }
}

fn event(at: UnixTime, kind: &str, user_id: Option<&str>, description: &str) -> Event {
    Event {
        at,
        kind: kind.to_string(),
        client_id: Some("client-1".into()),
        user_id: user_id.map(str::to_string),
        description: description.to_string(),
        details: serde_json::json!({ "n": at }),
        ip: None,
        user_agent: None,
    }
}

async fn get_family(s: &Db, f: &Family) -> Family {
    s.family(&f.id).await.unwrap().expect("the family exists")
}

async fn revoked_at(s: &Db, f: &Family) -> Option<UnixTime> {
    get_family(s, f).await.revoked_at
}

/// Runs `n` calls of `f` at once: each in its own task, all released together by a barrier.
async fn race<T, F, Fut>(n: usize, s: &Db, f: F) -> Vec<T>
where
    F: Fn(Db, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let call = f(s.clone(), i);
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            call.await
        });
    }
    let mut out = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        out.push(r.expect("a racing call panicked"));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Behaviours
// ---------------------------------------------------------------------------------------------

async fn ping_succeeds(s: &Db) {
    s.ping().await.expect("ping");
}

/// The (kid, sealed) pairs of `kind`.
async fn sealed_secrets(s: &Db, kind: &str) -> Vec<(u8, Vec<u8>)> {
    s.server_secrets(kind).await.unwrap().into_iter().map(|k| (k.kid, k.sealed)).collect()
}

async fn server_secrets_are_inserted_once_and_listed_in_kid_order(s: &Db) {
    assert!(s.server_secrets("signing").await.unwrap().is_empty());
    assert!(s.insert_server_secret("signing", 2, b"sealed-2", NOW, NOW + 60).await.unwrap());
    assert!(s.insert_server_secret("signing", 0, b"sealed-0", NOW, NOW).await.unwrap());
    assert!(s.insert_server_secret("signing", 255, &[0, 255, 1, 0], NOW, NOW).await.unwrap());
    assert!(s.insert_server_secret("refresh-mac", 2, b"mac-2", NOW, NOW).await.unwrap());
    assert!(
        !s.insert_server_secret("signing", 2, b"another", NOW + 1, NOW + 1).await.unwrap(),
        "a second insert of (kind, kid) must report that it did not insert"
    );
    assert_eq!(sealed_secrets(s, "signing").await, vec![(0, b"sealed-0".to_vec()), (2, b"sealed-2".to_vec()), (255, vec![0, 255, 1, 0])]);
    let second = &s.server_secrets("signing").await.unwrap()[1];
    assert_eq!((second.created_at, second.activates_at, second.revoked_at), (NOW, NOW + 60, None));
    assert_eq!(sealed_secrets(s, "refresh-mac").await, vec![(2, b"mac-2".to_vec())]);
    assert!(s.server_secrets("unknown").await.unwrap().is_empty());
}

async fn revoking_a_server_secret_erases_its_material_once(s: &Db) {
    assert!(s.insert_server_secret("signing", 1, b"sealed-1", NOW, NOW).await.unwrap());
    assert!(s.insert_server_secret("signing", 2, b"sealed-2", NOW, NOW).await.unwrap());
    assert!(s.revoke_server_secret("signing", 1, NOW + 5).await.unwrap());
    assert!(!s.revoke_server_secret("signing", 1, NOW + 6).await.unwrap(), "a second revocation changes nothing");
    assert!(!s.revoke_server_secret("signing", 9, NOW).await.unwrap(), "an unknown kid is not revoked");
    assert!(!s.revoke_server_secret("refresh-mac", 2, NOW).await.unwrap(), "kinds are separate");
    let rows = s.server_secrets("signing").await.unwrap();
    assert_eq!((rows[0].revoked_at, rows[0].sealed.is_empty()), (Some(NOW + 5), true), "the revoked key is erased");
    assert_eq!((rows[1].revoked_at, rows[1].sealed.as_slice()), (None, b"sealed-2".as_slice()));
}

async fn insert_server_secret_has_exactly_one_winner(s: &Db) {
    let results = race(RACERS, s, |s, i| async move {
        let sealed = format!("node-{i}").into_bytes();
        let won = s.insert_server_secret("signing", 1, &sealed, NOW, NOW).await.unwrap();
        (won, sealed)
    })
    .await;
    let winners: Vec<_> = results.iter().filter(|(won, _)| *won).collect();
    assert_eq!(winners.len(), 1, "exactly one node inserts the key: {results:?}");
    assert_eq!(sealed_secrets(s, "signing").await, vec![(1, winners[0].1.clone())]);
}

async fn client_round_trips_with_its_secret_hash(s: &Db) {
    let public = client("spa-app");
    let mut confidential = client("web-app");
    confidential.app_type = AppType::RegularWeb;
    s.insert_client(&public, None).await.unwrap();
    s.insert_client(&confidential, Some("secret-hash")).await.unwrap();

    let got = s.client("web-app").await.unwrap().expect("stored");
    assert_eq!(got.client, confidential);
    assert_eq!(got.secret_hash.as_deref(), Some("secret-hash"));
    let got = s.client("spa-app").await.unwrap().expect("stored");
    assert_eq!(got.client, public);
    assert_eq!(got.secret_hash, None);
    assert!(s.client("missing").await.unwrap().is_none());
}

async fn duplicate_client_id_is_a_conflict(s: &Db) {
    let first = client("app");
    s.insert_client(&first, None).await.unwrap();
    let mut second = client("app");
    second.name = "Impostor".into();
    let r = s.insert_client(&second, Some("hash")).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    let got = s.client("app").await.unwrap().expect("stored");
    assert_eq!((got.client, got.secret_hash), (first, None));
}

async fn update_client_replaces_it_and_reports_unknown_ids(s: &Db) {
    let mut c = client("app");
    s.insert_client(&c, Some("hash")).await.unwrap();
    c.name = "Renamed".into();
    c.callbacks.push("https://app.example.com/other".into());
    c.refresh_token.leeway = 30;
    assert!(s.update_client(&c).await.unwrap());
    let got = s.client("app").await.unwrap().expect("stored");
    assert_eq!(got.client, c);
    assert_eq!(got.secret_hash.as_deref(), Some("hash"), "an update keeps the secret");

    assert!(!s.update_client(&client("ghost")).await.unwrap());
    assert!(s.client("ghost").await.unwrap().is_none(), "an update never inserts");
}

async fn clients_are_listed_in_id_order(s: &Db) {
    assert!(s.clients().await.unwrap().is_empty());
    for id in ["alpha", "Zeta", "beta-2", "Beta"] {
        s.insert_client(&client(id), None).await.unwrap();
    }
    let ids: Vec<String> = s.clients().await.unwrap().into_iter().map(|c| c.client_id).collect();
    // Byte order on both engines, whatever the database's collation.
    assert_eq!(ids, ["Beta", "Zeta", "alpha", "beta-2"]);
}

async fn delete_client_revokes_its_families_grants_and_codes(s: &Db) {
    s.insert_client(&client("a"), None).await.unwrap();
    s.insert_client(&client("b"), None).await.unwrap();
    s.insert_code(&code("code-a", "grant-a", "a", "u"), NOW).await.unwrap();
    s.insert_code(&code("code-b", "grant-b", "b", "u"), NOW).await.unwrap();
    let fa = family("grant-a0", "a", "u");
    let fb = family("grant-b0", "b", "u");
    s.insert_family(&fa, &Seen::default()).await.unwrap();
    s.insert_family(&fb, &Seen::default()).await.unwrap();

    assert!(s.delete_client("a", NOW + 10).await.unwrap());
    assert!(s.client("a").await.unwrap().is_none());
    assert_eq!(revoked_at(s, &fa).await, Some(NOW + 10));
    assert_eq!(revoked_at(s, &fb).await, None);
    assert!(!s.grant_is_live("grant-a").await.unwrap());
    assert!(s.grant_is_live("grant-b").await.unwrap());
    assert_eq!(s.redeem_code("code-a", NOW + 11).await.unwrap(), Redemption::NotFound);
    assert!(matches!(s.redeem_code("code-b", NOW + 11).await.unwrap(), Redemption::Fresh(_)));
    assert!(s.client("b").await.unwrap().is_some());

    assert!(!s.delete_client("a", NOW + 12).await.unwrap());
    assert_eq!(revoked_at(s, &fa).await, Some(NOW + 10), "the first revocation time stays");
}

fn window(after: Option<&str>, offset: u64, limit: u32) -> Window {
    Window { after: after.map(str::to_string), offset, limit }
}

fn client_grant(id: &str, client_id: &str, audience: &str, scope: &[&str]) -> ClientGrant {
    ClientGrant {
        id: id.to_string(),
        client_id: client_id.to_string(),
        audience: audience.to_string(),
        scope: scope.iter().map(|s| s.to_string()).collect(),
        created_at: NOW,
    }
}

async fn clients_are_listed_in_windows_with_a_total(s: &Db) {
    assert_eq!(s.list_clients(&window(None, 0, 10)).await.unwrap(), (vec![], 0));
    for id in ["alpha", "Zeta", "beta-2", "Beta", "gamma"] {
        s.insert_client(&client(id), None).await.unwrap();
    }
    let ids = |cs: Vec<Client>| cs.into_iter().map(|c| c.client_id).collect::<Vec<_>>();
    let (first, total) = s.list_clients(&window(None, 0, 2)).await.unwrap();
    assert_eq!((ids(first), total), (vec!["Beta".to_string(), "Zeta".into()], 5));
    let (second, total) = s.list_clients(&window(None, 2, 2)).await.unwrap();
    assert_eq!((ids(second), total), (vec!["alpha".to_string(), "beta-2".into()], 5));
    let (after, total) = s.list_clients(&window(Some("beta-2"), 0, 10)).await.unwrap();
    assert_eq!((ids(after), total), (vec!["gamma".to_string()], 5), "a cursor continues after the last id, the total counts all");
    assert!(s.list_clients(&window(None, 5, 10)).await.unwrap().0.is_empty());
}

async fn set_client_secret_replaces_only_the_hash(s: &Db) {
    let c = client("web");
    s.insert_client(&c, Some("old-hash")).await.unwrap();
    assert!(s.set_client_secret("web", "new-hash").await.unwrap());
    let got = s.client("web").await.unwrap().unwrap();
    assert_eq!((got.client, got.secret_hash.as_deref()), (c, Some("new-hash")));
    assert!(!s.set_client_secret("ghost", "h").await.unwrap());
}

async fn apis_are_found_by_id_listed_updated_and_deleted(s: &Db) {
    let mut a = Api::new("api-a".into(), "https://a.example.com".into(), None, false, None).unwrap();
    a.scopes = vec![ApiScope { value: "read:a".into(), description: "Read A".into() }];
    let b = Api::new("api-b".into(), "https://b.example.com".into(), None, true, None).unwrap();
    s.insert_api(&b).await.unwrap();
    s.insert_api(&a).await.unwrap();
    assert_eq!(s.api_by_id("api-a").await.unwrap(), Some(a.clone()), "scopes round-trip");
    assert_eq!(s.api_by_id("https://a.example.com").await.unwrap(), None, "looked up by id, not identifier");
    let (page, total) = s.list_apis(&window(None, 0, 1)).await.unwrap();
    assert_eq!((page, total), (vec![a.clone()], 2));
    let (page, _) = s.list_apis(&window(None, 1, 1)).await.unwrap();
    assert_eq!(page, vec![b.clone()]);

    a.name = "Renamed".into();
    a.token_lifetime = 60;
    a.scopes.push(ApiScope { value: "write:a".into(), description: String::new() });
    assert!(s.update_api(&a).await.unwrap());
    assert_eq!(s.api("https://a.example.com").await.unwrap(), Some(a.clone()));
    let mut moved = a.clone();
    moved.identifier = "https://elsewhere.example.com".into();
    assert!(!s.update_api(&moved).await.unwrap(), "the identifier never changes");

    s.insert_client(&client("m2m"), None).await.unwrap();
    s.insert_client_grant(&client_grant("cgr_1", "m2m", "https://a.example.com", &["read:a"])).await.unwrap();
    s.insert_client_grant(&client_grant("cgr_2", "m2m", "https://b.example.com", &[])).await.unwrap();
    s.insert_client(&client("spa"), None).await.unwrap();
    let for_a = Family { audience: Some("https://a.example.com".into()), ..family("grant-a", "spa", "u") };
    let for_b = Family { audience: Some("https://b.example.com".into()), ..family("grant-b", "spa", "u") };
    s.insert_family(&for_a, &Seen::default()).await.unwrap();
    s.insert_family(&for_b, &Seen::default()).await.unwrap();
    assert!(s.delete_api("api-a", NOW + 10).await.unwrap());
    assert_eq!(revoked_at(s, &for_a).await, Some(NOW + 10), "refresh tokens issued for a deleted API are revoked");
    assert_eq!(revoked_at(s, &for_b).await, None, "other APIs' refresh tokens stay");
    assert_eq!(s.api_by_id("api-a").await.unwrap(), None);
    assert_eq!(s.client_grant("cgr_1").await.unwrap(), None, "the API's client grants go with it");
    assert!(s.client_grant("cgr_2").await.unwrap().is_some(), "other APIs' grants stay");
    assert!(!s.delete_api("api-a", NOW).await.unwrap());
    assert!(!s.update_api(&a).await.unwrap(), "an update never inserts");
}

async fn client_grants_round_trip_and_are_unique_per_client_and_audience(s: &Db) {
    s.insert_client(&client("m2m"), None).await.unwrap();
    let g = client_grant("cgr_1", "m2m", "https://api.example.com", &["read:a", "write:a"]);
    s.insert_client_grant(&g).await.unwrap();
    assert_eq!(s.client_grant("cgr_1").await.unwrap(), Some(g.clone()));
    assert_eq!(s.client_grant_for("m2m", "https://api.example.com").await.unwrap(), Some(g.clone()));
    assert_eq!(s.client_grant_for("m2m", "https://other.example.com").await.unwrap(), None);
    assert_eq!(s.client_grant_for("other", "https://api.example.com").await.unwrap(), None);
    let r = s.insert_client_grant(&client_grant("cgr_2", "m2m", "https://api.example.com", &[])).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "one grant per client and audience: {r:?}");
    let empty = client_grant("cgr_3", "m2m", "https://other.example.com", &[]);
    s.insert_client_grant(&empty).await.unwrap();
    assert_eq!(s.client_grant("cgr_3").await.unwrap(), Some(empty), "an empty scope list round-trips");
}

async fn client_grants_are_listed_by_filter_in_windows(s: &Db) {
    for c in ["c1", "c2"] {
        s.insert_client(&client(c), None).await.unwrap();
    }
    let grants = [
        client_grant("cgr_a", "c1", "https://x.example.com", &["r"]),
        client_grant("cgr_b", "c2", "https://x.example.com", &[]),
        client_grant("cgr_c", "c1", "https://y.example.com", &[]),
        client_grant("cgr_d", "c2", "https://y.example.com", &["w"]),
    ];
    for g in grants.iter().rev() {
        s.insert_client_grant(g).await.unwrap();
    }
    let ids = |gs: &[ClientGrant]| gs.iter().map(|g| g.id.clone()).collect::<Vec<_>>();
    let all = ClientGrantFilter::default();
    let (page, total) = s.list_client_grants(&all, &window(None, 0, 3)).await.unwrap();
    assert_eq!((ids(&page), total), (vec!["cgr_a".to_string(), "cgr_b".into(), "cgr_c".into()], 4));
    let (page, _) = s.list_client_grants(&all, &window(Some("cgr_c"), 0, 3)).await.unwrap();
    assert_eq!(ids(&page), ["cgr_d"]);
    let by_client = ClientGrantFilter { client_id: Some("c1".into()), audience: None };
    let (page, total) = s.list_client_grants(&by_client, &window(None, 0, 10)).await.unwrap();
    assert_eq!((ids(&page), total), (vec!["cgr_a".to_string(), "cgr_c".into()], 2));
    let by_audience = ClientGrantFilter { client_id: None, audience: Some("https://y.example.com".into()) };
    let (page, total) = s.list_client_grants(&by_audience, &window(None, 1, 10)).await.unwrap();
    assert_eq!((ids(&page), total), (vec!["cgr_d".to_string()], 2));
    let both = ClientGrantFilter { client_id: Some("c2".into()), audience: Some("https://x.example.com".into()) };
    let (page, total) = s.list_client_grants(&both, &window(None, 0, 10)).await.unwrap();
    assert_eq!((page, total), (vec![grants[1].clone()], 1));
}

async fn client_grants_are_updated_deleted_and_go_with_their_client(s: &Db) {
    s.insert_client(&client("m2m"), None).await.unwrap();
    s.insert_client(&client("other"), None).await.unwrap();
    s.insert_client_grant(&client_grant("cgr_1", "m2m", "https://api.example.com", &["a"])).await.unwrap();
    s.insert_client_grant(&client_grant("cgr_2", "other", "https://api.example.com", &["a"])).await.unwrap();
    s.insert_client_grant(&client_grant("cgr_3", "m2m", "https://x.example.com", &["a"])).await.unwrap();
    assert!(s.update_client_grant("cgr_1", &["b".into(), "c".into()]).await.unwrap());
    assert_eq!(s.client_grant("cgr_1").await.unwrap().unwrap().scope, ["b", "c"]);
    assert!(!s.update_client_grant("ghost", &[]).await.unwrap());
    assert!(s.delete_client_grant("cgr_3").await.unwrap());
    assert!(!s.delete_client_grant("cgr_3").await.unwrap());
    assert!(s.delete_client("m2m", NOW).await.unwrap());
    assert_eq!(s.client_grant("cgr_1").await.unwrap(), None, "deleting a client deletes its grants");
    assert!(s.client_grant("cgr_2").await.unwrap().is_some());
}

async fn api_round_trips_by_identifier(s: &Db) {
    let api = Api::new("api-1".into(), "https://api.example.com".into(), Some("Example".into()), true, Some(3600)).unwrap();
    s.insert_api(&api).await.unwrap();
    assert_eq!(s.api("https://api.example.com").await.unwrap(), Some(api));
    assert_eq!(s.api("https://other.example.com").await.unwrap(), None);
    assert_eq!(s.api("api-1").await.unwrap(), None, "looked up by identifier, not id");
}

async fn signing_algorithms_round_trip_with_clients_and_apis(s: &Db) {
    use ratchet_core::jws::SigningAlg;
    let mut c = client("fast");
    c.id_token_alg = SigningAlg::ES256;
    s.insert_client(&c, None).await.unwrap();
    assert_eq!(s.client("fast").await.unwrap().unwrap().client.id_token_alg, SigningAlg::ES256);
    c.id_token_alg = SigningAlg::PS256;
    assert!(s.update_client(&c).await.unwrap());
    assert_eq!(s.clients().await.unwrap()[0].id_token_alg, SigningAlg::PS256);
    let mut api = Api::new("api-1".into(), "https://api.example.com".into(), None, true, None).unwrap();
    api.signing_alg = SigningAlg::EdDSA;
    s.insert_api(&api).await.unwrap();
    assert_eq!(s.api("https://api.example.com").await.unwrap().unwrap().signing_alg, SigningAlg::EdDSA);
    api.signing_alg = SigningAlg::ES256;
    assert!(s.update_api(&api).await.unwrap());
    assert_eq!(s.api_by_id("api-1").await.unwrap().unwrap().signing_alg, SigningAlg::ES256);
    // The refresh path reads the API back with the rotation: it signs with the API's algorithm.
    s.insert_user(&user("u")).await.unwrap();
    let f = Family { audience: Some("https://api.example.com".into()), ..family("g", "fast", "u") };
    s.insert_family(&f, &Seen::default()).await.unwrap();
    let r = rotate(s, &f.id, "fast", 0, NOW + 1, None).await.unwrap().expect("rotates");
    assert_eq!(r.api.map(|a| a.signing_alg), Some(SigningAlg::ES256));
}

async fn duplicate_api_identifier_is_a_conflict(s: &Db) {
    let api = |id: &str, identifier: &str| Api::new(id.into(), identifier.into(), None, false, None).unwrap();
    s.insert_api(&api("api-1", "https://api.example.com")).await.unwrap();
    let r = s.insert_api(&api("api-2", "https://api.example.com")).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "same identifier: {r:?}");
    let r = s.insert_api(&api("api-1", "https://other.example.com")).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "same id: {r:?}");
    assert_eq!(s.api("https://other.example.com").await.unwrap(), None);
}

async fn user_round_trips_by_id_and_by_email(s: &Db) {
    let alice = user("alice");
    let mut bob = user("bob");
    bob.blocked = true;
    bob.name = "Bob «Ünïcode» 🚀".into();
    s.insert_user(&alice).await.unwrap();
    s.insert_user(&bob).await.unwrap();

    assert_eq!(s.user("alice").await.unwrap(), Some(alice.clone()));
    assert_eq!(s.user("bob").await.unwrap(), Some(bob.clone()));
    assert_eq!(s.user_by_email("alice@example.com").await.unwrap(), Some(alice));
    assert_eq!(s.user_by_email("bob@example.com").await.unwrap(), Some(bob));
    assert_eq!(s.user("carol").await.unwrap(), None);
    assert_eq!(s.user_by_email("carol@example.com").await.unwrap(), None);
}

async fn duplicate_user_email_is_a_conflict(s: &Db) {
    s.insert_user(&user("alice")).await.unwrap();
    let mut same_email = user("alice2");
    same_email.email = "alice@example.com".into();
    let r = s.insert_user(&same_email).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "same email: {r:?}");
    let mut same_id = user("alice");
    same_id.email = "other@example.com".into();
    let r = s.insert_user(&same_id).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "same id: {r:?}");
    assert_eq!(s.user("alice2").await.unwrap(), None);
}

/// Users `u` and `v`, each with a session `sess-*`, a code `code-*` of grant `grant-*`, and a
/// family of that grant; returns the two families.
async fn two_users_with_session_code_and_family(s: &Db) -> (Family, Family) {
    for u in ["u", "v"] {
        s.insert_user(&user(u)).await.unwrap();
        s.insert_session(&session(&format!("sess-{u}"), u)).await.unwrap();
        s.insert_code(&code(&format!("code-{u}"), &format!("grant-{u}"), "c", u), NOW).await.unwrap();
    }
    let fu = family("grant-u", "c", "u");
    let fv = family("grant-v", "c", "v");
    s.insert_family(&fu, &Seen::default()).await.unwrap();
    s.insert_family(&fv, &Seen::default()).await.unwrap();
    (fu, fv)
}

async fn blocking_a_user_ends_sessions_and_revokes_families(s: &Db) {
    let (fu, fv) = two_users_with_session_code_and_family(s).await;

    assert!(s.set_user_blocked("u", true, NOW + 5).await.unwrap());
    assert!(s.user("u").await.unwrap().expect("kept").blocked);
    assert_eq!(s.session("sess-u").await.unwrap(), None);
    assert_eq!(revoked_at(s, &fu).await, Some(NOW + 5));
    assert!(!s.grant_is_live("grant-u").await.unwrap());
    // Another user is untouched.
    assert!(!s.user("v").await.unwrap().expect("kept").blocked);
    assert!(s.session("sess-v").await.unwrap().is_some());
    assert_eq!(revoked_at(s, &fv).await, None);
    assert!(s.grant_is_live("grant-v").await.unwrap());

    // Unblocking lets the user sign in again but revives nothing.
    assert!(s.set_user_blocked("u", false, NOW + 6).await.unwrap());
    assert!(!s.user("u").await.unwrap().expect("kept").blocked);
    assert_eq!(revoked_at(s, &fu).await, Some(NOW + 5));
    assert!(!s.grant_is_live("grant-u").await.unwrap());
}

async fn set_user_blocked_reports_unknown_users(s: &Db) {
    assert!(!s.set_user_blocked("nobody", true, NOW).await.unwrap());
    assert!(!s.set_user_blocked("nobody", false, NOW).await.unwrap());
    assert_eq!(s.user("nobody").await.unwrap(), None);
}

async fn delete_user_removes_sessions_codes_and_revokes_families(s: &Db) {
    let (fu, fv) = two_users_with_session_code_and_family(s).await;

    assert!(s.delete_user("u", NOW + 7).await.unwrap());
    assert_eq!(s.user("u").await.unwrap(), None);
    assert_eq!(s.user_by_email("u@example.com").await.unwrap(), None);
    assert_eq!(s.session("sess-u").await.unwrap(), None);
    assert_eq!(s.redeem_code("code-u", NOW + 8).await.unwrap(), Redemption::NotFound);
    assert_eq!(revoked_at(s, &fu).await, Some(NOW + 7));
    assert!(!s.grant_is_live("grant-u").await.unwrap());

    assert!(s.user("v").await.unwrap().is_some());
    assert!(s.session("sess-v").await.unwrap().is_some());
    assert_eq!(revoked_at(s, &fv).await, None);
    assert!(s.grant_is_live("grant-v").await.unwrap());

    assert!(!s.delete_user("u", NOW + 9).await.unwrap());
    s.insert_user(&user("u")).await.expect("the email is free again");
}

async fn session_round_trips(s: &Db) {
    s.insert_user(&user("u")).await.unwrap();
    let sess = session("hash-1", "u");
    s.insert_session(&sess).await.unwrap();
    assert_eq!(s.session("hash-1").await.unwrap(), Some(sess));
    assert_eq!(s.session("hash-2").await.unwrap(), None);

    let r = s.insert_session(&session("hash-1", "u")).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "same id hash: {r:?}");
    assert!(s.insert_session(&session("hash-3", "ghost")).await.is_err(), "a session needs an existing user");
    assert_eq!(s.session("hash-3").await.unwrap(), None);
}

async fn touch_session_is_capped_at_absolute_expiry(s: &Db) {
    s.insert_user(&user("u")).await.unwrap();
    let sess = session("hash-1", "u");
    s.insert_session(&sess).await.unwrap();

    s.touch_session("hash-1", NOW + 2 * DAY, NOW + 60).await.unwrap();
    let got = s.session("hash-1").await.unwrap().expect("kept");
    assert_eq!(got.idle_expires_at, NOW + 2 * DAY);
    assert_eq!(got.expires_at, sess.expires_at);
    assert_eq!(got.last_interacted_at, NOW + 60, "the interaction is recorded");

    s.touch_session("hash-1", NOW + 10 * DAY, NOW + 61).await.unwrap();
    let got = s.session("hash-1").await.unwrap().expect("kept");
    assert_eq!(got.idle_expires_at, sess.expires_at, "capped at the absolute expiry");
    assert_eq!(got.expires_at, sess.expires_at, "the absolute expiry never moves");

    s.touch_session("unknown", NOW + DAY, NOW).await.expect("touching nothing is fine");
    assert_eq!(s.session("unknown").await.unwrap(), None);
}

async fn delete_session_keeps_families_unless_asked(s: &Db) {
    s.insert_user(&user("u")).await.unwrap();
    s.insert_session(&session("sess-1", "u")).await.unwrap();
    let mut f = family("g", "c", "u");
    f.session_id = Some("sess-1".into());
    s.insert_family(&f, &Seen::default()).await.unwrap();

    assert!(s.delete_session("sess-1", false, NOW + 1).await.unwrap());
    assert_eq!(s.session("sess-1").await.unwrap(), None);
    assert_eq!(revoked_at(s, &f).await, None);
    assert!(!s.delete_session("sess-1", false, NOW + 2).await.unwrap());
}

async fn delete_session_with_revocation_revokes_its_families(s: &Db) {
    s.insert_user(&user("u")).await.unwrap();
    s.insert_session(&session("sess-1", "u")).await.unwrap();
    s.insert_session(&session("sess-2", "u")).await.unwrap();
    let in_session = |sid: Option<&str>| {
        let mut f = family("g", "c", "u");
        f.session_id = sid.map(str::to_string);
        f
    };
    let (f1a, f1b, f2, f_none) = (in_session(Some("sess-1")), in_session(Some("sess-1")), in_session(Some("sess-2")), in_session(None));
    for f in [&f1a, &f1b, &f2, &f_none] {
        s.insert_family(f, &Seen::default()).await.unwrap();
    }

    assert!(s.delete_session("sess-1", true, NOW + 9).await.unwrap());
    assert_eq!(s.session("sess-1").await.unwrap(), None);
    assert_eq!(revoked_at(s, &f1a).await, Some(NOW + 9));
    assert_eq!(revoked_at(s, &f1b).await, Some(NOW + 9));
    assert_eq!(revoked_at(s, &f2).await, None);
    assert_eq!(revoked_at(s, &f_none).await, None);
    assert!(s.session("sess-2").await.unwrap().is_some());
}

async fn code_round_trips_every_field_including_nulls(s: &Db) {
    let full = code("code-full", "grant-1", "c", "u");
    let minimal = AuthCode { session_id: None, code_challenge: None, audience: None, nonce: None, ..code("code-min", "grant-2", "c", "u") };
    s.insert_code(&full, NOW).await.unwrap();
    s.insert_code(&minimal, NOW).await.unwrap();
    assert!(s.grant_is_live("grant-1").await.unwrap(), "a code creates its grant");

    assert_eq!(s.redeem_code("code-full", NOW + 1).await.unwrap(), Redemption::Fresh(full.clone()));
    assert_eq!(s.redeem_code("code-full", NOW + 2).await.unwrap(), Redemption::Replayed(full));
    assert_eq!(s.redeem_code("code-min", NOW + 1).await.unwrap(), Redemption::Fresh(minimal));
}

async fn code_redeems_exactly_once_under_concurrency(s: &Db) {
    let c = code("code-1", "grant-1", "c", "u");
    s.insert_code(&c, NOW).await.unwrap();
    let results = race(RACERS, s, |s, i| async move { s.redeem_code("code-1", NOW + i as i64).await.unwrap() }).await;
    let fresh = results.iter().filter(|r| matches!(r, Redemption::Fresh(_))).count();
    let replayed = results.iter().filter(|r| matches!(r, Redemption::Replayed(_))).count();
    assert_eq!((fresh, replayed), (1, RACERS - 1), "(Fresh, Replayed) among {RACERS} racers");
    for r in results {
        match r {
            Redemption::Fresh(got) | Redemption::Replayed(got) => assert_eq!(got, c),
            Redemption::NotFound => unreachable!(),
        }
    }
}

async fn unknown_code_is_not_found(s: &Db) {
    assert_eq!(s.redeem_code("no-such-code", NOW).await.unwrap(), Redemption::NotFound);
    s.insert_code(&code("code-1", "grant-1", "c", "u"), NOW).await.unwrap();
    assert_eq!(s.redeem_code("code-2", NOW).await.unwrap(), Redemption::NotFound);
}

async fn duplicate_code_is_a_conflict_and_inserts_nothing(s: &Db) {
    s.insert_code(&code("code-1", "grant-1", "c", "u"), NOW).await.unwrap();
    let r = s.insert_code(&code("code-1", "grant-2", "c", "u"), NOW).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert!(!s.grant_is_live("grant-2").await.unwrap(), "the grant is not left behind");
    match s.redeem_code("code-1", NOW).await.unwrap() {
        Redemption::Fresh(got) => assert_eq!(got.grant_id, "grant-1"),
        other => panic!("expected the first code, got {other:?}"),
    }
}

async fn revoke_grant_revokes_its_families_only(s: &Db) {
    s.insert_code(&code("code-1", "grant-1", "c", "u"), NOW).await.unwrap();
    s.insert_code(&code("code-2", "grant-2", "c", "u"), NOW).await.unwrap();
    let (f1a, f1b, f2) = (family("grant-1", "c", "u"), family("grant-1", "c", "u"), family("grant-2", "c", "u"));
    for f in [&f1a, &f1b, &f2] {
        s.insert_family(f, &Seen::default()).await.unwrap();
    }

    s.revoke_grant("grant-1", NOW + 3).await.unwrap();
    assert_eq!(revoked_at(s, &f1a).await, Some(NOW + 3));
    assert_eq!(revoked_at(s, &f1b).await, Some(NOW + 3));
    assert_eq!(revoked_at(s, &f2).await, None);
    assert!(!s.grant_is_live("grant-1").await.unwrap());
    assert!(s.grant_is_live("grant-2").await.unwrap());

    s.revoke_grant("grant-1", NOW + 4).await.unwrap();
    assert_eq!(revoked_at(s, &f1a).await, Some(NOW + 3), "the first revocation time stays");
    s.revoke_grant("no-such-grant", NOW).await.expect("revoking nothing is fine");
}

async fn grant_is_live_until_revoked(s: &Db) {
    assert!(!s.grant_is_live("grant-1").await.unwrap(), "unknown grants are not live");
    s.insert_code(&code("code-1", "grant-1", "c", "u"), NOW).await.unwrap();
    assert!(s.grant_is_live("grant-1").await.unwrap());
    s.revoke_grant("grant-1", NOW + 1).await.unwrap();
    assert!(!s.grant_is_live("grant-1").await.unwrap());
}

async fn grant_is_not_live_once_a_family_of_it_is_revoked(s: &Db) {
    s.insert_code(&code("code-1", "grant-1", "c", "u"), NOW).await.unwrap();
    s.insert_code(&code("code-2", "grant-2", "c", "u"), NOW).await.unwrap();
    let (f1, f2) = (family("grant-1", "c", "u"), family("grant-2", "c", "u"));
    for f in [&f1, &f2] {
        s.insert_family(f, &Seen::default()).await.unwrap();
    }
    assert!(s.grant_is_live("grant-1").await.unwrap());
    assert!(s.revoke_family(&f1.id, NOW + 1).await.unwrap());
    assert!(!s.grant_is_live("grant-1").await.unwrap(), "a revoked family ends its grant's access tokens");
    assert!(s.grant_is_live("grant-2").await.unwrap(), "another grant is untouched");
}

async fn ending_a_session_with_its_tokens_revokes_the_grants_authorized_in_it(s: &Db) {
    for u in ["u", "v"] {
        s.insert_user(&user(u)).await.unwrap();
        s.insert_session(&session(&format!("session-of-{u}"), u)).await.unwrap();
    }
    // Grants without a refresh-token family: only the session links them.
    s.insert_code(&code("code-u", "grant-u", "c", "u"), NOW).await.unwrap();
    s.insert_code(&code("code-v", "grant-v", "c", "v"), NOW).await.unwrap();
    assert!(s.delete_session("session-of-v", false, NOW + 1).await.unwrap());
    assert!(s.grant_is_live("grant-v").await.unwrap(), "a plain logout keeps the grant");
    assert!(s.delete_session("session-of-u", true, NOW + 1).await.unwrap());
    assert!(!s.grant_is_live("grant-u").await.unwrap(), "ended with its tokens");
}

async fn family_round_trips_every_field_including_nulls(s: &Db) {
    let full = Family {
        rotating: false,
        counter: 1 << 40,
        revoked_at: Some(NOW + 1),
        jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
        ..family("grant-1", "client-1", "user-1")
    };
    let nulls = Family {
        session_id: None,
        audience: None,
        expires_at: None,
        idle_expires_at: None,
        revoked_at: None,
        ..family("grant-2", "client-2", "user-2")
    };
    s.insert_family(&full, &Seen::default()).await.unwrap();
    s.insert_family(&nulls, &Seen::default()).await.unwrap();
    assert_eq!(s.family(&full.id).await.unwrap(), Some(full.clone()));
    assert_eq!(s.family(&nulls.id).await.unwrap(), Some(nulls));
    assert_eq!(s.family(&FamilyId::random()).await.unwrap(), None);

    let r = s.insert_family(&Family { counter: 0, ..full.clone() }, &Seen::default()).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "same family id: {r:?}");
    assert_eq!(s.family(&full.id).await.unwrap(), Some(full));
}

async fn import_families_inserts_every_field_or_nothing(s: &Db) {
    let full =
        Family { rotating: false, counter: 1 << 40, revoked_at: Some(NOW + 1), jkt: Some("jkt".into()), ..family("grant-1", "c", "u") };
    let nulls = Family { session_id: None, audience: None, expires_at: None, idle_expires_at: None, ..family("grant-2", "c", "u") };
    let many: Vec<Family> = (0..1500).map(|i| family(&format!("grant-m{i}"), "c", "u")).collect();
    s.import_families(&[full.clone(), nulls.clone()]).await.unwrap();
    s.import_families(&many).await.unwrap();
    assert_eq!(s.family(&full.id).await.unwrap(), Some(full.clone()));
    assert_eq!(s.family(&nulls.id).await.unwrap(), Some(nulls));
    assert_eq!(s.family(&many[1499].id).await.unwrap(), Some(many[1499].clone()));
    let fresh = family("grant-3", "c", "u");
    let r = s.import_families(&[fresh.clone(), Family { counter: 0, ..full.clone() }]).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "same family id: {r:?}");
    assert_eq!(s.family(&fresh.id).await.unwrap(), None, "a failed import inserts nothing");
}

async fn rotate_moves_counter_deadline_and_rotation_time(s: &Db) {
    let f = family("g", "c", "u");
    s.insert_family(&f, &Seen::default()).await.unwrap();

    assert!(rotate(s, &f.id, "c", 0, NOW + 10, Some(NOW + 10 + 15 * DAY)).await.unwrap().is_some());
    let expected = Family { counter: 1, rotated_at: NOW + 10, idle_expires_at: Some(NOW + 10 + 15 * DAY), ..f.clone() };
    assert_eq!(get_family(s, &f).await, expected, "only counter, rotated_at and idle deadline move");

    assert!(rotate(s, &f.id, "c", 0, NOW + 11, Some(NOW + 99 * DAY)).await.unwrap().is_none(), "stale counter");
    assert_eq!(get_family(s, &f).await, expected, "a lost race writes nothing");

    assert!(rotate(s, &f.id, "c", 1, NOW + 20, None).await.unwrap().is_some());
    let got = get_family(s, &f).await;
    assert_eq!((got.counter, got.rotated_at, got.idle_expires_at), (2, NOW + 20, None));
    assert!(rotate(s, &f.id, "c", 5, NOW + 21, None).await.unwrap().is_none(), "future counter");
    assert!(rotate(s, &FamilyId::random(), "c", 0, NOW, None).await.unwrap().is_none(), "unknown family");
}

async fn rotate_refuses_what_assess_would_not_rotate(s: &Db) {
    let other_client = family("g", "c2", "u");
    let expired = Family { expires_at: Some(NOW), ..family("g", "c", "u") };
    let idle = Family { idle_expires_at: Some(NOW), ..family("g", "c", "u") };
    let non_rotating = Family { rotating: false, ..family("g", "c", "u") };
    for f in [&other_client, &expired, &idle, &non_rotating] {
        s.insert_family(f, &Seen::default()).await.unwrap();
        assert!(rotate(s, &f.id, "c", 0, NOW, Some(NOW + DAY)).await.unwrap().is_none(), "{f:?}");
        assert_eq!(get_family(s, f).await, *f, "nothing written");
    }
    // The new idle deadline never passes the absolute expiry.
    let f = family("g", "c", "u");
    s.insert_family(&f, &Seen::default()).await.unwrap();
    let rotated = rotate(s, &f.id, "c", 0, NOW + 1, Some(NOW + 99 * DAY)).await.unwrap().expect("rotates").family;
    assert_eq!(rotated.idle_expires_at, f.expires_at);
    assert_eq!(rotated, get_family(s, &f).await, "returns the row as written");
}

async fn rotate_brings_back_the_user_and_the_api(s: &Db) {
    let api = Api::new("api-1".into(), "https://api.example.com".into(), None, true, None).unwrap();
    s.insert_api(&api).await.unwrap();
    s.insert_user(&user("u")).await.unwrap();
    let f = family("g", "c", "u");
    s.insert_family(&f, &Seen::default()).await.unwrap();
    let r = rotate(s, &f.id, "c", 0, NOW + 1, None).await.unwrap().expect("rotates");
    assert_eq!((r.family.counter, r.user, r.api), (1, Some(user("u")), Some(api)));

    let no_audience = Family { audience: None, ..family("g", "c", "u") };
    s.insert_family(&no_audience, &Seen::default()).await.unwrap();
    let r = rotate(s, &no_audience.id, "c", 0, NOW + 1, None).await.unwrap().expect("rotates");
    assert_eq!((r.user, r.api), (Some(user("u")), None), "no audience, no API");

    let orphan = Family { audience: Some("https://gone.example.com".into()), ..family("g", "c", "gone") };
    s.insert_family(&orphan, &Seen::default()).await.unwrap();
    let r = rotate(s, &orphan.id, "c", 0, NOW + 1, None).await.unwrap().expect("rotates");
    assert_eq!((r.user, r.api), (None, None), "a deleted user or API comes back as None: the caller refuses");
}

async fn rotate_has_exactly_one_winner(s: &Db) {
    let f = family("g", "c", "u");
    s.insert_family(&f, &Seen::default()).await.unwrap();
    for round in 0..5u64 {
        let id = f.id;
        let wins = race(RACERS, s, |s, i| async move {
            let now = NOW + 100 * round as i64 + i as i64;
            rotate(&s, &id, "c", round, now, Some(now + DAY)).await.unwrap().is_some()
        })
        .await;
        let winners = wins.iter().filter(|w| **w).count();
        assert_eq!(winners, 1, "round {round}: exactly one of {RACERS} rotates: {wins:?}");
        assert_eq!(get_family(s, &f).await.counter, round + 1);
    }
}

/// Group commit (see `ratchet_store::group_commit`): many families rotated at once, each
/// presented several times, in rounds. Every round, each family has exactly one winner, which
/// gets its own row back (its own `rotated_at`), never another presentation's; the losers get
/// `None`; the stored counter moved by one. And the rotations were grouped: some commit carried
/// more than one.
async fn concurrent_rotations_commit_in_one_batch_with_one_winner_per_family(s: &Db) {
    const FAMILIES: usize = 8;
    const PRESENTATIONS: usize = 4;
    let before = s.rotation_batches();
    let fams: Vec<Family> = (0..FAMILIES).map(|_| family("g", "c", "u")).collect();
    for f in &fams {
        s.insert_family(f, &Seen::default()).await.unwrap();
    }
    let ids: Arc<Vec<FamilyId>> = Arc::new(fams.iter().map(|f| f.id).collect());
    const ROUNDS: u64 = 20;
    for round in 0..ROUNDS {
        let ids = ids.clone();
        let outcomes = race(FAMILIES * PRESENTATIONS, s, move |s, i| {
            let id = ids[i % FAMILIES];
            let now = NOW + 1000 * round as i64 + i as i64;
            async move { (i, now, rotate(&s, &id, "c", round, now, Some(now + DAY)).await.unwrap()) }
        })
        .await;
        for (k, f) in fams.iter().enumerate() {
            let mine: Vec<_> = outcomes.iter().filter(|(i, _, _)| i % FAMILIES == k).collect();
            let winners: Vec<_> = mine.iter().filter(|(_, _, r)| r.is_some()).collect();
            assert_eq!(winners.len(), 1, "round {round}, family {k}: exactly one of {PRESENTATIONS} wins");
            let (_, now, won) = winners[0];
            let won = won.as_ref().unwrap();
            assert_eq!((won.family.id, won.family.counter, won.family.rotated_at), (f.id, round + 1, *now), "the winner's own row");
            assert_eq!(get_family(s, f).await.counter, round + 1, "round {round}, family {k}: moved once");
        }
    }
    let after = s.rotation_batches();
    assert!(after.rotations - before.rotations >= ROUNDS * FAMILIES as u64, "every winning rotation was committed: {after:?}");
    assert!(after.largest > 1, "concurrent rotations were committed together: {after:?}");
}

fn proof<'a>(jkt: &'a str, replay_key: &'a str) -> RotationProof<'a> {
    RotationProof { jkt, replay_key, replay_expires_at: NOW + 60 }
}

async fn bound_family_rotates_only_with_a_proof_by_its_key(s: &Db) {
    let f = family("g", "c", "u").bound_to(Some("key-a".into()));
    s.insert_family(&f, &Seen::default()).await.unwrap();
    assert!(rotate(s, &f.id, "c", 0, NOW + 1, None).await.unwrap().is_none(), "no proof");
    assert!(rotate_with(s, &f.id, "c", 0, NOW + 1, None, Some(proof("key-b", "r1"))).await.unwrap().is_none(), "another key");
    assert_eq!(get_family(s, &f).await, f, "nothing written");
    assert!(s.use_dpop_proof("r1", NOW + 60).await.unwrap(), "a refused rotation does not spend its proof");
    let r = rotate_with(s, &f.id, "c", 0, NOW + 1, None, Some(proof("key-a", "r2"))).await.unwrap().expect("rotates");
    assert_eq!((r.family.counter, r.family.jkt.as_deref()), (1, Some("key-a")));
    assert!(!s.use_dpop_proof("r2", NOW + 60).await.unwrap(), "the rotation spent its proof");
    // An unbound family rotates with or without a proof, and stays unbound.
    let g = family("g", "c", "u");
    s.insert_family(&g, &Seen::default()).await.unwrap();
    let r = rotate_with(s, &g.id, "c", 0, NOW + 1, None, Some(proof("key-a", "r3"))).await.unwrap().expect("rotates");
    assert_eq!(r.family.jkt, None);
    assert!(rotate(s, &g.id, "c", 1, NOW + 1, None).await.unwrap().is_some());
}

async fn rotation_with_a_replayed_proof_fails_and_writes_nothing(s: &Db) {
    let f = family("g", "c", "u").bound_to(Some("key-a".into()));
    s.insert_family(&f, &Seen::default()).await.unwrap();
    assert!(s.use_dpop_proof("seen", NOW + 60).await.unwrap());
    let r = rotate_with(s, &f.id, "c", 0, NOW + 1, None, Some(proof("key-a", "seen"))).await;
    assert!(matches!(&r, Err(StoreError::Conflict(m)) if m == REPLAYED_PROOF), "{r:?}");
    assert_eq!(get_family(s, &f).await, f, "the rotation was undone");
    assert!(rotate_with(s, &f.id, "c", 0, NOW + 1, None, Some(proof("key-a", "fresh"))).await.unwrap().is_some());
}

async fn dpop_proof_is_used_exactly_once_under_concurrency(s: &Db) {
    let fresh = race(RACERS, s, |s, _| async move { s.use_dpop_proof("same-jti", NOW + 60).await.unwrap() }).await;
    assert_eq!(fresh.iter().filter(|f| **f).count(), 1, "{fresh:?}");
    assert!(s.use_dpop_proof("other-jti", NOW + 60).await.unwrap());
}

async fn purge_deletes_expired_dpop_proofs_only(s: &Db) {
    assert!(s.use_dpop_proof("old", NOW - 1).await.unwrap());
    assert!(s.use_dpop_proof("live", NOW + 60).await.unwrap());
    s.purge(NOW, 0).await.unwrap();
    assert!(s.use_dpop_proof("old", NOW + 60).await.unwrap(), "expired entry purged");
    assert!(!s.use_dpop_proof("live", NOW + 60).await.unwrap(), "live entry kept");
}

async fn revoked_family_cannot_rotate(s: &Db) {
    let f = family("g", "c", "u");
    s.insert_family(&f, &Seen::default()).await.unwrap();
    assert!(s.revoke_family(&f.id, NOW + 1).await.unwrap());
    assert!(rotate(s, &f.id, "c", 0, NOW + 2, Some(NOW + DAY)).await.unwrap().is_none());
    s.touch_family(&f.id, NOW + 2, Some(NOW + 99 * DAY), &Seen::default()).await.unwrap();
    assert_eq!(get_family(s, &f).await, Family { revoked_at: Some(NOW + 1), ..f });

    let born_revoked = Family { revoked_at: Some(NOW), ..family("g", "c", "u") };
    s.insert_family(&born_revoked, &Seen::default()).await.unwrap();
    assert!(rotate(s, &born_revoked.id, "c", 0, NOW + 2, None).await.unwrap().is_none());
    assert_eq!(get_family(s, &born_revoked).await.counter, 0);
}

async fn touch_family_moves_only_the_idle_deadline(s: &Db) {
    let f = Family { rotating: false, ..family("g", "c", "u") };
    s.insert_family(&f, &Seen::default()).await.unwrap();
    s.touch_family(&f.id, NOW + 5, Some(NOW + 99), &Seen::default()).await.unwrap();
    assert_eq!(get_family(s, &f).await, Family { idle_expires_at: Some(NOW + 99), ..f.clone() });
    s.touch_family(&f.id, NOW + 6, None, &Seen::default()).await.unwrap();
    assert_eq!(get_family(s, &f).await, Family { idle_expires_at: None, ..f });
    s.touch_family(&FamilyId::random(), NOW, None, &Seen::default()).await.expect("touching nothing is fine");
}

async fn revoke_family_reports_whether_it_was_live(s: &Db) {
    let f = family("g", "c", "u");
    let other = family("g", "c", "u");
    s.insert_family(&f, &Seen::default()).await.unwrap();
    s.insert_family(&other, &Seen::default()).await.unwrap();
    assert!(s.revoke_family(&f.id, NOW + 1).await.unwrap());
    assert_eq!(revoked_at(s, &f).await, Some(NOW + 1));
    assert!(!s.revoke_family(&f.id, NOW + 2).await.unwrap());
    assert_eq!(revoked_at(s, &f).await, Some(NOW + 1), "the first revocation time stays");
    assert_eq!(revoked_at(s, &other).await, None);
    assert!(!s.revoke_family(&FamilyId::random(), NOW).await.unwrap());
}

/// Five families that differ in every filterable field; the last was revoked long ago.
async fn filter_world(s: &Db) -> Vec<Family> {
    let mk = |user: &str, client: &str, sess: Option<&str>, grant: &str, aud: Option<&str>, rotating: bool| Family {
        session_id: sess.map(str::to_string),
        audience: aud.map(str::to_string),
        rotating,
        ..family(grant, client, user)
    };
    let fams = vec![
        mk("u1", "c1", Some("s1"), "g1", Some("https://a.example.com"), true),
        mk("u1", "c2", Some("s2"), "g2", None, false),
        mk("u2", "c1", Some("s3"), "g3", Some("https://b.example.com"), true),
        mk("u2", "c2", None, "g4", None, true),
        Family { revoked_at: Some(NOW - 1), ..mk("u1", "c1", Some("s1"), "g1", Some("https://a.example.com"), true) },
    ];
    for f in &fams {
        s.insert_family(f, &Seen::default()).await.unwrap();
    }
    fams
}

/// Applies `filter` at `at` and checks the count and exactly which of the world it revoked.
async fn revoke_and_expect(s: &Db, fams: &[Family], filter: FamilyFilter, at: UnixTime, expected: &[usize]) {
    let before: Vec<_> = {
        let mut v = Vec::new();
        for f in fams {
            v.push(revoked_at(s, f).await);
        }
        v
    };
    let n = s.revoke_families(&filter, at).await.unwrap();
    assert_eq!(n, expected.len() as u64, "count for {filter:?}");
    for (i, f) in fams.iter().enumerate() {
        let want = if expected.contains(&i) { Some(at) } else { before[i] };
        assert_eq!(revoked_at(s, f).await, want, "family #{i} after {filter:?}");
    }
}

async fn revoke_families_by_user(s: &Db) {
    let w = filter_world(s).await;
    let filter = FamilyFilter { user_id: Some("u1".into()), ..Default::default() };
    revoke_and_expect(s, &w, filter, NOW + 1, &[0, 1]).await;
}

async fn revoke_families_by_client(s: &Db) {
    let w = filter_world(s).await;
    let filter = FamilyFilter { client_id: Some("c1".into()), ..Default::default() };
    revoke_and_expect(s, &w, filter, NOW + 1, &[0, 2]).await;
}

async fn revoke_families_by_session(s: &Db) {
    let w = filter_world(s).await;
    let filter = FamilyFilter { session_id: Some("s1".into()), ..Default::default() };
    revoke_and_expect(s, &w, filter, NOW + 1, &[0]).await;
}

async fn revoke_families_by_grant(s: &Db) {
    let w = filter_world(s).await;
    let filter = FamilyFilter { grant_id: Some("g2".into()), ..Default::default() };
    revoke_and_expect(s, &w, filter, NOW + 1, &[1]).await;
}

async fn revoke_families_by_audience_tells_none_from_some(s: &Db) {
    let w = filter_world(s).await;
    let no_audience = FamilyFilter { audience: Some(None), ..Default::default() };
    revoke_and_expect(s, &w, no_audience, NOW + 1, &[1, 3]).await;
    let audience_a = FamilyFilter { audience: Some(Some("https://a.example.com".into())), ..Default::default() };
    revoke_and_expect(s, &w, audience_a, NOW + 2, &[0]).await;
    let unknown = FamilyFilter { audience: Some(Some("https://zzz.example.com".into())), ..Default::default() };
    revoke_and_expect(s, &w, unknown, NOW + 3, &[]).await;
}

async fn revoke_families_by_rotating(s: &Db) {
    let w = filter_world(s).await;
    let non_rotating = FamilyFilter { rotating: Some(false), ..Default::default() };
    revoke_and_expect(s, &w, non_rotating, NOW + 1, &[1]).await;
    let rotating = FamilyFilter { rotating: Some(true), ..Default::default() };
    revoke_and_expect(s, &w, rotating, NOW + 2, &[0, 2, 3]).await;
}

async fn revoke_families_requires_every_condition_given(s: &Db) {
    let w = filter_world(s).await;
    let none_match = FamilyFilter { user_id: Some("u1".into()), client_id: Some("c1".into()), rotating: Some(false), ..Default::default() };
    revoke_and_expect(s, &w, none_match, NOW + 1, &[]).await;
    let c2_without_audience = FamilyFilter { client_id: Some("c2".into()), audience: Some(None), ..Default::default() };
    revoke_and_expect(s, &w, c2_without_audience, NOW + 2, &[1, 3]).await;
    // No condition at all is refused (see `an_empty_family_filter_is_refused`).
}

async fn evict_families_never_evicts_the_spared_family(s: &Db) {
    // Three families born in the same second: age cannot tell which is newest.
    let same_second: Vec<Family> = (0..3).map(|_| family("g", "c", "u")).collect();
    for f in &same_second {
        s.insert_family(f, &Seen::default()).await.unwrap();
    }
    for spare in &same_second {
        let mut fresh = family("g", "c", "u");
        fresh.created_at = same_second[0].created_at;
        s.insert_family(&fresh, &Seen::default()).await.unwrap();
        s.evict_families("u", "c", 1, Some(&fresh.id), NOW).await.unwrap();
        assert_eq!(revoked_at(s, &fresh).await, None, "the spared family survives");
        assert!(revoked_at(s, spare).await.is_some(), "every other one is beyond the newest one");
    }
}

async fn evict_families_keeps_the_newest_n_live(s: &Db) {
    let at = |created: i64| Family { created_at: NOW + created, ..family("g", "c", "u") };
    let oldest: Vec<Family> = [-50, -40, -30].into_iter().map(at).collect();
    let kept = [at(-20), Family { expires_at: None, idle_expires_at: None, ..at(-10) }];
    let expired = Family { expires_at: Some(NOW - 1), ..at(-5) };
    let idle_expired = Family { idle_expires_at: Some(NOW), ..at(-4) };
    let revoked = Family { revoked_at: Some(NOW - 2), ..at(-3) };
    let other_client = Family { created_at: NOW - 100, ..family("g", "c2", "u") };
    let other_user = Family { created_at: NOW - 100, ..family("g", "c", "u2") };
    let all: Vec<&Family> = oldest.iter().chain(&kept).chain([&expired, &idle_expired, &revoked, &other_client, &other_user]).collect();
    for f in &all {
        s.insert_family(f, &Seen::default()).await.unwrap();
    }

    assert_eq!(s.evict_families("u", "c", 2, None, NOW).await.unwrap(), 3);
    for f in &oldest {
        assert_eq!(revoked_at(s, f).await, Some(NOW), "the oldest beyond the newest two go");
    }
    for f in kept.iter().chain([&expired, &idle_expired, &other_client, &other_user]) {
        assert_eq!(revoked_at(s, f).await, None, "kept or not counted: {f:?}");
    }
    assert_eq!(revoked_at(s, &revoked).await, Some(NOW - 2));

    assert_eq!(s.evict_families("u", "c", 2, None, NOW + 1).await.unwrap(), 0);
    assert_eq!(s.evict_families("u", "c", 0, None, NOW + 2).await.unwrap(), 2);
    for f in &kept {
        assert_eq!(revoked_at(s, f).await, Some(NOW + 2));
    }
}

async fn purge_deletes_in_steps_every_dead_row_and_no_live_one(s: &Db) {
    // More dead rows than one purge step deletes, on every engine, interleaved with live ones.
    let now = NOW + 100 * DAY;
    let dead = |i: usize| Family { revoked_at: Some(now - 2 * DAY), ..family(&format!("dead-{i}"), "c", "u") };
    let live = |i: usize| Family { expires_at: None, idle_expires_at: None, ..family(&format!("live-{i}"), "c", "u") };
    let families: Vec<Family> = (0..12_000).map(|i| if i % 4 == 0 { live(i) } else { dead(i) }).collect();
    s.import_families(&families).await.unwrap();
    let events: Vec<Event> =
        (0..12_000).map(|i| event(now - ratchet_store::EVENT_RETENTION - 1 - i as i64, "sertft", Some("u"), "old")).collect();
    s.record_many(&events).await.unwrap();
    s.record(&event(now, "sertft", Some("u"), "kept")).await.unwrap();
    assert!(s.purge(now, DAY).await.unwrap() >= 9_000 + 12_000);
    for f in families.iter().step_by(37) {
        assert_eq!(s.family(&f.id).await.unwrap().is_some(), f.revoked_at.is_none(), "{}", f.grant_id);
    }
    let left = s.events(&EventQuery::default()).await.unwrap();
    assert_eq!(left.iter().map(|e| e.description.as_str()).collect::<Vec<_>>(), ["kept"]);
}

async fn purge_deletes_only_what_can_never_be_used_again(s: &Db) {
    let now = NOW + 1000;
    let grace = 100;
    let cutoff = now - grace;

    let code_at = |hash: &str, expires_at| AuthCode { expires_at, ..code(hash, &format!("grant-{hash}"), "c", "u") };
    s.insert_code(&code_at("code-old", cutoff - 1), NOW).await.unwrap();
    s.insert_code(&code_at("code-edge", cutoff), NOW).await.unwrap();

    s.insert_user(&user("u")).await.unwrap();
    let sess_at = |id: &str, expires_at, idle_expires_at| Session { expires_at, idle_expires_at, ..session(id, "u") };
    s.insert_session(&sess_at("sess-abs", cutoff - 1, cutoff - 1)).await.unwrap();
    s.insert_session(&sess_at("sess-idle", now + DAY, cutoff - 100)).await.unwrap();
    s.insert_session(&sess_at("sess-live", now + DAY, cutoff + 50)).await.unwrap();

    let f = || family("g", "c", "u");
    let gone = [
        Family { revoked_at: Some(cutoff - 200), ..f() },
        Family { expires_at: Some(cutoff - 150), ..f() },
        Family { idle_expires_at: Some(cutoff - 1), ..f() },
    ];
    let stay = [
        Family { revoked_at: Some(cutoff + 50), ..f() },
        Family { expires_at: Some(now + DAY), idle_expires_at: Some(now + 10), ..f() },
        Family { expires_at: None, idle_expires_at: None, ..f() },
        Family { expires_at: Some(cutoff), idle_expires_at: Some(cutoff), ..f() },
    ];
    for fam in gone.iter().chain(&stay) {
        s.insert_family(fam, &Seen::default()).await.unwrap();
    }

    s.record(&event(now - ratchet_store::EVENT_RETENTION - 1, "sertft", Some("u"), "old")).await.unwrap();
    s.record(&event(now - ratchet_store::EVENT_RETENTION, "sertft", Some("u"), "kept")).await.unwrap();
    // 1 code, 2 sessions, 3 families, 1 grant (its code is gone, it bore no family), 1 event.
    assert_eq!(s.purge(now, grace).await.unwrap(), 1 + 2 + 3 + 1 + 1);
    for fam in &gone {
        assert_eq!(s.family(&fam.id).await.unwrap(), None);
    }
    for fam in &stay {
        assert_eq!(s.family(&fam.id).await.unwrap().as_ref(), Some(fam));
    }
    assert_eq!(s.session("sess-abs").await.unwrap(), None);
    assert_eq!(s.session("sess-idle").await.unwrap(), None);
    assert!(s.session("sess-live").await.unwrap().is_some());
    assert_eq!(s.redeem_code("code-old", now).await.unwrap(), Redemption::NotFound);
    assert!(matches!(s.redeem_code("code-edge", now).await.unwrap(), Redemption::Fresh(_)));
    assert!(!s.grant_is_live("grant-code-old").await.unwrap(), "a grant with nothing left that uses it is purged");
    assert!(s.grant_is_live("grant-code-edge").await.unwrap(), "a grant whose code may still be redeemed stays");
    let kept = s.events(&EventQuery { kind: Some("sertft".into()), user_id: None, limit: 10 }).await.unwrap();
    assert_eq!(kept.len(), 1, "events within the retention stay");
    assert_eq!(s.purge(now, grace).await.unwrap(), 0);
}

async fn events_are_newest_first_and_filtered_by_type_and_user(s: &Db) {
    let mut reuse = event(NOW + 4, "ferrt", Some("u1"), "Failed exchange of refresh token");
    reuse.details = serde_json::json!({
        "family_id": "00112233445566778899aabbccddeeff",
        "presented": 3,
        "latest": 5,
        "nested": { "list": [1, "two", null, true], "ünï": "🚀" },
    });
    let system = Event { client_id: None, user_id: None, ..event(NOW + 5, "sapi", None, "API op") };
    let evs = [
        event(NOW + 1, "s", Some("u1"), "Login"),
        event(NOW + 2, "f", Some("u2"), "Wrong password"),
        event(NOW + 3, "s", Some("u2"), "Login"),
        reuse,
        system,
    ];
    for e in &evs {
        s.record(e).await.unwrap();
    }
    let q = |kind: Option<&str>, user_id: Option<&str>| EventQuery {
        kind: kind.map(str::to_string),
        user_id: user_id.map(str::to_string),
        limit: 0,
    };
    let pick = |idx: &[usize]| idx.iter().map(|&i| evs[i].clone()).collect::<Vec<_>>();

    assert_eq!(s.events(&q(None, None)).await.unwrap(), pick(&[4, 3, 2, 1, 0]));
    assert_eq!(s.events(&q(Some("s"), None)).await.unwrap(), pick(&[2, 0]));
    assert_eq!(s.events(&q(None, Some("u1"))).await.unwrap(), pick(&[3, 0]));
    assert_eq!(s.events(&q(Some("s"), Some("u2"))).await.unwrap(), pick(&[2]));
    assert!(s.events(&q(Some("nothing"), None)).await.unwrap().is_empty());
}

async fn events_limit_caps_results_and_zero_means_a_hundred(s: &Db) {
    for i in 0..105 {
        s.record(&event(NOW + i, "s", Some("u"), &format!("event {i}"))).await.unwrap();
    }
    let all = s.events(&EventQuery::default()).await.unwrap();
    assert_eq!(all.len(), 100);
    assert_eq!(all[0].description, "event 104");
    assert_eq!(all[99].description, "event 5");
    let three = s.events(&EventQuery { limit: 3, ..Default::default() }).await.unwrap();
    let got: Vec<_> = three.iter().map(|e| e.description.as_str()).collect();
    assert_eq!(got, ["event 104", "event 103", "event 102"]);
    let more = s.events(&EventQuery { limit: 500, ..Default::default() }).await.unwrap();
    assert_eq!(more.len(), 105);
}

async fn logs_carry_log_id_ip_and_user_agent_and_are_found_by_log_id(s: &Db) {
    let seen = Event {
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) ünï".into()),
        ..event(NOW, "s", Some("u1"), "Login")
    };
    let bare = event(NOW + 1, "f", Some("u1"), "Wrong password");
    s.record(&seen).await.unwrap();
    s.record(&bare).await.unwrap();
    let all = s.logs(&LogQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(all.iter().map(|l| l.event.clone()).collect::<Vec<_>>(), [bare.clone(), seen.clone()]);
    let (newer, older): (i64, i64) = (all[0].log_id.parse().unwrap(), all[1].log_id.parse().unwrap());
    assert!(newer > older, "log ids grow with time: {newer} > {older}");
    assert_eq!(s.log(&all[1].log_id).await.unwrap(), Some(Logged { log_id: all[1].log_id.clone(), event: seen }));
    assert_eq!(s.log(&all[0].log_id).await.unwrap().unwrap().event, bare);
    assert_eq!(s.log(&(newer + 1000).to_string()).await.unwrap(), None);
    assert_eq!(s.log("not-a-number").await.unwrap(), None);
    assert_eq!(s.log("").await.unwrap(), None);
}

async fn logs_are_filtered_by_type_user_client_and_date_range(s: &Db) {
    let evs = [
        event(NOW, "s", Some("u1"), "0"),
        Event { client_id: Some("client-2".into()), ..event(NOW + 10, "s", Some("u2"), "1") },
        event(NOW + 20, "f", Some("u1"), "2"),
        Event { client_id: None, ..event(NOW + 30, "sapi", None, "3") },
        Event { client_id: Some("client-2".into()), ..event(NOW + 40, "sertft", Some("u1"), "4") },
    ];
    s.record_many(&evs).await.unwrap();
    let check = |filter: LogFilter, expected: &'static [&'static str]| {
        let s = s.clone();
        async move {
            for order in [LogOrder::NewestFirst, LogOrder::OldestFirst] {
                let got = s.logs(&LogQuery { filter: filter.clone(), order, limit: 100, ..Default::default() }).await.unwrap();
                let mut want: Vec<&str> = expected.to_vec();
                if order == LogOrder::NewestFirst {
                    want.reverse();
                }
                assert_eq!(got.iter().map(|l| l.event.description.as_str()).collect::<Vec<_>>(), want, "{filter:?} {order:?}");
            }
            assert_eq!(s.count_logs(&filter).await.unwrap(), expected.len() as u64, "{filter:?}");
        }
    };
    check(LogFilter::default(), &["0", "1", "2", "3", "4"]).await;
    check(LogFilter { kind: Some("s".into()), ..Default::default() }, &["0", "1"]).await;
    check(LogFilter { user_id: Some("u1".into()), ..Default::default() }, &["0", "2", "4"]).await;
    check(LogFilter { client_id: Some("client-2".into()), ..Default::default() }, &["1", "4"]).await;
    check(LogFilter { since: Some(NOW + 10), ..Default::default() }, &["1", "2", "3", "4"]).await;
    check(LogFilter { until: Some(NOW + 30), ..Default::default() }, &["0", "1", "2", "3"]).await;
    check(LogFilter { since: Some(NOW + 10), until: Some(NOW + 20), ..Default::default() }, &["1", "2"]).await;
    check(
        LogFilter {
            kind: Some("sertft".into()),
            user_id: Some("u1".into()),
            client_id: Some("client-2".into()),
            since: Some(NOW),
            until: Some(NOW + 40),
        },
        &["4"],
    )
    .await;
    check(LogFilter { kind: Some("s".into()), user_id: Some("u1".into()), since: Some(NOW + 1), ..Default::default() }, &[]).await;
    check(LogFilter { user_id: Some("nobody".into()), ..Default::default() }, &[]).await;
}

/// 250 events (more than a page of 100): offset pages and keyset chains both see each event
/// exactly once, in order, in both directions, with and without a filter.
async fn logs_page_over_more_rows_than_a_page(s: &Db) {
    const N: i64 = 250;
    let evs: Vec<Event> = (0..N).map(|i| event(NOW + i, if i % 5 == 0 { "f" } else { "s" }, Some("u"), &i.to_string())).collect();
    s.record_many(&evs).await.unwrap();
    for (filter, expected) in [(LogFilter::default(), N), (LogFilter { kind: Some("f".into()), ..Default::default() }, N / 5)] {
        assert_eq!(s.count_logs(&filter).await.unwrap(), expected as u64);
        for order in [LogOrder::NewestFirst, LogOrder::OldestFirst] {
            let mut want: Vec<i64> = (0..N).filter(|i| filter.kind.is_none() || i % 5 == 0).collect();
            if order == LogOrder::NewestFirst {
                want.reverse();
            }
            // Offset pages of 100.
            let mut paged = Vec::new();
            for page in 0.. {
                let q = LogQuery { filter: filter.clone(), order, offset: page * 100, limit: 100, after: None };
                let got = s.logs(&q).await.unwrap();
                assert!(got.len() <= 100);
                if got.is_empty() {
                    break;
                }
                paged.extend(got.iter().map(|l| l.event.description.parse::<i64>().unwrap()));
            }
            assert_eq!(paged, want, "offset pages, {filter:?} {order:?}");
            // A keyset chain of 100 at a time, each starting after the last log id seen.
            let mut chained = Vec::new();
            let mut after = None;
            loop {
                let got = s.logs(&LogQuery { filter: filter.clone(), order, after, limit: 100, offset: 0 }).await.unwrap();
                let Some(last) = got.last() else { break };
                after = Some(last.log_id.parse().unwrap());
                chained.extend(got.iter().map(|l| l.event.description.parse::<i64>().unwrap()));
            }
            assert_eq!(chained, want, "keyset chain, {filter:?} {order:?}");
        }
    }
}

async fn count_event_users_counts_distinct_existing_users_since(s: &Db) {
    for id in ["u1", "u2", "u3"] {
        s.insert_user(&user(id)).await.unwrap();
    }
    s.record_many(&[
        event(NOW - 31 * DAY, "s", Some("u3"), "too old"),
        event(NOW - 2 * DAY, "s", Some("u1"), "login"),
        event(NOW - DAY, "s", Some("u1"), "login again"),
        event(NOW - DAY, "f", Some("u2"), "failed login"),
        event(NOW, "s", Some("u2"), "login"),
        event(NOW, "s", Some("deleted-user"), "login of a user since deleted"),
        event(NOW, "s", None, "no user"),
    ])
    .await
    .unwrap();
    assert_eq!(s.count_event_users("s", NOW - 30 * DAY).await.unwrap(), 2);
    assert_eq!(s.count_event_users("s", NOW - 40 * DAY).await.unwrap(), 3);
    assert_eq!(s.count_event_users("s", NOW + 1).await.unwrap(), 0);
    assert_eq!(s.count_event_users("f", NOW - 30 * DAY).await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only: several nodes on one database
// ---------------------------------------------------------------------------------------------

/// Eight nodes open (and so migrate) one empty database at once: all succeed, and every migration
/// is applied exactly once (the migrator's advisory lock serialises them).
async fn nodes_start_at_once(url: &str) {
    const NODES: usize = 8;
    let barrier = Arc::new(tokio::sync::Barrier::new(NODES));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..NODES {
        let (url, barrier) = (url.to_string(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            ratchet_store::open(&url).await.map(|_| ())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("a node panicked").expect("every node opens the store");
    }
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("the migrations directory")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql")))
        .count();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await.expect("connect");
    let (applied,): (i64,) = sqlx::query_as("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&mut conn).await.unwrap();
    assert_eq!(applied, files as i64);
    let store = ratchet_store::open(url).await.expect("open once more");
    store.insert_user(&user("u")).await.unwrap();
    assert!(store.user("u").await.unwrap().is_some());
}

/// The server drops every connection of the pool (as a restart or failover does); the next calls
/// succeed on fresh connections without any intervention.
async fn reconnects_after_server_drops_connections(s: &Db, db_name: &str) {
    s.ping().await.expect("ping before");
    s.insert_user(&user("u")).await.unwrap();
    let mut admin = pg::admin().await;
    let killed: Vec<(bool,)> =
        sqlx::query_as("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
            .bind(db_name)
            .fetch_all(&mut admin)
            .await
            .unwrap();
    assert!(!killed.is_empty(), "the pool holds at least one idle connection");
    // Wait (bounded) until the server has really ended them.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (left,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM pg_stat_activity WHERE datname = $1").bind(db_name).fetch_one(&mut admin).await.unwrap();
        if left == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{left} backends still alive after 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.ping().await.expect("ping after the server dropped the connections");
    assert!(s.user("u").await.unwrap().is_some());
    let f = family("g", "c", "u");
    s.insert_family(&f, &Seen::default()).await.unwrap();
    assert!(rotate(s, &f.id, "c", 0, NOW + 1, None).await.unwrap().is_some());
}

// ---------------------------------------------------------------------------------------------
// Engines
// ---------------------------------------------------------------------------------------------

/// Runs one test body in its own task, bounded by [`TEST_TIMEOUT`]. A panic is re-raised here;
/// a timeout comes back as an error, so that the caller can clean up before failing.
async fn run(body: impl Future<Output = ()> + Send + 'static) -> Result<(), String> {
    match tokio::spawn(tokio::time::timeout(TEST_TIMEOUT, body)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(format!("timed out after {TEST_TIMEOUT:?}")),
        Err(e) if e.is_panic() => Err(panic_message(e.into_panic())),
        Err(e) => Err(format!("the test task failed: {e}")),
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the test panicked".into())
}

struct SqliteDb {
    _dir: tempfile::TempDir,
    url: String,
}

impl SqliteDb {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("ratchet.db").display());
        SqliteDb { _dir: dir, url }
    }

    async fn open(&self) -> Db {
        ratchet_store::open(&self.url).await.expect("open the SQLite store")
    }
}

mod pg {
    use std::time::Duration;

    use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

    /// The server under test (without a database name).
    pub fn server() -> String {
        std::env::var("RATCHET_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
    }

    pub async fn admin() -> PgConnection {
        let url = format!("{}/postgres", server());
        match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(&url)).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                panic!("PostgreSQL at {url} is not reachable (the postgres tests need it): {e}")
            }
            Err(_) => panic!("PostgreSQL at {url} did not answer within 10 s"),
        }
    }

    /// A fresh, empty database on the test server, dropped by [`PgDb::drop_db`].
    pub struct PgDb {
        pub name: String,
        pub url: String,
    }

    impl PgDb {
        pub async fn new() -> Self {
            let name = format!("ratchet_test_{}", ratchet_core::family::FamilyId::random());
            let mut conn = admin().await;
            let mut attempt = 0;
            loop {
                // Concurrent CREATE DATABASE can collide on the template; retry a few times.
                match conn.execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).await {
                    Ok(_) => break,
                    Err(e) if attempt < 5 => {
                        attempt += 1;
                        eprintln!("CREATE DATABASE {name} failed ({e}); retrying");
                        tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                    }
                    Err(e) => panic!("CREATE DATABASE {name}: {e}"),
                }
            }
            let _ = conn.close().await;
            let url = format!("{}/{name}", server());
            PgDb { name, url }
        }

        pub async fn open(&self) -> super::Db {
            ratchet_store::open(&self.url).await.expect("open the PostgreSQL store")
        }

        /// Best effort: a leftover database is harmless, only untidy.
        pub async fn drop_db(self) {
            let drop = async {
                let mut conn = admin().await;
                let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
                if let Err(e) = conn.execute(AssertSqlSafe(sql)).await {
                    eprintln!("could not drop {}: {e}", self.name);
                }
                let _ = conn.close().await;
            };
            if tokio::time::timeout(Duration::from_secs(10), drop).await.is_err() {
                eprintln!("dropping {} timed out", self.name);
            }
        }
    }
}

// ---- The catalog cache (crates/store/src/catalog.rs): clients and APIs read on the request path ----

/// How long a change made through another handle (another node, the CLI) may take to be seen:
/// PostgreSQL delivers the trigger's notification at commit; SQLite sees it at the next read.
const CATALOG_STALENESS_BOUND: Duration = Duration::from_secs(2);

/// Polls `read` until `seen` holds of its result, failing after [`CATALOG_STALENESS_BOUND`].
async fn seen_within_bound<T: std::fmt::Debug, F: Future<Output = T>>(what: &str, mut read: impl FnMut() -> F, seen: impl Fn(&T) -> bool) {
    let deadline = std::time::Instant::now() + CATALOG_STALENESS_BOUND;
    loop {
        let value = read().await;
        if seen(&value) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: still {value:?} after {CATALOG_STALENESS_BOUND:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Changes through the handle that reads are seen by its very next read (no waiting).
async fn catalog_changes_through_the_same_handle_are_seen_at_once(s: &Db) {
    s.insert_client(&client("c1"), Some("hash-1")).await.unwrap();
    let api = Api::new("api-1".into(), "https://api.example.com".into(), None, false, Some(3600)).unwrap();
    s.insert_api(&api).await.unwrap();
    for _ in 0..2 {
        assert_eq!(s.client("c1").await.unwrap().unwrap().secret_hash.as_deref(), Some("hash-1"));
        assert_eq!(s.api("https://api.example.com").await.unwrap().unwrap().token_lifetime, 3600);
    }
    let mut changed = client("c1");
    changed.name = "Renamed".into();
    assert!(s.update_client(&changed).await.unwrap());
    assert_eq!(s.client("c1").await.unwrap().unwrap().client.name, "Renamed");
    assert!(s.set_client_secret("c1", "hash-2").await.unwrap());
    assert_eq!(s.client("c1").await.unwrap().unwrap().secret_hash.as_deref(), Some("hash-2"));
    assert!(s.delete_client("c1", NOW).await.unwrap());
    assert!(s.client("c1").await.unwrap().is_none());
    let mut longer = api.clone();
    longer.token_lifetime = 7200;
    assert!(s.update_api(&longer).await.unwrap());
    assert_eq!(s.api("https://api.example.com").await.unwrap().unwrap().token_lifetime, 7200);
    assert!(s.delete_api("api-1", NOW).await.unwrap());
    assert!(s.api("https://api.example.com").await.unwrap().is_none());
}

/// Unknown clients and APIs are not remembered: one created elsewhere is usable at once.
async fn unknown_clients_and_apis_are_not_cached(s: &Db, other: &Db) {
    assert!(s.client("late").await.unwrap().is_none());
    assert!(s.api("https://late.example.com").await.unwrap().is_none());
    other.insert_client(&client("late"), None).await.unwrap();
    other.insert_api(&Api::new("api-late".into(), "https://late.example.com".into(), None, false, None).unwrap()).await.unwrap();
    assert!(s.client("late").await.unwrap().is_some(), "a client created elsewhere is found at once");
    assert!(s.api("https://late.example.com").await.unwrap().is_some(), "an API created elsewhere is found at once");
}

/// A client or API changed or deleted through another handle on the same database (another node,
/// the CLI) is seen by a handle that has it cached, within [`CATALOG_STALENESS_BOUND`].
async fn catalog_changes_through_another_handle_are_seen_within_bound(s: &Db, other: &Db) {
    s.insert_client(&client("c1"), Some("hash-1")).await.unwrap();
    s.insert_api(&Api::new("api-1".into(), "https://api.example.com".into(), None, false, Some(3600)).unwrap()).await.unwrap();
    for _ in 0..2 {
        assert_eq!(s.client("c1").await.unwrap().unwrap().secret_hash.as_deref(), Some("hash-1"));
        assert_eq!(s.api("https://api.example.com").await.unwrap().unwrap().token_lifetime, 3600);
    }
    assert!(other.set_client_secret("c1", "hash-2").await.unwrap());
    seen_within_bound(
        "the secret rotated elsewhere",
        move || async move { s.client("c1").await.unwrap().unwrap().secret_hash },
        |h| h.as_deref() == Some("hash-2"),
    )
    .await;
    let mut changed = client("c1");
    changed.callbacks = vec!["https://c1.example.com/elsewhere".into()];
    assert!(other.update_client(&changed).await.unwrap());
    seen_within_bound(
        "the callbacks changed elsewhere",
        move || async move { s.client("c1").await.unwrap().unwrap().client.callbacks },
        |c| c == &["https://c1.example.com/elsewhere".to_string()],
    )
    .await;
    assert!(other.delete_client("c1", NOW).await.unwrap());
    seen_within_bound(
        "the client deleted elsewhere",
        move || async move { s.client("c1").await.unwrap().map(|c| c.client.client_id) },
        Option::is_none,
    )
    .await;
    let mut api = other.api("https://api.example.com").await.unwrap().unwrap();
    api.token_lifetime = 60;
    assert!(other.update_api(&api).await.unwrap());
    seen_within_bound(
        "the API changed elsewhere",
        move || async move { s.api("https://api.example.com").await.unwrap().unwrap().token_lifetime },
        |l| *l == 60,
    )
    .await;
    assert!(other.delete_api("api-1", NOW).await.unwrap());
    seen_within_bound(
        "the API deleted elsewhere",
        move || async move { s.api("https://api.example.com").await.unwrap().map(|a| a.id) },
        Option::is_none,
    )
    .await;
}

/// PostgreSQL: when the connection that listens for changes is lost, the cache is emptied and
/// bypassed until it listens again, so a change whose notification nobody received is still seen
/// within the bound. The change here is made with triggers off (`session_replication_role =
/// replica`), so no notification exists at all: only the clearing can make it visible.
async fn cache_cleared_when_listener_connection_is_lost(url: &str, db_name: &str) {
    use ratchet_store::prelude::*;
    use sqlx::Connection;
    let s = &ratchet_store::postgres::PostgresStore::open(url).await.unwrap();
    let other = ratchet_store::open(url).await.unwrap();
    s.insert_client(&client("c1"), Some("hash-1")).await.unwrap();
    let listener_pid = move || async move {
        sqlx::query_as::<_, (i32,)>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'")
            .bind(db_name)
            .fetch_optional(&mut pg::admin().await)
            .await
            .unwrap()
    };
    // The first read starts the listener; wait (bounded) until it listens, then cache the client.
    s.client("c1").await.unwrap();
    seen_within_bound("the listener", || async { s.catalog_cache().is_trusted() }, |listening| *listening).await;
    s.client("c1").await.unwrap();
    assert_eq!(s.catalog_cache().len(), (1, 0), "the client is cached");
    let (pid,) = listener_pid().await.expect("the listener's backend");
    let mut silent = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query("SET session_replication_role = replica").execute(&mut silent).await.unwrap();
    sqlx::query("UPDATE clients SET secret_hash = 'hash-2' WHERE client_id = 'c1'").execute(&mut silent).await.unwrap();
    assert_eq!(
        s.client("c1").await.unwrap().unwrap().secret_hash.as_deref(),
        Some("hash-1"),
        "reads are served from the cache (the unannounced change is not seen yet)"
    );
    let (killed,): (bool,) = sqlx::query_as("SELECT pg_terminate_backend($1)").bind(pid).fetch_one(&mut pg::admin().await).await.unwrap();
    assert!(killed);
    seen_within_bound(
        "the unannounced change after the listener was lost",
        move || async move { s.client("c1").await.unwrap().unwrap().secret_hash },
        |h| h.as_deref() == Some("hash-2"),
    )
    .await;
    // It listens again (a new backend), and later changes are announced and seen as before.
    seen_within_bound("a new listener", listener_pid, |p| matches!(p, Some((new,)) if *new != pid)).await;
    seen_within_bound("the listener", || async { s.catalog_cache().is_trusted() }, |listening| *listening).await;
    s.client("c1").await.unwrap();
    assert!(other.set_client_secret("c1", "hash-3").await.unwrap());
    seen_within_bound(
        "the secret rotated after reconnecting",
        move || async move { s.client("c1").await.unwrap().unwrap().secret_hash },
        |h| h.as_deref() == Some("hash-3"),
    )
    .await;
}

// ---- Sign-in attempt counters (brute-force protection) ----

const WINDOWS: ratchet_core::brute_force::Windows = ratchet_core::brute_force::Windows { pair: 900, ip: 3600, account: 1800 };

async fn login_attempts_are_counted_per_pair_ip_and_account(s: &Db) {
    let r = s.reserve_login_attempt("alice@example.com", "203.0.113.7", NOW, &WINDOWS).await.unwrap();
    assert_eq!((r.pair.attempts, r.pair.expires_at), (1, NOW + 900));
    assert_eq!((r.ip.attempts, r.ip.expires_at), (1, NOW + 3600));
    assert_eq!((r.account.attempts, r.account.expires_at), (1, NOW + 1800));
    let r = s.reserve_login_attempt("alice@example.com", "198.51.100.2", NOW + 5, &WINDOWS).await.unwrap();
    assert_eq!((r.pair.attempts, r.ip.attempts, r.account.attempts), (1, 1, 2), "another address: a pair of its own");
    let r = s.reserve_login_attempt("bob@example.com", "203.0.113.7", NOW + 6, &WINDOWS).await.unwrap();
    assert_eq!((r.pair.attempts, r.ip.attempts, r.account.attempts), (1, 2, 1), "the address counts across accounts");
    let r = s.reserve_login_attempt("alice@example.com", "203.0.113.7", NOW + 7, &WINDOWS).await.unwrap();
    assert_eq!((r.pair.attempts, r.pair.expires_at), (2, NOW + 900), "the window does not move");
}

async fn login_attempt_counters_start_again_after_their_window(s: &Db) {
    for _ in 0..3 {
        s.reserve_login_attempt("alice@example.com", "203.0.113.7", NOW, &WINDOWS).await.unwrap();
    }
    let r = s.reserve_login_attempt("alice@example.com", "203.0.113.7", NOW + 900, &WINDOWS).await.unwrap();
    assert_eq!((r.pair.attempts, r.pair.expires_at), (1, NOW + 1800), "the pair window is over");
    assert_eq!((r.ip.attempts, r.ip.expires_at), (4, NOW + 3600), "the IP window is not");
}

async fn login_attempts_are_reserved_once_each_under_concurrency(s: &Db) {
    let counts =
        race(RACERS, s, |s, _| async move { s.reserve_login_attempt("alice@example.com", "203.0.113.7", NOW, &WINDOWS).await.unwrap() })
            .await;
    let mut pairs: Vec<u32> = counts.iter().map(|r| r.pair.attempts).collect();
    pairs.sort();
    assert_eq!(pairs, (1..=RACERS as u32).collect::<Vec<_>>(), "every caller saw a count of its own");
}

async fn login_success_clears_the_pair_and_gives_back_the_rest(s: &Db) {
    for _ in 0..3 {
        s.reserve_login_attempt("alice@example.com", "203.0.113.7", NOW, &WINDOWS).await.unwrap();
    }
    s.reserve_login_attempt("alice@example.com", "198.51.100.2", NOW, &WINDOWS).await.unwrap();
    s.login_succeeded("alice@example.com", "203.0.113.7", NOW).await.unwrap();
    let pairs = s.pair_counters("alice@example.com", NOW).await.unwrap();
    assert_eq!(pairs.iter().map(|(ip, c)| (ip.as_str(), c.attempts)).collect::<Vec<_>>(), vec![("198.51.100.2", 1)]);
    let r = s.reserve_login_attempt("alice@example.com", "203.0.113.7", NOW, &WINDOWS).await.unwrap();
    assert_eq!((r.pair.attempts, r.ip.attempts, r.account.attempts), (1, 3, 4), "the success's own reservation was given back");
}

async fn clearing_login_attempts_keeps_other_accounts_and_ip_counters(s: &Db) {
    s.reserve_login_attempt("alice@example.com", "203.0.113.7", NOW, &WINDOWS).await.unwrap();
    s.reserve_login_attempt("alice@example.com", "198.51.100.2", NOW, &WINDOWS).await.unwrap();
    s.reserve_login_attempt("bob@example.com", "203.0.113.7", NOW, &WINDOWS).await.unwrap();
    assert_eq!(s.clear_login_attempts("alice@example.com").await.unwrap(), 3, "two pairs and the account counter");
    assert!(s.pair_counters("alice@example.com", NOW).await.unwrap().is_empty());
    assert_eq!(s.pair_counters("bob@example.com", NOW).await.unwrap().len(), 1);
    let r = s.reserve_login_attempt("alice@example.com", "203.0.113.7", NOW, &WINDOWS).await.unwrap();
    assert_eq!((r.pair.attempts, r.ip.attempts, r.account.attempts), (1, 3, 1));
}

async fn purge_deletes_login_attempt_counters_whose_window_is_over(s: &Db) {
    s.reserve_login_attempt("alice@example.com", "203.0.113.7", NOW, &WINDOWS).await.unwrap();
    s.purge(NOW + 900, 0).await.unwrap();
    assert!(s.pair_counters("alice@example.com", NOW).await.unwrap().is_empty(), "the pair counter expired and was purged");
    let r = s.reserve_login_attempt("alice@example.com", "203.0.113.7", NOW + 900, &WINDOWS).await.unwrap();
    assert_eq!((r.pair.attempts, r.ip.attempts, r.account.attempts), (1, 2, 2), "the others were kept");
}

macro_rules! contract {
    ($($name:ident),* $(,)?; two handles: $($shared:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = crate::SqliteDb::new();
                    let store = db.open().await;
                    let outcome = crate::run(async move { crate::$name(&store).await }).await;
                    drop(db);
                    if let Err(e) = outcome {
                        panic!("{e}");
                    }
                }
            )*

            // Two handles on one file: two processes (the server and the CLI).
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $shared() {
                    let db = crate::SqliteDb::new();
                    let (store, other) = (db.open().await, db.open().await);
                    let outcome = crate::run(async move { crate::$shared(&store, &other).await }).await;
                    drop(db);
                    if let Err(e) = outcome {
                        panic!("{e}");
                    }
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = crate::pg::PgDb::new().await;
                    let store = db.open().await;
                    let outcome = crate::run(async move { crate::$name(&store).await }).await;
                    db.drop_db().await;
                    if let Err(e) = outcome {
                        panic!("{e}");
                    }
                }
            )*

            // Two handles on one database: two nodes.
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $shared() {
                    let db = crate::pg::PgDb::new().await;
                    let (store, other) = (db.open().await, db.open().await);
                    let outcome = crate::run(async move { crate::$shared(&store, &other).await }).await;
                    db.drop_db().await;
                    if let Err(e) = outcome {
                        panic!("{e}");
                    }
                }
            )*

            // PostgreSQL-only behaviours of the multi-node deployment.

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn cache_cleared_when_listener_connection_is_lost() {
                let db = crate::pg::PgDb::new().await;
                let (url, name) = (db.url.clone(), db.name.clone());
                let outcome = crate::run(async move {
                    crate::cache_cleared_when_listener_connection_is_lost(&url, &name).await
                })
                .await;
                db.drop_db().await;
                if let Err(e) = outcome {
                    panic!("{e}");
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn nodes_starting_at_once_migrate_the_database_once() {
                let db = crate::pg::PgDb::new().await;
                let url = db.url.replacen("postgres://", "postgresql://", 1);
                let outcome = crate::run(async move { crate::nodes_start_at_once(&url).await }).await;
                db.drop_db().await;
                if let Err(e) = outcome {
                    panic!("{e}");
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn pool_replaces_connections_the_server_dropped() {
                let db = crate::pg::PgDb::new().await;
                let store = db.open().await;
                let name = db.name.clone();
                let outcome = crate::run(async move {
                    crate::reconnects_after_server_drops_connections(&store, &name).await
                })
                .await;
                db.drop_db().await;
                if let Err(e) = outcome {
                    panic!("{e}");
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn unreachable_server_is_unavailable_and_fails_fast() {
                let started = std::time::Instant::now();
                let r = tokio::time::timeout(
                    std::time::Duration::from_secs(15),
                    ratchet_store::open("postgres://postgres@127.0.0.1:1/ratchet"),
                )
                .await
                .expect("open must give up within the acquire timeout");
                match r {
                    Err(ratchet_store::StoreError::Unavailable(_)) => {}
                    Err(e) => panic!("expected Unavailable, got {e:?}"),
                    Ok(_) => panic!("nothing listens on port 1"),
                }
                assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
            }
        }
    };
}

contract! {
    ping_succeeds,
    server_secrets_are_inserted_once_and_listed_in_kid_order,
    revoking_a_server_secret_erases_its_material_once,
    insert_server_secret_has_exactly_one_winner,
    client_round_trips_with_its_secret_hash,
    duplicate_client_id_is_a_conflict,
    update_client_replaces_it_and_reports_unknown_ids,
    clients_are_listed_in_id_order,
    delete_client_revokes_its_families_grants_and_codes,
    clients_are_listed_in_windows_with_a_total,
    set_client_secret_replaces_only_the_hash,
    apis_are_found_by_id_listed_updated_and_deleted,
    client_grants_round_trip_and_are_unique_per_client_and_audience,
    client_grants_are_listed_by_filter_in_windows,
    client_grants_are_updated_deleted_and_go_with_their_client,
    api_round_trips_by_identifier,
    signing_algorithms_round_trip_with_clients_and_apis,
    duplicate_api_identifier_is_a_conflict,
    user_round_trips_by_id_and_by_email,
    duplicate_user_email_is_a_conflict,
    blocking_a_user_ends_sessions_and_revokes_families,
    set_user_blocked_reports_unknown_users,
    delete_user_removes_sessions_codes_and_revokes_families,
    session_round_trips,
    touch_session_is_capped_at_absolute_expiry,
    delete_session_keeps_families_unless_asked,
    delete_session_with_revocation_revokes_its_families,
    code_round_trips_every_field_including_nulls,
    code_redeems_exactly_once_under_concurrency,
    unknown_code_is_not_found,
    duplicate_code_is_a_conflict_and_inserts_nothing,
    revoke_grant_revokes_its_families_only,
    grant_is_live_until_revoked,
    grant_is_not_live_once_a_family_of_it_is_revoked,
    ending_a_session_with_its_tokens_revokes_the_grants_authorized_in_it,
    family_round_trips_every_field_including_nulls,
    import_families_inserts_every_field_or_nothing,
    rotate_moves_counter_deadline_and_rotation_time,
    rotate_brings_back_the_user_and_the_api,
    rotate_has_exactly_one_winner,
    rotate_refuses_what_assess_would_not_rotate,
    revoked_family_cannot_rotate,
    touch_family_moves_only_the_idle_deadline,
    revoke_family_reports_whether_it_was_live,
    revoke_families_by_user,
    revoke_families_by_client,
    revoke_families_by_session,
    revoke_families_by_grant,
    revoke_families_by_audience_tells_none_from_some,
    revoke_families_by_rotating,
    revoke_families_requires_every_condition_given,
    evict_families_keeps_the_newest_n_live,
    evict_families_never_evicts_the_spared_family,
    purge_deletes_only_what_can_never_be_used_again,
    purge_deletes_in_steps_every_dead_row_and_no_live_one,
    events_are_newest_first_and_filtered_by_type_and_user,
    events_limit_caps_results_and_zero_means_a_hundred,
    user_profile_round_trips_every_field,
    users_are_listed_a_page_at_a_time_with_the_total,
    users_are_filtered_by_exact_email_and_id,
    users_are_read_by_id_in_one_call_skipping_unknown_ones,
    update_user_replaces_the_profile_and_conflicts_on_a_taken_email,
    administrator_flag_is_stored_updated_and_brought_back_by_rotation,
    record_login_counts_sign_ins,
    sessions_are_found_by_sid_and_listed_by_user_a_page_at_a_time,
    session_clients_are_those_of_its_families,
    delete_sessions_of_a_user_keeps_their_families_and_other_users,
    family_record_has_its_devices_and_last_exchange,
    families_of_a_user_are_listed_live_a_page_at_a_time,
    only_live_sessions_are_counted,
    only_live_families_are_counted,
    revoke_family_ids_revokes_exactly_the_live_ones_named,
    an_empty_family_filter_is_refused,
    a_revocation_racing_rotations_loses_nothing,
    concurrent_rotations_commit_in_one_batch_with_one_winner_per_family,
    logs_carry_log_id_ip_and_user_agent_and_are_found_by_log_id,
    logs_are_filtered_by_type_user_client_and_date_range,
    logs_page_over_more_rows_than_a_page,
    count_event_users_counts_distinct_existing_users_since,
    bound_family_rotates_only_with_a_proof_by_its_key,
    rotation_with_a_replayed_proof_fails_and_writes_nothing,
    dpop_proof_is_used_exactly_once_under_concurrency,
    purge_deletes_expired_dpop_proofs_only,
    login_attempts_are_counted_per_pair_ip_and_account,
    login_attempt_counters_start_again_after_their_window,
    login_attempts_are_reserved_once_each_under_concurrency,
    login_success_clears_the_pair_and_gives_back_the_rest,
    clearing_login_attempts_keeps_other_accounts_and_ip_counters,
    purge_deletes_login_attempt_counters_whose_window_is_over,
    catalog_changes_through_the_same_handle_are_seen_at_once;
    two handles:
    unknown_clients_and_apis_are_not_cached,
    catalog_changes_through_another_handle_are_seen_within_bound,
}

/// The rotation write with no device recorded.
async fn rotate(
    s: &Db,
    id: &FamilyId,
    client_id: &str,
    from: u64,
    now: UnixTime,
    idle: Option<UnixTime>,
) -> ratchet_store::Result<Option<Rotated>> {
    rotate_with(s, id, client_id, from, now, idle, None).await
}

/// [`rotate`] with a DPoP proof.
async fn rotate_with(
    s: &Db,
    id: &FamilyId,
    client_id: &str,
    from: u64,
    now: UnixTime,
    idle: Option<UnixTime>,
    dpop: Option<RotationProof<'_>>,
) -> ratchet_store::Result<Option<Rotated>> {
    s.rotate(&Rotation { id, client_id, from, now, idle_expires_at: idle, seen: &Seen::default(), dpop }).await
}

/// Both engines' migrations declare the same indexes (by name and columns), so a listing that is
/// indexed on one engine is indexed on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_have_the_same_indexes() {
    use sqlx::Connection;

    let sqlite = SqliteDb::new();
    drop(sqlite.open().await);
    let conn = rusqlite::Connection::open(sqlite.url.trim_start_matches("sqlite://")).unwrap();
    let mut stmt = conn
        .prepare("SELECT il.name, group_concat(ii.name, ',') FROM sqlite_master il, pragma_index_info(il.name) ii WHERE il.type = 'index' AND il.sql IS NOT NULL GROUP BY il.name")
        .unwrap();
    let on_sqlite: std::collections::BTreeSet<(String, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();

    let db = pg::PgDb::new().await;
    drop(db.open().await);
    let mut pgc = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.relname::text, string_agg(a.attname::text, ',' ORDER BY k.ord)
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
         WHERE n.nspname = current_schema() AND NOT x.indisprimary
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
           AND t.relname <> '_sqlx_migrations'
         GROUP BY i.relname",
    )
    .fetch_all(&mut pgc)
    .await
    .unwrap();
    let _ = pgc.close().await;
    db.drop_db().await;
    let on_postgres: std::collections::BTreeSet<(String, String)> = rows.into_iter().collect();
    assert!(on_sqlite.len() >= 15, "{on_sqlite:?}");
    assert_eq!(on_sqlite, on_postgres, "index sets differ (name, columns)");
}

// ---------------------------------------------------------------------------------------------
// The control plane (Management API): users, sessions and families listed, found and revoked
// ---------------------------------------------------------------------------------------------

async fn user_profile_round_trips_every_field(s: &Db) {
    let full = user("alice");
    let bare = User::new("bob".into(), "bob@example.com".into(), "Bob".into(), "hash".into(), NOW);
    s.insert_user(&full).await.unwrap();
    s.insert_user(&bare).await.unwrap();
    assert_eq!(s.user("alice").await.unwrap(), Some(full));
    assert_eq!(s.user("bob").await.unwrap(), Some(bare));
}

async fn users_are_listed_a_page_at_a_time_with_the_total(s: &Db) {
    for i in 0..7 {
        s.insert_user(&user(&format!("u{i}"))).await.unwrap();
    }
    let all = UserFilter::default();
    let (page0, total) = s.users(&all, &at(0, 3)).await.unwrap();
    assert_eq!(total, 7);
    assert_eq!(page0.iter().map(|u| u.user_id.as_str()).collect::<Vec<_>>(), ["u0", "u1", "u2"]);
    let (page2, total) = s.users(&all, &at(6, 3)).await.unwrap();
    assert_eq!((page2.len(), total), (1, 7));
    assert_eq!(page2[0], user("u6"), "listed users are whole");
    let (past, total) = s.users(&all, &at(30, 3)).await.unwrap();
    assert_eq!((past.len(), total), (0, 7), "past the end: no users, the total still");
    let (after, total) = s.users(&all, &Window { after: Some("u4".into()), offset: 0, limit: 10 }).await.unwrap();
    assert_eq!(after.iter().map(|u| u.user_id.as_str()).collect::<Vec<_>>(), ["u5", "u6"], "a keyset cursor starts after its id");
    assert_eq!(total, 7);
}

fn at(offset: u64, limit: u32) -> Window {
    Window { after: None, offset, limit }
}

async fn users_are_read_by_id_in_one_call_skipping_unknown_ones(s: &Db) {
    for id in ["ann", "bo", "cy"] {
        s.insert_user(&user(id)).await.unwrap();
    }
    let ids = ["cy", "nobody", "ann"].map(String::from);
    let mut found: Vec<User> = s.users_by_id(&ids).await.unwrap();
    found.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    assert_eq!(found, vec![user("ann"), user("cy")], "whole users, the unknown id left out");
    assert!(s.users_by_id(&[]).await.unwrap().is_empty());
}

async fn users_are_filtered_by_exact_email_and_id(s: &Db) {
    for id in ["ann", "anna", "bo"] {
        s.insert_user(&user(id)).await.unwrap();
    }
    let by = |email: Option<&str>, user_id: Option<&str>| UserFilter { email: email.map(Into::into), user_id: user_id.map(Into::into) };
    let ids = |r: (Vec<User>, u64)| (r.0.into_iter().map(|u| u.user_id).collect::<Vec<_>>(), r.1);
    assert_eq!(ids(s.users(&by(Some("ann@example.com"), None), &at(0, 50)).await.unwrap()), (vec!["ann".to_string()], 1));
    assert_eq!(ids(s.users(&by(None, Some("anna")), &at(0, 50)).await.unwrap()), (vec!["anna".to_string()], 1));
    assert_eq!(ids(s.users(&by(Some("ann@example.com"), Some("bo")), &at(0, 50)).await.unwrap()), (vec![], 0), "every condition holds");
    assert_eq!(ids(s.users(&by(Some("an"), None), &at(0, 50)).await.unwrap()), (vec![], 0), "exact, not a prefix");
}

async fn update_user_replaces_the_profile_and_conflicts_on_a_taken_email(s: &Db) {
    s.insert_user(&user("a")).await.unwrap();
    s.insert_user(&user("b")).await.unwrap();
    let mut a = user("a");
    a.email = "new@example.com".into();
    a.name = "New Name".into();
    a.password_hash = "new-hash".into();
    a.email_verified = false;
    a.user_metadata = serde_json::Map::new();
    a.app_metadata.insert("role".into(), "admin".into());
    a.updated_at = Some(NOW + 50);
    // Not written by an update: blocked and the sign-in counters.
    let mut sent = a.clone();
    sent.blocked = true;
    sent.logins_count = 99;
    assert!(s.update_user(&sent).await.unwrap());
    assert_eq!(s.user("a").await.unwrap(), Some(a.clone()));
    assert_eq!(s.user_by_email("new@example.com").await.unwrap().map(|u| u.user_id), Some("a".into()));

    let taken = User { email: "b@example.com".into(), ..a.clone() };
    let r = s.update_user(&taken).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "taken email: {r:?}");
    assert_eq!(s.user("a").await.unwrap(), Some(a));
    assert!(!s.update_user(&user("ghost")).await.unwrap(), "unknown user");
}

async fn administrator_flag_is_stored_updated_and_brought_back_by_rotation(s: &Db) {
    let admin = User { admin: true, ..user("root") };
    s.insert_user(&admin).await.unwrap();
    s.insert_user(&user("plain")).await.unwrap();
    assert!(s.user("root").await.unwrap().unwrap().admin);
    assert!(!s.user("plain").await.unwrap().unwrap().admin, "not an administrator unless said");

    let f = family("g", "c", "root");
    s.insert_family(&f, &Seen::default()).await.unwrap();
    let r = rotate(s, &f.id, "c", 0, NOW + 1, None).await.unwrap().expect("rotates");
    assert!(r.user.expect("the user").admin, "the rotation sees the administrator flag");

    let demoted = User { admin: false, ..admin };
    assert!(s.update_user(&demoted).await.unwrap());
    assert_eq!(s.user("root").await.unwrap(), Some(demoted));
    let r = rotate(s, &f.id, "c", 1, NOW + 2, None).await.unwrap().expect("rotates");
    assert!(!r.user.expect("the user").admin, "a demotion is seen by the next rotation");
}

async fn record_login_counts_sign_ins(s: &Db) {
    s.insert_user(&User::new("u".into(), "u@example.com".into(), "U".into(), "h".into(), NOW)).await.unwrap();
    s.record_login("u", NOW + 10, Some("198.51.100.4")).await.unwrap();
    s.record_login("u", NOW + 20, Some("198.51.100.5")).await.unwrap();
    let u = s.user("u").await.unwrap().unwrap();
    assert_eq!((u.last_login, u.last_ip.as_deref(), u.logins_count), (Some(NOW + 20), Some("198.51.100.5"), 2));
    s.record_login("ghost", NOW, None).await.expect("nothing to record is fine");
}

async fn sessions_are_found_by_sid_and_listed_by_user_a_page_at_a_time(s: &Db) {
    s.insert_user(&user("u")).await.unwrap();
    s.insert_user(&user("v")).await.unwrap();
    for i in 0..5 {
        s.insert_session(&session(&format!("h{i}"), "u")).await.unwrap();
    }
    s.insert_session(&session("hv", "v")).await.unwrap();
    assert_eq!(s.session_by_sid("sid-h3").await.unwrap(), Some(session("h3", "u")));
    assert_eq!(s.session_by_sid("h3").await.unwrap(), None, "the id hash is not the public id");

    let first = s.sessions_of("u", None, 2).await.unwrap();
    assert_eq!(first.iter().map(|x| x.sid.as_str()).collect::<Vec<_>>(), ["sid-h0", "sid-h1"]);
    let rest = s.sessions_of("u", Some("sid-h1"), 10).await.unwrap();
    assert_eq!(rest.iter().map(|x| x.sid.as_str()).collect::<Vec<_>>(), ["sid-h2", "sid-h3", "sid-h4"]);
    assert!(s.sessions_of("u", Some("sid-h4"), 10).await.unwrap().is_empty());
    assert!(s.sessions_of("nobody", None, 10).await.unwrap().is_empty());

    let r = s.insert_session(&Session { id_hash: "other".into(), ..session("h0", "u") }).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "same sid: {r:?}");
}

async fn session_clients_are_those_of_its_families(s: &Db) {
    s.insert_user(&user("u")).await.unwrap();
    s.insert_session(&session("h1", "u")).await.unwrap();
    for (client, sess) in [("c2", Some("h1")), ("c1", Some("h1")), ("c1", Some("h1")), ("c3", None)] {
        let f = Family { session_id: sess.map(str::to_string), ..family("g", client, "u") };
        s.insert_family(&f, &Seen::default()).await.unwrap();
    }
    assert_eq!(s.session_clients("h1").await.unwrap(), ["c1", "c2"]);
    assert!(s.session_clients("h2").await.unwrap().is_empty());
}

async fn delete_sessions_of_a_user_keeps_their_families_and_other_users(s: &Db) {
    let (fu, fv) = two_users_with_session_code_and_family(s).await;
    s.insert_session(&session("sess-u2", "u")).await.unwrap();
    assert_eq!(s.delete_sessions_of("u").await.unwrap(), 2);
    assert_eq!(s.session("sess-u").await.unwrap(), None);
    assert_eq!(s.session("sess-u2").await.unwrap(), None);
    assert!(s.session("sess-v").await.unwrap().is_some());
    assert_eq!(revoked_at(s, &fu).await, None, "refresh tokens survive the sessions");
    assert_eq!(revoked_at(s, &fv).await, None);
    assert_eq!(s.delete_sessions_of("u").await.unwrap(), 0);
}

async fn family_record_has_its_devices_and_last_exchange(s: &Db) {
    let f = family("g", "c", "u");
    s.insert_family(&f, &seen("203.0.113.1", "App/1")).await.unwrap();
    let r = s.family_record(&f.id).await.unwrap().expect("stored");
    assert_eq!(
        (r.family, r.initial.clone(), r.last.clone(), r.last_exchanged_at),
        (f.clone(), seen("203.0.113.1", "App/1"), seen("203.0.113.1", "App/1"), None)
    );

    let from = seen("203.0.113.2", "App/2");
    s.rotate(&Rotation { id: &f.id, client_id: "c", from: 0, now: NOW + 5, idle_expires_at: None, seen: &from, dpop: None })
        .await
        .unwrap()
        .expect("rotates");
    let r = s.family_record(&f.id).await.unwrap().expect("stored");
    assert_eq!((r.initial, r.last, r.last_exchanged_at), (seen("203.0.113.1", "App/1"), from, Some(NOW + 5)));

    let g = Family { rotating: false, ..family("g", "c", "u") };
    s.insert_family(&g, &Seen::default()).await.unwrap();
    s.touch_family(&g.id, NOW + 7, None, &seen("203.0.113.3", "App/3")).await.unwrap();
    let r = s.family_record(&g.id).await.unwrap().expect("stored");
    assert_eq!((r.initial, r.last, r.last_exchanged_at), (Seen::default(), seen("203.0.113.3", "App/3"), Some(NOW + 7)));
    assert_eq!(s.family_record(&FamilyId::random()).await.unwrap(), None);
}

async fn families_of_a_user_are_listed_live_a_page_at_a_time(s: &Db) {
    let mut live: Vec<Family> = (0..5).map(|_| family("g", "c", "u")).collect();
    let dead = [
        Family { revoked_at: Some(NOW), ..family("g", "c", "u") },
        Family { expires_at: Some(NOW + 10), ..family("g", "c", "u") },
        Family { idle_expires_at: Some(NOW + 10), ..family("g", "c", "u") },
    ];
    let other = family("g", "c", "v");
    for f in live.iter().chain(&dead).chain([&other]) {
        s.insert_family(f, &seen("192.0.2.9", "UA")).await.unwrap();
    }
    live.sort_by_key(|f| f.id.to_string());
    let at = NOW + 10;
    let first = s.families_of("u", None, at, 2).await.unwrap();
    assert_eq!(first.iter().map(|r| r.family.id).collect::<Vec<_>>(), [live[0].id, live[1].id]);
    assert_eq!(first[0].initial, seen("192.0.2.9", "UA"));
    let rest = s.families_of("u", Some(&live[1].id), at, 10).await.unwrap();
    assert_eq!(
        rest.iter().map(|r| r.family.id).collect::<Vec<_>>(),
        [live[2].id, live[3].id, live[4].id],
        "revoked and expired ones are not listed"
    );
    assert!(s.families_of("u", Some(&live[4].id), at, 10).await.unwrap().is_empty());
}

async fn only_live_sessions_are_counted(s: &Db) {
    s.insert_user(&user("u")).await.unwrap();
    s.insert_user(&user("v")).await.unwrap();
    assert_eq!(s.count_live_sessions(NOW).await.unwrap(), 0);
    let sessions = [
        session("live-u", "u"),
        session("live-v", "v"),
        Session { expires_at: NOW + 10, idle_expires_at: NOW + 10, ..session("absolute", "u") },
        Session { idle_expires_at: NOW + 10, ..session("idle", "u") },
    ];
    for sess in &sessions {
        s.insert_session(sess).await.unwrap();
    }
    assert_eq!(s.count_live_sessions(NOW + 9).await.unwrap(), 4);
    assert_eq!(s.count_live_sessions(NOW + 10).await.unwrap(), 2, "an expiry reached ends a session (absolute or idle)");
    s.delete_session("live-v", false, NOW + 11).await.unwrap();
    assert_eq!(s.count_live_sessions(NOW + 11).await.unwrap(), 1, "an ended session is not counted");
}

async fn only_live_families_are_counted(s: &Db) {
    assert_eq!(s.count_live_families(NOW).await.unwrap(), 0);
    let live = [family("g", "c", "u"), family("g", "c", "v"), Family { expires_at: None, idle_expires_at: None, ..family("g", "c", "u") }];
    let dead = [
        Family { revoked_at: Some(NOW), ..family("g", "c", "u") },
        Family { expires_at: Some(NOW + 10), ..family("g", "c", "u") },
        Family { idle_expires_at: Some(NOW + 10), ..family("g", "c", "u") },
    ];
    for f in live.iter().chain(&dead) {
        s.insert_family(f, &Seen::default()).await.unwrap();
    }
    assert_eq!(s.count_live_families(NOW + 9).await.unwrap(), 5, "not yet expired");
    assert_eq!(s.count_live_families(NOW + 10).await.unwrap(), 3, "revoked and expired families are not counted");
    rotate(s, &live[0].id, "c", 0, NOW + 11, None).await.unwrap().expect("rotates");
    assert_eq!(s.count_live_families(NOW + 11).await.unwrap(), 3, "a rotation keeps one family");
    s.revoke_family(&live[1].id, NOW + 12).await.unwrap();
    assert_eq!(s.count_live_families(NOW + 12).await.unwrap(), 2);
}

async fn revoke_family_ids_revokes_exactly_the_live_ones_named(s: &Db) {
    let fams: Vec<Family> = (0..4).map(|i| family("g", "c", if i < 3 { "u" } else { "v" })).collect();
    for f in &fams {
        s.insert_family(f, &Seen::default()).await.unwrap();
    }
    assert!(s.revoke_family(&fams[1].id, NOW + 1).await.unwrap());
    let revoked = s.revoke_family_ids(&[fams[0].id, fams[1].id, fams[3].id, FamilyId::random()], NOW + 2).await.unwrap();
    let mut got: Vec<_> = revoked.iter().map(|f| (f.id, f.revoked_at)).collect();
    got.sort_by_key(|(id, _)| id.to_string());
    let mut want = vec![(fams[0].id, Some(NOW + 2)), (fams[3].id, Some(NOW + 2))];
    want.sort_by_key(|(id, _)| id.to_string());
    assert_eq!(got, want, "the live ones named, as written");
    assert_eq!(revoked_at(s, &fams[1]).await, Some(NOW + 1), "the first revocation time stays");
    assert_eq!(revoked_at(s, &fams[2]).await, None, "not named");
    assert!(s.revoke_family_ids(&[], NOW).await.unwrap().is_empty());
}

async fn an_empty_family_filter_is_refused(s: &Db) {
    let fams = filter_world(s).await;
    let r = s.revoke_families(&FamilyFilter::default(), NOW + 1).await;
    assert!(matches!(&r, Err(StoreError::Other(m)) if m == ratchet_store::EMPTY_FAMILY_FILTER), "{r:?}");
    for f in &fams[..4] {
        assert_eq!(revoked_at(s, f).await, None, "nothing revoked");
    }
}

/// A management revocation racing a client's rotations: whatever the interleaving, the family
/// ends revoked, its counter is exactly the number of rotations acknowledged (none lost, none
/// applied after the revocation), and no rotation succeeds afterwards.
async fn a_revocation_racing_rotations_loses_nothing(s: &Db) {
    for round in 0..8 {
        let f = family("g", "c", "u");
        let bystander = family("g", "c", "v");
        s.insert_family(&f, &Seen::default()).await.unwrap();
        s.insert_family(&bystander, &Seen::default()).await.unwrap();
        let id = f.id;
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let rotations = {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                // A client refreshing as fast as it can (bounded: a revocation that never got the
                // connection would otherwise leave this running forever).
                let mut acknowledged = 0u64;
                while acknowledged < 500 && rotate(&s, &id, "c", acknowledged, NOW + 1, None).await.unwrap().is_some() {
                    acknowledged += 1;
                    tokio::task::yield_now().await;
                }
                acknowledged
            })
        };
        let revocation = {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                for _ in 0..round {
                    tokio::task::yield_now().await;
                }
                let filter = FamilyFilter { user_id: Some("u".into()), ..Default::default() };
                s.revoke_families(&filter, NOW + 2).await.unwrap()
            })
        };
        let acknowledged = rotations.await.unwrap();
        assert_eq!(revocation.await.unwrap(), 1, "round {round}: the revocation found the family live");
        let got = get_family(s, &f).await;
        assert_eq!(got.revoked_at, Some(NOW + 2), "round {round}: revoked");
        assert_eq!(got.counter, acknowledged, "round {round}: every acknowledged rotation is kept, none after the revocation");
        assert!(rotate(s, &id, "c", acknowledged, NOW + 3, None).await.unwrap().is_none(), "round {round}: not resurrected");
        assert_eq!(revoked_at(s, &bystander).await, None, "round {round}: another user's family is untouched");
    }
}
