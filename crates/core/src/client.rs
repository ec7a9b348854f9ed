//! Applications (OAuth clients) and their refresh-token policy, with Auth0's field names,
//! defaults and validation (Management API `ClientRefreshTokenConfiguration`).

use serde::{Deserialize, Serialize};

use crate::CoreError;
use crate::jws::SigningAlg;
use crate::oauth::origin_of;

/// Auth0's `app_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    Spa,
    RegularWeb,
    Native,
    NonInteractive,
}

impl AppType {
    /// Parses the CLI spelling (`spa|regular|native|m2m`) or Auth0's.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        Ok(match s {
            "spa" => AppType::Spa,
            "regular" | "regular_web" => AppType::RegularWeb,
            "native" => AppType::Native,
            "m2m" | "non_interactive" => AppType::NonInteractive,
            _ => return Err(CoreError::invalid("type must be one of spa, regular, native, m2m")),
        })
    }

    /// Confidential clients authenticate at the token endpoint with a secret.
    pub fn is_confidential(self) -> bool {
        matches!(self, AppType::RegularWeb | AppType::NonInteractive)
    }
}

/// `token_endpoint_auth_method` (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    None,
    ClientSecretPost,
    ClientSecretBasic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantType {
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    #[serde(rename = "refresh_token")]
    RefreshToken,
    #[serde(rename = "client_credentials")]
    ClientCredentials,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RotationType {
    Rotating,
    NonRotating,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpirationType {
    Expiring,
    NonExpiring,
}

/// Auth0's documented maximum for refresh-token lifetimes: one year of 365.25 days.
pub const MAX_LIFETIME: u32 = 31_557_600;

/// The client's `refresh_token` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshTokenPolicy {
    pub rotation_type: RotationType,
    pub expiration_type: ExpirationType,
    /// Seconds after a rotation during which the previous token still yields the same successor.
    pub leeway: u32,
    /// Absolute lifetime of a family, fixed at its birth.
    pub token_lifetime: u32,
    pub infinite_token_lifetime: bool,
    /// Inactivity lifetime, restarted at every exchange.
    pub idle_token_lifetime: u32,
    pub infinite_idle_token_lifetime: bool,
    /// Multi-resource refresh tokens: the other APIs (and their scopes) a refresh token of this
    /// client may obtain access tokens for (Auth0's `refresh_token.policies`). Absent in clients
    /// stored before the field existed, omitted from JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<AudiencePolicy>,
}

/// One entry of `refresh_token.policies`: the `refresh_token` grant may issue access tokens for
/// `audience` with (a subset of) `scope`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudiencePolicy {
    pub audience: String,
    pub scope: Vec<String>,
}

/// At most this many `refresh_token.policies` per client.
pub const MAX_POLICIES: usize = 100;

impl AudiencePolicy {
    /// Auth0's limits: `audience` 1–600 characters, each scope 1–280; scopes are RFC 6749 §3.3
    /// scope tokens (no spaces).
    pub fn validate(&self) -> Result<(), CoreError> {
        let a = &self.audience;
        if a.is_empty() || a.len() > 600 || a.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CoreError::invalid("policies: audience must be 1 to 600 characters without spaces"));
        }
        for s in &self.scope {
            let token = s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
            if s.is_empty() || s.len() > 280 || !token {
                return Err(CoreError::invalid(format!("policies: scope {s:?} of {a} must be 1 to 280 scope-token characters")));
            }
        }
        Ok(())
    }
}

impl RefreshTokenPolicy {
    /// Auth0's default for SPAs: rotating, expiring, 30 days absolute, 15 days idle.
    pub fn rotating_default() -> Self {
        RefreshTokenPolicy {
            rotation_type: RotationType::Rotating,
            expiration_type: ExpirationType::Expiring,
            leeway: 0,
            token_lifetime: 2_592_000,
            infinite_token_lifetime: false,
            idle_token_lifetime: 1_296_000,
            infinite_idle_token_lifetime: false,
            policies: Vec::new(),
        }
    }

    /// Auth0's default for other application types: non-rotating, non-expiring.
    pub fn non_rotating_default() -> Self {
        RefreshTokenPolicy {
            rotation_type: RotationType::NonRotating,
            expiration_type: ExpirationType::NonExpiring,
            infinite_token_lifetime: true,
            infinite_idle_token_lifetime: true,
            ..Self::rotating_default()
        }
    }

    pub fn default_for(app_type: AppType) -> Self {
        match app_type {
            AppType::Spa => Self::rotating_default(),
            _ => Self::non_rotating_default(),
        }
    }

