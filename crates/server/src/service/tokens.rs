//! Issuing tokens: ID tokens (OIDC Core §2, §12.2 for refreshed ones), JWT access tokens for APIs
//! (RFC 9068 shape, Auth0's `aud` = [API, userinfo]), and opaque access tokens for `/userinfo`
//! that are authenticated under a server key rather than stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use ratchet_core::client::{Api, Client};
use ratchet_core::jws::SigningAlg;
use ratchet_core::oauth::Scope;
use ratchet_core::secret::{ct_eq, random_id};
use ratchet_store::User;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::error::OAuthError;

/// Lifetime of an opaque (userinfo-only) access token, as Auth0's default.
pub const OPAQUE_ACCESS_TOKEN_LIFETIME: i64 = 86_400;

/// The claim of a JWT access token naming the grant it was minted from (a private claim name,
/// RFC 7519 §4.3); opaque tokens carry the same value sealed.
pub const GRANT_CLAIM: &str = "gid";

/// The successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// What a set of user tokens is issued for.
pub struct Grant<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub scope: &'a Scope,
    pub api: Option<&'a Api>,
    pub grant_id: &'a str,
    pub auth_time: i64,
    /// The session the authorization came from (hash of its id), for `sid`.
    pub session_id: Option<&'a str>,
    /// Present on the code exchange only (OIDC Core §12.2: not in refreshed ID tokens).
    pub nonce: Option<&'a str>,
    /// The thumbprint of the DPoP key the access token is bound to (RFC 9449 §6), if the request
    /// carried a valid proof.
    pub jkt: Option<&'a str>,
}

/// The public session id (`sid`) for a stored session id hash: stable, not the cookie.
pub fn sid_for(session_id_hash: &str) -> String {
    hex::encode(&Sha256::digest(format!("sid:{session_id_hash}").as_bytes())[..16])
}

/// Claims of an opaque access token.
#[derive(Serialize, Deserialize)]
pub struct OpaqueClaims {
    pub sub: String,
    pub cid: String,
    pub scp: String,
    pub gid: String,
    pub exp: i64,
    /// `cnf.jkt` of a DPoP-bound token (RFC 9449 §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

impl AppState {
    fn sign(&self, alg: SigningAlg, claims: &Value) -> Result<String, OAuthError> {
        Ok(self.keys.current().signing.sign(alg, claims)?)
    }

    /// Access token (+ ID token when `openid` was granted) for `grant`; the refresh token is the
    /// caller's business.
    pub fn issue(&self, g: &Grant<'_>, refresh_token: Option<String>) -> Result<TokenResponse, OAuthError> {
        let now = self.now();
        let (access_token, expires_in) = match g.api {
            Some(api) => {
                let exp = now + i64::from(api.token_lifetime);
                let mut aud = vec![Value::from(api.identifier.clone())];
                if g.scope.contains("openid") {
                    aud.push(Value::from(self.endpoint("userinfo")));
                }
                // `gid` names the grant so `/userinfo` can refuse the token once the grant or its
                // refresh-token family is revoked, as it does for opaque tokens.
                let mut claims = json!({
                    "iss": self.iss(), "sub": g.user.user_id, "aud": aud, "iat": now, "exp": exp,
                    "scope": g.scope.to_string(), "azp": g.client.client_id, "jti": random_id(""),
                    GRANT_CLAIM: g.grant_id,
                });
                if let Some(jkt) = g.jkt {
                    claims["cnf"] = json!({"jkt": jkt});
                }
                (self.sign(api.signing_alg, &claims)?, i64::from(api.token_lifetime))
            }
            None => {
                let claims = OpaqueClaims {
                    sub: g.user.user_id.clone(),
                    cid: g.client.client_id.clone(),
                    scp: g.scope.to_string(),
                    gid: g.grant_id.to_string(),
                    exp: now + OPAQUE_ACCESS_TOKEN_LIFETIME,
                    jkt: g.jkt.map(str::to_string),
                };
                (self.seal_opaque(&claims), OPAQUE_ACCESS_TOKEN_LIFETIME)
            }
        };
        let id_token = if g.scope.contains("openid") { Some(self.id_token(g, now)?) } else { None };
        Ok(TokenResponse {
            access_token,
            token_type: token_type(g.jkt).into(),
            expires_in,
            scope: g.scope.to_string(),
            id_token,
            refresh_token,
        })
    }

