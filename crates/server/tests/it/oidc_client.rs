//! The code + PKCE flow driven by a real relying-party library (the `openidconnect` crate):
//! discovery, authorization URL, code exchange, ID-token signature and claims validation against
//! the published JWKS.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

use crate::support::*;

#[tokio::test]
async fn openidconnect_relying_party_completes_the_code_flow() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let user = app.user("alice@example.com").await;
    let http_client = |req| openidconnect_http(req);
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer()).unwrap(), &http_client).await.expect("discovery");
    let rp = CoreClient::from_provider_metadata(metadata, ClientId::new(c.client_id.clone()), None)
        .set_redirect_uri(RedirectUrl::new(CALLBACK.to_string()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = rp
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let r = app.sign_in(&browser(), auth_url.as_str(), "alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(param(&loc, "state").as_deref(), Some(csrf.secret().as_str()));
    let code = param(&loc, "code").unwrap();
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint known")
        .set_pkce_verifier(verifier)
        .request_async(&http_client)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token.claims(&rp.id_token_verifier(), &nonce).expect("signature and claims verify against the JWKS");
    assert_eq!(claims.subject().as_str(), user.user_id);
    assert_eq!(claims.issuer().as_str(), app.issuer());
    assert_eq!(claims.email().map(|e| e.as_str()), Some("alice@example.com"));
    assert!(claims.auth_time().is_some());
    assert!(!tokens.access_token().secret().is_empty());
    // A tampered signature does not verify. Change a signature character well inside the string: the last base64url character of a
    // 256-byte signature carries padding bits, so changing it may not change the signature.
    let mut forged: Vec<char> = id_token.to_string().chars().collect();
    let k = forged.len() - 10;
    forged[k] = if forged[k] == 'A' { 'Q' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let forged: openidconnect::core::CoreIdToken = forged.parse().unwrap();
    assert!(forged.claims(&rp.id_token_verifier(), &nonce).is_err());
}
