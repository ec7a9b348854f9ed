//! Signing algorithms per client (ID tokens, `jwt_configuration.alg`) and per API (JWT access
//! tokens, `signing_alg`): RS256, PS256 (RFC 7518 §3.3, §3.5), ES256 (§3.4) and EdDSA (RFC 8037).
//! Every token is verified by an independent library against what the server publishes: the
//! `openidconnect` relying party (discovery, JWKS, ID-token validation) for ID tokens, and
//! `jsonwebtoken` for access tokens against the served JWKS. Algorithms other than the four are
//! refused at the edge (Management API 400, CLI error).

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, RedirectUrl, TokenResponse};
use ratchet_core::client::AppType;
use ratchet_core::jws::SigningAlg;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

const EMAIL: &str = "algs@example.com";

fn oidc_alg(alg: SigningAlg) -> CoreJwsSigningAlgorithm {
    match alg {
        SigningAlg::RS256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        SigningAlg::PS256 => CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        SigningAlg::ES256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        SigningAlg::EdDSA => CoreJwsSigningAlgorithm::EdDsa,
    }
}

fn jwt_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::PS256 => Algorithm::PS256,
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
    }
}

/// A JWT's header.
fn header(jwt: &str) -> Value {
    use base64::Engine;
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap()
}

/// Verifies `jwt` with `jsonwebtoken` against the JWKS the server serves, by the JWK its `kid`
/// names; returns the claims.
async fn verify_with_jwks(app: &TestApp, jwt: &str, alg: SigningAlg, audience: &str) -> Result<Value, jsonwebtoken::errors::Error> {
    let jwks: JwkSet = reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    let kid = jsonwebtoken::decode_header(jwt)?.kid.expect("a kid");
    let jwk = jwks.find(&kid).expect("the token's kid is published");
    let mut validation = Validation::new(jwt_alg(alg));
    validation.set_audience(&[audience]);
    validation.set_issuer(&[app.issuer()]);
    Ok(jsonwebtoken::decode::<Value>(jwt, &DecodingKey::from_jwk(jwk)?, &validation)?.claims)
}

/// Flips a character well inside the signature (the last one may only carry padding bits).
fn tampered(jwt: &str) -> String {
    let mut chars: Vec<char> = jwt.chars().collect();
    let k = chars.len() - 10;
    chars[k] = if chars[k] == 'A' { 'Q' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn openidconnect_verifies_id_tokens_of_every_algorithm() {
    let app = TestApp::spawn().await;
    let user = app.user(EMAIL).await;
    let http_client = |req| openidconnect_http(req);
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer()).unwrap(), &http_client).await.expect("discovery");
    let advertised = metadata.id_token_signing_alg_values_supported().clone();
    for alg in SigningAlg::ALL {
        assert!(advertised.contains(&oidc_alg(alg)), "discovery advertises {alg}: {advertised:?}");
        let (c, _) = app.client_with(AppType::Spa, |c| c.id_token_alg = alg).await;
        let rp = CoreClient::from_provider_metadata(metadata.clone(), ClientId::new(c.client_id.clone()), None)
            .set_redirect_uri(RedirectUrl::new(CALLBACK.to_string()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (auth_url, _, nonce) = rp
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge)
            .url();
        let r = app.sign_in(&browser(), auth_url.as_str(), EMAIL, PASSWORD).await;
        let code = param(r.headers()["location"].to_str().unwrap(), "code").expect("a code");
        let tokens = rp
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http_client)
            .await
            .expect("code exchange");
        let id_token = tokens.id_token().expect("an ID token");
        assert_eq!(header(&id_token.to_string())["alg"], alg.as_str());
        let verifier = rp.id_token_verifier().set_allowed_algs([oidc_alg(alg)]);
        let claims = id_token.claims(&verifier, &nonce).unwrap_or_else(|e| panic!("{alg} ID token verifies against the JWKS: {e}"));
        assert_eq!(claims.subject().as_str(), user.user_id);
        let forged: openidconnect::core::CoreIdToken = tampered(&id_token.to_string()).parse().unwrap();
        assert!(forged.claims(&verifier, &nonce).is_err(), "a tampered {alg} ID token does not verify");
    }
}

