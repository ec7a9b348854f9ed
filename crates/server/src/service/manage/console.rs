//! The admin console's place in the authorization server (docs/admin-console.md): its
//! first-party SPA client `ratchet-admin`, kept pointing at `{issuer}admin/` with rotating
//! refresh tokens, and the rule that decides who may hold a Management API token as a user:
//! only the console may ask for one at `/authorize`, and only an administrator gets one
//! (checked when the code is issued, when it is exchanged, and at every refresh, so a demotion
//! takes effect at the console's next refresh).

use ratchet_core::client::{Api, AppType, Client, RotationType};
use ratchet_store::{StoreError, User};

use super::clients::{ClientChanges, ClientService, ClientSpec, RefreshChanges, RefreshUpdate};
use super::{ManageError, Management, is_management_audience};

/// The console's client id.
pub const CONSOLE_CLIENT_ID: &str = "ratchet-admin";
/// The console's path under the issuer.
pub const CONSOLE_PATH: &str = "admin/";
/// Default lifetime of the console's Management API access tokens (seconds): short, as the
/// console refreshes them with its rotating refresh token (`serve --admin-token-lifetime`).
pub const CONSOLE_TOKEN_LIFETIME: u32 = 600;
/// What a signed-in user who is not an administrator is told.
pub const NOT_AN_ADMINISTRATOR: &str = "This account is not an administrator. The admin console is for administrators only \
     (an administrator can grant the role with: ratchet users update USER_ID --admin true).";

/// The console's address, which is also its callback and logout URL: `{issuer}admin/`.
pub fn console_url(issuer: &url::Url) -> String {
    format!("{issuer}{CONSOLE_PATH}")
}

/// Whether `client_id` may ask for the Management API at `/authorize` (only the console may:
/// other applications get Management API tokens through client grants, RFC 6749 §4.4).
pub fn may_ask_for_management(client_id: &str) -> bool {
    client_id == CONSOLE_CLIENT_ID
}

/// Whether `user` may hold an end-user token for `audience`: the Management API's only if an
/// administrator; any other audience is not this rule's business.
pub fn may_hold(issuer: &url::Url, audience: Option<&str>, user: &User) -> bool {
    user.admin || audience.is_none_or(|a| !is_management_audience(issuer, a))
}

impl Management {
    /// The Management API as the console's audience: the system API, with refresh tokens
    /// allowed (the console keeps its session with rotating refresh tokens) and short-lived access
    /// tokens; `None` for any other audience.
    pub fn console_api(&self, audience: &str) -> Option<Api> {
        is_management_audience(&self.issuer, audience).then(|| Api {
            allow_offline_access: true,
            token_lifetime: self.console_token_lifetime,
            ..self.apis.management_api()
        })
    }

    /// The API an end user's authorization for `audience` is for: the Management API (see
    /// [`Self::console_api`]) or a registered API.
    pub async fn end_user_api(&self, audience: &str) -> Result<Option<Api>, StoreError> {
        match self.console_api(audience) {
            Some(api) => Ok(Some(api)),
            None => self.store.api(audience).await,
        }
    }

    /// Creates the console's client if it is missing; otherwise points its URLs at this issuer and
    /// turns rotation back on if it was turned off (the console, a browser app, gets refresh
    /// tokens only while they rotate). Run by `migrate` and at every start of `serve`.
    pub async fn ensure_console_client(&self) -> Result<Client, ManageError> {
        let url = console_url(&self.issuer);
        let origin = self.issuer.origin().ascii_serialization();
        // The console's URLs are the issuer's own: whatever scheme the operator gave the issuer,
        // the callback rule for registered applications (https off loopback) does not apply.
        let clients = ClientService::new(self.store.clone(), self.clock.clone(), true);
        match clients.get(CONSOLE_CLIENT_ID).await {
            Ok(c) => {
                let urls_current =
                    c.callbacks == [url.clone()] && c.allowed_logout_urls == [url.clone()] && c.web_origins == [origin.clone()];
                if urls_current && c.refresh_token.is_rotating() {
                    return Ok(c);
                }
                let rotation = RefreshChanges { rotation: Some(RotationType::Rotating), ..Default::default() };
                let changes = ClientChanges {
                    callbacks: Some(vec![url.clone()]),
                    allowed_logout_urls: Some(vec![url]),
                    web_origins: Some(vec![origin]),
                    refresh_token: (!c.refresh_token.is_rotating()).then_some(RefreshUpdate::Adjust(rotation)),
                    ..Default::default()
                };
                clients.update(CONSOLE_CLIENT_ID, changes).await
            }
            Err(ManageError::NotFound(_)) => {
                let spec = ClientSpec {
                    name: "Ratchet admin console".into(),
                    app_type: Some(AppType::Spa),
                    callbacks: vec![url.clone()],
                    allowed_logout_urls: vec![url],
                    web_origins: vec![origin],
                    ..Default::default()
                };
                Ok(clients.create_with_id(CONSOLE_CLIENT_ID.into(), spec).await?.client)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(admin: bool) -> User {
        User { admin, ..User::new("ratchet|u".into(), "u@example.com".into(), "U".into(), "h".into(), 0) }
    }

    #[test]
    fn only_administrators_hold_management_tokens_as_users() {
        let issuer = url::Url::parse("http://127.0.0.1:3000/").unwrap();
        let management = "http://127.0.0.1:3000/api/v2/";
        assert!(may_hold(&issuer, Some(management), &user(true)));
        assert!(!may_hold(&issuer, Some(management), &user(false)));
        assert!(!may_hold(&issuer, Some("https://127.0.0.1:3000/api/v2/"), &user(false)), "either spelling");
        assert!(may_hold(&issuer, Some("https://api.example.com"), &user(false)));
        assert!(may_hold(&issuer, None, &user(false)));
    }

    #[test]
    fn only_the_console_asks_for_the_management_api_at_authorize() {
        assert!(may_ask_for_management(CONSOLE_CLIENT_ID));
        assert!(!may_ask_for_management("ratchet-demo-spa"));
    }
}
