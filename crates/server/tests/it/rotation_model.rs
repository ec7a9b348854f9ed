//! Model-based property test of rotation (DESIGN §4): random sequences of rotate / replay /
//! retry inside and after the leeway / revoke / forge / let time pass, run against the real
//! service on a real SQLite file with a manual clock, and checked step by step against a small
//! reference model of one family (counter, previous, rotated_at, revoked, expiries).

use proptest::prelude::*;
use ratchet_core::client::{AppType, Client, RefreshTokenPolicy};
use ratchet_server::Clock;
use ratchet_store::Seen;

use crate::support::*;

#[derive(Debug, Clone)]
enum Op {
    /// Present the current token.
    Rotate,
    /// Present the previous token (a client retrying after a lost response).
    RetryPrevious,
    /// Present a token `2 + n` generations old (clamped to the first).
    ReplayOld(u8),
    /// Move the clock to the last second of the leeway window of the latest rotation.
    ToLeewayEnd,
    /// Move the clock to the first second after the leeway window.
    PastLeeway,
    /// Let time pass.
    Advance(u16),
    /// RFC 7009 revocation with the token `n` generations old (clamped).
    Revoke(u8),
    /// A token for this family and the current counter with a wrong MAC.
    Forged,
    /// Once the family is dead (revoked or expired), sign in again (SSO) for a fresh one.
    SignInAgain,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => Just(Op::Rotate),
        4 => Just(Op::RetryPrevious),
        1 => (0u8..3).prop_map(Op::ReplayOld),
        3 => Just(Op::ToLeewayEnd),
        2 => Just(Op::PastLeeway),
        3 => (0u16..30).prop_map(Op::Advance),
        1 => (0u8..3).prop_map(Op::Revoke),
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
    fn born(now: i64, leeway: u32, abs: u32, idle: u32) -> Model {
        Model {
            counter: 0,
            rotated_at: now,
            revoked: false,
            expires_at: now + i64::from(abs),
            idle_expires_at: now + i64::from(idle.min(abs)),
            leeway: i64::from(leeway),
            idle: i64::from(idle),
            reuse_events: 0,
        }
    }

    fn is_dead(&self, now: i64) -> bool {
        self.revoked || now >= self.expires_at || now >= self.idle_expires_at
    }

    fn present(&mut self, presented: u64, now: i64) -> Outcome {
        if self.is_dead(now) {
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

async fn run_case((leeway, abs, idle): (u32, u32, u32), ops: Vec<Op>) {
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
    let (code, verifier) = app.code(&browser, &a, "model@example.com").await;
    let mut tokens = vec![app.exchange_for_refresh_token(&client, &code, &verifier).await];
    let mut family_id = app.family_of(&tokens[0]).await.id;
    let mut m = Model::born(app.clock.now(), leeway, abs, idle);
    let mut reuse_events = 0;
    let back = |m: &Model, n: u64| m.counter.saturating_sub(n);
    for (step, op) in ops.iter().enumerate() {
        let now = app.clock.now();
        let ctx = format!("step {step} {op:?} at rotated_at+{}s, model {m:?}", now - m.rotated_at);
        let presented = match op {
            Op::Rotate => Some(m.counter),
            Op::RetryPrevious => Some(back(&m, 1)),
            Op::ReplayOld(n) => Some(back(&m, 2 + u64::from(*n))),
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
                app.clock.advance(i64::from(*s));
                None
            }
            Op::Revoke(n) => {
                let t = &tokens[back(&m, u64::from(*n)) as usize];
                app.state.revoke_refresh_token(&client, t).await.unwrap_or_else(|e| panic!("{ctx}: revoke answers Ok, got {e:?}"));
                m.revoked = true;
                None
            }
            Op::SignInAgain => {
                if m.is_dead(now) {
                    reuse_events += m.reuse_events;
                    let (code, verifier) = sso_code(&app, &browser, &client).await;
                    tokens = vec![app.exchange_for_refresh_token(&client, &code, &verifier).await];
                    family_id = app.family_of(&tokens[0]).await.id;
                    m = Model::born(now, leeway, abs, idle);
                }
                None
            }
            Op::Forged => {
                let t = &tokens[m.counter as usize];
                let mut c: Vec<char> = t.chars().collect();
                c[60] = if c[60] == 'A' { 'B' } else { 'A' };
                let forged: String = c.into_iter().collect();
                let r = app.state.exchange_refresh_token(&client, &forged, None, None, &Seen::default()).await;
                let e = r.err().unwrap_or_else(|| panic!("{ctx}: a forged token is refused"));
                assert_eq!(
                    (e.status.as_u16(), e.error, e.description.as_str()),
                    (403, "invalid_grant", "Unknown or invalid refresh token."),
                    "{ctx}"
                );
                None
            }
        };
        if let Some(p) = presented {
            let expected = m.present(p, now);
            let result = app.state.exchange_refresh_token(&client, &tokens[p as usize], None, None, &Seen::default()).await;
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
                        app.state.keys.refresh.decode(&rt),
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
        assert_eq!(app.events("ferrt").await.len(), reuse_events + m.reuse_events, "{ctx}: one ferrt event per detected reuse");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn rotation_matches_the_reference_model(policy in policy(), ops in prop::collection::vec(op(), 1..=25)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            tokio::time::timeout(std::time::Duration::from_secs(120), run_case(policy, ops)).await.expect("a case finishes within 120 s");
        });
    }
}
