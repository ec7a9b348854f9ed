//! The catalog cache: clients (by `client_id`) and APIs (by identifier) kept in process memory, so
//! the lookups on the request path (client authentication at the token endpoint, RFC 6749
//! §2.3.1; the client at `/authorize`, RFC 6749 §4.1.1; the API of a `client_credentials` or
//! multi-resource refresh request) cost no database round trip.
//!
//! Why it is safe: every engine drops an entry when the row changes, and a bound on how stale an
//! entry can be holds on every node (docs/deploy.md, "Caching of clients and APIs"):
//! - writes made through this store handle invalidate their entry directly, after the write;
//! - writes made elsewhere are seen through the engine's change signal: PostgreSQL's
//!   `NOTIFY ratchet_catalog, '<kind>:<key>'`, sent by triggers on `clients` and `apis` (so any
//!   writer, another node, the CLI or `psql`, is covered) and received on a dedicated `LISTEN`
//!   connection; SQLite's `PRAGMA data_version`, which changes when another connection (the CLI
//!   process) commits. While no change signal can be trusted (before the `LISTEN` is established,
//!   after its connection is lost), the cache is empty and bypassed ([`CatalogCache::suspend`]);
//! - an entry older than [`MAX_ENTRY_AGE`] is never served, whatever the signals say.
//!
//! A read that starts before an invalidation and finishes after it must not put the value it read
//! (possibly the old one) back: each read takes a [`Ticket`] (the invalidation generation) before
//! going to the database, and its result is kept only if no invalidation happened since.
//! Unknown clients and APIs are never cached (a client created on another node is usable at once).
//!
//! This module is the engine-independent logic; time comes in as an argument.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ratchet_core::client::Api;

use crate::StoredClient;

/// The longest an entry is served after it was read from the database: the backstop bound on
/// staleness should a change signal ever be missed.
pub const MAX_ENTRY_AGE: Duration = Duration::from_secs(60);

/// The PostgreSQL notification channel on which changes to clients and APIs are announced.
pub const CHANNEL: &str = "ratchet_catalog";

/// Which entries a change affects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// The client with this `client_id`.
    Client(String),
    /// The API with this identifier or id (both are unique; the identifier never changes).
    Api(String),
    /// Everything (an unrecognised signal, or one that does not say what changed).
    All,
}

impl Invalidation {
    /// Reads a `ratchet_catalog` notification payload: `client:<client_id>` or
    /// `api:<identifier>`. Anything else invalidates everything (a safe default).
    pub fn from_payload(payload: &str) -> Invalidation {
        match payload.split_once(':') {
            Some(("client", id)) => Invalidation::Client(id.to_string()),
            Some(("api", identifier)) => Invalidation::Api(identifier.to_string()),
            _ => Invalidation::All,
        }
    }
}

/// The invalidation generation seen when a database read started (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

struct Entry<T> {
    value: T,
    read_at: Instant,
}

impl<T: Clone> Entry<T> {
    fn fresh(&self, now: Instant) -> Option<T> {
        (now.saturating_duration_since(self.read_at) < MAX_ENTRY_AGE).then(|| self.value.clone())
    }
}

#[derive(Default)]
struct State {
    /// Whether changes made elsewhere are being signalled; when not, nothing is served or kept.
    trusted: bool,
    generation: u64,
    /// The last change counter the engine reported (SQLite's `data_version`).
    version: Option<i64>,
    clients: HashMap<String, Entry<StoredClient>>,
    /// Keyed by identifier.
    apis: HashMap<String, Entry<Api>>,
}

impl State {
    fn clear(&mut self) {
        self.generation += 1;
        self.clients.clear();
        self.apis.clear();
    }
}

/// Clients and APIs read recently, with the rules of the module docs.
pub struct CatalogCache {
    state: Mutex<State>,
}

impl std::fmt::Debug for CatalogCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("CatalogCache").field("trusted", &s.trusted).field("clients", &s.clients.len()).field("apis", &s.apis.len()).finish()
    }
}

