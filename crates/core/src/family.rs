//! Refresh-token families: rotation, reuse detection, safe retry and lifetimes
//! (DESIGN §4; RFC 9700 §4.14.2; OAuth 2.0 for Browser-Based Apps §6.1.2).
//!
//! A token is `(family_id, counter)` plus `HMAC-SHA256(K, family_id ‖ counter)` under a server key
//! `K`. The database holds one row per family with the current counter, so storage is constant per
//! family and a dump of the database contains no usable token. This module only *decides*; the
//! store applies a decision with one conditional write.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::UnixTime;
use crate::client::RefreshTokenPolicy;
use crate::secret::{Secret, ct_eq, random_bytes};

type HmacSha256 = Hmac<Sha256>;

const TOKEN_VERSION: u8 = 1;
const MAC_LEN: usize = 32;
const RAW_LEN: usize = 1 + 1 + 16 + 8 + MAC_LEN;
/// The length of an encoded refresh token, in characters.
/// At most this many live families per user per client; the oldest are evicted (Auth0's limit).
pub const MAX_FAMILIES_PER_USER_CLIENT: u32 = 200;

pub const TOKEN_LEN: usize = (RAW_LEN * 4).div_ceil(3);

/// One MAC key with its id (the id is in every token so keys can be rotated).
#[derive(Clone)]
pub struct MacKey {
    pub kid: u8,
    mac: HmacSha256,
}

impl MacKey {
    pub fn new(kid: u8, key: &[u8]) -> Self {
        MacKey { kid, mac: HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length") }
    }

    /// A fresh random 256-bit key; returns it with its bytes for (encrypted) storage.
    pub fn generate(kid: u8) -> (Self, [u8; 32]) {
        let bytes = random_bytes::<32>();
        (Self::new(kid, &bytes), bytes)
    }

    fn tag(&self, family: &FamilyId, counter: u64) -> [u8; MAC_LEN] {
        let mut m = self.mac.clone();
        m.update(b"ratchet refresh token v1");
        m.update(&[self.kid]);
        m.update(&family.0);
        m.update(&counter.to_be_bytes());
        m.finalize().into_bytes().into()
    }
}

/// The set of MAC keys: one issues new tokens, all verify (so a key rotation signs nobody out).
#[derive(Clone)]
pub struct TokenCodec {
    /// The issuing key first.
    keys: Vec<MacKey>,
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCodec(<redacted>)")
    }
}

impl TokenCodec {
    /// The codec verifying with `keys` and issuing with the one whose id is `issuing`, which
    /// must be among them.
    pub fn new(mut keys: Vec<MacKey>, issuing: u8) -> Self {
        let at = keys.iter().position(|k| k.kid == issuing).expect("the issuing MAC key is among the keys");
        keys.swap(0, at);
        TokenCodec { keys }
    }

    /// The id of the key that issues new tokens.
    pub fn issuing_kid(&self) -> u8 {
        self.keys[0].kid
    }

    /// The refresh token for `counter` in `family`.
    pub fn encode(&self, family: &FamilyId, counter: u64) -> Secret {
        let key = &self.keys[0];
        let mut raw = Vec::with_capacity(RAW_LEN);
        raw.push(TOKEN_VERSION);
        raw.push(key.kid);
        raw.extend_from_slice(&family.0);
        raw.extend_from_slice(&counter.to_be_bytes());
        raw.extend_from_slice(&key.tag(family, counter));
        Secret::new(URL_SAFE_NO_PAD.encode(raw))
    }

    /// Verifies a presented token. `None` means *unknown*: it is not ours, and it must never
    /// cause any side effect (otherwise anyone who learned a family id could revoke it).
    pub fn decode(&self, token: &str) -> Option<(FamilyId, u64)> {
        if token.len() != TOKEN_LEN {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
        if raw.len() != RAW_LEN || raw[0] != TOKEN_VERSION {
            return None;
        }
        let key = self.keys.iter().find(|k| k.kid == raw[1])?;
        let family = FamilyId(raw[2..18].try_into().ok()?);
        let counter = u64::from_be_bytes(raw[18..26].try_into().ok()?);
        ct_eq(&key.tag(&family, counter), &raw[26..]).then_some((family, counter))
    }
}

/// A family's identifier: 128 random bits, shown as 32 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FamilyId([u8; 16]);

impl FamilyId {
    pub fn random() -> Self {
        FamilyId(random_bytes::<16>())
    }

