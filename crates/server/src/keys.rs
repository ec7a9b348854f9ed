//! Server keys: the RS256 signing key and the refresh-token MAC key live in the store, sealed
//! under the master key, so every node of a deployment shares them. They are parsed once at
//! startup; request handling never touches key material in serialised form.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use ratchet_core::crypto::MasterKey;
use ratchet_core::family::{MacKey, TokenCodec};
use ratchet_core::jws::SigningKey;
use ratchet_store::Store;

const SIGNING: &str = "signing-key";
const REFRESH_MAC: &str = "refresh-mac-key";

/// The parsed key material of a running server.
pub struct Keys {
    pub signing: SigningKey,
    pub refresh: TokenCodec,
    /// Authenticates login transactions carried through the browser.
    pub transaction: [u8; 32],
    /// Authenticates opaque access tokens.
    pub access_token: [u8; 32],
    /// Derives DPoP server nonces (RFC 9449 §8), the same on every node.
    pub dpop_nonce: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("kid", &self.signing.kid()).finish_non_exhaustive()
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

/// Loads the keys from the store, generating and storing them on first start.
pub async fn load_or_create(store: &dyn Store, master: &MasterKey, now: i64) -> anyhow::Result<Keys> {
    let signing_der = secret(store, master, SIGNING, now, || Ok(SigningKey::generate()?.1)).await?;
    let signing = SigningKey::from_pkcs8(&signing_der).context("stored signing key does not parse")?;
    let mut mac_keys = Vec::new();
    for (kid, sealed) in store.server_secrets(REFRESH_MAC).await? {
        mac_keys.push(MacKey::new(kid, &master.open(REFRESH_MAC, &sealed)?));
    }
    if mac_keys.is_empty() {
        let bytes = secret(store, master, REFRESH_MAC, now, || Ok(MacKey::generate(1).1.to_vec())).await?;
        mac_keys.push(MacKey::new(1, &bytes));
    }
    let newest = store.server_secrets(REFRESH_MAC).await?.into_iter().max_by_key(|(k, _)| *k).context("no MAC key")?;
    let base = master.open(REFRESH_MAC, &newest.1)?;
    Ok(Keys {
        signing,
        refresh: TokenCodec::new(mac_keys),
        transaction: derive(&base, "ratchet login transaction v1"),
        access_token: derive(&base, "ratchet opaque access token v1"),
        dpop_nonce: derive(&base, "ratchet dpop nonce v1"),
    })
}

/// The newest secret of `kind`, creating kid 1 with `generate` when there is none. Two nodes
/// starting together both try to insert; the loser reads the winner's.
async fn secret(
    store: &dyn Store,
    master: &MasterKey,
    kind: &str,
    now: i64,
    generate: impl FnOnce() -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Vec<u8>> {
    if let Some((_, sealed)) = store.server_secrets(kind).await?.into_iter().max_by_key(|(k, _)| *k) {
        return master.open(kind, &sealed).with_context(|| format!("the stored {kind} does not open: wrong RATCHET_MASTER_KEY?"));
    }
    let plain = generate()?;
    store.insert_server_secret(kind, 1, &master.seal(kind, &plain)?, now).await?;
    let (_, sealed) = store.server_secrets(kind).await?.into_iter().max_by_key(|(k, _)| *k).context("secret vanished")?;
    Ok(master.open(kind, &sealed)?)
}