impl CatalogCache {
    /// An empty cache; `trusted`: whether changes made elsewhere are signalled from the start
    /// (SQLite) or only once a listener says so with [`Self::resume`] (PostgreSQL).
    pub fn new(trusted: bool) -> CatalogCache {
        CatalogCache { state: Mutex::new(State { trusted, ..State::default() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every critical section leaves the state consistent: a panic elsewhere poisons nothing.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached client, unless absent, older than [`MAX_ENTRY_AGE`] at `now`, or not trusted.
    pub fn client(&self, client_id: &str, now: Instant) -> Option<StoredClient> {
        let s = self.lock();
        if !s.trusted {
            return None;
        }
        s.clients.get(client_id)?.fresh(now)
    }

    /// The cached API with this identifier, on the same terms as [`Self::client`].
    pub fn api(&self, identifier: &str, now: Instant) -> Option<Api> {
        let s = self.lock();
        if !s.trusted {
            return None;
        }
        s.apis.get(identifier)?.fresh(now)
    }

    /// To take before reading from the database what may then be [`Self::put_client`] or
    /// [`Self::put_api`].
    pub fn ticket(&self) -> Ticket {
        Ticket(self.lock().generation)
    }

    /// Keeps a client read from the database with `ticket` taken at `read_at`, unless an
    /// invalidation happened since or the cache is not trusted.
    pub fn put_client(&self, ticket: Ticket, client: StoredClient, read_at: Instant) {
        let mut s = self.lock();
        if s.trusted && s.generation == ticket.0 {
            s.clients.insert(client.client.client_id.clone(), Entry { value: client, read_at });
        }
    }

    /// As [`Self::put_client`], for an API.
    pub fn put_api(&self, ticket: Ticket, api: Api, read_at: Instant) {
        let mut s = self.lock();
        if s.trusted && s.generation == ticket.0 {
            s.apis.insert(api.identifier.clone(), Entry { value: api, read_at });
        }
    }

    /// Drops what `change` names; reads in flight keep nothing.
    pub fn invalidate(&self, change: &Invalidation) {
        let mut s = self.lock();
        s.generation += 1;
        match change {
            Invalidation::Client(id) => {
                s.clients.remove(id);
            }
            Invalidation::Api(key) => s.apis.retain(|identifier, e| identifier != key && e.value.id != *key),
            Invalidation::All => s.clear(),
        }
    }

    /// The change signal is lost (the listener's connection dropped): empty and bypass the cache
    /// until [`Self::resume`].
    pub fn suspend(&self) {
        let mut s = self.lock();
        s.trusted = false;
        s.clear();
    }

    /// The change signal works again: start caching afresh (whatever changed meanwhile was never
    /// kept, since nothing was).
    pub fn resume(&self) {
        let mut s = self.lock();
        s.clear();
        s.trusted = true;
    }

    /// Whether entries are served and kept.
    pub fn is_trusted(&self) -> bool {
        self.lock().trusted
    }

    /// Records the engine's change counter (SQLite's `PRAGMA data_version`): when it differs from
    /// the last one seen, another connection committed something, so everything is dropped.
    pub fn observe_version(&self, version: i64) {
        let mut s = self.lock();
        if s.version != Some(version) {
            if s.version.is_some() {
                s.clear();
            }
            s.version = Some(version);
        }
    }

    /// How many clients and APIs are cached (tests, diagnostics).
    pub fn len(&self) -> (usize, usize) {
        let s = self.lock();
        (s.clients.len(), s.apis.len())
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

#[cfg(test)]
mod tests {
    use ratchet_core::client::{Client, NewClient};

    use super::*;

    fn stored(id: &str, name: &str) -> StoredClient {
        let new = NewClient { name: name.into(), app_type: None, callbacks: vec![], logout_urls: vec![], web_origins: vec![] };
        StoredClient { client: Client::new(id.into(), new, 0).unwrap(), secret_hash: Some("h".into()) }
    }

    fn api(id: &str, identifier: &str) -> Api {
        Api {
            id: id.into(),
            name: identifier.into(),
            identifier: identifier.into(),
            allow_offline_access: false,
            token_lifetime: 86_400,
            scopes: vec![],
            signing_alg: Default::default(),
        }
    }

    fn at(base: Instant, secs: u64) -> Instant {
        base + Duration::from_secs(secs)
    }

    #[test]
    fn a_kept_client_is_served_until_its_maximum_age() {
        let cache = CatalogCache::new(true);
        let t0 = Instant::now();
        cache.put_client(cache.ticket(), stored("c1", "one"), t0);
        assert_eq!(cache.client("c1", at(t0, 59)).unwrap().client.name, "one");
        assert!(cache.client("c1", t0 + MAX_ENTRY_AGE).is_none(), "an entry is never served at or past its maximum age");
        assert!(cache.client("other", t0).is_none());
    }

    #[test]
    fn an_invalidated_client_is_read_again() {
        let cache = CatalogCache::new(true);
        let t0 = Instant::now();
        cache.put_client(cache.ticket(), stored("c1", "one"), t0);
        cache.put_client(cache.ticket(), stored("c2", "two"), t0);
        cache.invalidate(&Invalidation::Client("c1".into()));
        assert!(cache.client("c1", t0).is_none());
        assert!(cache.client("c2", t0).is_some(), "only the named client is dropped");
    }

    #[test]
    fn a_read_overtaken_by_an_invalidation_keeps_nothing() {
        let cache = CatalogCache::new(true);
        let t0 = Instant::now();
        let ticket = cache.ticket();
        // The change commits and is signalled while the read is in flight.
        cache.invalidate(&Invalidation::Client("c1".into()));
        cache.put_client(ticket, stored("c1", "old"), t0);
        assert!(cache.client("c1", t0).is_none(), "the possibly old value read before the change is not kept");
        cache.put_client(cache.ticket(), stored("c1", "new"), t0);
        assert_eq!(cache.client("c1", t0).unwrap().client.name, "new");
    }

    #[test]
    fn an_api_is_invalidated_by_identifier_or_by_id() {
        let cache = CatalogCache::new(true);
        let t0 = Instant::now();
        cache.put_api(cache.ticket(), api("id1", "https://one/"), t0);
        cache.put_api(cache.ticket(), api("id2", "https://two/"), t0);
        assert_eq!(cache.api("https://one/", t0).unwrap().id, "id1");
        cache.invalidate(&Invalidation::Api("https://one/".into()));
        assert!(cache.api("https://one/", t0).is_none());
        cache.invalidate(&Invalidation::Api("id2".into()));
        assert!(cache.api("https://two/", t0).is_none());
    }

    #[test]
    fn an_untrusted_cache_serves_and_keeps_nothing_until_resumed() {
        let cache = CatalogCache::new(false);
        let t0 = Instant::now();
        cache.put_client(cache.ticket(), stored("c1", "one"), t0);
        assert!(cache.client("c1", t0).is_none());
        cache.resume();
        cache.put_client(cache.ticket(), stored("c1", "one"), t0);
        assert!(cache.client("c1", t0).is_some());
    }

    #[test]
    fn cache_is_emptied_and_bypassed_when_the_signal_is_lost() {
        let cache = CatalogCache::new(false);
        let t0 = Instant::now();
        cache.resume();
        cache.put_client(cache.ticket(), stored("c1", "one"), t0);
        let in_flight = cache.ticket();
        cache.suspend();
        assert!(cache.is_empty());
        assert!(cache.client("c1", t0).is_none());
        cache.resume();
        cache.put_client(in_flight, stored("c1", "read while the signal was lost"), t0);
        assert!(cache.client("c1", t0).is_none(), "a read from before the loss is not kept after the signal returns");
    }

    #[test]
    fn a_changed_data_version_empties_the_cache() {
        let cache = CatalogCache::new(true);
        let t0 = Instant::now();
        cache.observe_version(1);
        cache.put_client(cache.ticket(), stored("c1", "one"), t0);
        cache.observe_version(1);
        assert!(cache.client("c1", t0).is_some(), "an unchanged version keeps the entries");
        cache.observe_version(2);
        assert!(cache.client("c1", t0).is_none());
    }

    #[test]
    fn notification_payloads_name_what_changed() {
        assert_eq!(Invalidation::from_payload("client:abc"), Invalidation::Client("abc".into()));
        assert_eq!(
            Invalidation::from_payload("api:https://api.example.com/v1:x"),
            Invalidation::Api("https://api.example.com/v1:x".into())
        );
        assert_eq!(Invalidation::from_payload("something else"), Invalidation::All);
        assert_eq!(Invalidation::from_payload("user:u1"), Invalidation::All);
    }
}
