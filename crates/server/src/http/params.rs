//! Request parameters, parsed once at the edge from a query string, a form body or a JSON body
//! (RFC 6749 §3.2: form; Auth0 also accepts JSON). Parameters without a value count as absent
//! (§3.1) and protocol parameters must not repeat (§3.1, §3.2).

use std::collections::HashMap;

use axum::http::{HeaderMap, header};

use crate::error::OAuthError;

/// Protocol parameters that must appear at most once.
const SINGLE: &[&str] = &[
    "client_id",
    "client_secret",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "audience",
    "grant_type",
    "code",
    "code_verifier",
    "refresh_token",
    "token",
    "token_type_hint",
    "username",
    "password",
    "csrf",
    "tx",
    "returnTo",
    "post_logout_redirect_uri",
    "id_token_hint",
    "client_assertion",
    "client_assertion_type",
];

/// Longest value accepted for any single parameter.
const MAX_VALUE: usize = 4096;

#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    fn collect<'a>(pairs: impl Iterator<Item = (String, String)> + 'a) -> Result<Self, OAuthError> {
        let mut map = HashMap::new();
        for (k, v) in pairs {
            if map.len() > 64 {
                return Err(OAuthError::invalid_request("Too many parameters"));
            }
            if v.len() > MAX_VALUE {
                return Err(OAuthError::invalid_request(format!("Parameter too long: {}", truncate(&k))));
            }
            if v.contains('\u{FFFD}') || k.contains('\u{FFFD}') {
                return Err(OAuthError::invalid_request("Parameters must be UTF-8"));
            }
            if map.insert(k.clone(), v).is_some() && SINGLE.contains(&k.as_str()) {
                return Err(OAuthError::invalid_request(format!("Parameter must not be repeated: {k}")));
            }
        }
        Ok(Params(map))
    }

    pub fn from_query(q: Option<&str>) -> Result<Self, OAuthError> {
        Self::collect(form_urlencoded::parse(q.unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())))
    }

    /// Parses a form or JSON body according to its `Content-Type`.
    pub fn from_body(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match mime.as_str() {
            "application/x-www-form-urlencoded" => {
                if std::str::from_utf8(body).is_err() {
                    return Err(OAuthError::invalid_request("Body must be UTF-8"));
                }
                Self::collect(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())))
            }
            "application/json" => {
                let Members(members) = serde_json::from_slice(body).map_err(|e| {
                    OAuthError::invalid_request(if e.is_data() { "Body must be a JSON object" } else { "Body is not valid JSON" })
                })?;
                let mut pairs = Vec::with_capacity(members.len());
                for (k, v) in members {
                    let s = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::Bool(b) => b.to_string(),
                        serde_json::Value::Null => continue,
                        _ if SINGLE.contains(&k.as_str()) => {
                            return Err(OAuthError::invalid_request(format!("Parameter must be a string: {}", truncate(&k))));
                        }
                        _ => continue,
                    };
                    pairs.push((k, s));
                }
                Self::collect(pairs.into_iter())
            }
            "" => Err(OAuthError::invalid_request("Missing Content-Type")),
            _ => Err(OAuthError::invalid_request("Content-Type must be application/x-www-form-urlencoded or application/json")),
        }
    }

    /// The value of `k`, treating an empty value as absent.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn require(&self, k: &str) -> Result<&str, OAuthError> {
        self.get(k).ok_or_else(|| OAuthError::missing(k))
    }
}

/// A JSON object's members in document order, repeated names kept: a `serde_json::Map` would keep
/// only the last value of a repeated name, hiding the repetition `collect` refuses.
struct Members(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visitor)
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_protocol_parameters_are_refused() {
        assert!(Params::from_query(Some("client_id=a&client_id=b")).is_err());
        assert!(Params::from_query(Some("auth0Client=a&auth0Client=b")).is_ok(), "unknown parameters are ignored");
    }

    #[test]
    fn empty_values_count_as_absent() {
        let p = Params::from_query(Some("state=&scope=openid")).unwrap();
        assert_eq!(p.get("state"), None);
        assert_eq!(p.get("scope"), Some("openid"));
    }

    #[test]
    fn non_utf8_is_refused() {
        assert!(Params::from_query(Some("state=%FF%FE")).is_err());
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/x-www-form-urlencoded".parse().unwrap());
        assert!(Params::from_body(&h, b"a=\xff").is_err());
    }

    #[test]
    fn json_bodies_are_accepted() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json; charset=utf-8".parse().unwrap());
        let p = Params::from_body(&h, br#"{"grant_type":"refresh_token","n":5}"#).unwrap();
        assert_eq!(p.get("grant_type"), Some("refresh_token"));
        assert_eq!(p.get("n"), Some("5"));
        assert!(Params::from_body(&h, b"[1]").is_err());
        assert!(Params::from_body(&h, br#"{"grant_type":["a"]}"#).is_err());
    }

    #[test]
    fn repeated_keys_in_json_bodies_are_refused_like_repeated_form_fields() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let repeated = br#"{"client_id":"a","token":"t","client_id":"b"}"#;
        let e = Params::from_body(&h, repeated).unwrap_err();
        assert_eq!(e.error, "invalid_request");
        assert!(Params::from_body(&h, br#"{"token":"t","extra":1,"extra":2}"#).is_ok(), "unknown parameters may repeat, as in forms");
        assert!(Params::from_body(&h, b"{\"a\":").is_err(), "truncated JSON");
    }
}
