//! The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.5, OIDC Core §3.1.3) and the
//! `client_credentials` grant (RFC 6749 §4.4).

use ratchet_core::audit::EventType;
use ratchet_core::client::{Client, GrantType};
use ratchet_core::family::{Family, FamilyGrant, MAX_FAMILIES_PER_USER_CLIENT};
use ratchet_core::oauth::{CodeChallenge, Scope};
use ratchet_core::secret::{hash, random_id};
use ratchet_store::{Redemption, Seen};
use serde_json::json;

use crate::app::AppState;
use crate::error::OAuthError;
use crate::http::params::Params;
use crate::service::audit::Record;
use crate::service::manage::client_grants::{M2mAccess, M2mDenied};
use crate::service::manage::console;
use crate::service::tokens::{Grant, TokenResponse};

impl AppState {
    /// Exchanges a code. `browser` is true for CORS requests (with an `Origin` header), which
    /// only ever get a refresh token from a rotating client.
    ///
    /// With a DPoP proof (made by the key with thumbprint `jkt`), the access token is bound to the
    /// key and, for a public client, so is the refresh-token family, for life (RFC 9449 §5).
    pub async fn exchange_code(
        &self,
        client: &Client,
        p: &Params,
        browser: bool,
        seen: &Seen,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let result = self.exchange_code_inner(client, p, browser, seen, jkt).await;
        if let Err(e) = &result {
            self.record(Record {
                kind: EventType::CodeExchangeFailed,
                description: &e.description,
                client_id: Some(&client.client_id),
                user_id: None,
                details: json!({"error": e.error}),
            })
            .await;
        }
        result
    }