    pub fn is_rotating(&self) -> bool {
        self.rotation_type == RotationType::Rotating
    }

    /// The multi-resource policy for `audience`, if the client has one.
    pub fn policy_for(&self, audience: &str) -> Option<&AudiencePolicy> {
        self.policies.iter().find(|p| p.audience == audience)
    }

    /// The absolute lifetime in seconds, if the policy has one.
    pub fn absolute(&self) -> Option<u32> {
        (self.expiration_type == ExpirationType::Expiring && !self.infinite_token_lifetime).then_some(self.token_lifetime)
    }

    /// The idle lifetime in seconds, if the policy has one.
    pub fn idle(&self) -> Option<u32> {
        (self.expiration_type == ExpirationType::Expiring && !self.infinite_idle_token_lifetime).then_some(self.idle_token_lifetime)
    }

    /// Auth0's rules: rotation requires expiration; lifetimes within 1 s … 1 year; idle ≤ absolute;
    /// SPAs cannot have non-expiring refresh tokens.
    pub fn validate(&self, app_type: AppType) -> Result<(), CoreError> {
        if self.is_rotating() && self.expiration_type != ExpirationType::Expiring {
            return Err(CoreError::invalid("rotating refresh tokens must be expiring (expiration_type: expiring)"));
        }
        if app_type == AppType::Spa && self.expiration_type != ExpirationType::Expiring {
            return Err(CoreError::invalid("single-page applications cannot use non-expiring refresh tokens"));
        }
        for (name, v) in [("token_lifetime", self.token_lifetime), ("idle_token_lifetime", self.idle_token_lifetime)] {
            if !(1..=MAX_LIFETIME).contains(&v) {
                return Err(CoreError::invalid(format!("{name} must be between 1 and {MAX_LIFETIME} seconds")));
            }
        }
        if self.leeway > MAX_LIFETIME {
            return Err(CoreError::invalid(format!("leeway must be between 0 and {MAX_LIFETIME} seconds")));
        }
        if let (Some(abs), Some(idle)) = (self.absolute(), self.idle())
            && idle > abs
        {
            return Err(CoreError::invalid("idle_token_lifetime must not exceed token_lifetime"));
        }
        if self.policies.len() > MAX_POLICIES {
            return Err(CoreError::invalid(format!("at most {MAX_POLICIES} refresh-token policies")));
        }
        for (i, p) in self.policies.iter().enumerate() {
            p.validate()?;
            if self.policies[..i].iter().any(|q| q.audience == p.audience) {
                return Err(CoreError::invalid(format!("policies: audience {} appears twice", p.audience)));
            }
        }
        Ok(())
    }
}

/// A registered application, serialised with Auth0's Management API field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub app_type: AppType,
    pub token_endpoint_auth_method: AuthMethod,
    pub grant_types: Vec<GrantType>,
    /// Allowed Callback URLs: a `redirect_uri` must equal one of them exactly.
    pub callbacks: Vec<String>,
    pub allowed_logout_urls: Vec<String>,
    /// Allowed Web Origins (web_message, CORS).
    pub web_origins: Vec<String>,
    pub refresh_token: RefreshTokenPolicy,
    /// ID-token lifetime (`jwt_configuration.lifetime_in_seconds`).
    pub id_token_lifetime: u32,
    pub created_at: i64,
    /// DPoP required (RFC 9449; Auth0's field name): token requests without a valid proof are
    /// refused. When false, DPoP is optional: a request with a proof gets DPoP-bound tokens.
    #[serde(default)]
    pub require_proof_of_possession: bool,
    /// The algorithm of its ID tokens (`jwt_configuration.alg`); RS256 unless set (clients
    /// stored before the choice existed have none).
    #[serde(default)]
    pub id_token_alg: SigningAlg,
}

/// The settings a `clients create` receives; everything else takes Auth0's defaults.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub name: String,
    pub app_type: Option<AppType>,
    pub callbacks: Vec<String>,
    pub logout_urls: Vec<String>,
    pub web_origins: Vec<String>,
}

