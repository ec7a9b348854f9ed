//! Error policy: the domain returns [`CoreError`] for invalid input that a caller maps to a
//! protocol error; anything unexpected (a broken key, a failed RNG) is `Crypto` and becomes a 500.

/// What can go wrong inside the domain core.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CoreError {
    /// Input that does not satisfy a domain rule; the message is safe to show to the caller.
    #[error("{0}")]
    Invalid(String),
    /// A cryptographic primitive failed (bad key material, ciphertext that does not open).
    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),
}

impl CoreError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        CoreError::Invalid(msg.into())
    }
}
