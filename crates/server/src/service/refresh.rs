//! The `refresh_token` grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2,
//! DESIGN §4), and revocation of refresh tokens (RFC 7009 §2).
//!
//! The decision comes from `ratchet_core::family::assess`; the hot path (the current token of a
//! live rotating family, no scope requested) is one store call, the conditional `rotate`, which
//! also brings back the user and API. A lost race re-reads the family and decides again, which
//! turns the loser into a leeway retry (same successor) or a reuse (family revoked).
//!
//! Multi-resource refresh tokens (Auth0's MRRT): an `audience` other than the family's own is
//! served when the client's `refresh_token.policies` has an entry for it, with the family's OpenID
//! scopes plus (a subset of) the policy's scopes; the family rotates exactly as for its own
//! audience. Anything else is `access_denied`, decided before anything is written.

use ratchet_core::audit::EventType;
use ratchet_core::client::{Api, AudiencePolicy, Client, GrantType};
use ratchet_core::dpop::Proof;
use ratchet_core::family::{Exchange, Family, FamilyGrant, Rejection, idle_deadline};
use ratchet_core::oauth::{SUPPORTED_SCOPES, Scope};
use ratchet_core::secret::Secret;
use ratchet_store::{FamilyFilter, Rotated, Rotation, RotationProof, Seen, StoreError};
use serde_json::json;

use crate::app::AppState;
use crate::error::{INVALID_REFRESH_TOKEN, OAuthError};
use crate::service::audit::Record;
use crate::service::manage::console;
use crate::service::tokens::{Grant, TokenResponse};

