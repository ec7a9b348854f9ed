/**
 * The admin console (`{issuer}admin/`, built from admin/ and embedded in the binary) in real
 * Chromium against a real `ratchet serve`: who may enter, the application settings it writes
 * (checked with the CLI), and a refresh-token revocation that takes effect at the next refresh.
 * Every task runs on SQLite and on PostgreSQL (the CSP check needs no store); one task is done with the
 * keyboard only. Each page's screenshot goes to target/admin-screenshots/ (1280×800, and 390 px
 * wide).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { ADMIN_EMAIL, ADMIN_PASSWORD, EMAIL, PASSWORD, REPO, type Engine, delta, login, sleep, vault, withEnv } from './harness.js';

/** The engines the main tasks run on, with the suffix of their test names. */
const ENGINES: [Engine, string][] = [
  ['sqlite', ''],
  ['postgres', ' (PostgreSQL)'],
];

const SHOTS = join(REPO, 'target/admin-screenshots');
mkdirSync(SHOTS, { recursive: true });

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Opens the console and signs in through the ratchet login form as `email`. */
async function signIn(page: Page, url: string, email: string, password: string): Promise<void> {
  await page.goto(`${url}/admin/`);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForSelector('input[name="username"]');
  await page.fill('input[name="username"]', email);
  await page.fill('input[name="password"]', password);
  await page.click('button[type="submit"]');
}

async function heading(page: Page, text: string): Promise<void> {
  await page.getByRole('heading', { level: 1, name: text }).waitFor();
}

test('the console is served with a strict Content Security Policy and no inline script', () =>
  withEnv({}, async ({ server }) => {
    const res = await fetch(`${server.url}/admin/`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    const html = await res.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)/, 'no inline script');
    assert.doesNotMatch(html, /https?:\/\//, 'nothing from elsewhere');
  }));

for (const [database, suffix] of ENGINES) {
  test('a non-administrator is refused: a clear page and no management token' + suffix, () =>
    withEnv({ database, administrator: true }, async ({ page, server }) => {
      const tokens: string[] = [];
      page.on('response', (r) => {
        if (new URL(r.url()).pathname === '/oauth/token') tokens.push(r.url());
      });
      await signIn(page, server.url, EMAIL, PASSWORD);
      await page.getByText('This account is not an administrator.').waitFor();
      await shot(page, 'not-an-administrator');
      assert.equal(new URL(page.url()).pathname, '/u/login', 'the refusal page, not the console');
      assert.deepEqual(tokens, [], 'no token request was ever made');
    }));
}

/** Moves the focus with Tab (Shift+Tab when `backward`) until the focused control's accessible
 * name (its aria-label, else its text) is `name`; fails after 60 presses. */
async function tabTo(page: Page, name: string | RegExp, backward = false): Promise<void> {
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press(backward ? 'Shift+Tab' : 'Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      return el ? (el.getAttribute('aria-label') ?? el.textContent ?? '').trim() : '';
    });
    if (typeof name === 'string' ? focused === name : name.test(focused)) return;
  }
  throw new Error(`no control named ${name} within 60 presses of ${backward ? 'Shift+Tab' : 'Tab'}`);
}

