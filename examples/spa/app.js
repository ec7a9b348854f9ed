// Ratchet demo SPA: plain ES module, no build step. The demo server serves this directory,
// GET /ratchet-spa.js (the SDK bundle) and GET /config.json ({ domain, client_id, audience? }).
import { createAuth0Client } from '/ratchet-spa.js';

const $ = (id) => document.getElementById(id);
const fmtTime = (ms) => new Date(ms).toLocaleTimeString();

function log(message, kind = 'info') {
  const li = document.createElement('li');
  li.className = kind;
  li.textContent = `${new Date().toLocaleTimeString()}  ${message}`;
  $('log').prepend(li);
}

let expiresAt = 0; // unix seconds of the current access token
let rotations = 0;

function tick() {
  if (!expiresAt) return;
  const left = expiresAt - Math.floor(Date.now() / 1000);
  $('at-expiry').textContent = `${fmtTime(expiresAt * 1000)} (${left > 0 ? `in ${left} s` : `${-left} s ago — the next "Get token" refreshes`})`;
}
setInterval(tick, 1000);

function showToken(t) {
  if (!t) return;
  expiresAt = t.expires_at;
  $('access-token').textContent = t.access_token;
  tick();
}

async function render(auth0) {
  const authenticated = await auth0.isAuthenticated();
  $('signed-in').hidden = !authenticated;
  $('signed-out').hidden = authenticated;
  if (!authenticated) return;
  const user = await auth0.getUser();
  $('user-name').textContent = user.name ?? user.nickname ?? user.sub;
  $('user-email').textContent = user.email ?? '';
  if (user.picture) {
    $('avatar').src = user.picture;
    $('avatar').hidden = false;
  }
  const claims = await auth0.getIdTokenClaims();
  const { __raw, ...shown } = claims ?? {};
  $('claims').textContent = JSON.stringify(shown, null, 2);
}

async function getToken(auth0, cacheMode) {
  try {
    const t = await auth0.getTokenSilently({ cacheMode, detailedResponse: true });
    showToken(t);
    if (t) log(cacheMode === 'off' ? 'Got a fresh access token' : 'Got an access token');
  } catch (e) {
    // Decide on the stable error code, never on the description text.
    log(`getTokenSilently failed: ${e.error ?? e.name}: ${e.error_description ?? e.message}`, 'error');
    if (e.error === 'invalid_grant' || e.error === 'missing_refresh_token' || e.error === 'login_required') {
      log('The session is over (refresh token rejected or missing): please sign in again.', 'error');
    }
  }
  await render(auth0);
}

async function main() {
  const config = await (await fetch('/config.json')).json();
  // This page's URL, as registered for the demo client (callback and logout URL).
  const home = `${window.location.origin}/`;
  const auth0 = await createAuth0Client({
    domain: config.domain,
    client_id: config.client_id,
    redirect_uri: home,
    ...(config.audience ? { audience: config.audience } : {}),
    cacheLocation: 'localstorage',
    useRefreshTokens: true,
  });
  window.auth0 = auth0; // for poking around in the console

  auth0.addEventListener('token', (e) => {
    const d = e.detail;
    if (d.rotated) {
      rotations += 1;
      $('rt-rotated').textContent = `${fmtTime(d.obtainedAt)}${d.remote ? ' (by another tab)' : ''}`;
      $('rt-count').textContent = String(rotations);
    }
    expiresAt = d.expiresAt;
    tick();
    log(`${d.grant === 'refresh_token' ? 'Refreshed' : 'Signed in'}${d.rotated ? ', refresh token rotated' : ''}${d.remote ? ' (another tab)' : ''}; access token valid until ${fmtTime(d.expiresAt * 1000)}`);
  });
  auth0.addEventListener('clear', () => {
    log('Session cleared');
    render(auth0);
  });

  const params = new URLSearchParams(location.search);
  if (params.has('state') && (params.has('code') || params.has('error'))) {
    try {
      await auth0.handleRedirectCallback();
    } catch (e) {
      log(`Sign-in failed: ${e.error ?? e.name}: ${e.error_description ?? e.message}`, 'error');
    }
    history.replaceState(null, '', location.pathname);
  }

  $('login').onclick = () => auth0.loginWithRedirect();
  $('get-token').onclick = () => getToken(auth0, 'on');
  $('force-refresh').onclick = () => getToken(auth0, 'off');
  $('logout').onclick = () => auth0.logout({ logoutParams: { returnTo: home } });

  await render(auth0);
  if (await auth0.isAuthenticated()) await getToken(auth0, 'cache-only').catch(() => undefined);
}

main().catch((e) => log(`Startup failed: ${e.error ?? e.name}: ${e.error_description ?? e.message}`, 'error'));