    fn id_token(&self, g: &Grant<'_>, now: i64) -> Result<String, OAuthError> {
        let mut c = Map::new();
        c.insert("iss".into(), self.iss().into());
        c.insert("sub".into(), g.user.user_id.clone().into());
        c.insert("aud".into(), g.client.client_id.clone().into());
        c.insert("azp".into(), g.client.client_id.clone().into());
        c.insert("iat".into(), now.into());
        c.insert("exp".into(), (now + i64::from(g.client.id_token_lifetime)).into());
        c.insert("auth_time".into(), g.auth_time.into());
        if let Some(n) = g.nonce {
            c.insert("nonce".into(), n.into());
        }
        if let Some(s) = g.session_id {
            c.insert("sid".into(), sid_for(s).into());
        }
        for (k, v) in profile_claims(g.user, g.scope) {
            c.insert(k.into(), v);
        }
        self.sign(g.client.id_token_alg, &Value::Object(c))
    }

    /// `/oauth/revoke` of an access token (RFC 7009 §2.1: the server may revoke the grant it came
    /// from, and does): the grant's liveness ends, so every access token minted from it is
    /// refused at `/userinfo` and its refresh-token family is revoked. Tokens of another client,
    /// foreign or expired tokens, and DPoP-bound tokens without a proof by their key (`jkt`) are
    /// answered with success and change nothing, as for refresh tokens.
    pub async fn revoke_access_token(&self, client: &Client, token: &str, jkt: Option<&str>) -> Result<(), OAuthError> {
        let (client_id, grant, bound) = if token.matches('.').count() == 2 {
            let Some(claims) = self.keys.current().signing.verify(token) else { return Ok(()) };
            let live = claims["exp"].as_i64().is_some_and(|e| e > self.now()) && claims["iss"].as_str() == Some(self.iss());
            let (Some(azp), Some(grant), true) = (claims["azp"].as_str(), claims[GRANT_CLAIM].as_str(), live) else { return Ok(()) };
            (azp.to_string(), grant.to_string(), claims["cnf"]["jkt"].as_str().map(str::to_string))
        } else {
            let Some(c) = self.open_opaque(token) else { return Ok(()) };
            (c.cid, c.gid, c.jkt)
        };
        if client_id != client.client_id || bound.is_some_and(|b| jkt != Some(b.as_str())) {
            return Ok(());
        }
        Ok(self.store.revoke_grant(&grant, self.now()).await?)
    }

    /// An opaque access token: `base64url(claims) "." base64url(HMAC)`; nothing is stored.
    pub fn seal_opaque(&self, claims: &OpaqueClaims) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
        let tag = URL_SAFE_NO_PAD.encode(opaque_mac(&self.keys.access_token, &body));
        format!("{body}.{tag}")
    }

    /// Verifies an opaque access token's MAC and expiry.
    pub fn open_opaque(&self, token: &str) -> Option<OpaqueClaims> {
        let (body, tag) = token.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if !ct_eq(&opaque_mac(&self.keys.access_token, body), &tag) {
            return None;
        }
        let claims: OpaqueClaims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        (claims.exp > self.now()).then_some(claims)
    }
}

/// `token_type` of a response (RFC 9449 §5): `DPoP` for a key-bound access token.
pub fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() { "DPoP" } else { "Bearer" }
}

fn opaque_mac(key: &[u8], body: &str) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(b"at.");
    m.update(body.as_bytes());
    m.finalize().into_bytes().into()
}

/// Standard claims released for `profile` and `email` (OIDC Core §5.4).
pub fn profile_claims(user: &User, scope: &Scope) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    if scope.contains("profile") {
        let nickname = user.email.split('@').next().unwrap_or_default().to_string();
        out.push(("name", Value::from(user.name.clone())));
        out.push(("nickname", Value::from(nickname)));
        out.push(("updated_at", Value::from(user.created_at)));
    }
    if scope.contains("email") {
        out.push(("email", Value::from(user.email.clone())));
        out.push(("email_verified", Value::from(false)));
    }
    out
}