for (const [database, suffix] of ENGINES) {
  test(`an administrator creates an application, turns rotation on and sets the overlap period; the CLI shows it${suffix}`, () =>
    withEnv({ administrator: true, database }, async ({ page, server, spa, context }) => {
      await page.setViewportSize({ width: 1280, height: 800 });
      // A user with a session and a refresh token (in a browser context of their own), for the
      // overview's live counts.
      const spaPage = await context.browser()!.newPage();
      await login(spaPage, spa.origin, { cacheLocation: 'localstorage', useRefreshTokens: true });
      await spaPage.close();
      await signIn(page, server.url, ADMIN_EMAIL, ADMIN_PASSWORD);
      await heading(page, 'Overview');
      await page.getByRole('img', { name: /Refresh exchanges/ }).waitFor();
      // The user's and the administrator's own: two sessions, two refresh-token families.
      const card = (label: string) => page.locator('.card', { has: page.getByText(label, { exact: true }) }).locator('.count');
      assert.equal(await card('Live sessions').textContent(), '2');
      assert.equal(await card('Live refresh-token families').textContent(), '2');
      await shot(page, 'overview');

      await page.getByRole('link', { name: 'Applications' }).first().click();
      await heading(page, 'Applications');
      await page.getByLabel('Name', { exact: true }).fill('Console-made app');
      await page.getByLabel('Application type').selectOption('regular_web');
      await page.getByLabel('Allowed Callback URLs').fill('https://app.example/callback');
      await page.getByRole('button', { name: 'Create application' }).click();
      await heading(page, 'Console-made app');
      await page.getByText('Client secret (shown once)').waitFor();
      const clientId = (await page.locator('dl.facts dd code').first().textContent())!.trim();

      const rotation = page.getByRole('switch', { name: 'Allow Refresh Token Rotation' });
      assert.equal(await rotation.isChecked(), false, 'a regular web application does not rotate by default');
      await rotation.check();
      assert.equal(await page.getByRole('switch', { name: 'Set Idle Refresh Token Lifetime' }).isChecked(), true, 'rotating tokens expire');
      assert.equal(await page.getByRole('switch', { name: 'Set Maximum Refresh Token Lifetime' }).isChecked(), true);
      await page.getByLabel('Rotation Overlap Period (seconds)').fill('7');
      // The server's validation message is shown next to its field.
      await page.getByLabel('Idle Refresh Token Lifetime (seconds)').fill('9999999');
      await page.getByLabel('Maximum Refresh Token Lifetime (seconds)').fill('3600');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.locator('[data-field="idle_token_lifetime"] .field-error', { hasText: 'must not exceed' }).waitFor();
      await page.getByLabel('Idle Refresh Token Lifetime (seconds)').fill('1800');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.getByRole('status').filter({ hasText: 'Application saved' }).waitFor();
      await shot(page, 'application');

      const shown = JSON.parse(await server.cli!(['clients', 'show', clientId, '--json']));
      assert.equal(shown.refresh_token.rotation_type, 'rotating');
      assert.equal(shown.refresh_token.leeway, 7);
      assert.equal(shown.refresh_token.idle_token_lifetime, 1800);
      assert.equal(shown.refresh_token.token_lifetime, 3600);

      await page.getByRole('link', { name: 'Applications' }).first().click();
      await page.getByRole('link', { name: 'Console-made app' }).waitFor();
      await shot(page, 'applications');
      await page.getByRole('link', { name: 'APIs' }).first().click();
      await heading(page, 'APIs');
      await page.getByLabel('Identifier').fill('https://console.example/api');
      await page.getByLabel('Name', { exact: true }).fill('Console API');
      await page.getByRole('button', { name: 'Create API' }).click();
      await page.getByRole('link', { name: 'Console API' }).click();
      await heading(page, 'Console API');
      await page.getByLabel('Token Lifetime (seconds)').fill('900');
      await page.getByRole('switch', { name: 'Allow Offline Access' }).check();
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.getByRole('status').filter({ hasText: 'API saved' }).waitFor();
      await shot(page, 'api');
      const api = JSON.parse(await server.cli!(['apis', 'show', 'https://console.example/api', '--json']));
      assert.equal(api.token_lifetime, 900);
      assert.equal(api.allow_offline_access, true);
      await page.getByRole('link', { name: 'APIs' }).first().click();
      await page.getByRole('link', { name: 'Console API' }).waitFor();
      await shot(page, 'apis');
      await page.getByRole('link', { name: 'Logs' }).first().click();
      await heading(page, 'Logs');
      // The console's own writes, each under its Auth0 code and readable name.
      await page.locator('td', { hasText: 'sapi — Management API operation' }).first().waitFor();
      await shot(page, 'logs');

      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
    }));

  test(`the administrator revokes a user's refresh token and the SPA's next refresh is invalid_grant${suffix}`, () =>
    withEnv({ administrator: true, database }, async ({ page: spaPage, spa, server, context }) => {
      await login(spaPage, spa.origin, { cacheLocation: 'localstorage', useRefreshTokens: true });

      const page = await context.browser()!.newPage();
      await page.setViewportSize({ width: 1280, height: 800 });
      await signIn(page, server.url, ADMIN_EMAIL, ADMIN_PASSWORD);
      await heading(page, 'Overview');
      await page.getByRole('link', { name: 'Users' }).first().click();
      await page.getByRole('searchbox', { name: 'Search users' }).fill(EMAIL);
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByRole('link', { name: EMAIL }).click();
      await heading(page, EMAIL);
      await page.getByRole('button', { name: 'Revoke all sessions' }).waitFor();
      const sessions = page.locator('section[aria-labelledby="sessions-title"] tbody tr');
      const tokens = page.locator('section[aria-labelledby="tokens-title"] tbody tr');
      assert.equal(await sessions.count(), 1, 'the SPA user has one session');
      assert.equal(await tokens.count(), 1, 'and one refresh token');
      await shot(page, 'users-user');
      await page.setViewportSize({ width: 390, height: 844 });
      await shot(page, 'users-user-390px');
      await page.setViewportSize({ width: 1280, height: 800 });

      await tokens.first().getByRole('button', { name: /^Revoke refresh token/ }).click();
      await page.getByRole('status').filter({ hasText: 'Refresh token revoked' }).waitFor();
      await page.getByText('No live refresh tokens.').waitFor();

      const error = await spaPage.evaluate(() => window.errorOf(window.auth0.getTokenSilently({ cacheMode: 'off' })));
      assert.equal(error?.error, 'invalid_grant', `the revoked token's next refresh: ${JSON.stringify(error)}`);

      await page.getByRole('link', { name: 'Users' }).first().click();
      await heading(page, 'Users');
      await shot(page, 'users');
    }));
}