#[tokio::test]
async fn jsonwebtoken_verifies_access_tokens_of_every_algorithm_against_the_jwks() {
    let app = TestApp::spawn().await;
    app.user(EMAIL).await;
    for alg in SigningAlg::ALL {
        let audience = format!("https://api.{}.test", alg.as_str().to_lowercase());
        let api = app
            .state
            .manage
            .apis
            .create(ratchet_server::service::manage::apis::NewApi {
                identifier: audience.clone(),
                signing_alg: Some(alg),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(api.signing_alg, alg);
        let (c, _) = app.client_with(AppType::Spa, |c| c.id_token_alg = alg).await;
        let tokens = app.sign_in_tokens(&c, EMAIL, "openid profile", Some(&audience)).await;
        let at = tokens["access_token"].as_str().unwrap();
        assert_eq!(header(at)["alg"], alg.as_str());
        let claims = verify_with_jwks(&app, at, alg, &audience).await.unwrap_or_else(|e| panic!("{alg} access token verifies: {e}"));
        assert_eq!(claims["azp"], c.client_id.as_str());
        assert!(verify_with_jwks(&app, &tampered(at), alg, &audience).await.is_err(), "a tampered {alg} access token does not verify");
        let id_token = tokens["id_token"].as_str().unwrap();
        verify_with_jwks(&app, id_token, alg, &c.client_id).await.unwrap_or_else(|e| panic!("{alg} ID token verifies: {e}"));
        // The server accepts its own token of any algorithm where it reads one back.
        let info = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(at).send().await.unwrap();
        assert_eq!(info.status(), 200, "{alg} access token at /userinfo");
    }
}

#[tokio::test]
async fn client_credentials_tokens_use_the_api_algorithm() {
    let app = TestApp::spawn().await;
    let audience = "https://m2m.eddsa.test";
    let apis = &app.state.manage.apis;
    apis.create(ratchet_server::service::manage::apis::NewApi {
        identifier: audience.into(),
        signing_alg: Some(SigningAlg::EdDSA),
        ..Default::default()
    })
    .await
    .unwrap();
    let (m2m, secret) = app.client_with(AppType::NonInteractive, |_| {}).await;
    app.state
        .manage
        .client_grants
        .create(ratchet_server::service::manage::client_grants::NewClientGrant {
            client_id: m2m.client_id.clone(),
            audience: audience.into(),
            scope: vec![],
        })
        .await
        .unwrap();
    let (status, body) = app
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &m2m.client_id),
            ("client_secret", secret.as_deref().unwrap()),
            ("audience", audience),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    let at = body["access_token"].as_str().unwrap();
    verify_with_jwks(&app, at, SigningAlg::EdDSA, audience).await.expect("an EdDSA client_credentials token verifies");
}

#[tokio::test]
async fn jwks_publishes_every_key_type_with_distinct_kids() {
    let app = TestApp::spawn().await;
    let jwks: Value = reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str)> =
        keys.iter().map(|k| (k["alg"].as_str().unwrap(), k["kty"].as_str().unwrap(), k["use"].as_str().unwrap())).collect();
    assert_eq!(summary, vec![("RS256", "RSA", "sig"), ("PS256", "RSA", "sig"), ("ES256", "EC", "sig"), ("EdDSA", "OKP", "sig")]);
    let kids: std::collections::HashSet<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids.len(), 4, "every JWK of the set has its own kid (RFC 7517 §4.5)");
    assert_eq!(keys[0]["n"], keys[1]["n"], "RS256 and PS256 share the RSA key");
    assert_eq!((keys[2]["crv"].as_str(), keys[3]["crv"].as_str()), (Some("P-256"), Some("Ed25519")));
    assert!(keys[2]["x"].is_string() && keys[2]["y"].is_string() && keys[3]["x"].is_string());
    assert!(keys.iter().all(|k| k.get("d").is_none()), "no private member is published");
}

