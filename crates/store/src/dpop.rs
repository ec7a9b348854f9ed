//! The DPoP proof replay cache (RFC 9449 §11.1): every proof's `jti` is remembered until the
//! proof could no longer be accepted anyway (its `iat` is out of the window), in the database, so
//! a proof replayed to another node of a deployment is refused too. The refresh hot path spends
//! its proof inside the rotation's write instead (see [`crate::Store::rotate`]).

use async_trait::async_trait;
use ratchet_core::UnixTime;

use crate::Result;

/// The `Conflict` message of a rotation whose proof was already spent.
pub const REPLAYED_PROOF: &str = "replayed DPoP proof";

/// The DPoP side of a rotation: the thumbprint of the proof's key and its replay-cache entry.
#[derive(Debug, Clone, Copy)]
pub struct RotationProof<'a> {
    pub jkt: &'a str,
    /// `ratchet_core::dpop::Proof::replay_key`.
    pub replay_key: &'a str,
    /// Until when the entry must be kept.
    pub replay_expires_at: UnixTime,
}

#[async_trait]
pub trait DpopReplayCache: Send + Sync {
    /// Records a proof's replay key until `expires_at`; returns whether it was new (`false`: a
    /// replay). One atomic insert: of N concurrent callers with the same key, exactly one gets
    /// `true`. Expired entries go with `Store::purge`.
    async fn use_dpop_proof(&self, replay_key: &str, expires_at: UnixTime) -> Result<bool>;
}