for (const [database, suffix] of ENGINES) {
  test("by keyboard only, the administrator finds a user and revokes their refresh token; the SPA's next refresh is invalid_grant" + suffix, () =>
    withEnv({ database, administrator: true }, async ({ page: spaPage, spa, server, context }) => {
      await login(spaPage, spa.origin, { cacheLocation: 'localstorage', useRefreshTokens: true });
      const page = await context.browser()!.newPage();
      await page.setViewportSize({ width: 1280, height: 800 });
      await signIn(page, server.url, ADMIN_EMAIL, ADMIN_PASSWORD);
      await heading(page, 'Overview');

      // Each view starts at its heading: back to the navigation, then forward through the view.
      await tabTo(page, 'Users', true);
      await page.keyboard.press('Enter');
      await heading(page, 'Users');
      await tabTo(page, 'Search users');
      await page.keyboard.type(EMAIL);
      await page.keyboard.press('Enter');
      await page.waitForURL((u) => u.hash.startsWith('#/users?q='));
      // The unfiltered list holds the user too: wait for the search result to replace it.
      await page.waitForFunction((e) => {
        const rows = [...document.querySelectorAll('tbody tr')];
        return rows.length === 1 && rows[0]!.textContent?.includes(e);
      }, EMAIL);
      await tabTo(page, EMAIL);
      await page.keyboard.press('Enter');
      await heading(page, EMAIL);
      await tabTo(page, /^Revoke refresh token of /);
      await page.keyboard.press('Space');
      await page.getByRole('status').filter({ hasText: 'Refresh token revoked' }).waitFor();
      await page.getByText('No live refresh tokens.').waitFor();

      const error = await spaPage.evaluate(() => window.errorOf(window.auth0.getTokenSilently({ cacheMode: 'off' })));
      assert.equal(error?.error, 'invalid_grant', `the revoked token's next refresh: ${JSON.stringify(error)}`);
    }));
}