    pub fn parse(s: &str) -> Option<Self> {
        hex::decode(s).ok()?.try_into().ok().map(FamilyId)
    }
}

impl std::fmt::Display for FamilyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// The stored state of one family: one row, whatever the number of rotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub id: FamilyId,
    /// The authorization (code exchange) the family was born from.
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub audience: Option<String>,
    pub scope: String,
    pub rotating: bool,
    /// The counter of the current token; older counters are reuse.
    pub counter: u64,
    pub created_at: UnixTime,
    /// Absolute expiry, fixed at birth.
    pub expires_at: Option<UnixTime>,
    /// Inactivity expiry, restarted at every exchange (never past `expires_at`).
    pub idle_expires_at: Option<UnixTime>,
    /// When the current token was issued (start of the leeway window for the previous one).
    pub rotated_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
    pub auth_time: UnixTime,
    /// The RFC 7638 thumbprint of the DPoP key the family is bound to (RFC 9449 §5): every
    /// exchange must then carry a proof made with that key. Fixed at birth.
    pub jkt: Option<String>,
}

/// Who a new family belongs to and what it grants.
#[derive(Debug, Clone)]
pub struct FamilyGrant {
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub audience: Option<String>,
    pub scope: String,
    pub auth_time: UnixTime,
}

impl Family {
    /// A new family under `policy`, born at `now`: its absolute expiry is fixed here.
    pub fn born(grant: FamilyGrant, policy: &RefreshTokenPolicy, now: UnixTime) -> Family {
        let expires_at = policy.absolute().map(|s| now + i64::from(s));
        Family {
            id: FamilyId::random(),
            grant_id: grant.grant_id,
            client_id: grant.client_id,
            user_id: grant.user_id,
            session_id: grant.session_id,
            audience: grant.audience,
            scope: grant.scope,
            rotating: policy.is_rotating(),
            counter: 0,
            created_at: now,
            expires_at,
            idle_expires_at: idle_deadline(policy, expires_at, now),
            rotated_at: now,
            revoked_at: None,
            auth_time: grant.auth_time,
            jkt: None,
        }
    }

    /// The family bound to the DPoP key with thumbprint `jkt` (or unbound with `None`).
    pub fn bound_to(self, jkt: Option<String>) -> Family {
        Family { jkt, ..self }
    }

    pub fn is_live(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| now < t) && self.idle_expires_at.is_none_or(|t| now < t)
    }
}

/// The idle deadline after an exchange at `now`, capped by the absolute expiry.
pub fn idle_deadline(policy: &RefreshTokenPolicy, expires_at: Option<UnixTime>, now: UnixTime) -> Option<UnixTime> {
    match (policy.idle().map(|s| now + i64::from(s)), expires_at) {
        (Some(idle), Some(abs)) => Some(idle.min(abs)),
        (idle, _) => idle,
    }
}

/// Why a presented token is refused without touching its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Revoked,
    Expired,
    IdleExpired,
    /// Issued to another client: refused, and the family is left alone (the presenter is not
    /// the client it was issued to, so it cannot be evidence of theft from that client).
    OtherClient,
    /// A counter the family never reached (only possible with a forged MAC key).
    Unknown,
    /// A DPoP-bound family presented without a proof: refused, and the family is left alone (a
    /// thief without the key must not be able to revoke it and so sign the user out).
    ProofMissing,
    /// A DPoP-bound family presented with a proof made by another key: as `ProofMissing`.
    KeyMismatch,
}

/// What to do with a presented token, decided from the family's state alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// The current token of a rotating family: advance the counter from `from` (conditionally).
    Rotate {
        from: u64,
    },
    /// The previous token inside the leeway: answer with the token for `successor` again, the
    /// same one the rotation already returned; nothing is written.
    Retry {
        successor: u64,
    },
    /// A non-rotating family's token: it stays valid; only the idle deadline moves.
    Reuse,
    /// The client's rotation setting changed since the family was born: replace the family with
    /// one of the new kind (Auth0's migration on next exchange).
    Migrate,
    /// An older token of a rotating family: revoke the whole family.
    ReuseDetected {
        presented: u64,
        latest: u64,
    },
    Reject(Rejection),
}

