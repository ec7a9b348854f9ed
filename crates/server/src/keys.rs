//! Server keys: the signing keys (one of each type: RSA for RS256/PS256, P-256 for ES256,
//! Ed25519 for EdDSA) and the refresh-token MAC keys live in the store, sealed
//! under the master key, so every node of a deployment shares them. Each node holds a parsed
//! snapshot ([`KeySet`]) that a background task rebuilds from the store every few seconds, so a
//! rotation made on any node (or with `ratchet keys`) reaches every node without a restart.
//! Request handling never touches key material in serialised form.
//!
//! A key carries the time it starts issuing (`activates_at`): a rotation publishes the next key
//! that long before it signs anything, so every node, and every relying party that caches the
//! JWKS, knows it before the first token made with it arrives (docs/security.md, "Key rotation").
//! Each signing key type is a kind of its own with its own rotation, so one type's rotation never
//! disturbs the tokens another signs; a store from before a type existed gets its first key of
//! that type at the next start, active at once (no client or API can be using it yet).

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, bail};
use ratchet_core::crypto::MasterKey;
use ratchet_core::family::{MacKey, TokenCodec};
use ratchet_core::jws::{KeyType, SigningAlg, SigningKey};
use ratchet_store::{ServerSecret, Store};
use serde::Serialize;
use serde_json::Value;

use crate::app::AppState;

/// What a server key is for; its name is the `kind` of its store rows and its sealing purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    /// RSA keys signing ID tokens and JWT access tokens with RS256 or PS256, published in the JWKS.
    Signing,
    /// P-256 keys signing with ES256, published in the JWKS.
    SigningEc,
    /// Ed25519 keys signing with EdDSA, published in the JWKS.
    SigningEd,
    /// HMAC keys authenticating refresh tokens (each token names its key).
    Refresh,
}

impl KeyKind {
    /// Every kind, in the order `ratchet keys list` shows them.
    pub const ALL: [KeyKind; 4] = [KeyKind::Signing, KeyKind::SigningEc, KeyKind::SigningEd, KeyKind::Refresh];

    pub fn store_kind(self) -> &'static str {
        match self {
            KeyKind::Signing => "signing-key",
            KeyKind::SigningEc => "signing-key-p256",
            KeyKind::SigningEd => "signing-key-ed25519",
            KeyKind::Refresh => "refresh-mac-key",
        }
    }

    /// The kind's name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Signing => "signing",
            KeyKind::SigningEc => "signing-ec",
            KeyKind::SigningEd => "signing-ed",
            KeyKind::Refresh => "refresh",
        }
    }

    /// The type of signing key of this kind; `None` for MAC keys.
    pub fn key_type(self) -> Option<KeyType> {
        match self {
            KeyKind::Signing => Some(KeyType::Rsa),
            KeyKind::SigningEc => Some(KeyType::P256),
            KeyKind::SigningEd => Some(KeyType::Ed25519),
            KeyKind::Refresh => None,
        }
    }

    /// The kind holding the signing keys of `key_type`.
    pub fn signing(key_type: KeyType) -> Self {
        match key_type {
            KeyType::Rsa => KeyKind::Signing,
            KeyType::P256 => KeyKind::SigningEc,
            KeyType::Ed25519 => KeyKind::SigningEd,
        }
    }
}

/// The secret the keys of login transactions, opaque access tokens and DPoP nonces are derived
/// from. It is never rotated with the refresh-token MAC keys, so a MAC rotation breaks neither an
/// in-flight login, nor a live opaque access token, nor a nonce.
const INTERNAL: &str = "internal-mac-key";

/// Where a key is in its life at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published (signing) or known (refresh) but not issuing yet.
    Next,
    /// Issues new tokens.
    Active,
    /// Superseded: verifies what it issued, issues nothing.
    Retiring,
    /// Gone: its material is erased.
    Revoked,
}

/// The state of each of `rows` (all the keys of one kind) at `now`, in the same order. The active
/// key is the live one that activated last; `None` if no live key has activated.
pub fn states(rows: &[ServerSecret], now: i64) -> Option<Vec<KeyState>> {
    let active = rows.iter().filter(|r| r.revoked_at.is_none() && r.activates_at <= now).max_by_key(|r| (r.activates_at, r.kid))?.kid;
    Some(
        rows.iter()
            .map(|r| match r {
                r if r.revoked_at.is_some() => KeyState::Revoked,
                r if r.kid == active => KeyState::Active,
                r if r.activates_at > now => KeyState::Next,
                _ => KeyState::Retiring,
            })
            .collect(),
    )
}

