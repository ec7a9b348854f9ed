//! Encryption of server secrets at rest (signing keys, the refresh-token MAC key) under the
//! deployment's master key, with AES-256-GCM. The stored form is `nonce ‖ ciphertext ‖ tag`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::CoreError;
use crate::secret::random_bytes;

/// The 32-byte key every node of a deployment shares; never stored in the database.
pub struct MasterKey(LessSafeKey);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Parses 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(hex_key: &str) -> Result<Self, CoreError> {
        let bytes = hex::decode(hex_key.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| CoreError::invalid("the master key must be 64 hexadecimal characters (32 bytes)"))?;
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CoreError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CoreError::Crypto("master key"))?;
        Ok(MasterKey(LessSafeKey::new(key)))
    }

    /// Encrypts `plaintext`, binding it to `purpose` (so a ciphertext cannot be swapped for
    /// another kind of secret).
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<Vec<u8>, CoreError> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(purpose.as_bytes()), &mut buf)
            .map_err(|_| CoreError::Crypto("seal"))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Vec<u8>, CoreError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(CoreError::Crypto("sealed secret too short"));
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CoreError::Crypto("nonce"))?;
        let mut buf = ct.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut buf)
            .map_err(|_| CoreError::Crypto("a stored secret does not open under this master key"))?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_opens_only_with_same_key_and_purpose() {
        let k = MasterKey::from_hex(&"11".repeat(32)).unwrap();
        let other = MasterKey::from_hex(&"22".repeat(32)).unwrap();
        let sealed = k.seal("signing-key", b"secret").unwrap();
        assert_eq!(k.open("signing-key", &sealed).unwrap(), b"secret");
        assert!(k.open("mac-key", &sealed).is_err());
        assert!(other.open("signing-key", &sealed).is_err());
    }

    #[test]
    fn master_key_must_be_32_bytes_hex() {
        assert!(MasterKey::from_hex("abcd").is_err());
        assert!(MasterKey::from_hex(&"zz".repeat(32)).is_err());
    }
}
