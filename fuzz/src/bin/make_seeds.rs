//! Writes the committed seed corpus (fuzz/corpus/<target>/) and, when missing, the RSA test key:
//! one valid input per target shaped like the integration tests' requests.
//! Run from fuzz/: `cargo run --bin make_seeds`.

use std::fs;

use ratchet_core::dpop::ClientKey;
use ratchet_core::family::FamilyId;
use ratchet_fuzz::{HTU, NOW, TRANSACTION_KEY, codec, signing_key};
use serde_json::json;

fn seed(target: &str, name: &str, bytes: impl AsRef<[u8]>) {
    fs::create_dir_all(format!("corpus/{target}")).unwrap();
    fs::write(format!("corpus/{target}/{name}"), bytes).unwrap();
}

fn with_prefix(prefix: u8, rest: &str) -> Vec<u8> {
    [&[prefix][..], rest.as_bytes()].concat()
}

fn main() {
    // The key is compiled into the targets: after writing a new one, build and run again.
    let key = fs::read("keys/rsa2048.der").unwrap_or_default();
    if ratchet_core::jws::SigningKey::from_pkcs8(ratchet_core::jws::KeyType::Rsa, &key).is_err() {
        fs::write("keys/rsa2048.der", ratchet_core::jws::SigningKey::generate(ratchet_core::jws::KeyType::Rsa).unwrap().1).unwrap();
        println!("wrote a new keys/rsa2048.der: run make_seeds again");
        return;
    }
    seed(
        "authorize_query",
        "code_pkce",
        "client_id=abc&redirect_uri=http%3A%2F%2Fspa.test%3A8080%2Fcallback&response_type=code&scope=openid%20offline_access\
         &state=st4te&nonce=n-0S6_WzA2Mj&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256\
         &audience=https%3A%2F%2Fapi.test&prompt=none&response_mode=web_message&max_age=0",
    );
    seed("token_request", "form", with_prefix(0, "grant_type=refresh_token&client_id=abc&refresh_token=xyz&scope=openid"));
    seed(
        "token_request",
        "json",
        with_prefix(
            1,
            r#"{"grant_type":"authorization_code","client_id":"abc","code":"c","code_verifier":"v","redirect_uri":"http://spa.test:8080/callback","n":1,"b":true,"x":null}"#,
        ),
    );
    seed("refresh_token", "valid", codec().encode(&FamilyId::random(), 3).expose());
    let claims = json!({"iss": "https://ratchet.test/", "sub": "auth0|u1", "aud": ["https://api.test", "https://ratchet.test/userinfo"], "iat": NOW, "exp": NOW + 3600, "scope": "openid"});
    seed("jws", "access_token", signing_key().sign(ratchet_core::jws::SigningAlg::RS256, &claims).unwrap());
    let key = ClientKey::generate();
    seed("dpop_proof", "token_request", with_prefix(0, &key.proof("POST", HTU, NOW, None, None)));
    seed("dpop_proof", "with_ath_and_nonce", with_prefix(1, &key.proof("POST", HTU, NOW, Some("an-access-token"), Some("n0nce"))));
    let tx = json!({
        "client_id": "abc", "target": {"redirect_uri": "http://spa.test:8080/callback", "mode": "query", "state": "st4te"},
        "scope": "openid profile", "nonce": "n", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "audience": null,
        "login": false, "silent": false, "max_age": 300, "exp": NOW, "csrf": "c5rf"
    });
    seed("login_transaction", "sealed", with_prefix(0, &ratchet_server::service::signin::seal_transaction(&TRANSACTION_KEY, &tx)));
    seed("login_transaction", "json", with_prefix(1, &tx.to_string()));
}