/// When `row` stopped issuing at `now`: the activation of the first key that activated after it.
pub fn superseded_at(rows: &[ServerSecret], row: &ServerSecret, now: i64) -> Option<i64> {
    rows.iter().filter(|r| (r.activates_at, r.kid) > (row.activates_at, row.kid) && r.activates_at <= now).map(|r| r.activates_at).min()
}

/// The published signing keys of every type: the active one of a type signs with that type's
/// algorithms; any of them verifies.
pub struct SigningKeys {
    published: Vec<SigningKey>,
    /// The index in `published` of the active key of each type, in [`KeyType::ALL`] order.
    active: [usize; 3],
}

impl SigningKeys {
    /// The active key of `key_type`.
    pub fn active(&self, key_type: KeyType) -> &SigningKey {
        let i = KeyType::ALL.iter().position(|t| *t == key_type).expect("every key type is in ALL");
        &self.published[self.active[i]]
    }

    /// Signs `claims` with `alg` by the active key of its type.
    pub fn sign(&self, alg: SigningAlg, claims: &Value) -> Result<String, ratchet_core::CoreError> {
        self.active(alg.key_type()).sign(alg, claims)
    }

    /// The claims of a compact JWS made by any published key (each key checks the header, which
    /// names its kid, before it checks a signature).
    pub fn verify(&self, jws: &str) -> Option<Value> {
        self.published.iter().find_map(|k| k.verify(jws))
    }

    /// The JWK Set (RFC 7517 §5): every key that is not revoked, the next one included.
    pub fn jwks(&self) -> Value {
        ratchet_core::jws::jwks(&self.published.iter().collect::<Vec<_>>())
    }
}

/// The rotatable keys of a node at one moment.
pub struct KeySet {
    pub signing: SigningKeys,
    pub refresh: TokenCodec,
}

/// The key material of a running server: the current [`KeySet`] and the keys derived from the
/// never-rotated internal secret.
pub struct Keys {
    current: RwLock<Arc<KeySet>>,
    /// Authenticates login transactions carried through the browser.
    pub transaction: [u8; 32],
    /// Authenticates opaque access tokens.
    pub access_token: [u8; 32],
    /// Derives DPoP server nonces (RFC 9449 §8), the same on every node.
    pub dpop_nonce: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("kid", &self.current().signing.active(KeyType::Rsa).kid()).finish_non_exhaustive()
    }
}

impl Keys {
    /// The current snapshot; use one snapshot for a whole operation.
    pub fn current(&self) -> Arc<KeySet> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn replace(&self, set: KeySet) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
    }
}

/// A key for `label` derived from `key`: `HMAC-SHA256(key, label)` (one HKDF-Expand block).
fn derive(key: &[u8], label: &str) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(label.as_bytes());
    m.finalize().into_bytes().into()
}

/// Resolves the master key: the configured hex key, else (SQLite only) a 0600 key file beside the
/// database, created on first start.
pub fn master_key(configured: Option<&str>, key_file: Option<&Path>) -> anyhow::Result<MasterKey> {
    if let Some(hex_key) = configured {
        return Ok(MasterKey::from_hex(hex_key)?);
    }
    let Some(path) = key_file else {
        bail!("RATCHET_MASTER_KEY (64 hex characters) is required for this database");
    };
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(MasterKey::from_hex(&s).with_context(|| format!("master key file {} is malformed", path.display()))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = hex::encode(ratchet_core::secret::random_bytes::<32>());
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            match opts.open(path) {
                Ok(mut f) => {
                    f.write_all(key.as_bytes())?;
                    f.sync_all()?;
                    Ok(MasterKey::from_hex(&key)?)
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => master_key(None, Some(path)),
                Err(e) => Err(e).with_context(|| format!("cannot create master key file {}", path.display())),
            }
        }
        Err(e) => Err(e).with_context(|| format!("cannot read master key file {}", path.display())),
    }
}

/// Fresh key material of `kind`, as stored (PKCS#8 DER for signing, raw bytes for MAC keys).
pub fn generate(kind: KeyKind) -> anyhow::Result<Vec<u8>> {
    Ok(match kind.key_type() {
        Some(key_type) => SigningKey::generate(key_type)?.1,
        None => ratchet_core::secret::random_bytes::<32>().to_vec(),
    })
}

