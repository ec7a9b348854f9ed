//! Applications: creation with Auth0's defaults per type, id and secret generation (secrets are
//! URL-safe, shown once, stored as a SHA-256 hash only), changes validated as a whole
//! (`Client::validate`: URLs and the refresh-token policy), secret rotation, and deletion, which
//! revokes every refresh token issued to the client.

use std::sync::Arc;

use ratchet_core::client::{
    AppType, AudiencePolicy, AuthMethod, Client, ExpirationType, GrantType, NewClient, RefreshTokenPolicy, RotationType, normalize_origins,
};
use ratchet_core::jws::SigningAlg;
use ratchet_core::secret::{Secret, hash, random_bytes, random_token};
use ratchet_store::{Store, StoreError, Window};

use super::{Checkpoint, Chunk, Listed, ManageError, Page, Resource};
use crate::clock::Clock;

/// Longest ID-token lifetime accepted (`jwt_configuration.lifetime_in_seconds`), Auth0's maximum.
pub const MAX_ID_TOKEN_LIFETIME: u32 = 2_592_000;

/// A new application. Unset fields take Auth0's defaults for its type.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    pub name: String,
    pub app_type: Option<AppType>,
    pub callbacks: Vec<String>,
    pub allowed_logout_urls: Vec<String>,
    pub web_origins: Vec<String>,
    pub grant_types: Option<Vec<GrantType>>,
    pub refresh_token: Option<RefreshUpdate>,
    pub id_token_lifetime: Option<u32>,
    /// The algorithm of its ID tokens (`jwt_configuration.alg`); RS256 by default.
    pub id_token_alg: Option<SigningAlg>,
    /// Whether token requests must carry a DPoP proof (RFC 9449); off by default.
    pub require_proof_of_possession: Option<bool>,
}

/// Changes to an application; `None` leaves a field as it is, a list replaces the old one.
#[derive(Debug, Clone, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub callbacks: Option<Vec<String>>,
    pub allowed_logout_urls: Option<Vec<String>>,
    pub web_origins: Option<Vec<String>>,
    pub grant_types: Option<Vec<GrantType>>,
    pub refresh_token: Option<RefreshUpdate>,
    pub id_token_lifetime: Option<u32>,
    /// The algorithm of its ID tokens (`jwt_configuration.alg`).
    pub id_token_alg: Option<SigningAlg>,
    /// Whether token requests must carry a DPoP proof (RFC 9449).
    pub require_proof_of_possession: Option<bool>,
}

/// A change of the refresh-token policy: a whole new `refresh_token` object (the Management API),
/// or adjustments of the current one (the CLI's flags).
#[derive(Debug, Clone)]
pub enum RefreshUpdate {
    Replace(RefreshTokenPolicy),
    Adjust(RefreshChanges),
}

/// Adjustments of a refresh-token policy, with Auth0's coupling: turning rotation on makes the
/// tokens expire; giving a lifetime makes them expire with that lifetime.
#[derive(Debug, Clone, Default)]
pub struct RefreshChanges {
    pub rotation: Option<RotationType>,
    pub leeway: Option<u32>,
    pub absolute_lifetime: Option<u32>,
    pub idle_lifetime: Option<u32>,
    pub non_expiring: bool,
    /// Replaces `policies` (multi-resource refresh tokens) when given.
    pub policies: Option<Vec<AudiencePolicy>>,
}

