//! The management layer (DESIGN §7): every operator action — on applications, APIs, client
//! grants, users, sessions, refresh tokens and the audit trail — is a method of one of the small
//! services below. They own validation, id and secret generation, cascades and audit events, and
//! take typed inputs; their edges (the CLI, the Auth0-compatible `/api/v2` in
//! `http/management`, the admin console through `/api/v2`) only parse, call and map
//! [`ManageError`] to their own error shape.

use std::sync::Arc;

use ratchet_core::CoreError;
use ratchet_core::audit::EventType;
use ratchet_store::{Event, Store, StoreError, Window};
use serde_json::Value;

use crate::clock::Clock;

pub mod apis;
pub mod client_grants;
pub mod clients;
pub mod console;
pub mod logs;
pub mod refresh_tokens;
pub mod sessions;
pub mod users;

/// What a management operation can fail with; each edge maps it (Auth0's management body for
/// `/api/v2`, a message and exit code for the CLI).
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// The input breaks a rule; the message names the field or term.
    #[error("{0}")]
    Invalid(String),
    #[error("{} does not exist", .0.noun())]
    NotFound(Resource),
    /// A uniqueness rule: the message says which.
    #[error("{0}")]
    Conflict(String),
    /// The operation is not allowed on this object (e.g. changing a system API).
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ManageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ManageError::Conflict(m),
            other => ManageError::Store(other),
        }
    }
}

impl From<CoreError> for ManageError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid(m) => ManageError::Invalid(m),
            CoreError::Crypto(m) => ManageError::Store(StoreError::Other(format!("crypto failure: {m}"))),
        }
    }
}

/// The kinds of object the management layer manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Client,
    ResourceServer,
    ClientGrant,
    User,
    RefreshToken,
    Session,
    Log,
}

impl Resource {
    /// Auth0's `errorCode` for a missing object of this kind.
    pub fn error_code(self) -> &'static str {
        match self {
            Resource::Client => "inexistent_client",
            Resource::ResourceServer => "inexistent_resource_server",
            Resource::ClientGrant => "inexistent_client_grant",
            Resource::User => "inexistent_user",
            Resource::RefreshToken => "inexistent_refresh_token",
            Resource::Session => "inexistent_session",
            Resource::Log => "inexistent_log",
        }
    }

    /// How messages name it.
    pub fn noun(self) -> &'static str {
        match self {
            Resource::Client => "The client",
            Resource::ResourceServer => "The resource server",
            Resource::ClientGrant => "The client grant",
            Resource::User => "The user",
            Resource::RefreshToken => "The refresh token",
            Resource::Session => "The session",
            Resource::Log => "The log event",
        }
    }
}

pub type ManageResult<T> = Result<T, ManageError>;

/// Most items one page may hold, and the default (Auth0's).
pub const MAX_PER_PAGE: u32 = 100;
pub const DEFAULT_PER_PAGE: u32 = 50;

/// Offset paging: page `page` (0-based) of `per_page` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: u32,
    pub per_page: u32,
}

impl Page {
    /// Validates the numbers (`per_page` 1..=100).
    pub fn new(page: u32, per_page: u32) -> ManageResult<Page> {
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ManageError::Invalid(format!("per_page must be between 1 and {MAX_PER_PAGE}")));
        }
        Ok(Page { page, per_page })
    }
    pub fn offset(self) -> u64 {
        u64::from(self.page) * u64::from(self.per_page)
    }
}

impl Default for Page {
    fn default() -> Self {
        Page { page: 0, per_page: DEFAULT_PER_PAGE }
    }
}

/// One page of a listing and the number of items in all pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub total: u64,
}

impl<T> Listed<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Listed<U> {
        Listed { items: self.items.into_iter().map(f).collect(), total: self.total }
    }
}

/// Checkpoint paging: up to `take` items after the cursor `from` (opaque to callers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub from: Option<String>,
    pub take: u32,
}

impl Checkpoint {
    /// Validates `take` (1..=100).
    pub fn new(from: Option<String>, take: u32) -> ManageResult<Checkpoint> {
        if !(1..=MAX_PER_PAGE).contains(&take) {
            return Err(ManageError::Invalid(format!("take must be between 1 and {MAX_PER_PAGE}")));
        }
        Ok(Checkpoint { from: from.filter(|f| !f.is_empty()), take })
    }
}

impl Checkpoint {
    /// The store window this checkpoint reads.
    pub fn window(&self) -> Window {
        Window { after: self.from.clone(), offset: 0, limit: self.take }
    }

