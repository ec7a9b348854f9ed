//! User accounts: the one place their rules live (email and password checks, Argon2id hashing
//! on the blocking pool, ids, metadata merging, cascades). The CLI, `/api/v2` and the demo
//! seeding all create and change users through [`UserService`].

use std::sync::Arc;

use ratchet_core::audit::EventType;
use ratchet_core::brute_force::{DEFAULT_POLICY, is_blocked};
use ratchet_core::password;
use ratchet_core::secret::{Secret, random_id};
use ratchet_store::{Store, StoreError, User, UserFilter, Window};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Checkpoint, Chunk, Listed, ManageError, Page, Resource, audit};
use crate::clock::Clock;
use ratchet_core::iso8601::format as iso8601;

/// The only connection: users with a password stored here (Auth0's database connection name).
pub const CONNECTION: &str = "Username-Password-Authentication";
/// The prefix of user ids (`ratchet|…`).
pub const USER_ID_PREFIX: &str = "ratchet|";
/// Auth0's answer to a taken email.
pub const USER_EXISTS: &str = "The user already exists.";
/// What `q` supports.
pub const SUPPORTED_QUERY: &str = "supported: exact email:\"value\" and user_id:\"value\" terms (quotes optional), joined by AND or spaces";

/// Users: create, read, list, update, delete.
#[derive(Clone)]
pub struct UserService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

/// A new user. `name` defaults to the email.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub connection: String,
    pub email: String,
    pub password: Secret,
    pub name: Option<String>,
    pub blocked: bool,
    /// May use the admin console (see [`super::console`]); set by the operator's CLI only.
    pub admin: bool,
    pub email_verified: bool,
    pub user_metadata: Map<String, Value>,
    pub app_metadata: Map<String, Value>,
}

/// Changes to a user: the fields given replace the old ones; the metadata objects are merged
/// one level deep, a `null` value deleting its key.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub connection: Option<String>,
    pub email: Option<String>,
    pub password: Option<Secret>,
    pub name: Option<String>,
    pub blocked: Option<bool>,
    pub admin: Option<bool>,
    pub email_verified: Option<bool>,
    pub user_metadata: Option<Map<String, Value>>,
    pub app_metadata: Option<Map<String, Value>>,
}

/// A user in Auth0's shape (no password hash); times are ISO 8601.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct UserView {
    pub user_id: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub nickname: String,
    pub created_at: String,
    pub updated_at: String,
    pub identities: Vec<Identity>,
    #[schema(value_type = Object)]
    pub app_metadata: Map<String, Value>,
    #[schema(value_type = Object)]
    pub user_metadata: Map<String, Value>,
    pub last_ip: Option<String>,
    pub last_login: Option<String>,
    pub logins_count: i64,
    pub blocked: bool,
}

/// An address from which brute-force protection refuses a user's sign-ins (an entry of Auth0's
/// `blocked_for`): too many attempts for this account from this address.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct BruteForceBlock {
    /// The identifier the attempts named (the email).
    pub identifier: String,
    pub ip: String,
    pub connection: String,
}

/// The user's account at a connection (always the password database here).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Identity {
    pub connection: String,
    pub user_id: String,
    pub provider: String,
    #[serde(rename = "isSocial")]
    pub is_social: bool,
}

impl UserView {
    pub fn new(u: &User) -> Self {
        UserView {
            user_id: u.user_id.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            name: u.name.clone(),
            nickname: u.email.split('@').next().unwrap_or_default().to_string(),
            created_at: iso8601(u.created_at),
            updated_at: iso8601(u.updated_at.unwrap_or(u.created_at)),
            identities: vec![Identity {
                connection: CONNECTION.into(),
                user_id: u.user_id.strip_prefix(USER_ID_PREFIX).unwrap_or(&u.user_id).to_string(),
                provider: "auth0".into(),
                is_social: false,
            }],
            app_metadata: u.app_metadata.clone(),
            user_metadata: u.user_metadata.clone(),
            last_ip: u.last_ip.clone(),
            last_login: u.last_login.map(iso8601),
            logins_count: u.logins_count,
            blocked: u.blocked,
        }
    }
}