impl Client {
    /// Builds a client with defaults for its type and validates every URL.
    pub fn new(id: String, spec: NewClient, now: i64) -> Result<Self, CoreError> {
        let app_type = spec.app_type.unwrap_or(AppType::Spa);
        if spec.name.trim().is_empty() || spec.name.len() > 200 {
            return Err(CoreError::invalid("name must be 1 to 200 characters"));
        }
        let grant_types = match app_type {
            AppType::NonInteractive => vec![GrantType::ClientCredentials],
            _ => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        };
        let c = Client {
            client_id: id,
            name: spec.name,
            app_type,
            token_endpoint_auth_method: if app_type.is_confidential() { AuthMethod::ClientSecretPost } else { AuthMethod::None },
            grant_types,
            callbacks: spec.callbacks,
            allowed_logout_urls: spec.logout_urls,
            web_origins: normalize_origins(&spec.web_origins),
            refresh_token: RefreshTokenPolicy::default_for(app_type),
            id_token_lifetime: 36_000,
            created_at: now,
            require_proof_of_possession: false,
            id_token_alg: SigningAlg::RS256,
        };
        c.validate()?;
        Ok(c)
    }

    /// Checks every invariant of a client (URLs and refresh policy).
    pub fn validate(&self) -> Result<(), CoreError> {
        for cb in self.callbacks.iter().chain(&self.allowed_logout_urls) {
            crate::oauth::RedirectUri::parse(cb).map_err(|e| CoreError::invalid(format!("{cb}: {e}")))?;
        }
        for o in &self.web_origins {
            if origin_of(o).as_deref() != Some(o.as_str()) {
                return Err(CoreError::invalid(format!("{o} is not an origin (scheme://host[:port])")));
            }
        }
        if self.callbacks.len() > 100 || self.web_origins.len() > 100 || self.allowed_logout_urls.len() > 100 {
            return Err(CoreError::invalid("at most 100 URLs per list"));
        }
        self.refresh_token.validate(self.app_type)
    }

    /// Refuses a callback that would carry authorization codes over plain http to another
    /// machine: `http` is for loopback redirects only (RFC 8252 §7.3, RFC 9700 §4.1.1 — such a
    /// code can be read on the network). Checked at registration, so existing clients keep working.
    pub fn check_callback_transport(&self) -> Result<(), CoreError> {
        for cb in &self.callbacks {
            let uri = crate::oauth::RedirectUri::parse(cb).map_err(|e| CoreError::invalid(format!("{cb}: {e}")))?;
            if uri.url().scheme() == "http" && !is_loopback(uri.url()) {
                return Err(CoreError::invalid(format!(
                    "{cb}: http callbacks are allowed for localhost and loopback addresses only; use https (or --allow-insecure-callbacks in development)"
                )));
            }
        }
        Ok(())
    }

    pub fn allows_grant(&self, g: GrantType) -> bool {
        self.grant_types.contains(&g)
    }

    pub fn has_callback(&self, redirect_uri: &str) -> bool {
        self.callbacks.iter().any(|c| c == redirect_uri)
    }

    /// Origins allowed for CORS: the web origins and the origins of the callbacks (as Auth0).
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.web_origins.iter().any(|o| o == origin) || self.callbacks.iter().any(|c| origin_of(c).as_deref() == Some(origin))
    }

    pub fn is_web_origin(&self, origin: &str) -> bool {
        self.web_origins.iter().any(|o| o == origin)
    }
}

/// Web origins as browsers serialise them (`https://app.example/` → `https://app.example`); a value
/// that is not an origin is kept as given, for [`Client::validate`] to refuse.
pub fn normalize_origins(origins: &[String]) -> Vec<String> {
    origins.iter().map(|o| origin_of(o).unwrap_or_else(|| o.clone())).collect()
}

/// A protected API (Auth0 "resource server").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Api {
    pub id: String,
    pub name: String,
    pub identifier: String,
    pub allow_offline_access: bool,
    /// Access-token lifetime in seconds (Auth0 default 86400, max 2592000).
    pub token_lifetime: u32,
    /// The API's permissions: scopes a client may be granted for it (at `/authorize`, or by a
    /// client grant for `client_credentials`).
    #[serde(default)]
    pub scopes: Vec<ApiScope>,
    /// The algorithm of its JWT access tokens (Auth0's `signing_alg`); RS256 unless set.
    #[serde(default)]
    pub signing_alg: SigningAlg,
}

/// One permission of an API (Auth0's `{value, description}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiScope {
    pub value: String,
    #[serde(default)]
    pub description: String,
}

/// At most this many permissions per API.
pub const MAX_API_SCOPES: usize = 1000;