impl RefreshChanges {
    pub fn apply(&self, mut p: RefreshTokenPolicy) -> RefreshTokenPolicy {
        match self.rotation {
            None => {}
            Some(RotationType::Rotating) => {
                p.rotation_type = RotationType::Rotating;
                if p.expiration_type == ExpirationType::NonExpiring {
                    let d = RefreshTokenPolicy::rotating_default();
                    (p.expiration_type, p.infinite_token_lifetime, p.infinite_idle_token_lifetime) =
                        (d.expiration_type, d.infinite_token_lifetime, d.infinite_idle_token_lifetime);
                }
            }
            Some(RotationType::NonRotating) => p.rotation_type = RotationType::NonRotating,
        }
        if let Some(l) = self.leeway {
            p.leeway = l;
        }
        if let Some(a) = self.absolute_lifetime {
            (p.expiration_type, p.token_lifetime, p.infinite_token_lifetime) = (ExpirationType::Expiring, a, false);
        }
        if let Some(i) = self.idle_lifetime {
            (p.expiration_type, p.idle_token_lifetime, p.infinite_idle_token_lifetime) = (ExpirationType::Expiring, i, false);
        }
        if self.non_expiring {
            (p.expiration_type, p.infinite_token_lifetime, p.infinite_idle_token_lifetime) = (ExpirationType::NonExpiring, true, true);
        }
        if let Some(policies) = &self.policies {
            p.policies = policies.clone();
        }
        p
    }
}

impl RefreshUpdate {
    fn apply(&self, p: RefreshTokenPolicy) -> RefreshTokenPolicy {
        match self {
            RefreshUpdate::Replace(new) => new.clone(),
            RefreshUpdate::Adjust(changes) => changes.apply(p),
        }
    }
}

/// A client with the secret just generated for it (the only time it exists in clear).
#[derive(Debug, Clone)]
pub struct WithSecret {
    pub client: Client,
    pub secret: Option<Secret>,
}

#[derive(Clone)]
pub struct ClientService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Accept http callbacks on hosts other than loopback (`--allow-insecure-callbacks`).
    allow_insecure_callbacks: bool,
}

/// Grant types must suit the client: `client_credentials` needs a confidential client.
fn check_grant_types(client: &Client) -> Result<(), ManageError> {
    if client.grant_types.contains(&GrantType::ClientCredentials) && !client.app_type.is_confidential() {
        return Err(ManageError::Invalid(
            "client_credentials is only allowed for confidential clients (regular_web, non_interactive)".into(),
        ));
    }
    let mut seen = Vec::new();
    for g in &client.grant_types {
        if seen.contains(g) {
            return Err(ManageError::Invalid("grant_types must not repeat".into()));
        }
        seen.push(*g);
    }
    if !(1..=MAX_ID_TOKEN_LIFETIME).contains(&client.id_token_lifetime) {
        return Err(ManageError::Invalid(format!("jwt_configuration.lifetime_in_seconds must be between 1 and {MAX_ID_TOKEN_LIFETIME}")));
    }
    Ok(())
}

fn validate(client: &Client) -> Result<(), ManageError> {
    if client.name.trim().is_empty() || client.name.chars().count() > 200 {
        return Err(ManageError::Invalid("name must be 1 to 200 characters".into()));
    }
    client.validate()?;
    check_grant_types(client)
}