/// Creates the first key of each kind, active at once, where there is none; returns the internal
/// secret. Two nodes (or a node and `ratchet keys`) doing this together both try to insert id 1;
/// the loser reads the winner's.
pub async fn create_missing(store: &dyn Store, master: &MasterKey, now: i64) -> anyhow::Result<Vec<u8>> {
    let internal = internal_secret(store, master, now).await?;
    for kind in KeyKind::ALL {
        if store.server_secrets(kind.store_kind()).await?.is_empty() {
            store.insert_server_secret(kind.store_kind(), 1, &master.seal(kind.store_kind(), &generate(kind)?)?, now, now).await?;
        }
    }
    Ok(internal)
}

/// Loads the keys from the store, generating and storing the first ones on first start.
pub async fn load_or_create(store: &dyn Store, master: &MasterKey, now: i64) -> anyhow::Result<Keys> {
    let internal = create_missing(store, master, now).await?;
    Ok(Keys {
        current: RwLock::new(Arc::new(load(store, master, now).await?)),
        transaction: derive(&internal, "ratchet login transaction v1"),
        access_token: derive(&internal, "ratchet opaque access token v1"),
        dpop_nonce: derive(&internal, "ratchet dpop nonce v1"),
    })
}

/// The internal secret, created on first start. A database from before key rotation derived the
/// internal keys from its refresh-token MAC key: that key becomes the internal secret, so the
/// upgrade breaks no login in flight and no opaque access token.
async fn internal_secret(store: &dyn Store, master: &MasterKey, now: i64) -> anyhow::Result<Vec<u8>> {
    if store.server_secrets(INTERNAL).await?.is_empty() {
        let refresh = KeyKind::Refresh.store_kind();
        let inherited = store.server_secrets(refresh).await?.into_iter().filter(|r| r.revoked_at.is_none()).max_by_key(|r| r.kid);
        let plain = match inherited {
            Some(r) => master.open(refresh, &r.sealed)?,
            None => ratchet_core::secret::random_bytes::<32>().to_vec(),
        };
        store.insert_server_secret(INTERNAL, 1, &master.seal(INTERNAL, &plain)?, now, now).await?;
    }
    let row = store.server_secrets(INTERNAL).await?.into_iter().next().context("the internal secret vanished")?;
    master.open(INTERNAL, &row.sealed).context("the stored internal secret does not open: wrong RATCHET_MASTER_KEY?")
}

/// The live keys of `kind` opened, with the id of the active one.
async fn open_live(store: &dyn Store, master: &MasterKey, kind: KeyKind, now: i64) -> anyhow::Result<(Vec<(u8, Vec<u8>)>, u8)> {
    let rows = store.server_secrets(kind.store_kind()).await?;
    let states = states(&rows, now).with_context(|| format!("no active {kind:?} key in the store"))?;
    let active = rows.iter().zip(&states).find(|(_, s)| **s == KeyState::Active).map(|(r, _)| r.kid).expect("states has an active key");
    let mut live = Vec::new();
    for r in rows.iter().filter(|r| r.revoked_at.is_none()) {
        let plain = master
            .open(kind.store_kind(), &r.sealed)
            .with_context(|| format!("the stored {kind:?} key {} does not open: wrong RATCHET_MASTER_KEY?", r.kid))?;
        live.push((r.kid, plain));
    }
    Ok((live, active))
}

/// The key set the store holds at `now`.
pub async fn load(store: &dyn Store, master: &MasterKey, now: i64) -> anyhow::Result<KeySet> {
    let mut published = Vec::new();
    let mut active = [0; 3];
    for (i, key_type) in KeyType::ALL.into_iter().enumerate() {
        let kind = KeyKind::signing(key_type);
        let (signing, active_signer) = open_live(store, master, kind, now).await?;
        for (kid, der) in signing {
            if kid == active_signer {
                active[i] = published.len();
            }
            published.push(SigningKey::from_pkcs8(key_type, &der).with_context(|| format!("stored {kind:?} key {kid} does not parse"))?);
        }
    }
    let (mac, issuing) = open_live(store, master, KeyKind::Refresh, now).await?;
    let refresh = TokenCodec::new(mac.iter().map(|(kid, bytes)| MacKey::new(*kid, bytes)).collect(), issuing);
    Ok(KeySet { signing: SigningKeys { published, active }, refresh })
}

