//! A user's refresh tokens as the control plane sees them: one per family (its `id` is the
//! family id, not a secret), listed, read and revoked (DESIGN §4; Auth0's refresh-token
//! endpoints). Revocation is the family's, so every token of it stops working at once.

use std::sync::Arc;

use ratchet_core::audit::EventType;
use ratchet_core::family::Family;
use ratchet_core::family::FamilyId;
use ratchet_core::iso8601::format as iso8601;
use ratchet_store::{Event, FamilyFilter, FamilyRecord, Seen, Store};
use serde::Serialize;
use serde_json::json;

use super::{Checkpoint, Chunk, ManageError, Resource, audit};
use crate::clock::Clock;
use crate::service::tokens::sid_for;

/// Most ids one `revoke` call takes (Auth0's limit).
pub const MAX_REVOKE_IDS: usize = 100;

/// Refresh tokens (families): list, read, revoke.
#[derive(Clone)]
pub struct RefreshTokenService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// The audience shown for tokens issued without one: `{issuer}userinfo`.
    userinfo: String,
}

/// Which refresh tokens a bulk revocation targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeTarget {
    /// These families (at most [`MAX_REVOKE_IDS`]).
    Ids(Vec<String>),
    /// Every family of a user, optionally only those of one client, optionally only those of one
    /// audience at that client.
    User { user_id: String, client_id: Option<String>, audience: Option<String> },
}

/// A refresh token (family) in Auth0's shape; times are ISO 8601.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RefreshTokenView {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    /// The `sid` of the session it was issued in (as in its ID tokens).
    pub session_id: Option<String>,
    pub rotating: bool,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub idle_expires_at: Option<String>,
    pub last_exchanged_at: Option<String>,
    pub resource_servers: Vec<ResourceServerView>,
    pub device: DeviceView,
}

/// The API a refresh token is for and its scopes (a space-separated string).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ResourceServerView {
    pub audience: String,
    pub scopes: String,
}

/// Where a refresh token or session was first and last used.
#[derive(Debug, Clone, Serialize, PartialEq, Default, utoipa::ToSchema)]
pub struct DeviceView {
    pub initial_ip: Option<String>,
    pub initial_user_agent: Option<String>,
    pub last_ip: Option<String>,
    pub last_user_agent: Option<String>,
}

impl DeviceView {
    pub fn new(initial: &Seen, last: &Seen) -> Self {
        DeviceView {
            initial_ip: initial.ip.clone(),
            initial_user_agent: initial.user_agent.clone(),
            last_ip: last.ip.clone(),
            last_user_agent: last.user_agent.clone(),
        }
    }
}

impl RefreshTokenView {
    /// `userinfo` is the audience shown for tokens issued without one (good for `/userinfo` only).
    pub fn new(r: &FamilyRecord, userinfo: &str) -> Self {
        let f = &r.family;
        let audience = f.audience.clone().unwrap_or_else(|| userinfo.to_string());
        RefreshTokenView {
            id: f.id.to_string(),
            user_id: f.user_id.clone(),
            client_id: f.client_id.clone(),
            session_id: f.session_id.as_deref().map(sid_for),
            rotating: f.rotating,
            created_at: iso8601(f.created_at),
            expires_at: f.expires_at.map(iso8601),
            idle_expires_at: f.idle_expires_at.map(iso8601),
            last_exchanged_at: r.last_exchanged_at.map(iso8601),
            resource_servers: vec![ResourceServerView { audience, scopes: f.scope.clone() }],
            device: DeviceView::new(&r.initial, &r.last),
        }
    }
}

