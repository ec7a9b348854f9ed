//! The storage port of Ratchet: one trait per aggregate (clients, users, sessions, families, …)
//! under [`Store`], which every engine implements, plus the records they store. The domain
//! decides; a store persists decisions, each as one statement or one transaction. Adapters: [`sqlite`] (the embedded default) and [`postgres`] (shared by many nodes).
//!
//! Secrets never reach a store in usable form: session ids and codes arrive as SHA-256 hashes,
//! server keys sealed under the master key, refresh tokens not at all (only family state).

use async_trait::async_trait;
use ratchet_core::UnixTime;
use ratchet_core::client::{Api, Client};
use ratchet_core::family::{Family, FamilyId};

pub mod catalog;
pub mod dpop;
pub mod group_commit;
pub mod login_attempts;
pub mod postgres;
pub mod sqlite;

pub use dpop::{DpopReplayCache, REPLAYED_PROOF, RotationProof};
pub use group_commit::RotationBatches;
pub use login_attempts::LoginAttemptStore;

/// A failure of the storage engine. `Unavailable` means the database cannot be reached (the HTTP
/// layer answers 503); `Conflict` is a uniqueness violation the caller can report.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// How long a purge waits after a step that held the database for `took`: three times as long
/// (at most 50 ms), so a purge of any size, from a node or from `ratchet purge`, takes at most
/// about a quarter of the database's time and the requests that meet it wait for one short step.
pub(crate) fn purge_pause(took: std::time::Duration) -> std::time::Duration {
    (took * 3).min(std::time::Duration::from_millis(50))
}

/// How long the audit trail is kept (seconds): 30 days, Auth0's longest log retention.
pub const EVENT_RETENTION: i64 = 30 * 24 * 3600;

/// A user account (password hash only; Argon2id).
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub blocked: bool,
    /// May sign in to the admin console and get Management API tokens (docs/admin-console.md).
    pub admin: bool,
    pub created_at: UnixTime,
    pub email_verified: bool,
    /// Data the user may edit (Auth0's `user_metadata`), a JSON object.
    pub user_metadata: serde_json::Map<String, serde_json::Value>,
    /// Data only administrators edit (Auth0's `app_metadata`), a JSON object.
    pub app_metadata: serde_json::Map<String, serde_json::Value>,
    /// Last change through the management layer (`None`: never changed since creation).
    pub updated_at: Option<UnixTime>,
    pub last_login: Option<UnixTime>,
    pub last_ip: Option<String>,
    pub logins_count: i64,
}

impl User {
    /// A new account with no profile data, no sign-in yet.
    pub fn new(user_id: String, email: String, name: String, password_hash: String, created_at: UnixTime) -> User {
        User {
            user_id,
            email,
            name,
            password_hash,
            blocked: false,
            admin: false,
            created_at,
            email_verified: false,
            user_metadata: Default::default(),
            app_metadata: Default::default(),
            updated_at: None,
            last_login: None,
            last_ip: None,
            logins_count: 0,
        }
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .field("blocked", &self.blocked)
            .field("admin", &self.admin)
            .finish()
    }
}

/// A client as stored: the client and the hash of its secret (confidential clients only).
#[derive(Debug, Clone)]
pub struct StoredClient {
    pub client: Client,
    pub secret_hash: Option<String>,
}

/// A browser session at the authorization server (the SSO cookie), keyed by the hash of its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: String,
    /// The public id (the `sid` of the ID tokens issued in it), derived from `id_hash` by the
    /// server. Empty for sessions started before the column existed.
    pub sid: String,
    pub user_id: String,
    pub auth_time: UnixTime,
    pub expires_at: UnixTime,
    pub idle_expires_at: UnixTime,
    pub created_at: UnixTime,
    /// The last time the session was used (its idle deadline renewed).
    pub last_interacted_at: UnixTime,
    /// Where it was started.
    pub initial: Seen,
    /// Where it was last used.
    pub last: Seen,
}

/// An authorization code, keyed by its hash. Single use; bound to client, redirect URI, PKCE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    pub code_hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub scope: String,
    pub audience: Option<String>,
    pub nonce: Option<String>,
    pub auth_time: UnixTime,
    pub expires_at: UnixTime,
}

/// The outcome of presenting a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// First use: the code is now spent.
    Fresh(AuthCode),
    /// The code was already spent: a replay.
    Replayed(AuthCode),
    NotFound,
}

