//! Client authentication at the token and revocation endpoints (RFC 6749 §2.3.1):
//! `client_secret_basic`, `client_secret_post`, or `none` for public clients, whichever the client
//! registered (RFC 7591 §2 `token_endpoint_auth_method`).

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ratchet_core::client::{AuthMethod, Client};
use ratchet_core::secret::{ct_eq, hash};

use crate::app::AppState;
use crate::error::OAuthError;
use crate::http::params::Params;

/// Credentials from an `Authorization: Basic` header (each part form-urlencoded, §2.3.1).
fn basic(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let bad = || OAuthError::invalid_client("Malformed Basic credentials", true);
    let v = v.to_str().map_err(|_| bad())?;
    let Some(b64) = v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")) else {
        return Ok(None);
    };
    let decoded = STANDARD.decode(b64.trim()).map_err(|_| bad())?;
    let s = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = s.split_once(':').ok_or_else(bad)?;
    let dec = |x: &str| form_urlencoded::parse(format!("x={x}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default();
    Ok(Some((dec(id), dec(secret))))
}

impl AppState {
    /// Identifies and authenticates the client of a token or revocation request.
    pub async fn authenticate_client(&self, headers: &HeaderMap, p: &Params) -> Result<Client, OAuthError> {
        let basic = basic(headers)?;
        let via_basic = basic.is_some();
        let (client_id, secret) = match (&basic, p.get("client_id")) {
            (Some((id, _)), Some(body_id)) if id != body_id => {
                return Err(OAuthError::invalid_client("client_id does not match the Basic credentials", true));
            }
            (Some((id, s)), _) => (id.clone(), Some(s.clone())),
            (None, Some(id)) => (id.to_string(), p.get("client_secret").map(str::to_string)),
            (None, None) => return Err(OAuthError::missing("client_id")),
        };
        if via_basic && p.get("client_secret").is_some() {
            return Err(OAuthError::invalid_request("Use only one client authentication method"));
        }
        let unknown = || OAuthError::invalid_client("Client authentication failed", via_basic);
        let stored = self.store.client(&client_id).await?.ok_or_else(unknown)?;
        // The registered method is the only one accepted (RFC 7591 §2): a public client
        // presenting a secret, or a secret sent another way than registered, is refused.
        let presented = match (via_basic, &secret) {
            (true, _) => AuthMethod::ClientSecretBasic,
            (false, Some(s)) if !s.is_empty() => AuthMethod::ClientSecretPost,
            (false, _) => AuthMethod::None,
        };
        if presented != stored.client.token_endpoint_auth_method {
            let method = |m: AuthMethod| serde_json::to_value(m).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            let described =
                format!("The client authenticates with {}, not {}", method(stored.client.token_endpoint_auth_method), method(presented));
            return Err(OAuthError::invalid_client(described, via_basic));
        }
        match (stored.client.token_endpoint_auth_method, &stored.secret_hash, secret) {
            (AuthMethod::None, _, _) => Ok(stored.client),
            (_, Some(expected), Some(given)) if ct_eq(hash(&given).as_bytes(), expected.as_bytes()) => Ok(stored.client),
            _ => Err(unknown()),
        }
    }
}