#[tokio::test]
async fn id_token_hint_of_every_algorithm_is_accepted_at_logout() {
    let app = TestApp::spawn().await;
    app.user(EMAIL).await;
    for alg in SigningAlg::ALL {
        let (c, _) = app.client_with(AppType::Spa, |c| c.id_token_alg = alg).await;
        let b = browser();
        let a = Authorize { client_id: &c.client_id, redirect_uri: CALLBACK, scope: "openid", audience: None, extra: vec![] };
        let (code, verifier) = app.code(&b, &a, EMAIL).await;
        let tokens = app.exchange(&c, &code, &verifier).await;
        let hint = tokens["id_token"].as_str().unwrap();
        let back = format!("{SPA_ORIGIN}/bye");
        let r = b
            .get(app.url("/oidc/logout"))
            .query(&[("id_token_hint", hint), ("post_logout_redirect_uri", back.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302, "{alg} hint accepted");
        assert_eq!(r.headers()["location"], back.as_str());
        let r = browser().get(app.url("/oidc/logout")).query(&[("id_token_hint", tampered(hint).as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 400, "a tampered {alg} hint is refused");
    }
}

/// A Management API call with a token holding every scope it needs.
async fn mgmt(app: &TestApp, method: Method, path: &str, body: Value) -> (u16, Value) {
    let token =
        app.management_token("algs-admin", &["create:clients", "update:clients", "create:resource_servers", "update:resource_servers"]);
    let r = reqwest::Client::new().request(method, app.url(&format!("/api/v2{path}"))).bearer_auth(token).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn management_api_sets_signing_algorithms_and_refuses_others() {
    let app = TestApp::spawn().await;
    let (s, client) = mgmt(&app, Method::POST, "/clients", json!({"name": "Fast", "jwt_configuration": {"alg": "ES256"}})).await;
    assert_eq!((s, client["jwt_configuration"]["alg"].as_str()), (201, Some("ES256")), "{client}");
    let id = client["client_id"].as_str().unwrap();
    assert_eq!(app.state.manage.clients.get(id).await.unwrap().id_token_alg, SigningAlg::ES256);
    let (s, client) = mgmt(&app, Method::PATCH, &format!("/clients/{id}"), json!({"jwt_configuration": {"alg": "EdDSA"}})).await;
    assert_eq!((s, client["jwt_configuration"]["alg"].as_str()), (200, Some("EdDSA")), "{client}");
    for bad in ["HS256", "none", "rs256", "ES512"] {
        let (s, err) = mgmt(&app, Method::PATCH, &format!("/clients/{id}"), json!({"jwt_configuration": {"alg": bad}})).await;
        assert_eq!((s, err["errorCode"].as_str()), (400, Some("invalid_body")), "{bad}: {err}");
        assert!(err["message"].as_str().unwrap().contains("jwt_configuration.alg"), "{err}");
        let (s, err) = mgmt(&app, Method::POST, "/clients", json!({"name": "Bad", "jwt_configuration": {"alg": bad}})).await;
        assert_eq!(s, 400, "{bad}: {err}");
    }
    assert_eq!(app.state.manage.clients.get(id).await.unwrap().id_token_alg, SigningAlg::EdDSA, "a refused change changes nothing");

    let (s, rs) = mgmt(&app, Method::POST, "/resource-servers", json!({"identifier": "https://fast.test", "signing_alg": "PS256"})).await;
    assert_eq!((s, rs["signing_alg"].as_str()), (201, Some("PS256")), "{rs}");
    let (s, rs) = mgmt(&app, Method::PATCH, "/resource-servers/https%3A%2F%2Ffast.test", json!({"signing_alg": "ES256"})).await;
    assert_eq!((s, rs["signing_alg"].as_str()), (201, Some("ES256")), "{rs}");
    for bad in ["HS256", "HS512", "RS384", ""] {
        let (s, err) = mgmt(&app, Method::POST, "/resource-servers", json!({"identifier": "https://bad.test", "signing_alg": bad})).await;
        assert_eq!((s, err["errorCode"].as_str()), (400, Some("invalid_body")), "{bad}: {err}");
        assert!(err["message"].as_str().unwrap().contains("signing_alg"), "{err}");
    }
    assert_eq!(app.state.manage.apis.get("https://fast.test").await.unwrap().api.signing_alg, SigningAlg::ES256);
}
