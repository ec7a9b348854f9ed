//! Model-based property test of rotation (DESIGN §4): random sequences of rotate / replay /
//! retry inside and after the leeway / revoke / forge / let time pass, run against the real
//! service on a real SQLite file with a manual clock, and checked step by step against a small
//! reference model of one family (counter, previous, rotated_at, revoked, expiries).
//!
//! DPoP keys are an input: a case's families are born bound to a key (RFC 9449) or not, and every
//! presentation and revocation comes with a proof by that key, by another key, or none. A bound
//! family must refuse the last two without any change (no rotation, no reuse detection, no
//! revocation); an unbound one behaves as without DPoP.

use proptest::prelude::*;
use ratchet_core::client::{AppType, Client, RefreshTokenPolicy};
use ratchet_core::dpop::{ClientKey, Proof};
use ratchet_server::Clock;
use ratchet_store::Seen;

use crate::support::*;

/// Which DPoP proof comes with a presentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    NoProof,
    /// A proof by the key the case's families are born with (any key when they are unbound).
    Own,
    /// A proof by another key (a thief's).
    Other,
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![1 => Just(Key::NoProof), 4 => Just(Key::Own), 1 => Just(Key::Other)]
}

#[derive(Debug, Clone)]
enum Op {
    /// Present the current token.
    Rotate(Key),
    /// Present the previous token (a client retrying after a lost response).
    RetryPrevious(Key),
    /// Present a token `2 + n` generations old (clamped to the first).
    ReplayOld(u8, Key),
    /// Move the clock to the last second of the leeway window of the latest rotation.
    ToLeewayEnd,
    /// Move the clock to the first second after the leeway window.
    PastLeeway,
    /// Let time pass.
    Advance(u16),
    /// RFC 7009 revocation with the token `n` generations old (clamped).
    Revoke(u8, Key),
    /// A token for this family and the current counter with a wrong MAC.
    Forged,
    /// Once the family is dead (revoked or expired), sign in again (SSO) for a fresh one.
    SignInAgain,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => key().prop_map(Op::Rotate),
        4 => key().prop_map(Op::RetryPrevious),
        1 => (0u8..3, key()).prop_map(|(n, k)| Op::ReplayOld(n, k)),
        3 => Just(Op::ToLeewayEnd),
        2 => Just(Op::PastLeeway),
        3 => (0u16..30).prop_map(Op::Advance),
        1 => (0u8..3, key()).prop_map(|(n, k)| Op::Revoke(n, k)),
        1 => Just(Op::Forged),
        3 => Just(Op::SignInAgain),
    ]
}

/// `(leeway, absolute lifetime, idle lifetime)`: small enough that expiry happens within 25 steps.
fn policy() -> impl Strategy<Value = (u32, u32, u32)> {
    (prop_oneof![1 => Just(0u32), 1 => Just(1), 2 => Just(3), 2 => Just(10), 1 => Just(60)], 60u32..600)
        .prop_flat_map(|(leeway, abs)| (Just(leeway), Just(abs), abs / 4..=abs))
}

/// The reference model of one family.
#[derive(Debug)]
struct Model {
    counter: u64,
    rotated_at: i64,
    revoked: bool,
    expires_at: i64,
    idle_expires_at: i64,
    leeway: i64,
    idle: i64,
    reuse_events: usize,
    /// Born bound to the case's DPoP key.
    bound: bool,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    /// Success with a brand-new token for this counter.
    Rotated(u64),
    /// Success with exactly the already-issued token for this counter.
    Same(u64),
    Refused,
}

impl Model {
    /// A family born at `now` under the case's policy.
    fn born(now: i64, leeway: u32, abs: u32, idle: u32, bound: bool) -> Model {
        Model {
            counter: 0,
            rotated_at: now,
            revoked: false,
            expires_at: now + i64::from(abs),
            idle_expires_at: now + i64::from(idle.min(abs)),
            leeway: i64::from(leeway),
            idle: i64::from(idle),
            reuse_events: 0,
            bound,
        }
    }

    /// Whether a request with `key` may act on the family at all (the binding comes first).
    fn key_fits(&self, key: Key) -> bool {
        !self.bound || key == Key::Own
    }

    fn is_dead(&self, now: i64) -> bool {
        self.revoked || now >= self.expires_at || now >= self.idle_expires_at
    }

