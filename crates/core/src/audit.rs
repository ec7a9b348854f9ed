//! Audit event types: Auth0's log event codes (the `type` field of a log event), so tools that
//! read Auth0 logs read Ratchet's, with a readable name for each.

use serde::{Deserialize, Serialize};

macro_rules! event_types {
    ($($variant:ident = $code:literal, $name:literal;)*) => {
        /// An audit event's type. Its wire form is the Auth0 code (`"ferrt"`, `"sapi"`, …).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum EventType {
            $(#[serde(rename = $code)] #[doc = $name] $variant,)*
        }

        impl EventType {
            /// Every type, in declaration order.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            /// The Auth0 code, e.g. `"ferrt"`.
            pub fn code(self) -> &'static str {
                match self { $(EventType::$variant => $code,)* }
            }

            /// A readable name, e.g. "Refresh token reuse detected: family revoked".
            pub fn name(self) -> &'static str {
                match self { $(EventType::$variant => $name,)* }
            }

            /// Parses an Auth0 code.
            pub fn parse(code: &str) -> Option<EventType> {
                match code { $($code => Some(EventType::$variant),)* _ => None }
            }
        }
    };
}

event_types! {
    LoginSucceeded = "s", "Successful login";
    LoginFailed = "f", "Failed login";
    LogoutSucceeded = "slo", "Successful logout";
    SilentAuthSucceeded = "ssa", "Successful silent authentication";
    SilentAuthFailed = "fsa", "Failed silent authentication";
    CodeExchanged = "seacft", "Authorization code exchanged for tokens";
    CodeExchangeFailed = "feacft", "Failed authorization code exchange";
    RefreshExchanged = "sertft", "Refresh token exchanged";
    RefreshExchangeFailed = "fertft", "Failed refresh token exchange";
    RefreshReuseDetected = "ferrt", "Refresh token reuse detected: family revoked";
    RefreshRevoked = "srrt", "Refresh token revoked";
    RefreshRevokeFailed = "frrt", "Refresh token not revoked (DPoP key required)";
    ClientCredentialsExchanged = "seccft", "Client credentials exchanged for an access token";
    ClientCredentialsFailed = "feccft", "Failed client credentials exchange";
    OriginNotAllowed = "fco", "Origin not allowed for the application";
    ManagementApiWrite = "sapi", "Management API operation";
    ManagementApiFailed = "fapi", "Failed Management API operation";
    RateLimited = "api_limit", "Rate limit reached";
    AccountBlocked = "limit_wc", "Account blocked after too many failed logins";
    IpBlocked = "limit_mu", "IP address blocked after too many failed logins";
    UserDeleted = "sdu", "User deleted";
    SessionRevoked = "ssr", "Session revoked";
    ResourceCleanup = "resource_cleanup", "Refresh tokens revoked to stay within the per-user limit";
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_parses_back_and_codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.code()), Some(*t));
            assert!(seen.insert(t.code()), "duplicate code {}", t.code());
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::Value::from(t.code()));
        }
        assert_eq!(EventType::parse("nope"), None);
    }
}