impl ClientService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, allow_insecure_callbacks: bool) -> Self {
        ClientService { store, clock, allow_insecure_callbacks }
    }

    /// Callbacks being registered must use https or a loopback host, unless allowed.
    fn check_new_callbacks(&self, client: &Client) -> Result<(), ManageError> {
        if !self.allow_insecure_callbacks {
            client.check_callback_transport()?;
        }
        Ok(())
    }

    /// Creates a client with a fresh id and, for a confidential client, a fresh secret.
    pub async fn create(&self, spec: ClientSpec) -> Result<WithSecret, ManageError> {
        self.create_with_id(hex::encode(random_bytes::<16>()), spec).await
    }

    /// Creates a client with a chosen id (seeding well-known clients such as the demo SPA's);
    /// 409 when the id is taken.
    pub async fn create_with_id(&self, client_id: String, spec: ClientSpec) -> Result<WithSecret, ManageError> {
        let app_type = spec.app_type.unwrap_or(AppType::Spa);
        let mut client = Client::new(
            client_id,
            NewClient {
                name: spec.name,
                app_type: Some(app_type),
                callbacks: spec.callbacks,
                logout_urls: spec.allowed_logout_urls,
                web_origins: spec.web_origins,
            },
            self.clock.now(),
        )?;
        if let Some(r) = &spec.refresh_token {
            client.refresh_token = r.apply(client.refresh_token);
        }
        if let Some(g) = spec.grant_types {
            client.grant_types = g;
        }
        if let Some(l) = spec.id_token_lifetime {
            client.id_token_lifetime = l;
        }
        if let Some(a) = spec.id_token_alg {
            client.id_token_alg = a;
        }
        if let Some(r) = spec.require_proof_of_possession {
            client.require_proof_of_possession = r;
        }
        validate(&client)?;
        self.check_new_callbacks(&client)?;
        let secret = app_type.is_confidential().then(|| Secret::new(random_token()));
        self.store.insert_client(&client, secret.as_ref().map(|s| hash(s.expose())).as_deref()).await.map_err(|e| match e {
            StoreError::Conflict(_) => ManageError::Conflict("Another client exists with the same id".into()),
            e => ManageError::Store(e),
        })?;
        Ok(WithSecret { client, secret })
    }

    pub async fn get(&self, client_id: &str) -> Result<Client, ManageError> {
        Ok(self.store.client(client_id).await?.ok_or(ManageError::NotFound(Resource::Client))?.client)
    }

    /// A page of the clients, in id order.
    pub async fn list(&self, page: Page) -> Result<Listed<Client>, ManageError> {
        let window = Window { after: None, offset: u64::from(page.page) * u64::from(page.per_page), limit: page.per_page };
        let (items, total) = self.store.list_clients(&window).await?;
        Ok(Listed { items, total })
    }

    /// The clients after cursor `from` (a client id).
    pub async fn list_from(&self, checkpoint: &Checkpoint) -> Result<Chunk<Client>, ManageError> {
        let (items, _) = self.store.list_clients(&checkpoint.window()).await?;
        Ok(checkpoint.chunk(items, |c| c.client_id.clone()))
    }

    /// Applies `changes`; the result is validated as a whole before it is stored.
    pub async fn update(&self, client_id: &str, changes: ClientChanges) -> Result<Client, ManageError> {
        let mut client = self.get(client_id).await?;
        if let Some(n) = changes.name {
            client.name = n;
        }
        let new_callbacks = changes.callbacks.is_some();
        if let Some(c) = changes.callbacks {
            client.callbacks = c;
        }
        if let Some(l) = changes.allowed_logout_urls {
            client.allowed_logout_urls = l;
        }
        if let Some(o) = changes.web_origins {
            client.web_origins = normalize_origins(&o);
        }
        if let Some(g) = changes.grant_types {
            client.grant_types = g;
        }
        if let Some(r) = &changes.refresh_token {
            client.refresh_token = r.apply(client.refresh_token);
        }
        if let Some(l) = changes.id_token_lifetime {
            client.id_token_lifetime = l;
        }
        if let Some(a) = changes.id_token_alg {
            client.id_token_alg = a;
        }
        if let Some(r) = changes.require_proof_of_possession {
            client.require_proof_of_possession = r;
        }
        validate(&client)?;
        if new_callbacks {
            self.check_new_callbacks(&client)?;
        }
        if !self.store.update_client(&client).await? {
            return Err(ManageError::NotFound(Resource::Client));
        }
        Ok(client)
    }

    /// Gives a confidential client a new secret; the old one stops working at once.
    pub async fn rotate_secret(&self, client_id: &str) -> Result<WithSecret, ManageError> {
        let client = self.get(client_id).await?;
        if client.token_endpoint_auth_method == AuthMethod::None {
            return Err(ManageError::Invalid("The client is public (token_endpoint_auth_method: none) and has no secret".into()));
        }
        let secret = Secret::new(random_token());
        if !self.store.set_client_secret(client_id, &hash(secret.expose())).await? {
            return Err(ManageError::NotFound(Resource::Client));
        }
        Ok(WithSecret { client, secret: Some(secret) })
    }

    /// Deletes the client, its client grants and codes, and revokes its refresh tokens.
    pub async fn delete(&self, client_id: &str) -> Result<(), ManageError> {
        if !self.store.delete_client(client_id, self.clock.now()).await? {
            return Err(ManageError::NotFound(Resource::Client));
        }
        Ok(())
    }
}