/// An email address as stored: trimmed, lower case, checked.
pub fn normalize_email(email: &str) -> Result<String, ManageError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.contains('@')
        && !email.starts_with('@')
        && !email.ends_with('@')
        && !email.chars().any(char::is_whitespace);
    if !valid {
        return Err(ManageError::Invalid("email: must be an email address".into()));
    }
    Ok(email)
}

fn check_password(password: &Secret) -> Result<(), ManageError> {
    let p = password.expose();
    if p.chars().count() < 8 || p.len() > 1024 {
        return Err(ManageError::Invalid("password: must be 8 to 1024 characters".into()));
    }
    Ok(())
}

fn check_connection(connection: &str) -> Result<(), ManageError> {
    if connection != CONNECTION {
        return Err(ManageError::Invalid(format!("connection: the only connection is {CONNECTION}, not {connection}")));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<String, ManageError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 300 {
        return Err(ManageError::Invalid("name: must be 1 to 300 characters".into()));
    }
    Ok(name.to_string())
}

/// Argon2id, on the blocking pool (it takes tens of milliseconds of CPU).
async fn hash(password: Secret) -> Result<String, ManageError> {
    tokio::task::spawn_blocking(move || password::hash_password(password.expose()))
        .await
        .map_err(|e| ManageError::Store(StoreError::Other(format!("password hashing failed: {e}"))))?
        .map_err(|e| ManageError::Store(StoreError::Other(format!("password hashing failed: {e}"))))
}

/// Auth0's metadata merge: one level deep; `null` deletes the key.
pub fn merge_metadata(into: &mut Map<String, Value>, changes: Map<String, Value>) {
    for (k, v) in changes {
        if v.is_null() {
            into.remove(&k);
        } else {
            into.insert(k, v);
        }
    }
}

fn conflict(e: StoreError) -> ManageError {
    match e {
        StoreError::Conflict(_) => ManageError::Conflict(USER_EXISTS.into()),
        e => ManageError::Store(e),
    }
}

/// Parses the supported subset of Auth0's user search (`q`): exact `email:` and `user_id:`
/// terms, values optionally in double quotes, joined by `AND` or spaces.
/// The filter of an optional, possibly blank, query `q`.
fn user_filter(q: Option<&str>) -> Result<UserFilter, ManageError> {
    q.map(str::trim).filter(|q| !q.is_empty()).map_or(Ok(UserFilter::default()), parse_query)
}

pub fn parse_query(q: &str) -> Result<UserFilter, ManageError> {
    let unsupported = |what: &str| ManageError::Invalid(format!("q: unsupported query {what}; {SUPPORTED_QUERY}"));
    let mut filter = UserFilter::default();
    let mut rest = q.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("AND ") {
            rest = r.trim_start();
            continue;
        }
        let (field, after) = rest.split_once(':').ok_or_else(|| unsupported(&format!("{rest:?}")))?;
        let (value, tail) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"').ok_or_else(|| unsupported("(unterminated quote)"))?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_at(after.find(char::is_whitespace).unwrap_or(after.len())),
        };
        if value.is_empty() || value.contains(['*', '?']) {
            return Err(unsupported(&format!("{field}:{value:?}")));
        }
        let slot = match field {
            "email" => &mut filter.email,
            "user_id" => &mut filter.user_id,
            other => return Err(unsupported(&format!("on field {other:?}"))),
        };
        if slot.is_some() {
            return Err(unsupported(&format!("(two {field} terms)")));
        }
        *slot = Some(if field == "email" { value.to_lowercase() } else { value.to_string() });
        if !tail.is_empty() && !tail.starts_with(char::is_whitespace) {
            return Err(unsupported(&format!("{tail:?}")));
        }
        rest = tail.trim_start();
    }
    Ok(filter)
}