impl ApiScope {
    /// Parses the CLI spelling `VALUE[=description]`.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let (value, description) = s.split_once('=').unwrap_or((s, ""));
        let scope = ApiScope { value: value.to_string(), description: description.to_string() };
        scope.validate()?;
        Ok(scope)
    }

    /// A scope token (RFC 6749 §3.3) of at most 280 characters, a description of at most 500.
    pub fn validate(&self) -> Result<(), CoreError> {
        let token_char = |b: u8| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
        if self.value.is_empty() || self.value.len() > 280 || !self.value.bytes().all(token_char) {
            return Err(CoreError::invalid(format!("scope value {:?} must be 1 to 280 characters without spaces or quotes", self.value)));
        }
        if self.description.chars().count() > 500 {
            return Err(CoreError::invalid(format!("the description of scope {} must be at most 500 characters", self.value)));
        }
        Ok(())
    }
}

pub const MAX_ACCESS_TOKEN_LIFETIME: u32 = 2_592_000;

impl Api {
    pub fn new(
        id: String,
        identifier: String,
        name: Option<String>,
        allow_offline_access: bool,
        token_lifetime: Option<u32>,
    ) -> Result<Self, CoreError> {
        if identifier.is_empty() || identifier.len() > 600 || identifier.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CoreError::invalid("audience must be 1 to 600 characters without spaces"));
        }
        let token_lifetime = token_lifetime.unwrap_or(86_400);
        if !(1..=MAX_ACCESS_TOKEN_LIFETIME).contains(&token_lifetime) {
            return Err(CoreError::invalid(format!("token lifetime must be between 1 and {MAX_ACCESS_TOKEN_LIFETIME} seconds")));
        }
        Ok(Api {
            id,
            name: name.unwrap_or_else(|| identifier.clone()),
            identifier,
            allow_offline_access,
            token_lifetime,
            scopes: Vec::new(),
            signing_alg: SigningAlg::RS256,
        })
    }

    /// Checks every invariant of an API: name, lifetime and permissions (each valid, no
    /// duplicates, at most [`MAX_API_SCOPES`]).
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            return Err(CoreError::invalid("name must be 1 to 200 characters"));
        }
        if !(1..=MAX_ACCESS_TOKEN_LIFETIME).contains(&self.token_lifetime) {
            return Err(CoreError::invalid(format!("token lifetime must be between 1 and {MAX_ACCESS_TOKEN_LIFETIME} seconds")));
        }
        if self.scopes.len() > MAX_API_SCOPES {
            return Err(CoreError::invalid(format!("an API has at most {MAX_API_SCOPES} scopes")));
        }
        for (i, s) in self.scopes.iter().enumerate() {
            s.validate()?;
            if self.scopes[..i].iter().any(|o| o.value == s.value) {
                return Err(CoreError::invalid(format!("scope {} is listed twice", s.value)));
            }
        }
        Ok(())
    }

    /// Whether `scope` is one of this API's permissions.
    pub fn defines(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.value == scope)
    }
}