/// An audit event with an Auth0 log event code (`s`, `f`, `sertft`, `ferrt`, …).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    pub at: UnixTime,
    pub kind: String,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub description: String,
    pub details: serde_json::Value,
    /// The address of the request that caused it, when there was one.
    pub ip: Option<String>,
    /// The `User-Agent` of the request that caused it, when there was one.
    pub user_agent: Option<String>,
}

/// A recorded event with its log id: the row id, monotonic (a later event has a greater id), as a
/// decimal string (the Management API's `log_id`).
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub log_id: String,
    pub event: Event,
}

/// The newest events, optionally of one type and/or one user (a quick look: tests, metrics).
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub kind: Option<String>,
    pub user_id: Option<String>,
    /// At most this many; 0 means 100.
    pub limit: u32,
}

/// Which events a log query selects; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub kind: Option<String>,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    /// Only events at or after this time.
    pub since: Option<UnixTime>,
    /// Only events at or before this time.
    pub until: Option<UnixTime>,
}

/// The order of a log query: by log id, which follows the time events were recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogOrder {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// One page of the audit trail: the events `filter` selects, in `order`, strictly after log id
/// `after` in that order when given (a keyset cursor), skipping `offset`, at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub filter: LogFilter,
    pub order: LogOrder,
    pub after: Option<i64>,
    pub offset: u64,
    pub limit: u32,
}

/// A rotated family with what the refresh response is made of: the family's user and the API it
/// was issued for, read in the same round trip as the rotation (the refresh hot path).
#[derive(Debug, Clone, PartialEq)]
pub struct Rotated {
    /// The family as written.
    pub family: Family,
    /// `None` if the user no longer exists.
    pub user: Option<User>,
    /// `None` without an audience, or if the API no longer exists.
    pub api: Option<Api>,
}

/// A family with what the control plane shows about it beside its state: the devices it was
/// issued to and last exchanged from, and when it was last exchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyRecord {
    pub family: Family,
    pub initial: Seen,
    pub last: Seen,
    pub last_exchanged_at: Option<UnixTime>,
}

/// Which users a listing returns: every condition given must hold (exact matches).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub email: Option<String>,
    pub user_id: Option<String>,
}

/// Which families a bulk revocation targets (all conditions given must hold). An empty filter
/// would revoke every family of every user: [`FamilyStore::revoke_families`] refuses it.
#[derive(Debug, Clone, Default)]
pub struct FamilyFilter {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub session_id: Option<String>,
    pub grant_id: Option<String>,
    pub audience: Option<Option<String>>,
    pub rotating: Option<bool>,
}

impl FamilyFilter {
    /// Whether no condition is given (the filter would match every family).
    pub fn is_empty(&self) -> bool {
        self.user_id.is_none()
            && self.client_id.is_none()
            && self.session_id.is_none()
            && self.grant_id.is_none()
            && self.audience.is_none()
            && self.rotating.is_none()
    }
}

/// The error [`FamilyStore::revoke_families`] answers an empty filter with.
pub const EMPTY_FAMILY_FILTER: &str = "refusing to revoke families with an empty filter (it would revoke every family)";

/// Where a request came from, as recorded on sessions and refresh-token families (the
/// Management API's `device` object). Neither is a secret; both are truncated before storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The rotation write: the presented current token of family `id` moves its counter from `from`
/// to `from + 1` (see [`FamilyStore::rotate`]).
#[derive(Debug, Clone)]
pub struct Rotation<'a> {
    pub id: &'a FamilyId,
    pub client_id: &'a str,
    pub from: u64,
    pub now: UnixTime,
    /// The new idle deadline (capped by the absolute expiry in the write).
    pub idle_expires_at: Option<UnixTime>,
    /// Where the presentation came from: becomes the family's last device.
    pub seen: &'a Seen,
    /// The DPoP proof that came with the presentation, if any.
    pub dpop: Option<RotationProof<'a>>,
}

/// A client grant: which API a client may get `client_credentials` tokens for, and with which
/// scopes (Auth0's `client_grants`). At most one per client and audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientGrant {
    pub id: String,
    pub client_id: String,
    /// The API identifier (for the Management API, its canonical `{issuer}api/v2/`).
    pub audience: String,
    pub scope: Vec<String>,
    pub created_at: UnixTime,
}

