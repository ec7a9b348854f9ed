//! Client grants: which API a client may get `client_credentials` tokens for, with which of the
//! API's scopes (Auth0's `client_grants`, `subject_type: client`). The grant is the only way to
//! such a token, for the Management API as for a registered API.

use std::sync::Arc;

use ratchet_core::oauth::Scope;
use ratchet_core::secret::random_id;
use ratchet_store::{ClientGrant, ClientGrantFilter, Store, StoreError, Window};

use super::apis::{ApiService, Audience};
use super::{Checkpoint, Chunk, Listed, ManageError, Page, Resource};
use crate::clock::Clock;

/// A new client grant.
#[derive(Debug, Clone, Default)]
pub struct NewClientGrant {
    pub client_id: String,
    pub audience: String,
    pub scope: Vec<String>,
}

/// What `client_credentials` may issue to a client for an audience.
#[derive(Debug, Clone, PartialEq)]
pub struct M2mAccess {
    /// The API (the Management API or a registered one).
    pub audience: Audience,
    /// The granted scopes, narrowed by the requested ones.
    pub scope: Scope,
}

/// Why `client_credentials` may not issue a token.
#[derive(Debug)]
pub enum M2mDenied {
    /// No API has this identifier.
    UnknownAudience,
    /// The API exists but the client has no grant for it.
    NoGrant,
    Store(StoreError),
}

impl From<StoreError> for M2mDenied {
    fn from(e: StoreError) -> Self {
        M2mDenied::Store(e)
    }
}

#[derive(Clone)]
pub struct ClientGrantService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    apis: ApiService,
}

impl ClientGrantService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, apis: ApiService) -> Self {
        ClientGrantService { store, clock, apis }
    }

    /// The API an audience names, 404 when none does.
    async fn api_for(&self, audience: &str) -> Result<Audience, ManageError> {
        self.apis.audience(audience).await?.ok_or(ManageError::NotFound(Resource::ResourceServer))
    }

    /// `scope` deduplicated, each one of `audience`'s permissions (else 400 naming the first
    /// that is not).
    fn checked_scope(audience: &Audience, scope: Vec<String>) -> Result<Vec<String>, ManageError> {
        let api = audience.api();
        let mut out: Vec<String> = Vec::with_capacity(scope.len());
        for s in scope {
            if !api.defines(&s) {
                return Err(ManageError::Invalid(format!(
                    "Payload validation error: scope must be a subset of resource server scopes; {s:?} is not a scope of {}",
                    api.identifier
                )));
            }
            if !out.contains(&s) {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Creates a grant: the client and the API must exist, the scopes must be the API's, and
    /// there must be no grant for the same client and API yet (409).
    pub async fn create(&self, new: NewClientGrant) -> Result<ClientGrant, ManageError> {
        let audience = self.api_for(&new.audience).await?;
        if self.store.client(&new.client_id).await?.is_none() {
            return Err(ManageError::NotFound(Resource::Client));
        }
        let scope = Self::checked_scope(&audience, new.scope)?;
        let grant = ClientGrant {
            id: random_id("cgr_"),
            client_id: new.client_id,
            audience: audience.api().identifier.clone(),
            scope,
            created_at: self.clock.now(),
        };
        self.store.insert_client_grant(&grant).await.map_err(|e| match e {
            StoreError::Conflict(_) => ManageError::Conflict("A client grant for this client and audience already exists".into()),
            e => ManageError::Store(e),
        })?;
        Ok(grant)
    }

    pub async fn get(&self, id: &str) -> Result<ClientGrant, ManageError> {
        self.store.client_grant(id).await?.ok_or(ManageError::NotFound(Resource::ClientGrant))
    }

    /// The filter with the Management API's audience in its canonical spelling.
    fn canonical(&self, mut filter: ClientGrantFilter) -> ClientGrantFilter {
        if let Some(a) = &filter.audience
            && self.apis.is_management_audience(a)
        {
            filter.audience = Some(self.apis.management_identifier());
        }
        filter
    }

    /// A page of the grants matching `filter`, in id order.
    pub async fn list(&self, filter: ClientGrantFilter, page: Page) -> Result<Listed<ClientGrant>, ManageError> {
        let window = Window { after: None, offset: u64::from(page.page) * u64::from(page.per_page), limit: page.per_page };
        let (items, total) = self.store.list_client_grants(&self.canonical(filter), &window).await?;
        Ok(Listed { items, total })
    }

    /// The grants matching `filter` after cursor `from` (a grant id).
    pub async fn list_from(&self, filter: ClientGrantFilter, checkpoint: &Checkpoint) -> Result<Chunk<ClientGrant>, ManageError> {
        let (items, _) = self.store.list_client_grants(&self.canonical(filter), &checkpoint.window()).await?;
        Ok(checkpoint.chunk(items, |g| g.id.clone()))
    }

    /// Replaces the grant's scopes (each must be one of its API's).
    pub async fn update(&self, id: &str, scope: Vec<String>) -> Result<ClientGrant, ManageError> {
        let mut grant = self.get(id).await?;
        let audience = self.api_for(&grant.audience).await?;
        grant.scope = Self::checked_scope(&audience, scope)?;
        if !self.store.update_client_grant(id, &grant.scope).await? {
            return Err(ManageError::NotFound(Resource::ClientGrant));
        }
        Ok(grant)
    }

    pub async fn delete(&self, id: &str) -> Result<(), ManageError> {
        if !self.store.delete_client_grant(id).await? {
            return Err(ManageError::NotFound(Resource::ClientGrant));
        }
        Ok(())
    }

    /// The `client_credentials` rule: a token for `audience` needs a grant of `client_id` for
    /// that API; its scope is the grant's, narrowed to `requested` when a scope was requested
    /// (scopes outside the grant are dropped).
    pub async fn m2m_access(&self, client_id: &str, audience: &str, requested: Option<&Scope>) -> Result<M2mAccess, M2mDenied> {
        let resolved = self.apis.audience(audience).await?.ok_or(M2mDenied::UnknownAudience)?;
        let grant = self.store.client_grant_for(client_id, &resolved.api().identifier).await?.ok_or(M2mDenied::NoGrant)?;
        // Only scopes the API still defines (a scope removed from the API is no longer granted).
        let granted = grant.scope.iter().filter(|s| resolved.api().defines(s)).cloned().collect::<Vec<_>>();
        let granted = Scope::parse(&granted.join(" ")).unwrap_or_default();
        let scope = match requested {
            Some(r) => granted.retain(|s| r.contains(s)),
            None => granted,
        };
        Ok(M2mAccess { audience: resolved, scope })
    }
}
