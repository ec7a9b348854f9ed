import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEMO, EMAIL, submitLogin, withEnv } from './harness.js';

test('examples/spa demo: sign in, show the user, get a token, see the rotation, sign out', () =>
  withEnv({ root: DEMO, index: 'index.html', tokenLifetime: 120 }, async ({ spa, page, server }) => {
    await page.goto(`${spa.origin}/`);
    await page.click('#login');
    await submitLogin(page);
    await page.waitForSelector('#signed-in:not([hidden])');
    assert.equal(await page.textContent('#user-email'), EMAIL);
    assert.equal(new URL(page.url()).search, '', 'callback parameters removed from the URL');

    await page.click('#get-token');
    await page.waitForFunction(() => document.getElementById('access-token')!.textContent!.length > 20);
    assert.match((await page.textContent('#at-expiry')) ?? '', /in \d+ s/);

    await page.click('#force-refresh');
    await page.waitForFunction(() => document.getElementById('rt-count')!.textContent === '1');
    assert.notEqual(await page.textContent('#rt-rotated'), 'not yet (this page)');

    // A reload keeps the session (localstorage).
    await page.reload();
    await page.waitForSelector('#signed-in:not([hidden])');

    const loggedOut = page.waitForResponse((r) => r.url().startsWith(`${server.url}/v2/logout?`));
    await page.click('#logout');
    // The SDK sends id_token_hint: no confirmation page, straight back to the SPA.
    assert.equal((await loggedOut).status(), 302);
    await page.waitForURL((u) => u.origin === spa.origin && !u.search, { waitUntil: 'load' });
    await page.waitForSelector('#signed-out:not([hidden])');
    assert.equal(await page.isVisible('#signed-in'), false);
  }));