impl UserService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        UserService { store, clock }
    }

    /// Creates a user (409 when the email is taken).
    pub async fn create(&self, new: NewUser) -> Result<User, ManageError> {
        check_connection(&new.connection)?;
        let email = normalize_email(&new.email)?;
        check_password(&new.password)?;
        let name = match &new.name {
            Some(n) => check_name(n)?,
            None => email.clone(),
        };
        if self.store.user_by_email(&email).await?.is_some() {
            return Err(ManageError::Conflict(USER_EXISTS.into()));
        }
        let mut user = User::new(random_id(USER_ID_PREFIX), email, name, hash(new.password).await?, self.clock.now());
        user.blocked = new.blocked;
        user.admin = new.admin;
        user.email_verified = new.email_verified;
        user.user_metadata = new.user_metadata;
        user.app_metadata = new.app_metadata;
        self.store.insert_user(&user).await.map_err(conflict)?;
        Ok(user)
    }

    pub async fn get(&self, user_id: &str) -> Result<User, ManageError> {
        self.store.user(user_id).await?.ok_or(ManageError::NotFound(Resource::User))
    }

    /// The users with this email (zero or one: emails are unique), any case.
    pub async fn by_email(&self, email: &str) -> Result<Vec<User>, ManageError> {
        Ok(self.store.user_by_email(&email.trim().to_lowercase()).await?.into_iter().collect())
    }

    /// A page of users matching `q` (see [`parse_query`]), in id order, with the total.
    pub async fn list(&self, q: Option<&str>, page: Page) -> Result<Listed<User>, ManageError> {
        let per_page = page.per_page.clamp(1, 100);
        let window = Window { after: None, offset: u64::from(page.page) * u64::from(per_page), limit: per_page };
        let (items, total) = self.store.users(&user_filter(q)?, &window).await?;
        Ok(Listed { items, total })
    }

    /// The users matching `q` after cursor `from` (a user id): a keyset read, so paging through
    /// any number of users costs the same per page (an extension of Auth0's API, which pages
    /// users by offset only, up to 1 000).
    pub async fn list_from(&self, q: Option<&str>, checkpoint: &Checkpoint) -> Result<Chunk<User>, ManageError> {
        let (items, _) = self.store.users(&user_filter(q)?, &checkpoint.window()).await?;
        Ok(checkpoint.chunk(items, |u| u.user_id.clone()))
    }

    /// Applies `changes` (see [`UserChanges`]). Blocking ends the user's sessions and revokes
    /// their refresh tokens.
    pub async fn update(&self, user_id: &str, changes: UserChanges) -> Result<User, ManageError> {
        if let Some(c) = &changes.connection {
            check_connection(c)?;
        }
        let mut user = self.get(user_id).await?;
        let email = changes.email.as_deref().map(normalize_email).transpose()?;
        let name = changes.name.as_deref().map(check_name).transpose()?;
        if let Some(p) = &changes.password {
            check_password(p)?;
        }
        let profile_changed = email.is_some()
            || name.is_some()
            || changes.password.is_some()
            || changes.email_verified.is_some()
            || changes.admin.is_some()
            || changes.user_metadata.is_some()
            || changes.app_metadata.is_some();
        if let Some(e) = email {
            user.email = e;
        }
        if let Some(n) = name {
            user.name = n;
        }
        if let Some(p) = changes.password {
            user.password_hash = hash(p).await?;
        }
        if let Some(v) = changes.email_verified {
            user.email_verified = v;
        }
        if let Some(a) = changes.admin {
            user.admin = a;
        }
        if let Some(m) = changes.user_metadata {
            merge_metadata(&mut user.user_metadata, m);
        }
        if let Some(m) = changes.app_metadata {
            merge_metadata(&mut user.app_metadata, m);
        }
        let now = self.clock.now();
        if profile_changed || changes.blocked.is_some() {
            user.updated_at = Some(now);
            if !self.store.update_user(&user).await.map_err(conflict)? {
                return Err(ManageError::NotFound(Resource::User));
            }
        }
        if let Some(b) = changes.blocked
            && b != user.blocked
        {
            if !self.store.set_user_blocked(user_id, b, now).await? {
                return Err(ManageError::NotFound(Resource::User));
            }
            user.blocked = b;
        }
        Ok(user)
    }

    /// Blocks or unblocks (blocking ends sessions and revokes refresh tokens).
    pub async fn set_blocked(&self, user_id: &str, blocked: bool) -> Result<User, ManageError> {
        self.update(user_id, UserChanges { blocked: Some(blocked), ..Default::default() }).await
    }

    /// The addresses brute-force protection currently refuses this user's sign-ins from.
    pub async fn brute_force_blocks(&self, user_id: &str) -> Result<Vec<BruteForceBlock>, ManageError> {
        let user = self.get(user_id).await?;
        let now = self.clock.now();
        let counters = self.store.pair_counters(&user.email, now).await?;
        Ok(counters
            .into_iter()
            .filter(|(_, c)| is_blocked(&DEFAULT_POLICY, c, now))
            .map(|(ip, _)| BruteForceBlock { identifier: user.email.clone(), ip, connection: CONNECTION.into() })
            .collect())
    }

    /// Lifts every brute-force block of this user, from every address, and forgets the attempts
    /// counted against the account (the IP-wide counters stay: they are not this user's).
    pub async fn unblock_brute_force(&self, user_id: &str) -> Result<(), ManageError> {
        let user = self.get(user_id).await?;
        self.store.clear_login_attempts(&user.email).await?;
        Ok(())
    }

    /// Deletes the user, their sessions, codes and grants, and revokes their refresh tokens.
    pub async fn delete(&self, user_id: &str) -> Result<(), ManageError> {
        let now = self.clock.now();
        if !self.store.delete_user(user_id, now).await? {
            return Err(ManageError::NotFound(Resource::User));
        }
        audit(
            &*self.store,
            now,
            EventType::UserDeleted,
            "User deleted",
            None,
            Some(user_id),
            serde_json::json!({"initiator": "management"}),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(email: Option<&str>, user_id: Option<&str>) -> UserFilter {
        UserFilter { email: email.map(Into::into), user_id: user_id.map(Into::into) }
    }

    #[test]
    fn queries_are_exact_email_and_user_id_terms() {
        assert_eq!(parse_query("email:\"A@Example.com\"").unwrap(), filter(Some("a@example.com"), None));
        assert_eq!(parse_query("email:a@example.com").unwrap(), filter(Some("a@example.com"), None));
        assert_eq!(parse_query("user_id:\"ratchet|abc\" AND email:x@y.z").unwrap(), filter(Some("x@y.z"), Some("ratchet|abc")));
        assert_eq!(parse_query("user_id:ratchet|abc email:x@y.z").unwrap(), filter(Some("x@y.z"), Some("ratchet|abc")));
        for bad in ["name:bob", "email:a*", "bob", "email:\"a", "email:a OR email:b", "email:a email:b", "email:\"a\"b"] {
            let e = parse_query(bad).unwrap_err();
            assert!(matches!(&e, ManageError::Invalid(m) if m.contains("email:")), "{bad}: {e:?}");
        }
    }

    #[test]
    fn metadata_merges_one_level_and_null_deletes() {
        let mut m = serde_json::json!({"a": 1, "b": {"x": 1}, "c": 3}).as_object().cloned().unwrap();
        merge_metadata(&mut m, serde_json::json!({"a": null, "b": {"y": 2}, "d": 4}).as_object().cloned().unwrap());
        assert_eq!(Value::Object(m), serde_json::json!({"b": {"y": 2}, "c": 3, "d": 4}));
    }
}
