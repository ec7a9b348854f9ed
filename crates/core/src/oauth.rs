//! Validated protocol values, parsed at the edge (RFC 6749, RFC 7636, OIDC Core).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::CoreError;
use crate::secret::ct_eq;

/// Scopes Ratchet understands; others are dropped from the granted set.
pub const SUPPORTED_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// A space-delimited set of scope tokens, deduplicated, in first-seen order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(Vec<String>);

impl Scope {
    /// Parses a scope parameter (RFC 6749 §3.3: `1*( %x21 / %x23-5B / %x5D-7E )` tokens).
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let mut out: Vec<String> = Vec::new();
        for tok in s.split(' ').filter(|t| !t.is_empty()) {
            if !tok.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)) {
                return Err(CoreError::invalid("scope contains invalid characters"));
            }
            if !out.iter().any(|t| t == tok) {
                out.push(tok.to_string());
            }
        }
        Ok(Scope(out))
    }

    /// Keeps only the scopes this server supports.
    pub fn supported(&self) -> Scope {
        self.retain(|t| SUPPORTED_SCOPES.contains(&t))
    }

    /// Keeps only the scopes for which `keep` holds, in order.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) -> Scope {
        Scope(self.0.iter().filter(|t| keep(t)).cloned().collect())
    }

    /// The scope tokens, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn contains(&self, s: &str) -> bool {
        self.0.iter().any(|t| t == s)
    }

    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.0.iter().all(|t| other.contains(t))
    }

    pub fn without(&self, s: &str) -> Scope {
        Scope(self.0.iter().filter(|t| *t != s).cloned().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// An absolute `http`/`https` URI without a fragment (RFC 6749 §3.1.2), compared to registered
/// callbacks by exact string equality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(url::Url);

impl RedirectUri {
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let u = url::Url::parse(s).map_err(|_| CoreError::invalid("redirect_uri is not an absolute URI"))?;
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
            return Err(CoreError::invalid("redirect_uri must be an http or https URI"));
        }
        if u.fragment().is_some() || !u.username().is_empty() || u.password().is_some() {
            return Err(CoreError::invalid("redirect_uri must not contain a fragment or credentials"));
        }
        Ok(RedirectUri(u))
    }

    /// The origin (`scheme://host[:port]`) of the URI, as browsers serialise it.
    pub fn origin(&self) -> String {
        self.0.origin().ascii_serialization()
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }
}

/// The origin of an absolute URL or an origin string (`https://app.example`), normalised.
pub fn origin_of(s: &str) -> Option<String> {
    let u = url::Url::parse(s).ok()?;
    match u.origin() {
        url::Origin::Tuple(..) => Some(u.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// A PKCE `code_challenge` with method S256 (RFC 7636 §4.2). `plain` is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// `method` is the `code_challenge_method` parameter (absent means `plain`, which is refused).
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, CoreError> {
        match method {
            Some("S256") => {}
            Some("plain") | None => return Err(CoreError::invalid("code_challenge_method must be S256")),
            Some(_) => return Err(CoreError::invalid("unsupported code_challenge_method")),
        }
        // base64url of a SHA-256 digest: exactly 43 characters.
        if challenge.len() != 43 || !challenge.bytes().all(is_unreserved) {
            return Err(CoreError::invalid("code_challenge must be a base64url SHA-256 digest"));
        }
        Ok(CodeChallenge(challenge.to_string()))
    }

    /// Restores a challenge read back from storage (already validated when stored).
    pub fn from_stored(s: String) -> Self {
        CodeChallenge(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 7636 §4.6: `BASE64URL(SHA256(code_verifier)) == code_challenge`, compared in constant time.
    pub fn verify(&self, verifier: &str) -> bool {
        if !(43..=128).contains(&verifier.len()) || !verifier.bytes().all(is_unreserved) {
            return false;
        }
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        ct_eq(computed.as_bytes(), self.0.as_bytes())
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// How the authorization response is returned (OAuth 2.0 Multiple Response Types, Form Post,
/// and draft-sakimura-oauth-wmrm for `web_message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
    WebMessage,
}

impl ResponseMode {
    pub fn parse(s: Option<&str>) -> Result<Self, CoreError> {
        Ok(match s {
            None | Some("query") => ResponseMode::Query,
            Some("fragment") => ResponseMode::Fragment,
            Some("form_post") => ResponseMode::FormPost,
            Some("web_message") => ResponseMode::WebMessage,
            Some(_) => return Err(CoreError::invalid("unsupported response_mode")),
        })
    }
}

/// The `prompt` parameter (OIDC Core §3.1.2.1); `consent` and `select_account` behave as no prompt
/// because first-party clients need no consent and there is one account per session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    Default,
    None,
    Login,
}

impl Prompt {
    pub fn parse(s: Option<&str>) -> Result<Self, CoreError> {
        let Some(s) = s else { return Ok(Prompt::Default) };
        let values: Vec<&str> = s.split(' ').filter(|v| !v.is_empty()).collect();
        if values.contains(&"none") {
            if values.len() > 1 {
                return Err(CoreError::invalid("prompt=none cannot be combined with other values"));
            }
            return Ok(Prompt::None);
        }
        if values.contains(&"login") {
            return Ok(Prompt::Login);
        }
        if values.iter().all(|v| matches!(*v, "consent" | "select_account")) {
            return Ok(Prompt::Default);
        }
        Err(CoreError::invalid("unsupported prompt value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge_for(verifier: &str) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    }

    #[test]
    fn pkce_s256_verifies_rfc7636_appendix_b() {
        let c = CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256")).unwrap();
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(c.verify(v));
        assert!(!c.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"));
    }

    #[test]
    fn pkce_plain_is_refused() {
        let ch = challenge_for(&"a".repeat(43));
        assert!(CodeChallenge::parse(&ch, Some("plain")).is_err());
        assert!(CodeChallenge::parse(&ch, None).is_err());
        assert!(CodeChallenge::parse("short", Some("S256")).is_err());
    }

    #[test]
    fn redirect_uri_rejects_fragments_and_other_schemes() {
        assert!(RedirectUri::parse("https://app.example/cb").is_ok());
        assert!(RedirectUri::parse("https://app.example/cb#x").is_err());
        assert!(RedirectUri::parse("javascript:alert(1)").is_err());
        assert!(RedirectUri::parse("/relative").is_err());
        assert_eq!(RedirectUri::parse("http://127.0.0.1:8080/x?y").unwrap().origin(), "http://127.0.0.1:8080");
    }

    #[test]
    fn scope_parsing_dedupes_and_checks_subsets() {
        let s = Scope::parse("openid  profile openid offline_access").unwrap();
        assert_eq!(s.to_string(), "openid profile offline_access");
        assert!(Scope::parse("openid").unwrap().is_subset_of(&s));
        assert!(!Scope::parse("email").unwrap().is_subset_of(&s));
        assert!(Scope::parse("bad\"scope").is_err());
        assert_eq!(Scope::parse("openid read:x").unwrap().supported().to_string(), "openid");
    }

    #[test]
    fn prompt_none_cannot_be_combined() {
        assert_eq!(Prompt::parse(Some("none")).unwrap(), Prompt::None);
        assert!(Prompt::parse(Some("none login")).is_err());
        assert_eq!(Prompt::parse(Some("login consent")).unwrap(), Prompt::Login);
    }
}
