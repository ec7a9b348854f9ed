//! Ratchet's domain core: the types and decisions of an OAuth 2.0 / OIDC authorization server,
//! with no I/O. Every function that depends on time or randomness takes `now` (unix seconds) or
//! draws from [`secret::random_bytes`] through an explicit call, so expiry and rotation windows are
//! testable with an injected clock.

pub mod audit;
pub mod brute_force;
pub mod client;
pub mod crypto;
pub mod dpop;
pub mod error;
pub mod family;
pub mod iso8601;
pub mod jws;
pub mod oauth;
pub mod password;
pub mod secret;

pub use error::CoreError;

/// Seconds since the Unix epoch: the only time type of the domain.
pub type UnixTime = i64;