    fn present(&mut self, presented: u64, key: Key, now: i64) -> Outcome {
        if !self.key_fits(key) || self.is_dead(now) {
            return Outcome::Refused;
        }
        if presented == self.counter {
            self.counter += 1;
            self.rotated_at = now;
            self.idle_expires_at = (now + self.idle).min(self.expires_at);
            return Outcome::Rotated(self.counter);
        }
        if presented + 1 == self.counter && now < self.rotated_at + self.leeway {
            return Outcome::Same(self.counter);
        }
        self.revoked = true;
        self.reuse_events += 1;
        Outcome::Refused
    }
}

/// A code from the session `browser` holds (no login page).
async fn sso_code(app: &TestApp, browser: &reqwest::Client, client: &Client) -> (String, String) {
    let (verifier, challenge) = pkce();
    let a =
        Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope: "openid offline_access", audience: None, extra: vec![] };
    let r = browser.get(app.authorize_url(&a, &challenge, "st")).send().await.unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    (param(&loc, "code").unwrap_or_else(|| panic!("SSO returns a code: {loc}")), verifier)
}

/// A validated proof by `key` (the HTTP-level checks of a proof have their own tests).
fn proof(choice: Key, own: &ClientKey, other: &ClientKey, now: i64) -> Option<Proof> {
    let k = match choice {
        Key::NoProof => return None,
        Key::Own => own,
        Key::Other => other,
    };
    Some(Proof { jkt: k.jkt().to_string(), jti: ratchet_core::secret::random_id(""), iat: now, nonce: None })
}

/// Exchanges a code; with `key`, over HTTP with a DPoP proof (so the family is born bound).
async fn exchange(app: &TestApp, client: &Client, code: &str, verifier: &str, key: Option<&ClientKey>) -> String {
    let Some(key) = key else { return app.exchange_for_refresh_token(client, code, verifier).await };
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client.client_id.as_str()),
        ("code", code),
        ("code_verifier", verifier),
        ("redirect_uri", CALLBACK),
    ];
    let proof = key.proof("POST", &app.url("/oauth/token"), app.clock.now(), None, None);
    let (s, body) = app.token_with_headers(&form, &[("DPoP", &proof)]).await;
    assert_eq!((s, body["token_type"].as_str()), (200, Some("DPoP")), "{body}");
    body["refresh_token"].as_str().unwrap().to_string()
}

