//! The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1): validation in
//! the order that keeps it safe — client and redirect URI first, and only then errors are sent back
//! to the redirect URI — and the decision between signing in, answering silently, or failing.

use ratchet_core::audit::EventType;
use ratchet_core::client::{Api, AppType, Client, GrantType};
use ratchet_core::oauth::{CodeChallenge, Prompt, RedirectUri, ResponseMode, SUPPORTED_SCOPES, Scope};
use ratchet_core::secret::{hash, random_id, random_token};
use ratchet_store::{AuthCode, Session, User};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::AppState;
use crate::error::OAuthError;
use crate::http::params::Params;
use crate::service::audit::Record;
use crate::service::manage::console;

/// Authorization codes live 60 seconds.
pub const CODE_LIFETIME: i64 = 60;

/// Where and how the authorization response goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub redirect_uri: String,
    pub mode: Mode,
    pub state: Option<String>,
}

/// Serialisable mirror of [`ResponseMode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Query,
    Fragment,
    FormPost,
    WebMessage,
}

impl From<ResponseMode> for Mode {
    fn from(m: ResponseMode) -> Self {
        match m {
            ResponseMode::Query => Mode::Query,
            ResponseMode::Fragment => Mode::Fragment,
            ResponseMode::FormPost => Mode::FormPost,
            ResponseMode::WebMessage => Mode::WebMessage,
        }
    }
}

/// A validated authorization request; also the login transaction carried through the browser.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub target: Target,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub audience: Option<String>,
    pub login: bool,
    pub silent: bool,
    pub max_age: Option<i64>,
    /// Transaction expiry (unix seconds).
    pub exp: i64,
    /// Hash of the CSRF cookie this transaction is bound to.
    pub csrf: String,
}