/// A window of a listing, ordered by id (byte order on every engine): `offset` rows skipped
/// after the rows with ids up to `after` (a keyset cursor), then at most `limit` rows.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub after: Option<String>,
    pub offset: u64,
    pub limit: u32,
}

/// Which client grants a listing returns (all conditions given must hold).
#[derive(Debug, Clone, Default)]
pub struct ClientGrantFilter {
    pub client_id: Option<String>,
    pub audience: Option<String>,
}

/// One server secret of a kind (a signing key, a refresh-token MAC key, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSecret {
    pub kid: u8,
    /// Sealed under the master key; empty once revoked (the material is erased).
    pub sealed: Vec<u8>,
    pub created_at: UnixTime,
    /// From when the key is used to sign or MAC new tokens (until a later key activates).
    pub activates_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
}

/// Server secrets, sealed under the master key.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Every secret of `kind`, revoked ones included, in kid order.
    async fn server_secrets(&self, kind: &str) -> Result<Vec<ServerSecret>>;
    /// Inserts unless `(kind, kid)` exists; returns whether this call inserted it (two nodes
    /// starting at once, or two rotations at once, race here; the loser reads the winner's key).
    async fn insert_server_secret(&self, kind: &str, kid: u8, sealed: &[u8], now: UnixTime, activates_at: UnixTime) -> Result<bool>;
    /// Marks the secret revoked at `now` and erases its sealed material; returns whether this
    /// call revoked it (false if it does not exist or was already revoked).
    async fn revoke_server_secret(&self, kind: &str, kid: u8, now: UnixTime) -> Result<bool>;
}

/// Applications.
#[async_trait]
pub trait ClientStore: Send + Sync {
    async fn insert_client(&self, client: &Client, secret_hash: Option<&str>) -> Result<()>;
    async fn update_client(&self, client: &Client) -> Result<bool>;
    async fn client(&self, client_id: &str) -> Result<Option<StoredClient>>;
    async fn clients(&self) -> Result<Vec<Client>>;
    /// One window of the clients in id order, and how many there are in all.
    async fn list_clients(&self, window: &Window) -> Result<(Vec<Client>, u64)>;
    /// Replaces the hash of the client's secret; returns whether the client exists.
    async fn set_client_secret(&self, client_id: &str, secret_hash: &str) -> Result<bool>;
    /// Deletes the client and its client grants, and revokes every family issued to it.
    async fn delete_client(&self, client_id: &str, now: UnixTime) -> Result<bool>;
}

/// APIs (resource servers).
#[async_trait]
pub trait ApiStore: Send + Sync {
    async fn insert_api(&self, api: &Api) -> Result<()>;
    async fn api(&self, identifier: &str) -> Result<Option<Api>>;
    async fn api_by_id(&self, id: &str) -> Result<Option<Api>>;
    /// One window of the APIs in id order, and how many there are in all.
    async fn list_apis(&self, window: &Window) -> Result<(Vec<Api>, u64)>;
    /// Replaces the API with the same id (its identifier never changes); returns whether it exists.
    async fn update_api(&self, api: &Api) -> Result<bool>;
    /// Deletes the API and the client grants for it, and revokes the refresh-token families
    /// issued for it (an API that no longer exists must not keep yielding tokens).
    async fn delete_api(&self, id: &str, now: UnixTime) -> Result<bool>;
}

/// Client grants (`client_credentials` authorisations).
#[async_trait]
pub trait ClientGrantStore: Send + Sync {
    /// Inserts the grant; `Conflict` when one exists for the same client and audience (or id).
    async fn insert_client_grant(&self, grant: &ClientGrant) -> Result<()>;
    async fn client_grant(&self, id: &str) -> Result<Option<ClientGrant>>;
    /// The grant of `client_id` for `audience` (the `client_credentials` check).
    async fn client_grant_for(&self, client_id: &str, audience: &str) -> Result<Option<ClientGrant>>;
    /// One window of the grants matching `filter` in id order, and how many match in all.
    async fn list_client_grants(&self, filter: &ClientGrantFilter, window: &Window) -> Result<(Vec<ClientGrant>, u64)>;
    /// Replaces the grant's scopes; returns whether it exists.
    async fn update_client_grant(&self, id: &str, scope: &[String]) -> Result<bool>;
    async fn delete_client_grant(&self, id: &str) -> Result<bool>;
}