/// Decides what presenting counter `presented` of `family` by `client_id` means at `now`, with a
/// valid DPoP proof made by the key with thumbprint `proof_jkt` (if one came with the request).
///
/// The key binding is checked before anything that could revoke the family: without the key, a
/// presented token (current or old) is never evidence of theft from the key holder.
pub fn assess(
    family: &Family,
    client_id: &str,
    policy: &RefreshTokenPolicy,
    presented: u64,
    proof_jkt: Option<&str>,
    now: UnixTime,
) -> Exchange {
    if family.client_id != client_id {
        return Exchange::Reject(Rejection::OtherClient);
    }
    match (&family.jkt, proof_jkt) {
        (Some(_), None) => return Exchange::Reject(Rejection::ProofMissing),
        (Some(bound), Some(given)) if bound != given => return Exchange::Reject(Rejection::KeyMismatch),
        _ => {}
    }
    if family.revoked_at.is_some() {
        return Exchange::Reject(Rejection::Revoked);
    }
    if family.expires_at.is_some_and(|t| now >= t) {
        return Exchange::Reject(Rejection::Expired);
    }
    if family.idle_expires_at.is_some_and(|t| now >= t) {
        return Exchange::Reject(Rejection::IdleExpired);
    }
    if presented > family.counter {
        return Exchange::Reject(Rejection::Unknown);
    }
    if !family.rotating {
        return if presented == family.counter {
            if policy.is_rotating() { Exchange::Migrate } else { Exchange::Reuse }
        } else {
            Exchange::Reject(Rejection::Unknown)
        };
    }
    if presented == family.counter {
        return if policy.is_rotating() { Exchange::Rotate { from: presented } } else { Exchange::Migrate };
    }
    let within_leeway = now < family.rotated_at + i64::from(policy.leeway);
    if presented + 1 == family.counter && within_leeway {
        return Exchange::Retry { successor: family.counter };
    }
    Exchange::ReuseDetected { presented, latest: family.counter }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> TokenCodec {
        TokenCodec::new(vec![MacKey::new(1, b"k1"), MacKey::new(2, b"k2")], 2)
    }

    fn family(policy: &RefreshTokenPolicy, now: i64) -> Family {
        Family::born(
            FamilyGrant {
                grant_id: "g".into(),
                client_id: "c".into(),
                user_id: "u".into(),
                session_id: None,
                audience: None,
                scope: "openid offline_access".into(),
                auth_time: now,
            },
            policy,
            now,
        )
    }

    #[test]
    fn token_round_trips_and_is_mac_protected() {
        let c = codec();
        let f = FamilyId::random();
        let t = c.encode(&f, 7);
        assert_eq!(t.expose().len(), TOKEN_LEN);
        assert_eq!(c.decode(t.expose()), Some((f, 7)));
        // Flip one character of the MAC part.
        let mut bad: Vec<char> = t.expose().chars().collect();
        let last = bad.len() - 2;
        bad[last] = if bad[last] == 'A' { 'B' } else { 'A' };
        assert_eq!(c.decode(&bad.into_iter().collect::<String>()), None);
        assert_eq!(c.decode("garbage"), None);
        // A token from another key set is unknown.
        let other = TokenCodec::new(vec![MacKey::new(2, b"other")], 2);
        assert_eq!(c.decode(other.encode(&f, 7).expose()), None);
    }

    #[test]
    fn older_keys_still_verify() {
        let old = TokenCodec::new(vec![MacKey::new(1, b"k1")], 1);
        let f = FamilyId::random();
        let t = old.encode(&f, 3);
        assert_eq!(codec().decode(t.expose()), Some((f, 3)));
    }

    #[test]
    fn the_issuing_key_is_chosen_not_the_newest() {
        // A key published ahead of its activation verifies but does not issue yet.
        let c = TokenCodec::new(vec![MacKey::new(1, b"k1"), MacKey::new(2, b"k2")], 1);
        let t = c.encode(&FamilyId::random(), 0);
        assert_eq!(URL_SAFE_NO_PAD.decode(t.expose()).unwrap()[1], 1, "the kid byte names the issuing key");
        assert_eq!(c.issuing_kid(), 1);
    }

    #[test]
    fn current_token_rotates() {
        let p = RefreshTokenPolicy::rotating_default();
        let f = family(&p, 100);
        assert_eq!(assess(&f, "c", &p, 0, None, 101), Exchange::Rotate { from: 0 });
    }

    #[test]
    fn previous_token_within_leeway_returns_same_successor() {
        let mut p = RefreshTokenPolicy::rotating_default();
        p.leeway = 10;
        let mut f = family(&p, 100);
        f.counter = 5;
        f.rotated_at = 200;
        assert_eq!(assess(&f, "c", &p, 4, None, 209), Exchange::Retry { successor: 5 });
        assert_eq!(assess(&f, "c", &p, 4, None, 210), Exchange::ReuseDetected { presented: 4, latest: 5 });
        assert_eq!(assess(&f, "c", &p, 3, None, 201), Exchange::ReuseDetected { presented: 3, latest: 5 });
    }

    #[test]
    fn zero_leeway_makes_any_replay_reuse() {
        let p = RefreshTokenPolicy::rotating_default();
        let mut f = family(&p, 100);
        f.counter = 1;
        f.rotated_at = 100;
        assert_eq!(assess(&f, "c", &p, 0, None, 100), Exchange::ReuseDetected { presented: 0, latest: 1 });
    }

    #[test]
    fn token_of_other_client_is_rejected_without_revocation() {
        let p = RefreshTokenPolicy::rotating_default();
        let f = family(&p, 100);
        assert_eq!(assess(&f, "other", &p, 0, None, 101), Exchange::Reject(Rejection::OtherClient));
    }

    #[test]
    fn absolute_lifetime_is_fixed_at_birth_and_idle_is_capped() {
        let mut p = RefreshTokenPolicy::rotating_default();
        p.token_lifetime = 1000;
        p.idle_token_lifetime = 300;
        let f = family(&p, 0);
        assert_eq!(f.expires_at, Some(1000));
        assert_eq!(f.idle_expires_at, Some(300));
        assert_eq!(idle_deadline(&p, f.expires_at, 900), Some(1000), "idle never passes absolute");
        assert_eq!(assess(&f, "c", &p, 0, None, 300), Exchange::Reject(Rejection::IdleExpired));
        let mut g = f.clone();
        g.idle_expires_at = Some(2000);
        assert_eq!(assess(&g, "c", &p, 0, None, 1000), Exchange::Reject(Rejection::Expired));
    }

    #[test]
    fn rotation_setting_change_migrates_at_next_exchange() {
        let rot = RefreshTokenPolicy::rotating_default();
        let non = RefreshTokenPolicy::non_rotating_default();
        let f = family(&rot, 0);
        assert_eq!(assess(&f, "c", &non, 0, None, 1), Exchange::Migrate);
        let g = family(&non, 0);
        assert_eq!(assess(&g, "c", &non, 0, None, 1), Exchange::Reuse);
        assert_eq!(assess(&g, "c", &rot, 0, None, 1), Exchange::Migrate);
    }

    #[test]
    fn bound_family_without_proof_or_with_another_key_is_rejected_before_reuse_detection() {
        let p = RefreshTokenPolicy::rotating_default();
        let mut f = family(&p, 100).bound_to(Some("key-a".into()));
        f.counter = 3;
        assert_eq!(assess(&f, "c", &p, 3, Some("key-a"), 101), Exchange::Rotate { from: 3 });
        assert_eq!(assess(&f, "c", &p, 3, None, 101), Exchange::Reject(Rejection::ProofMissing));
        assert_eq!(assess(&f, "c", &p, 3, Some("key-b"), 101), Exchange::Reject(Rejection::KeyMismatch));
        // An old token without the key is not reuse: the family must survive a thief without it.
        assert_eq!(assess(&f, "c", &p, 1, None, 101), Exchange::Reject(Rejection::ProofMissing));
        assert_eq!(assess(&f, "c", &p, 1, Some("key-b"), 101), Exchange::Reject(Rejection::KeyMismatch));
        assert_eq!(assess(&f, "c", &p, 1, Some("key-a"), 101), Exchange::ReuseDetected { presented: 1, latest: 3 });
        // An unbound family accepts any proof (or none).
        let g = family(&p, 100);
        assert_eq!(assess(&g, "c", &p, 0, Some("key-a"), 101), Exchange::Rotate { from: 0 });
    }

    #[test]
    fn revoked_family_rejects_every_token() {
        let p = RefreshTokenPolicy::rotating_default();
        let mut f = family(&p, 0);
        f.revoked_at = Some(5);
        assert_eq!(assess(&f, "c", &p, 0, None, 6), Exchange::Reject(Rejection::Revoked));
    }
}