/// Why an authorization request failed.
#[derive(Debug)]
pub enum Rejection {
    /// The client or redirect URI cannot be trusted: show a page, never redirect.
    Page(String),
    /// An error delivered to the (validated) redirect URI.
    Redirect { target: Target, error: &'static str, description: String },
}

/// What to do next.
pub enum Next {
    /// Show the login page for this transaction.
    Login(AuthorizationRequest),
    /// Deliver these response parameters to the target.
    Respond(Target, Vec<(&'static str, String)>),
}

const MAX_STATE: usize = 2048;

impl AppState {
    /// Validates `/authorize` parameters. `csrf_hash` binds a possible login transaction to the
    /// browser's CSRF cookie.
    pub async fn validate_authorization(&self, p: &Params, csrf_hash: String) -> Result<(AuthorizationRequest, Client), Rejection> {
        let page = |m: &str| Rejection::Page(m.to_string());
        let client_id = p.get("client_id").ok_or_else(|| page("Missing required parameter: client_id"))?;
        let client = match self.store.client(client_id).await {
            Ok(Some(c)) => c.client,
            Ok(None) => return Err(page("Unknown client.")),
            Err(_) => return Err(page("The service is temporarily unavailable.")),
        };
        let redirect_uri = p.get("redirect_uri").ok_or_else(|| page("Missing required parameter: redirect_uri"))?;
        let parsed = RedirectUri::parse(redirect_uri).map_err(|e| Rejection::Page(e.to_string()))?;
        if !client.has_callback(redirect_uri) {
            return Err(page("The redirect_uri is not registered for this client (Allowed Callback URLs)."));
        }
        let mode = ResponseMode::parse(p.get("response_mode")).ok();
        if mode == Some(ResponseMode::WebMessage) && !client.is_web_origin(&parsed.origin()) {
            return Err(Rejection::Page(format!("The specified redirect_uri '{redirect_uri}' does not have a registered origin.")));
        }
        let state = p.get("state").map(str::to_string);
        let target = Target { redirect_uri: redirect_uri.to_string(), mode: mode.unwrap_or(ResponseMode::Query).into(), state };
        let fail = |error: &'static str, description: &str| Rejection::Redirect {
            target: target.clone(),
            error,
            description: description.to_string(),
        };
        if target.state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
            return Err(fail("invalid_request", "state is too long"));
        }
        if mode.is_none() {
            return Err(fail("invalid_request", "Unsupported response_mode"));
        }
        // OIDC Core §6 / RFC 9101: request objects are refused with their own errors rather than
        // ignored, so a client never believes its signed parameters were honoured.
        if p.get("request").is_some() {
            return Err(fail("request_not_supported", "The request parameter is not supported"));
        }
        if p.get("request_uri").is_some() {
            return Err(fail("request_uri_not_supported", "The request_uri parameter is not supported"));
        }
        match p.get("response_type") {
            Some("code") => {}
            None => return Err(fail("invalid_request", "Missing required parameter: response_type")),
            Some(_) => return Err(fail("unsupported_response_type", "Unsupported response_type: only code is supported")),
        }
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(fail("unauthorized_client", "The client is not allowed the authorization_code grant"));
        }
        let code_challenge = match (p.get("code_challenge"), p.get("code_challenge_method")) {
            (Some(c), m) => Some(CodeChallenge::parse(c, m).map_err(|e| fail("invalid_request", &e.to_string()))?),
            (None, Some(_)) => return Err(fail("invalid_request", "code_challenge_method without code_challenge")),
            (None, None) if !client.app_type.is_confidential() => {
                return Err(fail("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256"));
            }
            (None, None) => None,
        };
        let scope = Scope::parse(p.get("scope").unwrap_or("openid")).map_err(|e| fail("invalid_scope", &e.to_string()))?;
        let api = match p.get("audience") {
            None => None,
            Some(a) if self.manage.console_api(a).is_some() && !console::may_ask_for_management(&client.client_id) => {
                return Err(fail("access_denied", "Only the admin console may ask for the Management API here; use a client grant"));
            }
            Some(a) => match self.manage.end_user_api(a).await {
                Ok(Some(api)) => Some(api),
                Ok(None) => return Err(fail("access_denied", &format!("Service not found: {a}"))),
                Err(_) => return Err(fail("temporarily_unavailable", "The service is temporarily unavailable.")),
            },
        };
        let prompt = Prompt::parse(p.get("prompt")).map_err(|e| fail("invalid_request", &e.to_string()))?;
        let max_age = match p.get("max_age") {
            None => None,
            Some(v) => Some(
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| fail("invalid_request", "max_age must be a non-negative integer"))?,
            ),
        };
        let nonce = p.get("nonce").map(str::to_string);
        if nonce.as_ref().is_some_and(|n| n.len() > MAX_STATE) {
            return Err(fail("invalid_request", "nonce is too long"));
        }
        if client.app_type == AppType::NonInteractive {
            return Err(fail("unauthorized_client", "Machine-to-machine clients cannot use /authorize"));
        }
        let req = AuthorizationRequest {
            client_id: client.client_id.clone(),
            target,
            scope: granted_scope(&scope, api.as_ref()).to_string(),
            nonce,
            code_challenge: code_challenge.map(|c| c.as_str().to_string()),
            audience: api.map(|a| a.identifier),
            login: prompt == Prompt::Login,
            silent: prompt == Prompt::None,
            max_age,
            exp: self.now() + crate::service::signin::TRANSACTION_LIFETIME,
            csrf: csrf_hash,
        };
        Ok((req, client))
    }

    /// Given a valid request and the browser's session, signs in silently, asks for a login, or
    /// fails with `login_required`.
    pub async fn decide(&self, req: AuthorizationRequest, session: Option<(Session, User)>) -> Result<Next, OAuthError> {
        let now = self.now();
        let fresh_enough = |s: &Session| req.max_age.is_none_or(|m| now - s.auth_time <= m);
        match session {
            Some((s, u)) if !req.login && fresh_enough(&s) => {
                let code = match self.issue_code(&req, &s, &u).await {
                    Ok(code) => code,
                    // A silent request is answered at the redirect URI, whatever the outcome.
                    Err(e) if req.silent && e.error == "access_denied" => {
                        return Ok(Next::Respond(req.target.clone(), error_response(e.error, &e.description, &req.target)));
                    }
                    Err(e) => return Err(e),
                };
                if req.silent {
                    self.record(Record {
                        kind: EventType::SilentAuthSucceeded,
                        description: "Successful silent authentication",
                        client_id: Some(&req.client_id),
                        user_id: Some(&u.user_id),
                        details: json!({}),
                    })
                    .await;
                }
                Ok(Next::Respond(req.target.clone(), code_response(code, &req.target)))
            }
            _ if req.silent => {
                self.record(Record {
                    kind: EventType::SilentAuthFailed,
                    description: "Login required",
                    client_id: Some(&req.client_id),
                    user_id: None,
                    details: json!({}),
                })
                .await;
                Ok(Next::Respond(req.target.clone(), error_response("login_required", "Login required", &req.target)))
            }
            _ => Ok(Next::Login(req)),
        }
    }

    /// Refuses, and logs, an authorization for the Management API to a user who is not an
    /// administrator (`access_denied`, RFC 6749 §4.1.2.1).
    pub async fn admit(&self, req: &AuthorizationRequest, user: &User) -> Result<(), OAuthError> {
        if console::may_hold(&self.issuer, req.audience.as_deref(), user) {
            return Ok(());
        }
        self.record(Record {
            kind: EventType::LoginFailed,
            description: console::NOT_AN_ADMINISTRATOR,
            client_id: Some(&req.client_id),
            user_id: Some(&user.user_id),
            details: json!({"audience": req.audience}),
        })
        .await;
        Err(OAuthError::access_denied(console::NOT_AN_ADMINISTRATOR))
    }

    /// Stores a fresh single-use code for `req`, bound to its client, redirect URI and PKCE
    /// challenge; returns the code (the only copy). Only for a user [`Self::admit`] admits.
    pub async fn issue_code(&self, req: &AuthorizationRequest, session: &Session, user: &User) -> Result<String, OAuthError> {
        self.admit(req, user).await?;
        let now = self.now();
        let code = random_token();
        let record = AuthCode {
            code_hash: hash(&code),
            grant_id: random_id("gr_"),
            client_id: req.client_id.clone(),
            user_id: user.user_id.clone(),
            session_id: Some(session.id_hash.clone()),
            redirect_uri: req.target.redirect_uri.clone(),
            code_challenge: req.code_challenge.clone(),
            scope: req.scope.clone(),
            audience: req.audience.clone(),
            nonce: req.nonce.clone(),
            auth_time: session.auth_time,
            expires_at: now + CODE_LIFETIME,
        };
        self.store.insert_code(&record, now).await?;
        Ok(code)
    }
}

/// The scopes an authorization grants: those the server supports (OpenID Connect's and
/// `offline_access`) and the permissions the audience defines (Auth0's behaviour for an API
/// without RBAC); others are dropped.
pub fn granted_scope(requested: &Scope, api: Option<&Api>) -> Scope {
    requested.retain(|t| SUPPORTED_SCOPES.contains(&t) || api.is_some_and(|a| a.defines(t)))
}

/// `code` and `state` response parameters.
pub fn code_response(code: String, target: &Target) -> Vec<(&'static str, String)> {
    let mut v = vec![("code", code)];
    if let Some(s) = &target.state {
        v.push(("state", s.clone()));
    }
    v
}

/// `error`, `error_description` and `state` response parameters.
pub fn error_response(error: &str, description: &str, target: &Target) -> Vec<(&'static str, String)> {
    let mut v = vec![("error", error.to_string()), ("error_description", description.to_string())];
    if let Some(s) = &target.state {
        v.push(("state", s.clone()));
    }
    v
}
