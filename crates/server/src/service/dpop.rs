//! DPoP at the edge (RFC 9449): reading the `DPoP` header of a request to `/oauth/token`,
//! `/oauth/revoke` or `/userinfo`, validating the proof (`ratchet_core::dpop::verify`), the server
//! nonce (§8) and the `jti` replay cache (§11.1, in the store so every node shares it), and the
//! answers for each failure: `400 invalid_dpop_proof` / `use_dpop_nonce` at the token endpoint
//! (§5, §8), `401` with a `DPoP` challenge at resources (§7.1, §9).

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use ratchet_core::audit::EventType;
use ratchet_core::dpop::{self, Expected, NonceKey, Proof, ProofError};
use serde_json::json;

use crate::app::AppState;
use crate::error::OAuthError;
use crate::service::audit::Record;

/// The DPoP settings of a node.
#[derive(Debug, Clone)]
pub struct DpopSettings {
    /// `iat` acceptance window, seconds either side of now (also how long a `jti` is remembered).
    pub iat_window: i64,
    /// Server nonces, when required.
    pub nonce: Option<NonceKey>,
}

/// Why DPoP refused a request. `reason` is recorded in the audit trail.
#[derive(Debug, Clone)]
pub enum DpopFailure {
    /// The proof breaks a rule of RFC 9449 §4.3 (or there is not exactly one).
    Invalid(ProofError),
    /// The proof lacks the current server nonce; the answer carries a fresh one.
    UseNonce,
}

impl DpopFailure {
    pub fn reason(&self) -> &'static str {
        match self {
            DpopFailure::Invalid(e) => e.reason,
            DpopFailure::UseNonce => "dpop_nonce",
        }
    }

    fn description(&self) -> String {
        match self {
            DpopFailure::Invalid(e) => e.description.clone(),
            DpopFailure::UseNonce => "Authorization server requires nonce in DPoP proof".into(),
        }
    }

    /// The token endpoint's answer (RFC 9449 §5, §8): `400 invalid_dpop_proof | use_dpop_nonce`.
    pub fn for_token_endpoint(&self) -> OAuthError {
        let error = match self {
            DpopFailure::Invalid(_) => "invalid_dpop_proof",
            DpopFailure::UseNonce => "use_dpop_nonce",
        };
        OAuthError::new(StatusCode::BAD_REQUEST, error, self.description())
    }

    /// A resource's answer (RFC 9449 §7.1, §9): `401` with a `DPoP` challenge.
    pub fn for_resource(&self) -> OAuthError {
        let error = match self {
            DpopFailure::Invalid(_) => "invalid_dpop_proof",
            DpopFailure::UseNonce => "use_dpop_nonce",
        };
        let d = self.description();
        let mut e = OAuthError::new(StatusCode::UNAUTHORIZED, error, d.clone());
        e.challenge = Some(dpop_challenge(error, &d));
        e
    }
}

/// A `WWW-Authenticate: DPoP` challenge with the accepted algorithms (RFC 9449 §7.1).
pub fn dpop_challenge(error: &str, description: &str) -> String {
    format!(r#"DPoP error="{error}", error_description="{}", algs="{}""#, description.replace('"', "'"), dpop::SIGNING_ALGS.join(" "))
}

fn invalid(reason: &'static str, description: &str) -> DpopFailure {
    DpopFailure::Invalid(ProofError::new(reason, description))
}

impl AppState {
    /// Validates the `DPoP` header of a request (`htm` `endpoint`, with `access_token` if one is
    /// presented) without touching the replay cache: `Ok(None)` when there is no header. The
    /// caller then spends the proof with [`AppState::spend_dpop_proof`] (or inside the rotation).
    pub fn dpop_proof(
        &self,
        headers: &HeaderMap,
        htm: &str,
        endpoint: &str,
        access_token: Option<&str>,
    ) -> Result<Option<Proof>, DpopFailure> {
        let mut values = headers.get_all("dpop").iter();
        let Some(value) = values.next() else { return Ok(None) };
        if values.next().is_some() {
            return Err(invalid("dpop_multiple", "A request must carry exactly one DPoP header"));
        }
        let value = value.to_str().map_err(|_| invalid("dpop_malformed", "DPoP header is not a compact JWS"))?;
        let htu = self.endpoint(endpoint);
        let now = self.now();
        let expected = Expected { htm, htu: &htu, now, iat_window: self.dpop.iat_window, access_token };
        let proof = dpop::verify(value, &expected).map_err(DpopFailure::Invalid)?;
        if let Some(nonces) = &self.dpop.nonce
            && !proof.nonce.as_deref().is_some_and(|n| nonces.accepts(n, now))
        {
            return Err(DpopFailure::UseNonce);
        }
        Ok(Some(proof))
    }

    /// Records `proof`'s `jti` in the shared replay cache: `Ok(Err(_))` if it was already seen
    /// (on any node). The refresh hot path does this inside the rotation's write instead.
    pub async fn spend_dpop_proof(&self, proof: &Proof) -> Result<Result<(), DpopFailure>, OAuthError> {
        let now = self.now();
        let fresh = self.store.use_dpop_proof(&proof.replay_key(), proof.replay_expiry(now, self.dpop.iat_window)).await?;
        Ok(if fresh { Ok(()) } else { Err(replayed()) })
    }

    /// Records a DPoP failure as a failed exchange of `kind` (`fertft`, `feacft`, …) with its reason.
    pub async fn record_dpop_failure(&self, kind: EventType, client_id: Option<&str>, user_id: Option<&str>, reason: &str, detail: &str) {
        self.record(Record { kind, description: detail, client_id, user_id, details: json!({"failure_reason": reason}) }).await;
    }

    /// Adds the current server nonce to a response from a DPoP endpoint, when nonces are on
    /// (RFC 9449 §8.2: a server may hand out a fresh nonce with any response).
    pub fn add_dpop_nonce(&self, res: &mut Response) {
        if let Some(nonces) = &self.dpop.nonce
            && let Ok(v) = HeaderValue::from_str(&nonces.current(self.now()))
        {
            res.headers_mut().insert("dpop-nonce", v);
        }
    }
}

/// The failure of a replayed proof.
pub fn replayed() -> DpopFailure {
    invalid("dpop_replay", "DPoP proof jti was already used")
}
