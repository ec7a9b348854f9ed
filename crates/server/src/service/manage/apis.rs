//! APIs (Auth0 "resource servers"): the registered ones, whose `scopes` are their permissions,
//! and the Management API itself, a system API that is listed but cannot be changed.
//!
//! The Management API's identifier is `{issuer}api/v2/`; `https://{host[:port]}/api/v2/`, which
//! Auth0's SDKs ask for whatever the scheme, names the same API (see
//! [`super::is_management_audience`]); tokens carry the audience as requested.

use std::sync::Arc;

use ratchet_core::client::{Api, ApiScope};
use ratchet_core::jws::SigningAlg;
use ratchet_core::secret::random_id;
use ratchet_store::{Store, StoreError, Window};

use crate::clock::Clock;

use super::{Listed, ManageError, Page, Resource, is_management_audience, management_identifier};

/// The Management API's permissions (Auth0's scopes for the endpoints Ratchet offers).
pub const MANAGEMENT_API_SCOPES: &[&str] = &[
    "read:clients",
    "create:clients",
    "update:clients",
    "delete:clients",
    "read:client_keys",
    "update:client_keys",
    "read:client_summary",
    "read:client_credentials",
    "create:client_credentials",
    "update:client_credentials",
    "delete:client_credentials",
    "read:client_grants",
    "create:client_grants",
    "update:client_grants",
    "delete:client_grants",
    "read:resource_servers",
    "create:resource_servers",
    "update:resource_servers",
    "delete:resource_servers",
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "update:users_app_metadata",
    "read:user_idp_tokens",
    "read:current_user",
    "delete:current_user",
    "read:refresh_tokens",
    "update:refresh_tokens",
    "delete:refresh_tokens",
    "read:sessions",
    "update:sessions",
    "delete:sessions",
    "read:device_credentials",
    "delete:device_credentials",
    "create:current_user_device_credentials",
    "delete:current_user_device_credentials",
    "read:grants",
    "delete:grants",
    "read:logs",
    "read:logs_users",
    "read:stats",
];

/// The id of the Management API as a resource server.
pub const MANAGEMENT_API_ID: &str = "api_management";
/// Lifetime of a Management API token (Auth0's default).
pub const MANAGEMENT_TOKEN_LIFETIME: u32 = 86_400;

/// A resource server as listed: an API and whether it is the (immutable) system API.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceServer {
    pub api: Api,
    pub is_system: bool,
}

/// The API an access token is requested for, resolved from an `audience`.
#[derive(Debug, Clone, PartialEq)]
pub enum Audience {
    /// The Management API; `identifier` is its canonical `{issuer}api/v2/`.
    Management(Api),
    Registered(Api),
}

impl Audience {
    pub fn api(&self) -> &Api {
        match self {
            Audience::Management(a) | Audience::Registered(a) => a,
        }
    }
}

/// A new API; `signing_alg` defaults to RS256.
#[derive(Debug, Clone, Default)]
pub struct NewApi {
    pub identifier: String,
    pub name: Option<String>,
    pub scopes: Vec<ApiScope>,
    pub token_lifetime: Option<u32>,
    pub allow_offline_access: bool,
    pub signing_alg: Option<SigningAlg>,
}

/// Changes to an API; `None` leaves a field as it is, `scopes` replaces the whole list.
#[derive(Debug, Clone, Default)]
pub struct ApiChanges {
    pub name: Option<String>,
    pub scopes: Option<Vec<ApiScope>>,
    pub token_lifetime: Option<u32>,
    pub allow_offline_access: Option<bool>,
    pub signing_alg: Option<SigningAlg>,
}

#[derive(Clone)]
pub struct ApiService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    issuer: url::Url,
}

fn system_api_is_immutable() -> ManageError {
    ManageError::Forbidden("The Management API is a system resource server and cannot be changed or deleted".into())
}

/// Most identifiers one `identifiers` filter may name (Auth0's limit).
const MAX_IDENTIFIERS: usize = 10;