/// User accounts.
#[async_trait]
pub trait UserStore: Send + Sync {
    async fn insert_user(&self, user: &User) -> Result<()>;
    async fn user(&self, user_id: &str) -> Result<Option<User>>;
    /// The users among `user_ids` that exist, in no particular order: one read for a page of
    /// log events, whatever the number of users it names.
    async fn users_by_id(&self, user_ids: &[String]) -> Result<Vec<User>>;
    async fn user_by_email(&self, email: &str) -> Result<Option<User>>;
    /// Blocks or unblocks; blocking also ends the user's sessions and revokes their families.
    async fn set_user_blocked(&self, user_id: &str, blocked: bool, now: UnixTime) -> Result<bool>;
    /// Deletes the user, their sessions and grants, and revokes their families.
    async fn delete_user(&self, user_id: &str, now: UnixTime) -> Result<bool>;
    /// One page of the users matching `filter`, in `user_id` order: those after `window.after`
    /// (a keyset cursor, so the last page of a long listing costs what the first does), skipping
    /// `window.offset`, at most `window.limit`; with the number of matching users.
    async fn users(&self, filter: &UserFilter, window: &Window) -> Result<(Vec<User>, u64)>;
    /// Replaces the profile of `user.user_id`: email, name, password hash, `email_verified`,
    /// `admin`, both metadata objects and `updated_at` (not `blocked`, see [`Self::set_user_blocked`],
    /// nor the sign-in counters). Returns whether the user exists; a taken email is a conflict.
    async fn update_user(&self, user: &User) -> Result<bool>;
    /// Records a successful sign-in: `last_login`, `last_ip`, `logins_count + 1`.
    async fn record_login(&self, user_id: &str, now: UnixTime, ip: Option<&str>) -> Result<()>;
}

/// Browser sessions at the authorization server (the SSO cookie).
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, session: &Session) -> Result<()>;
    async fn session(&self, id_hash: &str) -> Result<Option<Session>>;
    /// Renews the idle deadline (capped by the absolute expiry) and records the interaction.
    async fn touch_session(&self, id_hash: &str, idle_expires_at: UnixTime, now: UnixTime) -> Result<()>;
    /// Ends a session (logout). With `revoke_families`, the families born in it and the grants
    /// authorized in it are revoked too.
    async fn delete_session(&self, id_hash: &str, revoke_families: bool, now: UnixTime) -> Result<bool>;
    /// The session whose public id is `sid`.
    async fn session_by_sid(&self, sid: &str) -> Result<Option<Session>>;
    /// Up to `limit` sessions of `user_id` in `sid` order, those after `after` (keyset paging).
    async fn sessions_of(&self, user_id: &str, after: Option<&str>, limit: u32) -> Result<Vec<Session>>;
    /// The clients that families were issued to in session `id_hash`, in id order.
    async fn session_clients(&self, id_hash: &str) -> Result<Vec<String>>;
    /// Ends every session of `user_id` (their families are kept); returns how many.
    async fn delete_sessions_of(&self, user_id: &str) -> Result<u64>;
    /// How many sessions are live at `now` (neither absolute nor idle expiry reached).
    async fn count_live_sessions(&self, now: UnixTime) -> Result<u64>;
}

/// Authorization codes and the grants they start.
#[async_trait]
pub trait GrantStore: Send + Sync {
    async fn insert_code(&self, code: &AuthCode, now: UnixTime) -> Result<()>;
    /// Marks the code used, atomically: exactly one caller gets `Fresh`.
    async fn redeem_code(&self, code_hash: &str, now: UnixTime) -> Result<Redemption>;
    /// Revokes a grant: the families issued from it and its opaque access tokens.
    async fn revoke_grant(&self, grant_id: &str, now: UnixTime) -> Result<()>;
    /// Whether the access tokens minted from the grant are still good: the grant is known, not
    /// revoked, and no refresh-token family issued from it is revoked (however it died).
    async fn grant_is_live(&self, grant_id: &str) -> Result<bool>;
}

