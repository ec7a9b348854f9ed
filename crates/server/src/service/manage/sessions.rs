//! Sessions at the authorization server (the SSO cookie) as the control plane sees them: each
//! named by its public id, the `sid` of the ID tokens issued in it. Deleting a session ends
//! single sign-on (the next `prompt=none` needs a login) while the refresh tokens issued in it
//! keep working, as in Auth0; revoking it also revokes those refresh tokens.

use std::sync::Arc;

use ratchet_core::audit::EventType;
use ratchet_store::{Session, Store};
use serde::Serialize;
use serde_json::json;

use ratchet_core::iso8601::format as iso8601;

use super::refresh_tokens::DeviceView;
use super::{Checkpoint, Chunk, ManageError, Resource, audit};
use crate::clock::Clock;

/// Sessions: list, read, delete, revoke.
#[derive(Clone)]
pub struct SessionService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

/// A session with the clients that got tokens in it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub session: Session,
    pub clients: Vec<String>,
}

/// A session in Auth0's shape; times are ISO 8601.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct SessionView {
    /// The `sid` of its ID tokens.
    pub id: String,
    pub user_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub authenticated_at: String,
    pub idle_expires_at: String,
    pub expires_at: String,
    pub last_interacted_at: String,
    pub device: DeviceView,
    pub clients: Vec<ClientRef>,
    pub authentication: Authentication,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ClientRef {
    pub client_id: String,
}

/// How the user authenticated in the session (a password: `pwd`).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Authentication {
    pub methods: Vec<AuthenticationMethod>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AuthenticationMethod {
    pub name: String,
    pub timestamp: String,
}

impl SessionView {
    pub fn new(i: &SessionInfo) -> Self {
        let s = &i.session;
        SessionView {
            id: s.sid.clone(),
            user_id: s.user_id.clone(),
            created_at: iso8601(s.created_at),
            updated_at: iso8601(s.last_interacted_at),
            authenticated_at: iso8601(s.auth_time),
            idle_expires_at: iso8601(s.idle_expires_at),
            expires_at: iso8601(s.expires_at),
            last_interacted_at: iso8601(s.last_interacted_at),
            device: DeviceView::new(&s.initial, &s.last),
            clients: i.clients.iter().map(|c| ClientRef { client_id: c.clone() }).collect(),
            authentication: Authentication { methods: vec![AuthenticationMethod { name: "pwd".into(), timestamp: iso8601(s.auth_time) }] },
        }
    }
}

impl SessionService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        SessionService { store, clock }
    }

    /// The sessions of `user_id`, a chunk at a time in id order (404 for an unknown user). The
    /// cursor is the id of the last session of the previous chunk.
    pub async fn list_of_user(&self, user_id: &str, at: &Checkpoint) -> Result<Chunk<SessionInfo>, ManageError> {
        self.require_user(user_id).await?;
        let take = at.take.clamp(1, 100);
        let mut sessions = self.store.sessions_of(user_id, at.from.as_deref().filter(|f| !f.is_empty()), take + 1).await?;
        let next = if sessions.len() > take as usize {
            sessions.truncate(take as usize);
            sessions.last().map(|s| s.sid.clone())
        } else {
            None
        };
        let mut items = Vec::with_capacity(sessions.len());
        for session in sessions {
            items.push(self.with_clients(session).await?);
        }
        Ok(Chunk { items, next })
    }

    /// How many sessions are live now (expired ones are gone).
    pub async fn count_live(&self) -> Result<u64, ManageError> {
        Ok(self.store.count_live_sessions(self.clock.now()).await?)
    }

    /// One session by its id (`sid`); expired ones are gone.
    pub async fn get(&self, sid: &str) -> Result<SessionInfo, ManageError> {
        let session = self.find(sid).await?;
        self.with_clients(session).await
    }

    /// Ends a session: single sign-on stops; its refresh tokens keep working.
    pub async fn delete(&self, sid: &str) -> Result<(), ManageError> {
        self.end(sid, false).await
    }

    /// Ends a session and revokes every refresh token issued in it.
    pub async fn revoke(&self, sid: &str) -> Result<(), ManageError> {
        self.end(sid, true).await
    }

    /// Ends every session of `user_id` (404 for an unknown user); returns how many. Their
    /// refresh tokens keep working.
    pub async fn delete_of_user(&self, user_id: &str) -> Result<u64, ManageError> {
        self.require_user(user_id).await?;
        let n = self.store.delete_sessions_of(user_id).await?;
        if n > 0 {
            let details = json!({"initiator": "management", "sessions": n});
            audit(&*self.store, self.clock.now(), EventType::SessionRevoked, "Sessions ended", None, Some(user_id), details).await?;
        }
        Ok(n)
    }

    async fn end(&self, sid: &str, revoke_families: bool) -> Result<(), ManageError> {
        let session = self.find(sid).await?;
        let now = self.clock.now();
        if self.store.delete_session(&session.id_hash, revoke_families, now).await? {
            let description = if revoke_families { "Session revoked with its refresh tokens" } else { "Session ended" };
            let details = json!({"initiator": "management", "session_id": session.sid, "refresh_tokens_revoked": revoke_families});
            audit(&*self.store, now, EventType::SessionRevoked, description, None, Some(&session.user_id), details).await?;
        }
        Ok(())
    }

    async fn find(&self, sid: &str) -> Result<Session, ManageError> {
        let now = self.clock.now();
        match self.store.session_by_sid(sid).await? {
            Some(s) if !sid.is_empty() && now < s.expires_at && now < s.idle_expires_at => Ok(s),
            _ => Err(ManageError::NotFound(Resource::Session)),
        }
    }

    async fn with_clients(&self, session: Session) -> Result<SessionInfo, ManageError> {
        let clients = self.store.session_clients(&session.id_hash).await?;
        Ok(SessionInfo { session, clients })
    }

    async fn require_user(&self, user_id: &str) -> Result<(), ManageError> {
        match self.store.user(user_id).await? {
            Some(_) => Ok(()),
            None => Err(ManageError::NotFound(Resource::User)),
        }
    }
}
