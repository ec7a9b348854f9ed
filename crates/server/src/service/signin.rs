//! Signing in: login transactions carried through the browser, password checks off the async
//! runtime, brute-force protection (`ratchet_core::brute_force`, counters in the store), and
//! server-side sessions (the SSO cookie).

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use ratchet_core::audit::EventType;
use ratchet_core::brute_force::{Block, DEFAULT_POLICY, Verdict, assess};
use ratchet_core::password;
use ratchet_core::secret::{Secret, ct_eq, hash, random_token};
use ratchet_store::{Seen, Session, User};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::Semaphore;

use crate::app::AppState;
use crate::error::OAuthError;
use crate::service::audit::Record;
use crate::service::tokens::sid_for;

/// Auth0's default session lifetimes: 7 days absolute, 3 days idle.
pub const SESSION_LIFETIME: i64 = 7 * 24 * 3600;
pub const SESSION_IDLE_LIFETIME: i64 = 3 * 24 * 3600;
/// How long a login page may stay open.
pub const TRANSACTION_LIFETIME: i64 = 3600;

/// Bounded concurrency for password hashing, run on the blocking pool.
pub struct Hashing {
    permits: Semaphore,
    /// A real hash to verify against when the user does not exist, so timing does not reveal it.
    dummy: String,
}

impl Hashing {
    pub fn new(concurrency: usize) -> Self {
        Hashing { permits: Semaphore::new(concurrency), dummy: password::hash_password("ratchet dummy password").expect("argon2 works") }
    }

    /// Verifies `password` against `encoded` (or the dummy hash) off the async runtime.
    pub async fn verify(&self, password: Secret, encoded: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else { return false };
        let (known, encoded) = match encoded {
            Some(e) => (true, e),
            None => (false, self.dummy.clone()),
        };
        let ok = tokio::task::spawn_blocking(move || password::verify_password(password.expose(), &encoded)).await.unwrap_or(false);
        known && ok
    }

    pub async fn hash(&self, password: Secret) -> Result<String, OAuthError> {
        let _permit = self.permits.acquire().await.map_err(|_| OAuthError::server_error())?;
        tokio::task::spawn_blocking(move || password::hash_password(password.expose()))
            .await
            .map_err(|_| OAuthError::server_error())?
            .map_err(OAuthError::from)
    }
}

/// The outcome of a password sign-in attempt.
#[derive(Debug)]
pub enum SignIn {
    Succeeded(Box<User>),
    /// Wrong email or password, or a blocked user: one answer for all (no enumeration).
    Failed,
    /// Refused by brute-force protection without checking the password; the client may retry
    /// after this many seconds.
    Refused {
        retry_after: u64,
    },
}

/// Seals `value` under `key` for a round trip through the browser:
/// `base64url(json) "." base64url(HMAC-SHA256(key, base64url(json)))`. The JSON must carry its own expiry.
pub fn seal_transaction<T: Serialize>(key: &[u8; 32], value: &T) -> String {
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("transactions serialise"));
    format!("{body}.{}", URL_SAFE_NO_PAD.encode(transaction_mac(key, &body)))
}

/// The value [`seal_transaction`] sealed under `key`; `None` for anything else (a fuzz target,
/// fuzz/fuzz_targets/login_transaction.rs, feeds it arbitrary input).
pub fn open_transaction<T: DeserializeOwned>(key: &[u8; 32], sealed: &str) -> Option<T> {
    let (body, tag) = sealed.split_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    if !ct_eq(&transaction_mac(key, body), &tag) {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()
}

fn transaction_mac(key: &[u8; 32], body: &str) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(body.as_bytes());
    m.finalize().into_bytes().into()
}

impl AppState {
    pub fn seal_transaction<T: Serialize>(&self, value: &T) -> String {
        seal_transaction(&self.keys.transaction, value)
    }

    pub fn open_transaction<T: DeserializeOwned>(&self, sealed: &str) -> Option<T> {
        open_transaction(&self.keys.transaction, sealed)
    }