/// Refresh-token families (DESIGN §4): one row per family, whatever the number of rotations.
#[async_trait]
pub trait FamilyStore: Send + Sync {
    /// Stores a new family; `seen` is where it was issued (its first and last device).
    async fn insert_family(&self, family: &Family, seen: &Seen) -> Result<()>;
    /// Inserts `families` in one transaction, as they are (no device recorded): bulk loads, such
    /// as seeding a benchmark or importing from another server. Fails as a whole on a conflict.
    async fn import_families(&self, families: &[Family]) -> Result<()>;
    async fn family(&self, id: &FamilyId) -> Result<Option<Family>>;
    /// The rotation write, one conditional statement: `counter` goes from `r.from` to
    /// `r.from + 1` only if it is still `r.from` and the family is live, rotating, issued to
    /// `r.client_id` and unexpired at `r.now` (the conditions under which
    /// `ratchet_core::family::assess` decides `Rotate`); `rotated_at` becomes `now`, the idle
    /// deadline `r.idle_expires_at` capped by the absolute expiry, and the last device `r.seen`.
    /// Returns the family as written with its user and API, or `None` when the conditions do not
    /// hold (a lost race, or a case for the full decision). Of N concurrent callers with the same
    /// `from`, exactly one gets `Some`.
    ///
    /// DPoP (RFC 9449): a family bound to a key (`jkt`) rotates only with `r.dpop`, a proof by
    /// that key, and the same write spends the proof in the replay cache; a proof already spent
    /// fails the whole write with `Conflict(REPLAYED_PROOF)`, leaving the family as it was.
    ///
    /// Concurrent calls are committed together (group commit, see [`group_commit`]): the result
    /// is delivered only once the commit carrying it succeeded.
    async fn rotate(&self, r: &Rotation<'_>) -> Result<Option<Rotated>>;
    /// How rotations have been grouped into commits since the store was opened.
    fn rotation_batches(&self) -> RotationBatches;
    /// Records an exchange that does not rotate (a non-rotating family): the idle deadline, the
    /// time and the device.
    async fn touch_family(&self, id: &FamilyId, now: UnixTime, idle_expires_at: Option<UnixTime>, seen: &Seen) -> Result<()>;
    /// Revokes one family; returns whether it was live until now.
    async fn revoke_family(&self, id: &FamilyId, now: UnixTime) -> Result<bool>;
    /// Revokes the live families matching every condition of `filter`; returns how many. An
    /// empty filter is refused ([`EMPTY_FAMILY_FILTER`]) and revokes nothing.
    async fn revoke_families(&self, filter: &FamilyFilter, now: UnixTime) -> Result<u64>;
    /// Revokes the live families among `ids`; returns those this call revoked, as written.
    async fn revoke_family_ids(&self, ids: &[FamilyId], now: UnixTime) -> Result<Vec<Family>>;
    /// One family with its devices.
    async fn family_record(&self, id: &FamilyId) -> Result<Option<FamilyRecord>>;
    /// Up to `limit` families of `user_id` that are live at `now`, in family-id order, those
    /// after `after` (keyset paging on the `(user_id, family_id)` index).
    async fn families_of(&self, user_id: &str, after: Option<&FamilyId>, now: UnixTime, limit: u32) -> Result<Vec<FamilyRecord>>;
    /// How many families are live at `now` (not revoked, neither expiry reached): the refresh
    /// tokens that can still be exchanged, one per family whatever its rotations.
    async fn count_live_families(&self, now: UnixTime) -> Result<u64>;
    /// Revokes the oldest live families of `user_id` at `client_id` beyond the newest `keep`.
    /// `spare` (the family just issued) is never revoked and counts as one of the `keep`: ages are
    /// whole seconds, so "newest" alone cannot tell it from families born in the same second.
    async fn evict_families(&self, user_id: &str, client_id: &str, keep: u32, spare: Option<&FamilyId>, now: UnixTime) -> Result<u64>;
}

/// The audit trail.
#[async_trait]
pub trait EventStore: Send + Sync {
    async fn record(&self, event: &Event) -> Result<()>;
    /// Records several events at once (one transaction where the engine has them).
    async fn record_many(&self, events: &[Event]) -> Result<()> {
        for e in events {
            self.record(e).await?;
        }
        Ok(())
    }
    /// One page of the audit trail (see [`LogQuery`]), paged in the database.
    async fn logs(&self, query: &LogQuery) -> Result<Vec<Logged>>;
    /// How many events `filter` selects.
    async fn count_logs(&self, filter: &LogFilter) -> Result<u64>;
    /// One event by its log id (`None` for an unknown or malformed id).
    async fn log(&self, log_id: &str) -> Result<Option<Logged>>;
    /// How many distinct existing users have an event of type `kind` at or after `since` (active
    /// users: `s`, successful logins).
    async fn count_event_users(&self, kind: &str, since: UnixTime) -> Result<u64>;
    /// The newest events (see [`EventQuery`]).
    async fn events(&self, q: &EventQuery) -> Result<Vec<Event>> {
        let query = LogQuery {
            filter: LogFilter { kind: q.kind.clone(), user_id: q.user_id.clone(), ..LogFilter::default() },
            limit: if q.limit == 0 { 100 } else { q.limit },
            ..LogQuery::default()
        };
        Ok(self.logs(&query).await?.into_iter().map(|l| l.event).collect())
    }
}

/// The whole storage port: one part per aggregate, plus what spans them. Every method is atomic
/// on its own.
#[async_trait]
pub trait Store:
    SecretStore
    + ClientStore
    + ApiStore
    + ClientGrantStore
    + UserStore
    + SessionStore
    + GrantStore
    + FamilyStore
    + EventStore
    + DpopReplayCache
    + LoginAttemptStore
    + Send
    + Sync
    + 'static
{
    /// Cheap round trip to the database (readiness).
    async fn ping(&self) -> Result<()>;
    /// Deletes what can never be used again: expired codes and sessions, families revoked or
    /// expired for more than `grace` seconds, grants older than `grace` with no family or code
    /// left (so `grace` must cover the opaque access-token lifetime), and audit events older than
    /// [`EVENT_RETENTION`], expired entries of the DPoP replay cache and sign-in attempt counters
    /// whose window is over.
    async fn purge(&self, now: UnixTime, grace: i64) -> Result<u64>;
}

/// Opens the store named by `url`: `sqlite://path` (created and migrated if missing) or
/// `postgres://user@host:port/db` (also `postgresql://`; the database must exist, it is migrated).
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        return Ok(std::sync::Arc::new(sqlite::SqliteStore::open(url).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(std::sync::Arc::new(postgres::PostgresStore::open(url).await?));
    }
    Err(StoreError::Other(format!("unsupported database URL (expected sqlite://… or postgres://…): {}", redact_url(url))))
}

/// A database URL with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((creds, host)) => match creds.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => url.to_string(),
            },
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The storage traits, for `use ratchet_store::prelude::*` where a `dyn Store` is called.
pub mod prelude {
    pub use crate::{
        ApiStore, ClientGrantStore, ClientStore, DpopReplayCache, EventStore, FamilyStore, GrantStore, LoginAttemptStore, SecretStore,
        SessionStore, Store, UserStore,
    };
}