impl AppState {
    /// Exchanges a refresh token presented by an authenticated `client`, with a valid DPoP
    /// `proof` not yet spent (RFC 9449 §5) if the request carried one.
    /// `audience`: the API the access token is for (default: the family's own).
    ///
    /// A family bound to a DPoP key needs a proof made with that key; without one, the token is
    /// refused and the family left untouched (see `ratchet_core::family::assess`). The proof's
    /// `jti` is spent in the same write as the rotation, so DPoP adds no round trip to the hot path.
    pub async fn exchange_refresh_token(
        &self,
        client: &Client,
        token: &str,
        requested: Option<&str>,
        audience: Option<&str>,
        seen: &Seen,
        proof: Option<&Proof>,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows_grant(GrantType::RefreshToken) {
            return Err(OAuthError::unauthorized_client("Grant type 'refresh_token' not allowed for the client."));
        }
        let requested = requested.map(Scope::parse).transpose().map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
        // One snapshot of the keys for the whole exchange.
        let keys = self.keys.current();
        let Some((family_id, presented)) = keys.refresh.decode(token) else {
            return Err(self.refresh_failed(client, None, "unknown").await);
        };
        let policy = &client.refresh_token;
        let audience = audience.filter(|a| !a.is_empty());
        // The API of a policy audience is read before anything is written, so that a policy naming
        // an API that does not exist is refused without consuming the presented token.
        let allowed = match audience.and_then(|a| policy.policy_for(a)) {
            Some(p) => match self.store.api(&p.audience).await? {
                Some(api) => Some((p, api)),
                None => return Err(OAuthError::access_denied(format!("Service not found: {}", p.audience))),
            },
            None => None,
        };
        let target = Target { audience, allowed: allowed.as_ref().map(|(p, a)| (*p, a)) };
        let jkt = proof.map(|p| p.jkt.as_str());
        let replay_key = proof.map(Proof::replay_key);
        let rotation_proof = proof.zip(replay_key.as_deref()).map(|(p, key)| RotationProof {
            jkt: &p.jkt,
            replay_key: key,
            replay_expires_at: p.replay_expiry(self.now(), self.dpop.iat_window),
        });
        // The common case first, in one statement: the current token of a live rotating family.
        // (A requested scope, or an audience no policy allows, must be checked against the family
        // before anything is written: full decision.)
        if requested.is_none() && policy.is_rotating() && (audience.is_none() || target.allowed.is_some()) {
            let now = self.now();
            let idle = policy.idle().map(|s| now + i64::from(s));
            let rotation = Rotation {
                id: &family_id,
                client_id: &client.client_id,
                from: presented,
                now,
                idle_expires_at: idle,
                seen,
                dpop: rotation_proof,
            };
            if let Some(rotated) = self.rotate(client, &rotation).await? {
                let token = keys.refresh.encode(&family_id, presented + 1);
                let event = json!({"familyId": family_id.to_string(), "tokenCounter": presented, "rotated": true});
                return self.refreshed(client, Loaded::Rotated(rotated), None, target, Some(token), jkt, event).await;
            }
        }
        // Two rounds suffice: after losing the conditional write, the winner's counter is visible.
        for _ in 0..3 {
            let now = self.now();
            let Some(family) = self.store.family(&family_id).await? else {
                return Err(self.refresh_failed(client, None, "unknown").await);
            };
            response_scope(&family, requested.as_ref(), target.other(&family)?.map(|(p, _)| p))?;
            let exchange = ratchet_core::family::assess(&family, &client.client_id, policy, presented, jkt, now);
            // Every outcome that writes or answers with tokens spends the proof first (a replayed
            // proof must have no effect); the rotation does it in its own write.
            if let (Some(p), Exchange::Retry { .. } | Exchange::Reuse | Exchange::Migrate | Exchange::ReuseDetected { .. }) =
                (proof, exchange)
                && let Err(f) = self.spend_dpop_proof(p).await?
            {
                self.record_dpop_failure(
                    EventType::RefreshExchangeFailed,
                    Some(&client.client_id),
                    Some(&family.user_id),
                    f.reason(),
                    INVALID_REFRESH_TOKEN,
                )
                .await;
                return Err(f.for_token_endpoint());
            }
            let (token, event) = match exchange {
                Exchange::Rotate { from } => {
                    let idle = policy.idle().map(|s| now + i64::from(s));
                    let rotation = Rotation {
                        id: &family.id,
                        client_id: &client.client_id,
                        from,
                        now,
                        idle_expires_at: idle,
                        seen,
                        dpop: rotation_proof,
                    };
                    let Some(rotated) = self.rotate(client, &rotation).await? else {
                        continue;
                    };
                    let event = json!({"familyId": family.id.to_string(), "tokenCounter": from, "rotated": true});
                    let token = keys.refresh.encode(&family.id, from + 1);
                    return self.refreshed(client, Loaded::Rotated(rotated), requested.as_ref(), target, Some(token), jkt, event).await;
                }
                Exchange::Retry { successor } => (
                    Some(keys.refresh.encode(&family.id, successor)),
                    json!({"familyId": family.id.to_string(), "tokenCounter": presented, "leeway": true}),
                ),
                Exchange::Reuse => {
                    self.store.touch_family(&family.id, now, idle_deadline(policy, family.expires_at, now), seen).await?;
                    (None, json!({"familyId": family.id.to_string(), "tokenCounter": presented}))
                }
                Exchange::Migrate => {
                    let successor = self.migrate_family(&family, client, now, seen).await?;
                    (
                        Some(keys.refresh.encode(&successor.id, 0)),
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
            return self.refreshed(client, Loaded::Family(family), requested.as_ref(), target, token, jkt, event).await;
        }
        tracing::error!("refresh did not converge after three rounds");
        Err(OAuthError::server_error())
    }

    /// The success response of a refresh: new access and ID tokens for the family's grant (the
    /// access token for `target`), with `token` as the refresh token to hand back (if any).
    #[allow(clippy::too_many_arguments)] // main's MRRT `target` plus DPoP's `jkt`
    async fn refreshed(
        &self,
        client: &Client,
        loaded: Loaded,
        requested: Option<&Scope>,
        target: Target<'_>,
        token: Option<Secret>,
        jkt: Option<&str>,
        mut event: serde_json::Value,
    ) -> Result<TokenResponse, OAuthError> {
        let family = match &loaded {
            Loaded::Rotated(r) => &r.family,
            Loaded::Family(f) => f,
        };
        let other = target.other(family)?;
        let (family, user, api) = match loaded {
            Loaded::Rotated(Rotated { family, user, api }) => {
                // The rotation's join finds registered APIs only; the console's is the system API.
                let api = api.or_else(|| family.audience.as_deref().and_then(|a| self.manage.console_api(a)));
                (family, user, api)
            }
            Loaded::Family(family) => {
                let user = self.store.user(&family.user_id).await?;
                let api = match (&family.audience, other) {
                    (_, Some(_)) => None,
                    (Some(a), None) => self.manage.end_user_api(a).await?,
                    (None, None) => None,
                };
                (family, user, api)
            }
        };
        let family = &family;
        let scope = response_scope(family, requested, other.map(|(p, _)| p))?;
        let api = match other {
            Some((p, other_api)) => {
                event["requested_audience"] = serde_json::Value::from(p.audience.clone());
                event["policy_used"] = serde_json::Value::from("mrrt");
                Some(other_api.clone())
            }
            None => api,
        };
        let Some(user) = user.filter(|u| !u.blocked) else {
            return Err(self.refresh_failed(client, Some(family), "user_not_found").await);
        };
        if !console::may_hold(&self.issuer, family.audience.as_deref(), &user) {
            return Err(self.refresh_failed(client, Some(family), "not_an_administrator").await);
        }
        let grant = Grant {
            client,
            user: &user,
            scope: &scope,
            api: api.as_ref(),
            grant_id: &family.grant_id,
            auth_time: family.auth_time,
            session_id: family.session_id.as_deref(),
            nonce: None,
            jkt,
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

    /// The conditional rotation write, spending the proof's `jti` in the same write. A replayed
    /// proof aborts the whole write: `invalid_dpop_proof`, the family untouched.
    async fn rotate(&self, client: &Client, rotation: &Rotation<'_>) -> Result<Option<Rotated>, OAuthError> {
        match self.store.rotate(rotation).await {
            Ok(r) => Ok(r),
            Err(StoreError::Conflict(what)) if what == ratchet_store::REPLAYED_PROOF => {
                let f = crate::service::dpop::replayed();
                self.record_dpop_failure(
                    EventType::RefreshExchangeFailed,
                    Some(&client.client_id),
                    None,
                    f.reason(),
                    INVALID_REFRESH_TOKEN,
                )
                .await;
                Err(f.for_token_endpoint())
            }
            Err(e) => Err(e.into()),
        }
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
        )
        .bound_to(old.jkt.clone());
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
    /// tokens of other clients are answered with success and change nothing; so are tokens of a
    /// DPoP-bound family presented without a proof made by its key (`jkt`): whoever holds only the
    /// token must not be able to sign the user out. A token that is not a refresh token is
    /// revoked as an access token.
    pub async fn revoke_refresh_token(&self, client: &Client, token: &str, jkt: Option<&str>) -> Result<(), OAuthError> {
        let Some((family_id, _)) = self.keys.current().refresh.decode(token) else {
            return self.revoke_access_token(client, token, jkt).await;
        };
        let Some(family) = self.store.family(&family_id).await? else { return Ok(()) };
        if family.client_id != client.client_id {
            return Ok(());
        }
        if let Some(bound) = &family.jkt
            && jkt != Some(bound.as_str())
        {
            let reason = if jkt.is_some() { "dpop_key_mismatch" } else { "dpop_proof_missing" };
            self.record_dpop_failure(
                EventType::RefreshRevokeFailed,
                Some(&client.client_id),
                Some(&family.user_id),
                reason,
                "Refresh token not revoked: DPoP key required",
            )
            .await;
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

/// The audience a refresh asks for, and the client's policy for it with its API (if any).
#[derive(Clone, Copy)]
struct Target<'a> {
    audience: Option<&'a str>,
    allowed: Option<(&'a AudiencePolicy, &'a Api)>,
}

impl<'a> Target<'a> {
    /// `None` when the access token is for the family's own API (no audience asked for, or the
    /// family's own); the policy and API of another audience the client's policies allow; else
    /// `access_denied`.
    fn other(&self, family: &Family) -> Result<Option<(&'a AudiencePolicy, &'a Api)>, OAuthError> {
        match self.audience {
            None => Ok(None),
            Some(a) if family.audience.as_deref() == Some(a) => Ok(None),
            Some(a) => match self.allowed {
                Some(x) => Ok(Some(x)),
                None => Err(OAuthError::access_denied(format!("Refresh tokens of this client cannot obtain access tokens for {a}"))),
            },
        }
    }
}

/// The scope of a refresh response. For the family's own API, [`narrowed_scope`]. For another API
/// (a `policy`): the family's OpenID scopes plus the policy's scopes, or the requested subset of
/// them; an OpenID scope beyond the family's is `invalid_scope`, any other scope beyond the
/// policy's is `access_denied`.
fn response_scope(family: &Family, requested: Option<&Scope>, policy: Option<&AudiencePolicy>) -> Result<Scope, OAuthError> {
    let Some(policy) = policy else { return narrowed_scope(family, requested) };
    let granted = Scope::parse(&family.scope)?;
    let allowed = Scope::parse(&policy.scope.join(" "))?;
    let Some(r) = requested else { return Ok(Scope::parse(&format!("{granted} {allowed}"))?) };
    if !r.supported().is_subset_of(&granted) {
        return Err(OAuthError::invalid_scope("The requested scope exceeds the scope granted by the resource owner"));
    }
    let text = r.to_string();
    if let Some(extra) = text.split(' ').find(|s| !s.is_empty() && !granted.contains(s) && !allowed.contains(s)) {
        return Err(OAuthError::access_denied(format!(
            "Scope {extra} is not allowed for {} by the client's refresh token policies",
            policy.audience
        )));
    }
    Ok(r.clone())
}

/// What a success response is made from: a rotation brings its user and API along; the other
/// outcomes (leeway retry, non-rotating exchange, migration) have only the family. (Short-lived
/// on the stack; boxing the larger variant would cost an allocation per refresh.)
#[allow(clippy::large_enum_variant)]
enum Loaded {
    Rotated(Rotated),
    Family(Family),
}

/// The scope of a refresh response: the family's (its API permissions included), or a subset of
/// it (RFC 6749 §6). Scopes that are neither supported by the server nor granted are ignored, as
/// at `/authorize`.
fn narrowed_scope(family: &Family, requested: Option<&Scope>) -> Result<Scope, OAuthError> {
    let granted = Scope::parse(&family.scope)?;
    match requested {
        None => Ok(granted),
        Some(r) => {
            let r = r.retain(|t| SUPPORTED_SCOPES.contains(&t) || granted.contains(t));
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
        Rejection::ProofMissing => "dpop_proof_missing",
        Rejection::KeyMismatch => "dpop_key_mismatch",
    }
}