impl RefreshTokenService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, issuer: &url::Url) -> Self {
        RefreshTokenService { store, clock, userinfo: format!("{issuer}userinfo") }
    }

    /// The view of a refresh token (Auth0's object).
    pub fn view(&self, r: &FamilyRecord) -> RefreshTokenView {
        RefreshTokenView::new(r, &self.userinfo)
    }

    /// The live refresh tokens of `user_id`, a chunk at a time in id order (404 for an unknown
    /// user). The cursor is the id of the last token of the previous chunk.
    pub async fn list_of_user(&self, user_id: &str, at: &Checkpoint) -> Result<Chunk<FamilyRecord>, ManageError> {
        self.require_user(user_id).await?;
        let after = match at.from.as_deref().filter(|f| !f.is_empty()) {
            Some(f) => Some(FamilyId::parse(f).ok_or_else(|| ManageError::Invalid(format!("from: not a refresh token id: {f}")))?),
            None => None,
        };
        let take = at.take.clamp(1, 100);
        let mut items = self.store.families_of(user_id, after.as_ref(), self.clock.now(), take + 1).await?;
        let next = if items.len() > take as usize {
            items.truncate(take as usize);
            items.last().map(|r| r.family.id.to_string())
        } else {
            None
        };
        Ok(Chunk { items, next })
    }

    /// How many refresh tokens can still be exchanged now: live families, one per sign-in
    /// whatever its rotations.
    pub async fn count_live(&self) -> Result<u64, ManageError> {
        Ok(self.store.count_live_families(self.clock.now()).await?)
    }

    /// One live refresh token.
    pub async fn get(&self, id: &str) -> Result<FamilyRecord, ManageError> {
        let not_found = || ManageError::NotFound(Resource::RefreshToken);
        let id = FamilyId::parse(id).ok_or_else(not_found)?;
        let record = self.store.family_record(&id).await?.ok_or_else(not_found)?;
        if !record.family.is_live(self.clock.now()) {
            return Err(not_found());
        }
        Ok(record)
    }

    /// Revokes one refresh token (its whole family). An id that was never a family is 404; a
    /// family already revoked or expired is accepted and changes nothing.
    pub async fn revoke_one(&self, id: &str) -> Result<(), ManageError> {
        let not_found = || ManageError::NotFound(Resource::RefreshToken);
        let family = FamilyId::parse(id).ok_or_else(not_found)?;
        if self.store.family(&family).await?.is_none() {
            return Err(not_found());
        }
        self.revoke(&RevokeTarget::Ids(vec![id.to_string()])).await.map(drop)
    }

    /// Revokes every refresh token of `user_id` (404 for an unknown user); returns how many.
    pub async fn revoke_of_user(&self, user_id: &str) -> Result<u64, ManageError> {
        self.require_user(user_id).await?;
        self.revoke(&RevokeTarget::User { user_id: user_id.to_string(), client_id: None, audience: None }).await
    }

    /// Revokes the refresh tokens `target` names; returns how many were live. Each revocation is
    /// recorded (`srrt`).
    pub async fn revoke(&self, target: &RevokeTarget) -> Result<u64, ManageError> {
        let now = self.clock.now();
        match target {
            RevokeTarget::Ids(ids) => {
                if ids.is_empty() || ids.len() > MAX_REVOKE_IDS {
                    return Err(ManageError::Invalid(format!("ids: between 1 and {MAX_REVOKE_IDS} refresh token ids")));
                }
                // Ids that were never ours name nothing to revoke.
                let ids: Vec<FamilyId> = ids.iter().filter_map(|i| FamilyId::parse(i)).collect();
                let revoked = self.store.revoke_family_ids(&ids, now).await?;
                let events: Vec<Event> = revoked.iter().map(|f| revoked_event(f, now)).collect();
                self.store.record_many(&events).await?;
                Ok(revoked.len() as u64)
            }
            RevokeTarget::User { user_id, client_id, audience } => {
                if user_id.is_empty() {
                    return Err(ManageError::Invalid("user_id: required to revoke by user".into()));
                }
                if audience.is_some() && client_id.is_none() {
                    return Err(ManageError::Invalid("audience: only with client_id".into()));
                }
                let filter = FamilyFilter {
                    user_id: Some(user_id.clone()),
                    client_id: client_id.clone(),
                    audience: audience.clone().map(Some),
                    ..Default::default()
                };
                let n = self.store.revoke_families(&filter, now).await?;
                if n > 0 {
                    let details = json!({"initiator": "management", "revoked": n, "audience": audience});
                    audit(
                        &*self.store,
                        now,
                        EventType::RefreshRevoked,
                        "Refresh tokens revoked",
                        client_id.as_deref(),
                        Some(user_id),
                        details,
                    )
                    .await?;
                }
                Ok(n)
            }
        }
    }

    async fn require_user(&self, user_id: &str) -> Result<(), ManageError> {
        match self.store.user(user_id).await? {
            Some(_) => Ok(()),
            None => Err(ManageError::NotFound(Resource::User)),
        }
    }
}

fn revoked_event(f: &Family, now: i64) -> Event {
    let seen = crate::service::audit::current_seen();
    Event {
        at: now,
        kind: EventType::RefreshRevoked.code().into(),
        client_id: Some(f.client_id.clone()),
        user_id: Some(f.user_id.clone()),
        description: "Refresh token revoked".into(),
        details: json!({"initiator": "management", "credential_id": f.id.to_string(), "audience": f.audience}),
        ip: seen.ip,
        user_agent: seen.user_agent,
    }
}
