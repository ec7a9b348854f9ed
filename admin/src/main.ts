/**
 * The Ratchet admin console: signs an administrator in with @ratchet/spa-js (authorization code
 * with PKCE, rotating refresh tokens kept in the SDK's worker, tokens in memory only) and drives
 * the Management API. Views are `#/…` fragments of `{issuer}admin/`.
 */
import { createAuth0Client, type Auth0Client } from '@ratchet/spa-js';
import { Api } from './api.js';
import { h } from './dom.js';
import * as pages from './pages.js';

/** The Management API scopes the console asks for (docs/admin-console.md). */
const SCOPES = [
  'read:users', 'create:users', 'update:users', 'delete:users',
  'read:clients', 'create:clients', 'update:clients', 'delete:clients', 'update:client_keys', 'read:client_keys',
  'read:resource_servers', 'create:resource_servers', 'update:resource_servers',
  'read:client_grants', 'create:client_grants', 'update:client_grants', 'delete:client_grants',
  'read:sessions', 'delete:sessions', 'read:refresh_tokens', 'delete:refresh_tokens',
  'read:logs', 'read:logs_users', 'read:stats',
].join(' ');

const consoleUrl = new URL('./', location.href).href.split('#')[0]!.split('?')[0]!;
const issuer = new URL('../', consoleUrl).href;
const audience = `${issuer}api/v2/`;

const NAV: [string, string][] = [
  ['#/', 'Overview'],
  ['#/applications', 'Applications'],
  ['#/apis', 'APIs'],
  ['#/users', 'Users'],
  ['#/logs', 'Logs'],
];

async function start(): Promise<void> {
  const root = document.getElementById('app')!;
  const auth = await createAuth0Client({
    domain: issuer.replace(/\/$/, ''),
    clientId: 'ratchet-admin',
    cacheLocation: 'memory',
    useRefreshTokens: true,
    workerUrl: new URL('ratchet-spa.worker.js', consoleUrl).href,
    authorizationParams: { audience, scope: `openid profile email ${SCOPES}`, redirect_uri: consoleUrl },
  });
  const params = new URLSearchParams(location.search);
  if (params.has('code') || params.has('error')) {
    try {
      const { appState } = await auth.handleRedirectCallback();
      const hash = (appState as { hash?: string } | undefined)?.hash ?? '#/';
      history.replaceState(null, '', consoleUrl + hash);
    } catch (e) {
      history.replaceState(null, '', consoleUrl);
      return signInPage(root, auth, e instanceof Error ? e.message : String(e));
    }
  }
  if (!(await auth.isAuthenticated())) return signInPage(root, auth);
  shell(root, auth);
}

function signInPage(root: HTMLElement, auth: Auth0Client, error?: string): void {
  const signIn = (prompt?: 'login'): void => {
    const authorizationParams = prompt ? { prompt } : {};
    void auth.loginWithRedirect({ appState: { hash: location.hash || '#/' }, authorizationParams });
  };
  root.replaceChildren(
    h('main', { class: 'signin' },
      h('h1', {}, 'Ratchet admin console'),
      error ? h('p', { class: 'error', role: 'alert' }, error) : h('p', {}, 'Sign in with an administrator account.'),
      h('button', { type: 'button', onclick: () => signIn() }, 'Sign in'),
      h('button', { type: 'button', class: 'secondary', onclick: () => signIn('login') }, 'Sign in with another account')),
  );
}

function shell(root: HTMLElement, auth: Auth0Client): void {
  const api = new Api(audience.replace(/\/$/, ''), () => auth.getTokenSilently());
  const main = h('main', { id: 'main', tabindex: -1 });
  const status = h('p', { class: 'toast', role: 'status', 'aria-live': 'polite', hidden: true });
  const nav = h('nav', { 'aria-label': 'Console' }, h('ul', {}, NAV.map(([href, label]) => h('li', {}, h('a', { href }, label)))));
  const signOut = h('button', { type: 'button', class: 'secondary', onclick: () => void auth.logout({ logoutParams: { returnTo: consoleUrl } }) }, 'Sign out');
  const header = h('header', { class: 'top' }, h('a', { class: 'brand', href: '#/' }, 'Ratchet'), nav, signOut);
  root.replaceChildren(h('a', { class: 'skip', href: '#main' }, 'Skip to content'), header, main, status);
  void auth.getUser().then((u) => u?.email && signOut.setAttribute('title', `Signed in as ${u.email}`));
  let timer = 0;
  const ctx: pages.Ctx = {
    api,
    main,
    go: (hash) => (location.hash === hash ? void route() : (location.hash = hash)),
    notify: (message, error = false) => {
      status.textContent = message;
      status.classList.toggle('error', error);
      status.hidden = false;
      clearTimeout(timer);
      timer = window.setTimeout(() => (status.hidden = true), 4000);
    },
  };
  const route = async (): Promise<void> => {
    const [path = '', query = ''] = location.hash.replace(/^#/, '').split('?');
    const params = new URLSearchParams(query);
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    for (const a of nav.querySelectorAll('a')) a.toggleAttribute('aria-current', a.getAttribute('href') === `#/${parts[0] ?? ''}`);
    try {
      if (parts[0] === 'users' && parts[1]) await pages.user(ctx, parts[1]);
      else if (parts[0] === 'users') await pages.users(ctx, params);
      else if (parts[0] === 'applications' && parts[1]) await pages.application(ctx, parts[1]);
      else if (parts[0] === 'applications') await pages.applications(ctx);
      else if (parts[0] === 'apis' && parts[1]) await pages.api(ctx, parts[1]);
      else if (parts[0] === 'apis') await pages.apis(ctx);
      else if (parts[0] === 'logs') await pages.logs(ctx, params);
      else await pages.overview(ctx);
      document.title = `${main.querySelector('h1')?.textContent ?? 'Console'} · Ratchet admin`;
      // Keyboard and screen-reader users start each view at its heading, not where they were.
      main.querySelector<HTMLElement>('h1')?.focus({ preventScroll: true });
    } catch (e) {
      pages.errorView(ctx, e);
    }
  };
  window.addEventListener('hashchange', () => void route());
  void route();
}

void start();