/// Rebuilds the node's key set from the store every `every`, for as long as the node runs. A
/// failed reload (the store is down) keeps the previous keys and is retried at the next tick.
pub async fn reload_periodically(state: AppState, master: MasterKey, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        match load(&*state.store, &master, state.now()).await {
            Ok(set) => state.keys.replace(set),
            Err(e) => tracing::warn!(error = %e, "cannot reload the server keys; keeping the previous ones"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kid: u8, activates_at: i64, revoked_at: Option<i64>) -> ServerSecret {
        ServerSecret { kid, sealed: vec![], created_at: 0, activates_at, revoked_at }
    }

    #[test]
    fn a_key_is_next_until_it_activates_then_its_predecessor_retires() {
        use KeyState::*;
        let rows = [row(1, 0, None), row(2, 100, None)];
        assert_eq!(states(&rows, 99), Some(vec![Active, Next]));
        assert_eq!(states(&rows, 100), Some(vec![Retiring, Active]));
        assert_eq!(superseded_at(&rows, &rows[0], 99), None);
        assert_eq!(superseded_at(&rows, &rows[0], 150), Some(100));
    }

    #[test]
    fn a_revoked_key_is_never_active() {
        use KeyState::*;
        let rows = [row(1, 0, None), row(2, 10, Some(20))];
        assert_eq!(states(&rows, 30), Some(vec![Active, Revoked]));
        assert_eq!(states(&[row(1, 0, Some(5))], 30), None, "no live key: no active key");
        assert_eq!(states(&[row(1, 50, None)], 30), None, "a key never signs before its activation");
    }

    #[tokio::test]
    async fn a_store_with_only_an_rsa_signing_key_gets_the_other_key_types_on_start() {
        // A database from before ES256 and EdDSA: one RSA signing key (id 3 after rotations).
        let dir = tempfile::tempdir().unwrap();
        let store = ratchet_store::open(&format!("sqlite://{}", dir.path().join("old.db").display())).await.unwrap();
        let master = MasterKey::from_bytes(&[9; 32]).unwrap();
        let signing = KeyKind::Signing.store_kind();
        let (rsa, der) = SigningKey::generate(KeyType::Rsa).unwrap();
        store.insert_server_secret(signing, 3, &master.seal(signing, &der).unwrap(), 10, 10).await.unwrap();
        let keys = load_or_create(&*store, &master, 20).await.unwrap();
        let set = keys.current();
        assert_eq!(set.signing.active(KeyType::Rsa).kid(), rsa.kid(), "the RSA key is kept");
        for kind in [KeyKind::SigningEc, KeyKind::SigningEd] {
            let rows = store.server_secrets(kind.store_kind()).await.unwrap();
            assert_eq!(rows.iter().map(|r| (r.kid, r.activates_at)).collect::<Vec<_>>(), vec![(1, 20)], "{kind:?} created, active at once");
        }
        for alg in SigningAlg::ALL {
            let jws = set.signing.sign(alg, &serde_json::json!({"sub": "u"})).unwrap();
            assert_eq!(set.signing.verify(&jws).unwrap()["sub"], "u", "{alg}");
        }
        assert_eq!(set.signing.jwks()["keys"].as_array().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn upgrade_keeps_the_keys_derived_from_the_old_mac_key() {
        // A database from before key rotation: the internal keys were derived from the MAC key.
        let dir = tempfile::tempdir().unwrap();
        let store = ratchet_store::open(&format!("sqlite://{}", dir.path().join("old.db").display())).await.unwrap();
        let master = MasterKey::from_bytes(&[9; 32]).unwrap();
        let mac = [5u8; 32];
        let refresh = KeyKind::Refresh.store_kind();
        store.insert_server_secret(refresh, 1, &master.seal(refresh, &mac).unwrap(), 10, 10).await.unwrap();
        let keys = load_or_create(&*store, &master, 20).await.unwrap();
        assert_eq!(keys.transaction, derive(&mac, "ratchet login transaction v1"), "logins in flight survive the upgrade");
        assert_eq!(keys.access_token, derive(&mac, "ratchet opaque access token v1"), "opaque access tokens survive it");
        assert_eq!(keys.dpop_nonce, derive(&mac, "ratchet dpop nonce v1"));
        assert_eq!(keys.current().refresh.issuing_kid(), 1);
    }
}