/// A bound value of a statement built at run time.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
}

impl LogFilter {
    /// The `WHERE` clause (`"1=1"` when empty) selecting this filter's events, plus the keyset
    /// bound `after` in `order`, and its parameters; `placeholder(n)` spells the n-th (1-based)
    /// parameter in the engine's syntax. Only the conditions given appear, so each query can use
    /// the index of its most selective column (`type`, `user_id`, `client_id`, `at`).
    pub(crate) fn where_clause(&self, after: Option<(i64, LogOrder)>, placeholder: impl Fn(usize) -> String) -> (String, Vec<Param>) {
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        let mut add = |column: &str, op: &str, p: Param| {
            params.push(p);
            conditions.push(format!("{column} {op} {}", placeholder(params.len())));
        };
        if let Some(k) = &self.kind {
            add("type", "=", Param::Text(k.clone()));
        }
        if let Some(u) = &self.user_id {
            add("user_id", "=", Param::Text(u.clone()));
        }
        if let Some(c) = &self.client_id {
            add("client_id", "=", Param::Text(c.clone()));
        }
        if let Some(t) = self.since {
            add("at", ">=", Param::Int(t));
        }
        if let Some(t) = self.until {
            add("at", "<=", Param::Int(t));
        }
        match after {
            Some((id, LogOrder::NewestFirst)) => add("id", "<", Param::Int(id)),
            Some((id, LogOrder::OldestFirst)) => add("id", ">", Param::Int(id)),
            None => {}
        }
        let clause = if conditions.is_empty() { "1=1".to_string() } else { conditions.join(" AND ") };
        (clause, params)
    }
}

impl LogOrder {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            LogOrder::NewestFirst => "id DESC",
            LogOrder::OldestFirst => "id ASC",
        }
    }
}
