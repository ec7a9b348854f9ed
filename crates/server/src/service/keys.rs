//! Key rotation (docs/security.md, "Key rotation"): list, rotate and revoke the signing keys and
//! the refresh-token MAC keys in the store. Running nodes pick the changes up at their next key
//! reload (`crate::keys::reload_periodically`); nothing here talks to a node.

use std::sync::Arc;

use anyhow::{Context, bail};
use ratchet_core::crypto::MasterKey;
use ratchet_core::jws::SigningKey;
use ratchet_store::{ServerSecret, Store, Window};
use serde::Serialize;

use crate::clock::Clock;
use crate::keys::{KeyKind, KeyState, create_missing, generate, states, superseded_at};
use crate::service::manage::apis::MANAGEMENT_TOKEN_LIFETIME;

/// The default of `--prepublish`: an hour, longer than any sane JWKS cache and key reload interval.
pub const DEFAULT_PREPUBLISH: i64 = 3600;

/// One key as `ratchet keys list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub kind: KeyKind,
    /// The key's number in the store (what `revoke` takes).
    pub id: u8,
    /// The `kid` tokens carry: the RFC 7638 thumbprint of a signing key (unknown once revoked,
    /// its material being erased), the number of a MAC key.
    pub kid: Option<String>,
    pub state: KeyState,
    pub created_at: i64,
    pub activates_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
    /// Of a retiring signing key: until when tokens it signed may still be live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verifies_until: Option<i64>,
}

/// Lists, rotates and revokes server keys.
pub struct KeyService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    master: MasterKey,
}

impl KeyService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, master: MasterKey) -> Self {
        KeyService { store, clock, master }
    }

    /// Every key of every kind, revoked ones included.
    pub async fn list(&self) -> anyhow::Result<Vec<KeyView>> {
        let now = self.clock.now();
        // Before any node started, the keys a node would create are the ones to list or rotate.
        create_missing(&*self.store, &self.master, now).await?;
        let longest = self.longest_token_lifetime().await?;
        let mut out = Vec::new();
        for kind in KeyKind::ALL {
            let rows = self.store.server_secrets(kind.store_kind()).await?;
            let states = states(&rows, now).unwrap_or_else(|| vec![KeyState::Revoked; rows.len()]);
            for (row, state) in rows.iter().zip(states) {
                out.push(self.view(kind, &rows, row, state, now, longest)?);
            }
        }
        Ok(out)
    }

    /// Adds the next key of `kind`: known to every node (and, for signing, published in the
    /// JWKS) at once, it starts issuing `prepublish` seconds from now.
    pub async fn rotate(&self, kind: KeyKind, prepublish: i64) -> anyhow::Result<KeyView> {
        if prepublish < 0 {
            bail!("--prepublish must not be negative");
        }
        let now = self.clock.now();
        create_missing(&*self.store, &self.master, now).await?;
        let rows = self.store.server_secrets(kind.store_kind()).await?;
        let id = match rows.iter().map(|r| r.kid).max() {
            Some(last) => last.checked_add(1).context("all 255 key ids of this kind are used")?,
            None => 1,
        };
        let sealed = self.master.seal(kind.store_kind(), &generate(kind)?)?;
        if !self.store.insert_server_secret(kind.store_kind(), id, &sealed, now, now + prepublish).await? {
            bail!("another rotation took key id {id} at the same time; list the keys and try again");
        }
        self.show(kind, id).await
    }

    /// Revokes key `id` of `kind`: nodes stop verifying with it at their next reload, and its
    /// material is erased. The active key cannot be revoked (rotate first). A retiring signing key
    /// inside its verification window (tokens it signed may still be live), and any refresh MAC
    /// key still verifying (refresh tokens it made die with it), need `force`.
    pub async fn revoke(&self, kind: KeyKind, id: &str, force: bool) -> anyhow::Result<KeyView> {
        let now = self.clock.now();
        let view = self.show_by(kind, id).await?;
        match view.state {
            KeyState::Revoked => bail!("key {} is already revoked", view.id),
            KeyState::Active => bail!("key {} is the active {kind:?} key: rotate first, then revoke it once it retires", view.id),
            KeyState::Next => {}
            KeyState::Retiring if force => {}
            KeyState::Retiring => match (kind.key_type(), view.verifies_until) {
                (Some(_), Some(until)) if now < until => bail!(
                    "signing key {} may have signed tokens that live until {until} (unix time); revoke it then, or now with --force",
                    view.id
                ),
                (Some(_), _) => {}
                (None, _) => bail!(
                    "refresh tokens made with MAC key {} stop working when it is revoked (their users sign in again); pass --force to do so",
                    view.id
                ),
            },
        }
        if !self.store.revoke_server_secret(kind.store_kind(), view.id, now).await? {
            bail!("key {} was revoked at the same time", view.id);
        }
        self.show(kind, view.id).await
    }

    async fn show(&self, kind: KeyKind, id: u8) -> anyhow::Result<KeyView> {
        self.show_by(kind, &id.to_string()).await
    }

    /// The key of `kind` whose id or kid is `id`.
    async fn show_by(&self, kind: KeyKind, id: &str) -> anyhow::Result<KeyView> {
        self.list()
            .await?
            .into_iter()
            .find(|k| k.kind == kind && (k.id.to_string() == id || k.kid.as_deref() == Some(id)))
            .with_context(|| format!("no {kind:?} key {id}"))
    }

    fn view(
        &self,
        kind: KeyKind,
        rows: &[ServerSecret],
        row: &ServerSecret,
        state: KeyState,
        now: i64,
        longest: i64,
    ) -> anyhow::Result<KeyView> {
        let kid = match (kind.key_type(), state) {
            (Some(_), KeyState::Revoked) => None,
            (Some(key_type), _) => {
                let der =
                    self.master.open(kind.store_kind(), &row.sealed).context("a stored signing key does not open: wrong master key?")?;
                Some(SigningKey::from_pkcs8(key_type, &der)?.kid().to_string())
            }
            (None, _) => Some(row.kid.to_string()),
        };
        let verifies_until = match (kind.key_type(), state) {
            (Some(_), KeyState::Retiring) => superseded_at(rows, row, now).map(|t| t + longest),
            _ => None,
        };
        Ok(KeyView {
            kind,
            id: row.kid,
            kid,
            state,
            created_at: row.created_at,
            activates_at: row.activates_at,
            revoked_at: row.revoked_at,
            verifies_until,
        })
    }

    /// The longest lifetime a signed token can have: of any API's access tokens (the Management
    /// API's included) and of any client's ID tokens.
    async fn longest_token_lifetime(&self) -> anyhow::Result<i64> {
        let mut longest = MANAGEMENT_TOKEN_LIFETIME;
        for c in self.store.clients().await? {
            longest = longest.max(c.id_token_lifetime);
        }
        let mut window = Window { after: None, offset: 0, limit: 100 };
        loop {
            let (apis, _) = self.store.list_apis(&window).await?;
            let Some(last) = apis.last() else { break };
            window.after = Some(last.id.clone());
            for a in &apis {
                longest = longest.max(a.token_lifetime);
            }
        }
        Ok(i64::from(longest))
    }
}