/// `localhost` (and its subdomains, RFC 6761 §6.3) or a loopback IP address.
fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_and_apis_stored_before_the_algorithm_choice_sign_with_rs256() {
        let c = Client::new("c".into(), NewClient { name: "app".into(), ..Default::default() }, 0).unwrap();
        let mut stored = serde_json::to_value(&c).unwrap();
        stored.as_object_mut().unwrap().remove("id_token_alg");
        assert_eq!(serde_json::from_value::<Client>(stored).unwrap().id_token_alg, SigningAlg::RS256);
        let api = Api::new("a".into(), "https://a.example".into(), None, false, None).unwrap();
        let mut stored = serde_json::to_value(&api).unwrap();
        stored.as_object_mut().unwrap().remove("signing_alg");
        assert_eq!(serde_json::from_value::<Api>(stored).unwrap().signing_alg, SigningAlg::RS256);
    }

    #[test]
    fn non_loopback_http_callbacks_are_refused_at_registration() {
        let with = |cb: &str| {
            let spec = NewClient {
                name: "A".into(),
                app_type: Some(AppType::Spa),
                callbacks: vec![cb.into()],
                logout_urls: vec![],
                web_origins: vec![],
            };
            Client::new("c".into(), spec, 0).unwrap().check_callback_transport()
        };
        for ok in
            ["https://app.example/cb", "http://localhost:8080/cb", "http://app.localhost/cb", "http://127.0.0.1:3001/", "http://[::1]/cb"]
        {
            assert!(with(ok).is_ok(), "{ok}");
        }
        for refused in ["http://app.example/cb", "http://10.0.0.1/cb", "http://localhost.evil.example/cb"] {
            assert!(with(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn rotating_requires_expiring() {
        let mut p = RefreshTokenPolicy::rotating_default();
        p.expiration_type = ExpirationType::NonExpiring;
        assert!(p.validate(AppType::Native).is_err());
    }

    #[test]
    fn idle_lifetime_must_not_exceed_absolute() {
        let mut p = RefreshTokenPolicy::rotating_default();
        p.idle_token_lifetime = p.token_lifetime + 1;
        assert!(p.validate(AppType::Spa).is_err());
        p.infinite_token_lifetime = true;
        assert!(p.validate(AppType::Spa).is_ok(), "no absolute lifetime, nothing to exceed");
    }

    #[test]
    fn lifetimes_must_be_within_auth0_ranges() {
        let mut p = RefreshTokenPolicy::rotating_default();
        p.token_lifetime = 0;
        assert!(p.validate(AppType::Spa).is_err());
        p.token_lifetime = MAX_LIFETIME + 1;
        assert!(p.validate(AppType::Spa).is_err());
    }

    #[test]
    fn stored_clients_without_policies_still_load_and_serialise_unchanged() {
        let p = RefreshTokenPolicy::rotating_default();
        let mut v = serde_json::to_value(&p).unwrap();
        assert!(v.get("policies").is_none(), "empty policies are omitted: {v}");
        v.as_object_mut().unwrap().remove("policies");
        assert_eq!(serde_json::from_value::<RefreshTokenPolicy>(v).unwrap(), p);
    }

    #[test]
    fn policies_are_validated() {
        let policy = |audience: &str, scope: &[&str]| AudiencePolicy {
            audience: audience.into(),
            scope: scope.iter().map(|s| s.to_string()).collect(),
        };
        let mut p = RefreshTokenPolicy::rotating_default();
        p.policies = vec![policy("https://a.test", &["read:a"]), policy("https://b.test", &[])];
        assert!(p.validate(AppType::Spa).is_ok());
        assert_eq!(p.policy_for("https://b.test").map(|x| x.scope.len()), Some(0));
        for bad in [
            vec![policy("", &["read"])],
            vec![policy("has space", &["read"])],
            vec![policy("https://a.test", &["two words"])],
            vec![policy("https://a.test", &[""])],
            vec![policy("https://a.test", &["r"]), policy("https://a.test", &["w"])],
        ] {
            p.policies = bad;
            assert!(p.validate(AppType::Spa).is_err(), "{:?}", p.policies);
        }
    }

    #[test]
    fn api_scopes_parse_and_must_be_unique_tokens() {
        let s = ApiScope::parse("read:messages=Read your messages").unwrap();
        assert_eq!((s.value.as_str(), s.description.as_str()), ("read:messages", "Read your messages"));
        assert_eq!(ApiScope::parse("write:x").unwrap().description, "");
        assert!(ApiScope::parse("=nothing").is_err());
        assert!(ApiScope::parse("has space").is_err());
        let mut api = Api::new("a".into(), "https://api.example".into(), None, false, None).unwrap();
        api.scopes = vec![ApiScope::parse("read:x").unwrap(), ApiScope::parse("read:x=again").unwrap()];
        assert!(api.validate().is_err());
        api.scopes.pop();
        assert!(api.validate().is_ok() && api.defines("read:x") && !api.defines("write:x"));
    }

    #[test]
    fn spa_cannot_be_non_expiring() {
        let p = RefreshTokenPolicy::non_rotating_default();
        assert!(p.validate(AppType::Spa).is_err());
        assert!(p.validate(AppType::RegularWeb).is_ok());
    }

    #[test]
    fn spa_defaults_to_rotating_and_expiring() {
        let c = Client::new("c".into(), NewClient { name: "app".into(), app_type: Some(AppType::Spa), ..Default::default() }, 0).unwrap();
        assert!(c.refresh_token.is_rotating());
        assert_eq!(c.refresh_token.absolute(), Some(2_592_000));
        assert_eq!(c.token_endpoint_auth_method, AuthMethod::None);
    }

    #[test]
    fn cors_allows_web_origins_and_callback_origins_only() {
        let c = Client::new(
            "c".into(),
            NewClient {
                name: "app".into(),
                app_type: Some(AppType::Spa),
                callbacks: vec!["http://localhost:8080/cb".into()],
                web_origins: vec!["https://app.example/".into()],
                ..Default::default()
            },
            0,
        )
        .unwrap();
        assert_eq!(c.web_origins, vec!["https://app.example"]);
        assert!(c.allows_origin("https://app.example"));
        assert!(c.allows_origin("http://localhost:8080"));
        assert!(!c.allows_origin("https://evil.example"));
    }
}