    async fn exchange_code_inner(
        &self,
        client: &Client,
        p: &Params,
        browser: bool,
        seen: &Seen,
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let code = p.require("code")?;
        let now = self.now();
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(OAuthError::unauthorized_client("Grant type 'authorization_code' not allowed for the client."));
        }
        let invalid = || OAuthError::invalid_grant("Invalid authorization code");
        let c = match self.store.redeem_code(&hash(code), now).await? {
            Redemption::NotFound => return Err(invalid()),
            Redemption::Replayed(c) => {
                // RFC 6749 §4.1.2: a code used twice revokes what was issued from it.
                self.store.revoke_grant(&c.grant_id, now).await?;
                return Err(invalid());
            }
            Redemption::Fresh(c) => c,
        };
        if c.client_id != client.client_id {
            return Err(invalid());
        }
        if now >= c.expires_at {
            return Err(OAuthError::invalid_grant("Authorization code expired"));
        }
        if p.get("redirect_uri") != Some(c.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
        }
        match (&c.code_challenge, p.get("code_verifier")) {
            (Some(ch), Some(v)) if CodeChallenge::from_stored(ch.clone()).verify(v) => {}
            (Some(_), Some(_)) => return Err(OAuthError::invalid_grant("Failed to verify code verifier")),
            (Some(_), None) => return Err(OAuthError::missing("code_verifier")),
            (None, Some(_)) => return Err(OAuthError::invalid_grant("code_verifier sent but no code_challenge was")),
            (None, None) => {}
        }
        let user = self
            .store
            .user(&c.user_id)
            .await?
            .filter(|u| !u.blocked && console::may_hold(&self.issuer, c.audience.as_deref(), u))
            .ok_or_else(invalid)?;
        let api = match &c.audience {
            Some(a) => Some(self.manage.end_user_api(a).await?.ok_or_else(invalid)?),
            None => None,
        };
        let mut scope = Scope::parse(&c.scope)?;
        let offline = scope.contains("offline_access")
            && client.allows_grant(GrantType::RefreshToken)
            && api.as_ref().is_none_or(|a| a.allow_offline_access)
            && (!browser || client.refresh_token.is_rotating());
        let refresh_token = if offline {
            let family = Family::born(
                FamilyGrant {
                    grant_id: c.grant_id.clone(),
                    client_id: client.client_id.clone(),
                    user_id: user.user_id.clone(),
                    session_id: c.session_id.clone(),
                    audience: c.audience.clone(),
                    scope: c.scope.clone(),
                    auth_time: c.auth_time,
                },
                &client.refresh_token,
                now,
            )
            .bound_to(jkt.filter(|_| !client.app_type.is_confidential()).map(str::to_string));
            self.store.insert_family(&family, seen).await?;
            let evicted =
                self.store.evict_families(&user.user_id, &client.client_id, MAX_FAMILIES_PER_USER_CLIENT, Some(&family.id), now).await?;
            if evicted > 0 {
                self.record(Record {
                    kind: EventType::ResourceCleanup,
                    description: "Refresh token limit reached: oldest families revoked",
                    client_id: Some(&client.client_id),
                    user_id: Some(&user.user_id),
                    details: json!({"resource": "refresh_tokens", "removedCount": evicted, "endCount": MAX_FAMILIES_PER_USER_CLIENT}),
                })
                .await;
            }
            Some(self.keys.current().refresh.encode(&family.id, 0).expose().to_string())
        } else {
            scope = scope.without("offline_access");
            None
        };
        let grant = Grant {
            client,
            user: &user,
            scope: &scope,
            api: api.as_ref(),
            grant_id: &c.grant_id,
            auth_time: c.auth_time,
            session_id: c.session_id.as_deref(),
            nonce: c.nonce.as_deref(),
            jkt,
        };
        let response = self.issue(&grant, refresh_token)?;
        self.record(Record {
            kind: EventType::CodeExchanged,
            description: "Authorization code exchanged",
            client_id: Some(&client.client_id),
            user_id: Some(&user.user_id),
            details: json!({"audience": c.audience, "scope": scope.to_string()}),
        })
        .await;
        Ok(response)
    }

    /// Machine-to-machine tokens (RFC 6749 §4.4) for a confidential client and an API it has a
    /// client grant for: the Management API (`{issuer}api/v2/`, or `https://{host}/api/v2/` as
    /// Auth0's SDKs ask for it) or a registered API. The token carries the audience as requested
    /// and the grant's scopes, narrowed by a requested `scope`; with a DPoP proof it is bound to
    /// the proof's key (`cnf.jkt`, RFC 9449 §6).
    pub async fn client_credentials(&self, client: &Client, p: &Params, jkt: Option<&str>) -> Result<TokenResponse, OAuthError> {
        if !client.allows_grant(GrantType::ClientCredentials) || !client.app_type.is_confidential() {
            return Err(OAuthError::unauthorized_client("Grant type 'client_credentials' not allowed for the client."));
        }
        let audience = p.require("audience")?;
        let requested = p.get("scope").map(Scope::parse).transpose().map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
        let denied = match self.manage.client_grants.m2m_access(&client.client_id, audience, requested.as_ref()).await {
            Ok(access) => return self.m2m_token(client, audience, access, jkt).await,
            Err(M2mDenied::UnknownAudience) => OAuthError::access_denied(format!("Service not found: {audience}")),
            Err(M2mDenied::NoGrant) => OAuthError::access_denied(no_grant(audience)),
            Err(M2mDenied::Store(e)) => return Err(e.into()),
        };
        self.record(Record {
            kind: EventType::ClientCredentialsFailed,
            description: &denied.description,
            client_id: Some(&client.client_id),
            user_id: None,
            details: json!({"audience": audience}),
        })
        .await;
        Err(denied)
    }

    /// Signs the access token `client_credentials` issues for `access`.
    async fn m2m_token(&self, client: &Client, audience: &str, access: M2mAccess, jkt: Option<&str>) -> Result<TokenResponse, OAuthError> {
        let lifetime = i64::from(access.audience.api().token_lifetime);
        let now = self.now();
        let scope = access.scope.to_string();
        let mut claims = json!({
            "iss": self.iss(), "sub": format!("{}@clients", client.client_id), "aud": audience,
            "iat": now, "exp": now + lifetime, "scope": scope, "gty": "client-credentials", "azp": client.client_id,
            "jti": random_id(""),
        });
        if let Some(jkt) = jkt {
            claims["cnf"] = json!({"jkt": jkt});
        }
        let access_token = self.keys.current().signing.sign(access.audience.api().signing_alg, &claims)?;
        self.record(Record {
            kind: EventType::ClientCredentialsExchanged,
            description: "Client credentials exchanged for an access token",
            client_id: Some(&client.client_id),
            user_id: None,
            details: json!({"audience": audience, "scope": scope}),
        })
        .await;
        Ok(TokenResponse {
            access_token,
            token_type: crate::service::tokens::token_type(jkt).into(),
            expires_in: lifetime,
            scope,
            id_token: None,
            refresh_token: None,
        })
    }
}

/// Auth0's exact answer to `client_credentials` without a client grant for the audience.
pub fn no_grant(audience: &str) -> String {
    format!(
        "Client is not authorized to access \"{audience}\". You need to create a \"client-grant\" associated to this API. \
         See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants"
    )
}