    /// A password sign-in by `username` from `ip` at `client_id`, behind brute-force protection:
    /// the attempt is reserved in the store before the password is checked, so concurrent
    /// guesses cannot pass the limits; a refusal checks nothing. Logs `f` for a wrong password and
    /// `limit_wc` / `limit_mu` for the attempt that starts a block.
    pub async fn sign_in(&self, username: &str, password: Secret, ip: IpAddr, client_id: &str) -> Result<SignIn, OAuthError> {
        let account = username.to_lowercase();
        let ip = ip.to_string();
        let now = self.now();
        let reserved = self.store.reserve_login_attempt(&account, &ip, now, &DEFAULT_POLICY.windows).await?;
        match assess(&DEFAULT_POLICY, &reserved, now) {
            Verdict::Refuse { block, retry_after, first } => {
                if first {
                    let (kind, description) = match block {
                        Block::AccountFromIp => (EventType::AccountBlocked, "Too many failed login attempts for this account from this IP"),
                        Block::Ip => (EventType::IpBlocked, "Too many failed login attempts from this IP"),
                    };
                    let user = self.store.user_by_email(&account).await?;
                    self.record(Record {
                        kind,
                        description,
                        client_id: Some(client_id),
                        user_id: user.as_ref().map(|u| u.user_id.as_str()),
                        details: json!({"user_name": account, "ip": ip}),
                    })
                    .await;
                }
                return Ok(SignIn::Refused { retry_after });
            }
            Verdict::Check { delay } if !delay.is_zero() => tokio::time::sleep(delay).await,
            Verdict::Check { .. } => {}
        }
        match self.check_password(&account, password).await? {
            Some(user) => {
                self.store.login_succeeded(&account, &ip, now).await?;
                Ok(SignIn::Succeeded(Box::new(user)))
            }
            None => {
                self.record(Record {
                    kind: EventType::LoginFailed,
                    description: "Wrong email or password.",
                    client_id: Some(client_id),
                    user_id: None,
                    details: json!({"ip": ip}),
                })
                .await;
                Ok(SignIn::Failed)
            }
        }
    }

    /// Checks a user's password. Unknown users cost the same as known ones.
    async fn check_password(&self, email: &str, password: Secret) -> Result<Option<User>, OAuthError> {
        let user = self.store.user_by_email(&email.to_lowercase()).await?;
        let ok = self.hashing.verify(password, user.as_ref().map(|u| u.password_hash.clone())).await;
        Ok(user.filter(|u| ok && !u.blocked))
    }

    /// Starts a session for `user` signing in from `seen`, and counts the sign-in on the user;
    /// returns the cookie value (the only copy of the session id).
    pub async fn start_session(&self, user: &User, seen: &Seen) -> Result<(Secret, Session), OAuthError> {
        let now = self.now();
        let id = random_token();
        let id_hash = hash(&id);
        let session = Session {
            sid: sid_for(&id_hash),
            id_hash,
            user_id: user.user_id.clone(),
            auth_time: now,
            expires_at: now + SESSION_LIFETIME,
            idle_expires_at: now + SESSION_IDLE_LIFETIME,
            created_at: now,
            last_interacted_at: now,
            initial: seen.clone(),
            last: seen.clone(),
        };
        self.store.insert_session(&session).await?;
        self.store.record_login(&user.user_id, now, seen.ip.as_deref()).await?;
        Ok((Secret::new(id), session))
    }

    /// Ends the session named by a cookie value, if it exists (its refresh tokens keep working).
    pub async fn end_session(&self, cookie: &str) -> Result<(), OAuthError> {
        self.store.delete_session(&hash(cookie), false, self.now()).await?;
        Ok(())
    }

    /// The live session named by a cookie value, with its user; renews the idle deadline.
    pub async fn live_session(&self, cookie: Option<&str>) -> Result<Option<(Session, User)>, OAuthError> {
        let Some(id) = cookie else { return Ok(None) };
        let now = self.now();
        let Some(session) = self.store.session(&hash(id)).await? else { return Ok(None) };
        if now >= session.expires_at || now >= session.idle_expires_at {
            return Ok(None);
        }
        let Some(user) = self.store.user(&session.user_id).await?.filter(|u| !u.blocked) else { return Ok(None) };
        // Renew at most once a minute to keep silent authentication read-mostly.
        if session.idle_expires_at - now < SESSION_IDLE_LIFETIME - 60 {
            self.store.touch_session(&session.id_hash, now + SESSION_IDLE_LIFETIME, now).await?;
        }
        Ok(Some((session, user)))
    }
}