for (const [database, suffix] of ENGINES) {
  test('a reuse detection appears in Logs under its readable name, linked to its user' + suffix, () =>
    withEnv({ database, administrator: true, leeway: 0 }, async ({ page: spaPage, spa, server, context }) => {
      await login(spaPage, spa.origin, { cacheLocation: 'localstorage', useRefreshTokens: true });
      const [before] = await vault(spaPage);
      assert.ok(before?.refresh_token);
      await spaPage.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off' }));
      const replay = await server.token({ grant_type: 'refresh_token', client_id: server.clientId, refresh_token: before.refresh_token });
      assert.equal(replay.json.error, 'invalid_grant', 'the replay of a rotated token is refused');

      const page = await context.browser()!.newPage();
      await page.setViewportSize({ width: 1280, height: 800 });
      await signIn(page, server.url, ADMIN_EMAIL, ADMIN_PASSWORD);
      await heading(page, 'Overview');
      await page.getByRole('img', { name: /Reuse detections: 1/ }).waitFor();
      await page.getByRole('link', { name: 'Logs' }).first().click();
      await heading(page, 'Logs');
      await page.getByLabel('Event type').selectOption('ferrt');
      await page.getByRole('button', { name: 'Filter' }).click();
      const row = page.locator('tbody tr', { hasText: 'ferrt — Refresh token reuse detected: family revoked' });
      // The unfiltered list holds the reuse detection too: wait for the filtered one to replace it.
      await page.waitForFunction(() => {
        const rows = [...document.querySelectorAll('tbody tr')];
        return rows.length > 0 && rows.every((r) => r.textContent?.includes('ferrt — '));
      });
      assert.equal(await page.locator('tbody tr').count(), await row.count(), 'only reuse detections');
      await shot(page, 'logs-reuse');
      await row.first().getByRole('link', { name: /Ada Lovelace|ada@example.com/ }).click();
      await heading(page, EMAIL);
    }));
}

for (const [database, suffix] of ENGINES) {
  test("the console's own refresh token rotates while it is open (access tokens of 2 s)" + suffix, () =>
    withEnv({ database, administrator: true, serveArgs: ['--admin-token-lifetime', '2'] }, async ({ page, server }) => {
      await signIn(page, server.url, ADMIN_EMAIL, ADMIN_PASSWORD);
      await heading(page, 'Overview');
      for (const [link, title] of [['Users', 'Users'], ['Applications', 'Applications'], ['Logs', 'Logs']] as const) {
        const before = await server.metrics();
        await sleep(2500); // past the access token's lifetime
        await page.getByRole('link', { name: link }).first().click();
        await heading(page, title);
        const after = await server.metrics();
        assert.equal(delta(after, before, 'sertft'), 1, `${title}: one refresh (a rotation) renewed the expired token`);
        assert.equal(delta(after, before, 'fertft') + delta(after, before, 'ferrt'), 0, `${title}: no failed refresh, no reuse`);
      }
    }));
}

