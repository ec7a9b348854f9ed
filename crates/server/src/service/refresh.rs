//! The `refresh_token` grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2,
//! DESIGN §4), and revocation of refresh tokens (RFC 7009 §2).
//!
//! The decision comes from `ratchet_core::family::assess`; the hot path (the current token of a
//! live rotating family, no scope requested) is one store call, the conditional `rotate`, which
//! also brings back the user and API. A lost race re-reads the family and decides again, which
//! turns the loser into a leeway retry (same successor) or a reuse (family revoked).

use ratchet_core::audit::EventType;
use ratchet_core::client::{Client, GrantType};
use ratchet_core::family::{Exchange, Family, FamilyGrant, Rejection, idle_deadline};
use ratchet_core::oauth::Scope;
use ratchet_core::secret::Secret;
use ratchet_store::{FamilyFilter, Rotated, Rotation, Seen};
use serde_json::json;

use crate::app::AppState;
use crate::error::{INVALID_REFRESH_TOKEN, OAuthError};
use crate::service::audit::Record;
use crate::service::tokens::{Grant, TokenResponse};

impl AppState {
    /// Exchanges a refresh token presented by an authenticated `client`.
    pub async fn exchange_refresh_token(
        &self,
        client: &Client,
        token: &str,
        requested: Option<&str>,
        seen: &Seen,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows_grant(GrantType::RefreshToken) {
            return Err(OAuthError::unauthorized_client("Grant type 'refresh_token' not allowed for the client."));
        }
        let requested = requested.map(Scope::parse).transpose().map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
        let Some((family_id, presented)) = self.keys.refresh.decode(token) else {
            return Err(self.refresh_failed(client, None, "unknown").await);
        };
        let policy = &client.refresh_token;
        // The common case first, in one statement: the current token of a live rotating family.
        // (A requested scope must be checked before anything is written: full decision.)
        if requested.is_none() && policy.is_rotating() {
            let now = self.now();
            let idle = policy.idle().map(|s| now + i64::from(s));
            let rotation = Rotation { id: &family_id, client_id: &client.client_id, from: presented, now, idle_expires_at: idle, seen };
            if let Some(rotated) = self.store.rotate(&rotation).await? {
                let token = self.keys.refresh.encode(&family_id, presented + 1);
                let event = json!({"familyId": family_id.to_string(), "tokenCounter": presented, "rotated": true});
                return self.refreshed(client, Loaded::Rotated(rotated), None, Some(token), event).await;
            }
        }
        // Two rounds suffice: after losing the conditional write, the winner's counter is visible.
        for _ in 0..3 {
            let now = self.now();
            let Some(family) = self.store.family(&family_id).await? else {
                return Err(self.refresh_failed(client, None, "unknown").await);
            };
            narrowed_scope(&family, requested.as_ref())?;
            let (token, event) = match ratchet_core::family::assess(&family, &client.client_id, policy, presented, now) {
                Exchange::Rotate { from } => {
                    let idle = policy.idle().map(|s| now + i64::from(s));
                    let rotation = Rotation { id: &family.id, client_id: &client.client_id, from, now, idle_expires_at: idle, seen };
                    let Some(rotated) = self.store.rotate(&rotation).await? else {
                        continue;
                    };
                    let event = json!({"familyId": family.id.to_string(), "tokenCounter": from, "rotated": true});
                    let token = self.keys.refresh.encode(&family.id, from + 1);
                    return self.refreshed(client, Loaded::Rotated(rotated), requested.as_ref(), Some(token), event).await;
                }
                Exchange::Retry { successor } => (
                    Some(self.keys.refresh.encode(&family.id, successor)),
                    json!({"familyId": family.id.to_string(), "tokenCounter": presented, "leeway": true}),
                ),
                Exchange::Reuse => {
                    self.store.touch_family(&family.id, now, idle_deadline(policy, family.expires_at, now), seen).await?;
                    (None, json!({"familyId": family.id.to_string(), "tokenCounter": presented}))
                }
                Exchange::Migrate => {
                    let successor = self.migrate_family(&family, client, now, seen).await?;
                    (
                        Some(self.keys.refresh.encode(&successor.id, 0)),
                        json!({"familyId": successor.id.to_string(), "migratedFrom": family.id.to_string()}),
                    )
                }
                Exchange::ReuseDetected { presented, latest } => {
                    self.store.revoke_family(&family.id, now).await?;
                    self.record(Record {
                        kind: EventType::RefreshReuseDetected,
                        description: "Reuse of a rotated refresh token detected: family revoked",
                        client_id: Some(&client.client_id),
                        user_id: Some(&family.user_id),
                        details: json!({"familyId": family.id.to_string(), "tokenCounter": presented, "latestCounter": latest}),
                    })
                    .await;
                    return Err(OAuthError::invalid_refresh_token());
                }
                Exchange::Reject(r) => return Err(self.refresh_failed(client, Some(&family), rejection_reason(r)).await),
            };
            return self.refreshed(client, Loaded::Family(family), requested.as_ref(), token, event).await;
        }
        tracing::error!("refresh did not converge after three rounds");
        Err(OAuthError::server_error())
    }