impl ApiService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, issuer: url::Url) -> Self {
        ApiService { store, clock, issuer }
    }

    /// The Management API's canonical identifier, `{issuer}api/v2/`.
    pub fn management_identifier(&self) -> String {
        management_identifier(&self.issuer)
    }

    /// Whether `audience` names the Management API (either spelling).
    pub fn is_management_audience(&self, audience: &str) -> bool {
        is_management_audience(&self.issuer, audience)
    }

    /// The Management API as a resource server.
    pub fn management_api(&self) -> Api {
        Api {
            id: MANAGEMENT_API_ID.into(),
            name: "Ratchet Management API".into(),
            identifier: self.management_identifier(),
            allow_offline_access: false,
            token_lifetime: MANAGEMENT_TOKEN_LIFETIME,
            scopes: MANAGEMENT_API_SCOPES.iter().map(|s| ApiScope { value: s.to_string(), description: describe(s) }).collect(),
            // Auth0's Management API tokens are RS256, and its SDKs verify nothing else.
            signing_alg: SigningAlg::RS256,
        }
    }

    /// The API `audience` names, if any (the Management API in either spelling, or a registered
    /// API by identifier).
    pub async fn audience(&self, audience: &str) -> Result<Option<Audience>, StoreError> {
        if self.is_management_audience(audience) {
            return Ok(Some(Audience::Management(self.management_api())));
        }
        Ok(self.store.api(audience).await?.map(Audience::Registered))
    }

    pub async fn create(&self, new: NewApi) -> Result<Api, ManageError> {
        if self.is_management_audience(&new.identifier) {
            return Err(ManageError::Conflict("A resource server with the same identifier already exists".into()));
        }
        let mut api = Api::new(random_id("api_"), new.identifier, new.name, new.allow_offline_access, new.token_lifetime)?;
        api.scopes = new.scopes;
        api.signing_alg = new.signing_alg.unwrap_or_default();
        api.validate()?;
        self.store.insert_api(&api).await.map_err(|e| match e {
            StoreError::Conflict(_) => ManageError::Conflict("A resource server with the same identifier already exists".into()),
            e => ManageError::Store(e),
        })?;
        Ok(api)
    }

    /// The API with id or identifier `key` (the Management API included).
    pub async fn get(&self, key: &str) -> Result<ResourceServer, ManageError> {
        if key == MANAGEMENT_API_ID || self.is_management_audience(key) {
            return Ok(ResourceServer { api: self.management_api(), is_system: true });
        }
        let api = match self.store.api_by_id(key).await? {
            Some(a) => a,
            None => self.store.api(key).await?.ok_or(ManageError::NotFound(Resource::ResourceServer))?,
        };
        Ok(ResourceServer { api, is_system: false })
    }

    /// The APIs with these identifiers (Auth0's `identifiers` filter: at most 10; unknown ones are
    /// left out), in the order asked.
    pub async fn with_identifiers(&self, identifiers: &[String]) -> Result<Vec<ResourceServer>, ManageError> {
        if identifiers.len() > MAX_IDENTIFIERS {
            return Err(ManageError::Invalid(format!("identifiers: at most {MAX_IDENTIFIERS}")));
        }
        let mut found = Vec::new();
        for identifier in identifiers {
            if self.is_management_audience(identifier) {
                found.push(ResourceServer { api: self.management_api(), is_system: true });
            } else if let Some(api) = self.store.api(identifier).await? {
                found.push(ResourceServer { api, is_system: false });
            }
        }
        Ok(found)
    }

    /// A page of the APIs: the Management API first, then the registered ones in id order.
    pub async fn list(&self, page: Page) -> Result<Listed<ResourceServer>, ManageError> {
        let start = u64::from(page.page) * u64::from(page.per_page);
        let mut items = Vec::new();
        let mut limit = page.per_page;
        if start == 0 && limit > 0 {
            items.push(ResourceServer { api: self.management_api(), is_system: true });
            limit -= 1;
        }
        let window = Window { after: None, offset: start.saturating_sub(1), limit };
        let (apis, stored) = self.store.list_apis(&window).await?;
        items.extend(apis.into_iter().map(|api| ResourceServer { api, is_system: false }));
        Ok(Listed { items, total: stored + 1 })
    }

    /// Applies `changes` to the API with id or identifier `key`.
    pub async fn update(&self, key: &str, changes: ApiChanges) -> Result<Api, ManageError> {
        let found = self.get(key).await?;
        if found.is_system {
            return Err(system_api_is_immutable());
        }
        let mut api = found.api;
        if let Some(n) = changes.name {
            api.name = n;
        }
        if let Some(s) = changes.scopes {
            api.scopes = s;
        }
        if let Some(t) = changes.token_lifetime {
            api.token_lifetime = t;
        }
        if let Some(o) = changes.allow_offline_access {
            api.allow_offline_access = o;
        }
        if let Some(a) = changes.signing_alg {
            api.signing_alg = a;
        }
        api.validate()?;
        if !self.store.update_api(&api).await? {
            return Err(ManageError::NotFound(Resource::ResourceServer));
        }
        Ok(api)
    }

    /// Deletes the API with id or identifier `key` and the client grants for it; the refresh
    /// tokens issued for it are revoked.
    pub async fn delete(&self, key: &str) -> Result<(), ManageError> {
        let found = self.get(key).await?;
        if found.is_system {
            return Err(system_api_is_immutable());
        }
        if !self.store.delete_api(&found.api.id, self.clock.now()).await? {
            return Err(ManageError::NotFound(Resource::ResourceServer));
        }
        Ok(())
    }
}

/// A description of a Management API scope: `read:client_grants` → "Read Client Grants".
fn describe(scope: &str) -> String {
    let (action, object) = scope.split_once(':').unwrap_or((scope, ""));
    let title = |w: &str| {
        let mut c = w.chars();
        c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
    };
    std::iter::once(action).chain(object.split('_')).map(title).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_descriptions_read_as_titles() {
        assert_eq!(describe("read:client_grants"), "Read Client Grants");
        assert_eq!(describe("update:client_keys"), "Update Client Keys");
    }
}