for (const [database, suffix] of ENGINES) {
  test("the administrator edits an API's permissions, authorizes a machine-to-machine application and changes its scopes, sets a password, and follows the logs live" + suffix, () =>
    withEnv({ database, administrator: true }, async ({ page, server }) => {
      const worker = JSON.parse(await server.cli!(['clients', 'create', '--name', 'Worker', '--type', 'm2m', '--json']));
      const grants = async (): Promise<{ client_id: string; scope: string[] }[]> =>
        JSON.parse(await server.cli!(['client-grants', 'list', '--audience', server.audience, '--json'])).client_grants;
      await page.setViewportSize({ width: 1280, height: 800 });
      await signIn(page, server.url, ADMIN_EMAIL, ADMIN_PASSWORD);
      await heading(page, 'Overview');

      await page.getByRole('link', { name: 'APIs' }).first().click();
      await page.getByRole('link', { name: 'e2e api' }).click();
      await heading(page, 'e2e api');
      // Permissions: add three, remove one; the API then has the two left, with their descriptions.
      for (const [value, description] of [['read:reports', 'Read reports'], ['write:reports', 'Write reports'], ['delete:reports', 'Delete reports']]) {
        await page.getByLabel('Permission', { exact: true }).fill(value!);
        await page.getByLabel('Description', { exact: true }).fill(description!);
        await page.getByRole('button', { name: 'Add permission' }).click();
        await page.getByRole('status').filter({ hasText: 'Permission added' }).waitFor();
        await page.getByRole('button', { name: `Remove permission ${value}` }).waitFor();
      }
      await page.getByRole('button', { name: 'Remove permission delete:reports' }).click();
      await page.getByRole('status').filter({ hasText: 'Permission removed' }).waitFor();
      await page.getByRole('button', { name: 'Remove permission delete:reports' }).waitFor({ state: 'detached' });
      const shown = JSON.parse(await server.cli!(['apis', 'show', server.audience, '--json']));
      assert.deepEqual(shown.scopes, [
        { value: 'read:reports', description: 'Read reports' },
        { value: 'write:reports', description: 'Write reports' },
      ]);

      // A grant with one scope, then its scopes changed in place.
      await page.getByLabel('Application', { exact: true }).selectOption(worker.client_id);
      await page.getByRole('form', { name: 'Authorize an application' }).getByRole('checkbox', { name: 'read:reports' }).check();
      await page.getByRole('button', { name: 'Authorize' }).click();
      await page.getByRole('status').filter({ hasText: 'Application authorized' }).waitFor();
      assert.deepEqual((await grants()).map((g) => [g.client_id, g.scope]), [[worker.client_id, ['read:reports']]]);
      const grantScopes = page.getByRole('form', { name: 'Scopes of Worker' });
      assert.equal(await grantScopes.getByRole('checkbox', { name: 'read:reports' }).isChecked(), true);
      await grantScopes.getByRole('checkbox', { name: 'write:reports' }).check();
      await grantScopes.getByRole('button', { name: 'Save the scopes of Worker' }).click();
      await page.getByRole('status').filter({ hasText: 'Scopes saved' }).waitFor();
      assert.deepEqual((await grants()).map((g) => g.scope), [['read:reports', 'write:reports']]);
      await shot(page, 'api-grants');
      await page.getByRole('button', { name: 'Remove the grant of Worker' }).click();
      await page.getByRole('status').filter({ hasText: 'Grant removed' }).waitFor();
      assert.deepEqual(await grants(), []);

      await page.getByRole('link', { name: 'Users' }).first().click();
      await page.getByRole('link', { name: EMAIL }).click();
      await heading(page, EMAIL);
      await page.getByLabel('New password').fill('short');
      await page.getByRole('button', { name: 'Set password' }).click();
      await page.locator('[data-field="password"] .field-error', { hasText: '8 to 1024 characters' }).waitFor();
      await page.getByLabel('New password').fill('a new password, long enough');
      await page.getByRole('button', { name: 'Set password' }).click();
      await page.getByRole('status').filter({ hasText: 'Password set' }).waitFor();

      await page.getByRole('link', { name: 'Logs' }).first().click();
      await heading(page, 'Logs');
      await page.getByRole('switch', { name: 'Live' }).check();
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.getByRole('switch', { name: 'Live' }).waitFor();
      const failed = await server.token({ grant_type: 'refresh_token', client_id: server.clientId, refresh_token: 'not-a-refresh-token' });
      assert.equal(failed.json.error, 'invalid_grant');
      // Shown without reloading the page: the live view fetches new events by itself.
      await page.locator('td', { hasText: 'fertft — Failed refresh token exchange' }).first().waitFor();
    }));
}