    /// The success response of a refresh: new access and ID tokens for the family's grant, with
    /// `token` as the refresh token to hand back (if any).
    async fn refreshed(
        &self,
        client: &Client,
        loaded: Loaded,
        requested: Option<&Scope>,
        token: Option<Secret>,
        event: serde_json::Value,
    ) -> Result<TokenResponse, OAuthError> {
        let (family, user, api) = match loaded {
            Loaded::Rotated(Rotated { family, user, api }) => (family, user, api),
            Loaded::Family(family) => {
                let user = self.store.user(&family.user_id).await?;
                let api = match &family.audience {
                    Some(a) => self.store.api(a).await?,
                    None => None,
                };
                (family, user, api)
            }
        };
        let family = &family;
        let scope = narrowed_scope(family, requested)?;
        let Some(user) = user.filter(|u| !u.blocked) else {
            return Err(self.refresh_failed(client, Some(family), "user_not_found").await);
        };
        let grant = Grant {
            client,
            user: &user,
            scope: &scope,
            api: api.as_ref(),
            grant_id: &family.grant_id,
            auth_time: family.auth_time,
            session_id: family.session_id.as_deref(),
            nonce: None,
        };
        let response = self.issue(&grant, token.map(|t| t.expose().to_string()))?;
        self.record(Record {
            kind: EventType::RefreshExchanged,
            description: "Refresh token exchanged",
            client_id: Some(&client.client_id),
            user_id: Some(&user.user_id),
            details: event,
        })
        .await;
        Ok(response)
    }

    async fn refresh_failed(&self, client: &Client, family: Option<&Family>, reason: &str) -> OAuthError {
        self.record(Record {
            kind: EventType::RefreshExchangeFailed,
            description: INVALID_REFRESH_TOKEN,
            client_id: Some(&client.client_id),
            user_id: family.map(|f| f.user_id.as_str()),
            details: json!({"failure_reason": reason, "familyId": family.map(|f| f.id.to_string())}),
        })
        .await;
        OAuthError::invalid_refresh_token()
    }

    /// Auth0's migration when a client's rotation setting changed: the presented family is
    /// replaced by one of the new kind; turning rotation on also revokes the other non-rotating
    /// families of the same user, client and audience.
    async fn migrate_family(&self, old: &Family, client: &Client, now: i64, seen: &Seen) -> Result<Family, OAuthError> {
        let successor = Family::born(
            FamilyGrant {
                grant_id: old.grant_id.clone(),
                client_id: old.client_id.clone(),
                user_id: old.user_id.clone(),
                session_id: old.session_id.clone(),
                audience: old.audience.clone(),
                scope: old.scope.clone(),
                auth_time: old.auth_time,
            },
            &client.refresh_token,
            now,
        );
        if !self.store.revoke_family(&old.id, now).await? {
            // Someone else revoked or migrated it first.
            return Err(OAuthError::invalid_refresh_token());
        }
        if successor.rotating {
            let filter = FamilyFilter {
                user_id: Some(old.user_id.clone()),
                client_id: Some(old.client_id.clone()),
                audience: Some(old.audience.clone()),
                rotating: Some(false),
                ..Default::default()
            };
            self.store.revoke_families(&filter, now).await?;
        }
        self.store.insert_family(&successor, seen).await?;
        Ok(successor)
    }

    /// RFC 7009: revokes the family of a refresh token issued to `client`. Unknown tokens and
    /// tokens of other clients are answered with success and change nothing.
    pub async fn revoke_refresh_token(&self, client: &Client, token: &str) -> Result<(), OAuthError> {
        let Some((family_id, _)) = self.keys.refresh.decode(token) else { return Ok(()) };
        let Some(family) = self.store.family(&family_id).await? else { return Ok(()) };
        if family.client_id != client.client_id {
            return Ok(());
        }
        if self.store.revoke_family(&family.id, self.now()).await? {
            self.record(Record {
                kind: EventType::RefreshRevoked,
                description: "Refresh token revoked",
                client_id: Some(&client.client_id),
                user_id: Some(&family.user_id),
                details: json!({"credential_id": family.id.to_string(), "audience": family.audience}),
            })
            .await;
        }
        Ok(())
    }
}

/// What a success response is made from: a rotation brings its user and API along; the other
/// outcomes (leeway retry, non-rotating exchange, migration) have only the family.
enum Loaded {
    Rotated(Rotated),
    Family(Family),
}

/// The scope of a refresh response: the family's, or a subset of it (RFC 6749 §6). Scopes the
/// server does not support are ignored, as at `/authorize`.
fn narrowed_scope(family: &Family, requested: Option<&Scope>) -> Result<Scope, OAuthError> {
    let granted = Scope::parse(&family.scope)?;
    match requested {
        None => Ok(granted),
        Some(r) => {
            let r = r.supported();
            if !r.is_subset_of(&granted) {
                return Err(OAuthError::invalid_scope("The requested scope exceeds the scope granted by the resource owner"));
            }
            Ok(r)
        }
    }
}

fn rejection_reason(r: Rejection) -> &'static str {
    match r {
        Rejection::Revoked => "revoked",
        Rejection::Expired => "expired",
        Rejection::IdleExpired => "idle_expired",
        Rejection::OtherClient => "other_client",
        Rejection::Unknown => "unknown",
    }
}