async fn run_case((leeway, abs, idle): (u32, u32, u32), bound: bool, ops: Vec<Op>) {
    let app = TestApp::spawn().await;
    let (client, _): (Client, _) = app
        .client_with(AppType::Spa, |c| {
            c.refresh_token =
                RefreshTokenPolicy { leeway, token_lifetime: abs, idle_token_lifetime: idle, ..RefreshTokenPolicy::rotating_default() };
        })
        .await;
    app.user("model@example.com").await;
    // Births go through the real code exchange: a password sign-in first, then SSO.
    let browser = browser();
    let a =
        Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope: "openid offline_access", audience: None, extra: vec![] };
    let (own, other) = (ClientKey::generate(), ClientKey::generate());
    let birth_key = bound.then_some(&own);
    let (code, verifier) = app.code(&browser, &a, "model@example.com").await;
    let mut tokens = vec![exchange(&app, &client, &code, &verifier, birth_key).await];
    let mut family_id = app.family_of(&tokens[0]).await.id;
    let mut m = Model::born(app.clock.now(), leeway, abs, idle, bound);
    let mut reuse_events = 0;
    let back = |m: &Model, n: u64| m.counter.saturating_sub(n);
    for (step, op) in ops.iter().enumerate() {
        let now = app.clock.now();
        let ctx = format!("step {step} {op:?} at rotated_at+{}s, model {m:?}", now - m.rotated_at);
        let presented = match *op {
            Op::Rotate(k) => Some((m.counter, k)),
            Op::RetryPrevious(k) => Some((back(&m, 1), k)),
            Op::ReplayOld(n, k) => Some((back(&m, 2 + u64::from(n)), k)),
            Op::ToLeewayEnd => {
                let t = m.rotated_at + m.leeway - 1;
                if t > now {
                    app.clock.set(t);
                }
                None
            }
            Op::PastLeeway => {
                let t = m.rotated_at + m.leeway;
                if t > now {
                    app.clock.set(t);
                }
                None
            }
            Op::Advance(s) => {
                app.clock.advance(i64::from(s));
                None
            }
            Op::Revoke(n, k) => {
                let t = &tokens[back(&m, u64::from(n)) as usize];
                let p = proof(k, &own, &other, now);
                app.state
                    .revoke_refresh_token(&client, t, p.as_ref().map(|p| p.jkt.as_str()))
                    .await
                    .unwrap_or_else(|e| panic!("{ctx}: revoke answers Ok, got {e:?}"));
                if m.key_fits(k) {
                    m.revoked = true;
                }
                None
            }
            Op::SignInAgain => {
                if m.is_dead(now) {
                    reuse_events += m.reuse_events;
                    let (code, verifier) = sso_code(&app, &browser, &client).await;
                    tokens = vec![exchange(&app, &client, &code, &verifier, birth_key).await];
                    family_id = app.family_of(&tokens[0]).await.id;
                    m = Model::born(now, leeway, abs, idle, bound);
                }
                None
            }
            Op::Forged => {
                let t = &tokens[m.counter as usize];
                let mut c: Vec<char> = t.chars().collect();
                c[60] = if c[60] == 'A' { 'B' } else { 'A' };
                let forged: String = c.into_iter().collect();
                let r = app
                    .state
                    .exchange_refresh_token(&client, &forged, None, None, &Seen::default(), proof(Key::Own, &own, &other, now).as_ref())
                    .await;
                let e = r.err().unwrap_or_else(|| panic!("{ctx}: a forged token is refused"));
                assert_eq!(
                    (e.status.as_u16(), e.error, e.description.as_str()),
                    (403, "invalid_grant", "Unknown or invalid refresh token."),
                    "{ctx}"
                );
                None
            }
        };
        if let Some((p, k)) = presented {
            let expected = m.present(p, k, now);
            let dpop = proof(k, &own, &other, now);
            let result = app.state.exchange_refresh_token(&client, &tokens[p as usize], None, None, &Seen::default(), dpop.as_ref()).await;
            if let Ok(r) = &result {
                assert_eq!(r.token_type, if dpop.is_some() { "DPoP" } else { "Bearer" }, "{ctx}: token_type follows the proof");
            }
            match (&expected, result) {
                (Outcome::Refused, Err(e)) => {
                    assert_eq!(
                        (e.status.as_u16(), e.error, e.description.as_str()),
                        (403, "invalid_grant", "Unknown or invalid refresh token."),
                        "{ctx}"
                    );
                }
                (Outcome::Rotated(c), Ok(r)) => {
                    let rt = r.refresh_token.unwrap_or_else(|| panic!("{ctx}: a rotation returns a refresh token"));
                    assert_eq!(
                        app.state.keys.current().refresh.decode(&rt),
                        Some((family_id, *c)),
                        "{ctx}: the successor is counter {c} of the family"
                    );
                    assert!(!tokens.contains(&rt), "{ctx}: a new token");
                    assert_eq!(tokens.len() as u64, *c, "{ctx}");
                    tokens.push(rt);
                }
                (Outcome::Same(c), Ok(r)) => {
                    assert_eq!(r.refresh_token.as_deref(), Some(tokens[*c as usize].as_str()), "{ctx}: a retry returns the same successor");
                }
                (expected, actual) => {
                    panic!("{ctx}: expected {expected:?}, got {:?}", actual.map(|r| r.refresh_token).map_err(|e| (e.status, e.description)))
                }
            }
        }
        // The stored row agrees with the model after every step.
        let f = app.state.store.family(&family_id).await.unwrap().expect("the family row exists");
        assert_eq!(
            (f.counter, f.rotated_at, f.revoked_at.is_some(), f.expires_at, f.idle_expires_at),
            (m.counter, m.rotated_at, m.revoked, Some(m.expires_at), Some(m.idle_expires_at)),
            "{ctx}: stored family {f:?}"
        );
        assert_eq!(f.jkt.as_deref(), m.bound.then_some(own.jkt()), "{ctx}: the binding never changes");
        assert_eq!(app.events("ferrt").await.len(), reuse_events + m.reuse_events, "{ctx}: one ferrt event per detected reuse");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn rotation_matches_the_reference_model(policy in policy(), bound in any::<bool>(), ops in prop::collection::vec(op(), 1..=25)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            tokio::time::timeout(std::time::Duration::from_secs(120), run_case(policy, bound, ops)).await.expect("a case finishes within 120 s");
        });
    }
}