    /// The chunk of `items` read through [`Self::window`]: a full chunk may have a successor,
    /// whose cursor is the id (`key`) of its last item.
    pub fn chunk<T>(&self, items: Vec<T>, key: impl Fn(&T) -> String) -> Chunk<T> {
        let next = if items.len() == self.take as usize { items.last().map(key) } else { None };
        Chunk { items, next }
    }
}

impl Default for Checkpoint {
    fn default() -> Self {
        Checkpoint { from: None, take: DEFAULT_PER_PAGE }
    }
}

/// Items after a checkpoint and the cursor of the next chunk (`None` at the end).
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Who asked for an operation, for the audit trail: a client of the Management API, or the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Client(String),
    Cli,
}

/// Writes one audit event now (management operations are rare; they do not need batching).
pub async fn audit(
    store: &dyn Store,
    at: i64,
    kind: EventType,
    description: &str,
    client_id: Option<&str>,
    user_id: Option<&str>,
    details: Value,
) -> ManageResult<()> {
    let seen = crate::service::audit::current_seen();
    let event = Event {
        at,
        kind: kind.code().to_string(),
        client_id: client_id.map(str::to_string),
        user_id: user_id.map(str::to_string),
        description: description.to_string(),
        details,
        ip: seen.ip,
        user_agent: seen.user_agent,
    };
    store.record(&event).await.map_err(ManageError::from)
}

/// The management services of one node (or one CLI invocation). Cheap to clone.
#[derive(Clone)]
pub struct Management {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// The issuer, with its trailing slash (the Management API's identifier derives from it).
    pub issuer: url::Url,
    pub clients: clients::ClientService,
    pub apis: apis::ApiService,
    pub client_grants: client_grants::ClientGrantService,
    pub users: users::UserService,
    pub refresh_tokens: refresh_tokens::RefreshTokenService,
    pub sessions: sessions::SessionService,
    pub logs: logs::LogService,
    /// Lifetime (seconds) of the admin console's access tokens (see [`console::CONSOLE_TOKEN_LIFETIME`]).
    pub console_token_lifetime: u32,
}

impl Management {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, issuer: url::Url) -> Self {
        let apis = apis::ApiService::new(store.clone(), clock.clone(), issuer.clone());
        Management {
            clients: clients::ClientService::new(store.clone(), clock.clone(), false),
            client_grants: client_grants::ClientGrantService::new(store.clone(), clock.clone(), apis.clone()),
            apis,
            users: users::UserService::new(store.clone(), clock.clone()),
            refresh_tokens: refresh_tokens::RefreshTokenService::new(store.clone(), clock.clone(), &issuer),
            sessions: sessions::SessionService::new(store.clone(), clock.clone()),
            logs: logs::LogService::new(store.clone(), clock.clone()),
            console_token_lifetime: console::CONSOLE_TOKEN_LIFETIME,
            store,
            clock,
            issuer,
        }
    }

    /// The same services, accepting (or not) http callbacks on hosts other than loopback.
    pub fn allowing_insecure_callbacks(mut self, allow: bool) -> Self {
        self.clients = clients::ClientService::new(self.store.clone(), self.clock.clone(), allow);
        self
    }
}

/// The Management API's own identifier: `{issuer}api/v2/`.
pub fn management_identifier(issuer: &url::Url) -> String {
    format!("{issuer}api/v2/")
}

/// Whether `audience` names the Management API: its identifier, or `https://{host[:port]}/api/v2/`
/// for the same host and port, which Auth0's SDKs ask for whatever the issuer's scheme.
pub fn is_management_audience(issuer: &url::Url, audience: &str) -> bool {
    if audience == management_identifier(issuer) {
        return true;
    }
    let Some(host) = issuer.host_str() else { return false };
    let authority = match issuer.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    audience == format!("https://{authority}/api/v2/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_management_api_answers_to_its_identifier_and_the_https_form_sdks_ask_for() {
        let issuer = url::Url::parse("http://127.0.0.1:3000/").unwrap();
        assert!(is_management_audience(&issuer, "http://127.0.0.1:3000/api/v2/"));
        assert!(is_management_audience(&issuer, "https://127.0.0.1:3000/api/v2/"));
        assert!(!is_management_audience(&issuer, "https://127.0.0.1:3001/api/v2/"));
        assert!(!is_management_audience(&issuer, "https://127.0.0.1:3000/api/v2"));
        assert!(!is_management_audience(&issuer, "https://evil.example/api/v2/"));
    }

    #[test]
    fn paging_numbers_are_bounded() {
        assert!(Page::new(0, 0).is_err());
        assert!(Page::new(0, 101).is_err());
        assert_eq!(Page::new(3, 20).unwrap().offset(), 60);
        assert!(Checkpoint::new(None, 0).is_err());
        assert_eq!(Checkpoint::new(Some(String::new()), 5).unwrap().from, None);
    }
}
