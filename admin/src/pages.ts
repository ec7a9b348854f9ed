/** The console's pages, each a function of the Management API that renders into `main`. */
import { type Api, ApiError, enc, type Json } from './api.js';
import { type Child, field, fieldError, h, table, when } from './dom.js';
import { chart } from './chart.js';

export interface Ctx {
  api: Api;
  main: HTMLElement;
  go(hash: string): void;
  notify(message: string, error?: boolean): void;
}

/** Auth0's log codes with their readable names (the server's audit event types). */
export const EVENT_NAMES: Record<string, string> = {
  s: 'Successful login',
  f: 'Failed login',
  slo: 'Successful logout',
  ssa: 'Successful silent authentication',
  fsa: 'Failed silent authentication',
  seacft: 'Authorization code exchanged for tokens',
  feacft: 'Failed authorization code exchange',
  sertft: 'Refresh token exchanged',
  fertft: 'Failed refresh token exchange',
  ferrt: 'Refresh token reuse detected: family revoked',
  srrt: 'Refresh token revoked',
  frrt: 'Refresh token not revoked (DPoP key required)',
  seccft: 'Client credentials exchanged for an access token',
  feccft: 'Failed client credentials exchange',
  fco: 'Origin not allowed for the application',
  sapi: 'Management API operation',
  fapi: 'Failed Management API operation',
  api_limit: 'Rate limit reached',
  limit_wc: 'Account blocked after too many failed logins',
  limit_mu: 'IP address blocked after too many failed logins',
  sdu: 'User deleted',
  ssr: 'Session revoked',
  resource_cleanup: 'Refresh tokens revoked to stay within the per-user limit',
};

const APP_TYPES: Record<string, string> = {
  spa: 'Single Page Application',
  regular_web: 'Regular Web Application',
  native: 'Native',
  non_interactive: 'Machine to Machine',
};

function heading(title: string, ...actions: Child[]): HTMLElement {
  return h('header', { class: 'page-head' }, h('h1', { tabindex: -1 }, title), h('div', { class: 'actions' }, ...actions));
}

function button(label: string, onclick: () => unknown, cls = ''): HTMLButtonElement {
  return h('button', { type: 'button', class: cls, onclick: () => void onclick() }, label);
}

function link(href: string, text: string): HTMLAnchorElement {
  return h('a', { href }, text);
}

/** Runs `action`, reports its outcome, and re-renders the current page. */
async function act(ctx: Ctx, done: string, action: () => Promise<unknown>, then?: () => void): Promise<void> {
  try {
    await action();
    ctx.notify(done);
    (then ?? (() => ctx.go(location.hash)))();
  } catch (e) {
    ctx.notify(e instanceof Error ? e.message : String(e), true);
  }
}

// ------------------------------------------------------------------ Overview

export async function overview(ctx: Ctx): Promise<void> {
  const { api } = ctx;
  const since = new Date(Date.now() - 24 * 3600 * 1000);
  const [clients, users, apis, live] = await Promise.all([
    api.get('/clients?include_totals=true&per_page=1'),
    api.get('/users?include_totals=true&per_page=1'),
    api.get('/resource-servers?include_totals=true&per_page=1'),
    api.get('/stats/live'),
  ]);
  const logs = async (type: string): Promise<Json[]> => {
    const q = enc(`type:${type} date:[${since.toISOString()} TO *]`);
    return api.get<Json[]>(`/logs?q=${q}&per_page=100&sort=date:-1`);
  };
  const [ok, failed, reuse] = await Promise.all([logs('sertft'), logs('fertft'), logs('ferrt')]);
  const count = (label: string, n: unknown, href?: string): HTMLElement =>
    h(href ? 'a' : 'div', { class: 'card', href }, h('span', { class: 'count' }, String(n ?? 0)), h('span', {}, label));
  ctx.main.replaceChildren(
    heading('Overview'),
    h(
      'section',
      { class: 'cards', 'aria-label': 'Counts' },
      count('Applications', clients.total, '#/applications'),
      count('Users', users.total, '#/users'),
      count('APIs', apis.total, '#/apis'),
      count('Live sessions', live.sessions),
      count('Live refresh-token families', live.refresh_token_families),
    ),
    h(
      'section',
      { 'aria-labelledby': 'chart-title' },
      h('h2', { id: 'chart-title' }, 'Refresh tokens, last 24 hours'),
      chart(since.getTime(), 15 * 60 * 1000, 96, [
        { label: 'Refresh exchanges', cls: 'ok', dates: ok.map((l) => Date.parse(l.date)) },
        { label: 'Failed exchanges', cls: 'failed', dates: failed.map((l) => Date.parse(l.date)) },
        { label: 'Reuse detections', cls: 'reuse', dates: reuse.map((l) => Date.parse(l.date)) },
      ]),
    ),
  );
}

// ------------------------------------------------------------------ Users

export async function users(ctx: Ctx, params: URLSearchParams): Promise<void> {
  const q = params.get('q') ?? '';
  const search = h('input', { type: 'search', name: 'q', value: q, placeholder: 'email@example.com', 'aria-label': 'Search users' });
  const query = q ? `&q=${enc(`email:"${q.trim()}"`)}` : '';
  const listed = await ctx.api.get(`/users?include_totals=true&per_page=50${query}`);
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off' });
  const password = h('input', { type: 'password', name: 'password', required: true, autocomplete: 'new-password', minlength: 8 });
  const create = h('form', { class: 'card-form', 'aria-label': 'Create user' }, h('h2', {}, 'Create user'), field('Email', email), field('Password', password), h('button', { type: 'submit' }, 'Create user'));
  create.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = { connection: 'Username-Password-Authentication', email: email.value, password: password.value };
    void ctx.api
      .call('POST', '/users', body)
      .then((u) => ctx.go(`#/users/${enc(u.user_id)}`))
      .catch((err: Error) => fieldError(create, err.message.startsWith('password') ? 'password' : 'email', err.message));
  });
  const form = h('form', { role: 'search', class: 'search' }, search, h('button', { type: 'submit' }, 'Search'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.go(search.value.trim() ? `#/users?q=${enc(search.value.trim())}` : '#/users');
  });
  ctx.main.replaceChildren(
    heading('Users'),
    form,
    table(
      'Users',
      ['Email', 'Name', 'Status', 'Last login'],
      (listed.users as Json[]).map((u) => [link(`#/users/${enc(u.user_id)}`, u.email), u.name, u.blocked ? 'Blocked' : 'Active', when(u.last_login)]),
      q ? `No user has the email ${q}.` : 'No users yet.',
    ),
    create,
  );
}

export async function user(ctx: Ctx, id: string): Promise<void> {
  const { api } = ctx;
  const path = `/users/${enc(id)}`;
  const [u, sessions, tokens] = await Promise.all([api.get(path), api.get(`${path}/sessions`), api.get(`${path}/refresh-tokens`)]);
  const blockLabel = u.blocked ? 'Unblock' : 'Block';
  const password = h('input', { type: 'password', name: 'password', required: true, autocomplete: 'new-password' });
  const passwordForm = h('form', { class: 'card-form', 'aria-label': 'Set password' }, h('h2', {}, 'Set password'), field('New password', password), h('button', { type: 'submit' }, 'Set password'));
  passwordForm.addEventListener('submit', (e) => {
    e.preventDefault();
    fieldError(passwordForm, null);
    void api
      .call('PATCH', path, { password: password.value, connection: 'Username-Password-Authentication' })
      .then(() => {
        password.value = '';
        ctx.notify('Password set');
      })
      .catch((err: Error) => fieldError(passwordForm, 'password', err.message));
  });
  const remove = (): Promise<void> =>
    confirm(`Delete ${u.email}? Their sessions end and their refresh tokens are revoked.`)
      ? act(ctx, 'User deleted', () => api.call('DELETE', path), () => ctx.go('#/users'))
      : Promise.resolve();
  ctx.main.replaceChildren(
    heading(
      u.email,
      button(blockLabel, () => act(ctx, u.blocked ? 'User unblocked' : 'User blocked', () => api.call('PATCH', path, { blocked: !u.blocked }))),
      button('Delete user', remove, 'danger'),
    ),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'User ID'), h('dd', {}, h('code', {}, u.user_id)),
      h('dt', {}, 'Name'), h('dd', {}, u.name),
      h('dt', {}, 'Status'), h('dd', {}, u.blocked ? 'Blocked' : 'Active'),
      h('dt', {}, 'Logins'), h('dd', {}, String(u.logins_count)),
      h('dt', {}, 'Last login'), h('dd', {}, when(u.last_login)),
    ),
    h(
      'section',
      { 'aria-labelledby': 'sessions-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'sessions-title' }, 'Sessions'),
        button('Revoke all sessions', () => act(ctx, 'Sessions revoked', () => api.call('DELETE', `${path}/sessions`)))),
      table(
        'Sessions',
        ['Started', 'Last seen', 'IP', 'User agent', 'Applications', ''],
        (sessions.sessions as Json[]).map((s) => [
          when(s.created_at),
          when(s.last_interacted_at),
          s.device?.last_ip ?? s.device?.initial_ip ?? '—',
          s.device?.last_user_agent ?? s.device?.initial_user_agent ?? '—',
          (s.clients as Json[]).map((c) => c.client_id).join(', ') || '—',
          h('button', { type: 'button', 'aria-label': `Revoke session started ${when(s.created_at)}`, onclick: () => void act(ctx, 'Session revoked', () => api.call('POST', `/sessions/${enc(s.id)}/revoke`)) }, 'Revoke'),
        ]),
        'No live sessions.',
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'tokens-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'tokens-title' }, 'Refresh tokens'),
        button('Revoke all refresh tokens', () => act(ctx, 'Refresh tokens revoked', () => api.call('DELETE', `${path}/refresh-tokens`)))),
      table(
        'Refresh tokens',
        ['Application', 'Created', 'Last exchanged', 'Expires', 'Idle expiry', 'Rotating', 'Device', ''],
        (tokens.tokens as Json[]).map((t) => [
          link(`#/applications/${enc(t.client_id)}`, t.client_id),
          when(t.created_at),
          when(t.last_exchanged_at),
          when(t.expires_at),
          when(t.idle_expires_at),
          t.rotating ? 'Yes' : 'No',
          t.device?.last_user_agent ?? t.device?.initial_user_agent ?? '—',
          h('button', { type: 'button', 'aria-label': `Revoke refresh token of ${t.client_id} created ${when(t.created_at)}`, onclick: () => void act(ctx, 'Refresh token revoked', () => api.call('DELETE', `/refresh-tokens/${enc(t.id)}`)) }, 'Revoke'),
        ]),
        'No live refresh tokens.',
      ),
    ),
    passwordForm,
  );
}

// ------------------------------------------------------------------ Applications

const lines = (v: string): string[] => v.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);

export async function applications(ctx: Ctx): Promise<void> {
  const listed = await ctx.api.get('/clients?include_totals=true&per_page=100');
  const name = h('input', { name: 'name', required: true });
  const type = h('select', { name: 'app_type' }, Object.entries(APP_TYPES).map(([v, t]) => h('option', { value: v }, t)));
  const callbacks = h('textarea', { name: 'callbacks', rows: 2 });
  const logout = h('textarea', { name: 'allowed_logout_urls', rows: 2 });
  const origins = h('textarea', { name: 'web_origins', rows: 2 });
  const form = h(
    'form',
    { class: 'card-form', 'aria-label': 'Create application' },
    h('h2', {}, 'Create application'),
    field('Name', name),
    field('Application type', type),
    field('Allowed Callback URLs', callbacks, 'One per line.'),
    field('Allowed Logout URLs', logout, 'One per line.'),
    field('Allowed Web Origins', origins, 'One per line.'),
    h('button', { type: 'submit' }, 'Create application'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = { name: name.value, app_type: type.value, callbacks: lines(callbacks.value), allowed_logout_urls: lines(logout.value), web_origins: lines(origins.value) };
    void ctx.api
      .call('POST', '/clients', body)
      .then((c) => {
        if (c.client_secret) sessionSecret.set(c.client_id, c.client_secret);
        ctx.go(`#/applications/${enc(c.client_id)}`);
      })
      .catch((err: Error) => fieldError(form, fieldOf(err.message, ['callbacks', 'allowed_logout_urls', 'web_origins', 'app_type']) ?? 'name', err.message));
  });
  ctx.main.replaceChildren(
    heading('Applications'),
    table(
      'Applications',
      ['Name', 'Type', 'Client ID', 'Rotation'],
      (listed.clients as Json[]).map((c) => [link(`#/applications/${enc(c.client_id)}`, c.name), APP_TYPES[c.app_type] ?? c.app_type, h('code', {}, c.client_id), c.refresh_token.rotation_type === 'rotating' ? 'On' : 'Off']),
      'No applications yet.',
    ),
    form,
  );
}

/** A secret shown once, right after it was made (kept only until it is shown). */
const sessionSecret = new Map<string, string>();

/** The first of `names` the server's message is about. */
function fieldOf(message: string, names: string[]): string | undefined {
  return names.find((n) => new RegExp(`\\b${n}\\b`).test(message));
}

export async function application(ctx: Ctx, id: string): Promise<void> {
  const { api } = ctx;
  const path = `/clients/${enc(id)}`;
  const c = await api.get(path);
  const rt = c.refresh_token as Json;
  // No min/max: the server's rules (and their messages, shown next to the field) are the ones.
  const num = (name: string, value: number): HTMLInputElement => h('input', { type: 'number', name, value, step: 1, inputmode: 'numeric' });
  const rotation = h('input', { type: 'checkbox', name: 'rotation_type', role: 'switch', checked: rt.rotation_type === 'rotating' });
  const leeway = num('leeway', rt.leeway);
  const setIdle = h('input', { type: 'checkbox', name: 'set_idle', role: 'switch', checked: !rt.infinite_idle_token_lifetime });
  const idle = num('idle_token_lifetime', rt.idle_token_lifetime);
  const setMax = h('input', { type: 'checkbox', name: 'set_max', role: 'switch', checked: !rt.infinite_token_lifetime });
  const max = num('token_lifetime', rt.token_lifetime);
  const name = h('input', { name: 'name', value: c.name, required: true });
  const callbacks = h('textarea', { name: 'callbacks', rows: 3 }, (c.callbacks as string[]).join('\n'));
  const logout = h('textarea', { name: 'allowed_logout_urls', rows: 3 }, (c.allowed_logout_urls as string[]).join('\n'));
  const origins = h('textarea', { name: 'web_origins', rows: 3 }, (c.web_origins as string[]).join('\n'));
  const sync = (): void => {
    idle.disabled = !setIdle.checked;
    max.disabled = !setMax.checked;
  };
  setIdle.addEventListener('change', sync);
  setMax.addEventListener('change', sync);
  // Auth0's coupling: rotating refresh tokens expire, so turning rotation on sets both lifetimes.
  rotation.addEventListener('change', () => {
    if (rotation.checked && !setIdle.checked && !setMax.checked) {
      setIdle.checked = true;
      setMax.checked = true;
      sync();
    }
  });
  sync();
  const toggle = (input: HTMLInputElement, label: string): HTMLElement => {
    input.id = `f-${input.name}`;
    return h('div', { class: 'field switch', 'data-field': input.name }, input, h('label', { for: input.id }, label));
  };
  const form = h(
    'form',
    { class: 'card-form', 'aria-label': 'Application settings' },
    h('h2', {}, 'Settings'),
    field('Name', name),
    field('Allowed Callback URLs', callbacks, 'One per line.'),
    field('Allowed Logout URLs', logout, 'One per line.'),
    field('Allowed Web Origins', origins, 'One per line.'),
    h('h2', {}, 'Refresh Token Rotation'),
    toggle(rotation, 'Allow Refresh Token Rotation'),
    field('Rotation Overlap Period (seconds)', leeway, 'How long a rotated refresh token may still be used without counting as reuse (leeway).'),
    h('h2', {}, 'Refresh Token Expiration'),
    toggle(setIdle, 'Set Idle Refresh Token Lifetime'),
    field('Idle Refresh Token Lifetime (seconds)', idle, 'Unused this long, a refresh token expires (at most the maximum lifetime).'),
    toggle(setMax, 'Set Maximum Refresh Token Lifetime'),
    field('Maximum Refresh Token Lifetime (seconds)', max, 'A refresh token expires this long after the sign-in, whatever its use.'),
    h('button', { type: 'submit' }, 'Save changes'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    fieldError(form, null);
    const expiring = setIdle.checked || setMax.checked || rotation.checked;
    const body = {
      name: name.value,
      callbacks: lines(callbacks.value),
      allowed_logout_urls: lines(logout.value),
      web_origins: lines(origins.value),
      refresh_token: {
        rotation_type: rotation.checked ? 'rotating' : 'non-rotating',
        expiration_type: expiring ? 'expiring' : 'non-expiring',
        leeway: Number(leeway.value),
        idle_token_lifetime: Number(idle.value),
        infinite_idle_token_lifetime: !setIdle.checked,
        token_lifetime: Number(max.value),
        infinite_token_lifetime: !setMax.checked,
      },
    };
    void api
      .call('PATCH', path, body)
      .then(() => ctx.notify('Application saved'))
      .catch((err: Error) => {
        const f = fieldOf(err.message, ['leeway', 'idle_token_lifetime', 'token_lifetime', 'rotation_type', 'callbacks', 'allowed_logout_urls', 'web_origins', 'name']);
        fieldError(form, f ?? 'name', err.message);
        ctx.notify(err.message, true);
      });
  });
  const secret = sessionSecret.get(id);
  sessionSecret.delete(id);
  const confidential = c.token_endpoint_auth_method !== 'none';
  const remove = (): Promise<void> =>
    confirm(`Delete ${c.name}? Every refresh token issued to it is revoked and its users must sign in again.`)
      ? act(ctx, 'Application deleted', () => api.call('DELETE', path), () => ctx.go('#/applications'))
      : Promise.resolve();
  const rotate = (): Promise<void> =>
    confirm(`Rotate the secret of ${c.name}? The current secret stops working at once.`)
      ? act(ctx, 'Secret rotated', async () => {
          const r = await api.call('POST', `${path}/rotate-secret`);
          sessionSecret.set(id, r.client_secret);
        })
      : Promise.resolve();
  ctx.main.replaceChildren(
    heading(c.name, confidential ? button('Rotate secret', rotate) : null, button('Delete application', remove, 'danger')),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Client ID'), h('dd', {}, h('code', {}, c.client_id)),
      h('dt', {}, 'Type'), h('dd', {}, APP_TYPES[c.app_type] ?? c.app_type)),
    h('div', {}, secret ? h('p', { class: 'secret', role: 'status' }, 'Client secret (shown once): ', h('code', {}, secret)) : null),
    form,
  );
}

// ------------------------------------------------------------------ APIs

export async function apis(ctx: Ctx): Promise<void> {
  const listed = await ctx.api.get('/resource-servers?include_totals=true&per_page=100');
  const identifier = h('input', { name: 'identifier', required: true, placeholder: 'https://api.example.com' });
  const name = h('input', { name: 'name' });
  const lifetime = h('input', { type: 'number', name: 'token_lifetime', value: 86400, min: 1 });
  const offline = h('input', { type: 'checkbox', name: 'allow_offline_access', id: 'f-allow_offline_access' });
  const form = h('form', { class: 'card-form', 'aria-label': 'Create API' },
    h('h2', {}, 'Create API'),
    field('Identifier', identifier), field('Name', name), field('Token Lifetime (seconds)', lifetime),
    h('div', { class: 'field switch', 'data-field': 'allow_offline_access' }, offline, h('label', { for: 'f-allow_offline_access' }, 'Allow Offline Access')),
    h('button', { type: 'submit' }, 'Create API'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = { identifier: identifier.value, name: name.value || undefined, token_lifetime: Number(lifetime.value), allow_offline_access: offline.checked };
    void ctx.api
      .call('POST', '/resource-servers', body)
      .then(() => ctx.go('#/apis'))
      .catch((err: Error) => fieldError(form, fieldOf(err.message, ['token_lifetime', 'name']) ?? 'identifier', err.message));
  });
  ctx.main.replaceChildren(
    heading('APIs'),
    table('APIs', ['Name', 'Identifier', 'Token lifetime', 'Offline access'],
      (listed.resource_servers as Json[]).map((a) => [link(`#/apis/${enc(a.id)}`, a.name), h('code', {}, a.identifier), `${a.token_lifetime} s`, a.allow_offline_access ? 'Allowed' : 'No']),
      'No APIs.'),
    form,
  );
}

export async function api(ctx: Ctx, id: string): Promise<void> {
  const { api: mgmt } = ctx;
  const path = `/resource-servers/${enc(id)}`;
  const a = await mgmt.get(path);
  const [grants, clients] = await Promise.all([
    mgmt.get<Json[]>(`/client-grants?audience=${enc(a.identifier)}&per_page=100`),
    mgmt.get('/clients?include_totals=true&per_page=100'),
  ]);
  const names = new Map((clients.clients as Json[]).map((c) => [c.client_id as string, c.name as string]));
  const machines = (clients.clients as Json[]).filter((c) => c.app_type === 'non_interactive');
  const scopes = (a.scopes as Json[]).map((s) => s.value as string);
  const sections: HTMLElement[] = [];
  if (!a.is_system) {
    const name = h('input', { name: 'name', value: a.name });
    const lifetime = h('input', { type: 'number', name: 'token_lifetime', value: a.token_lifetime });
    const offline = h('input', { type: 'checkbox', name: 'allow_offline_access', id: 'f-allow_offline_access', role: 'switch', checked: a.allow_offline_access });
    const form = h('form', { class: 'card-form', 'aria-label': 'API settings' }, h('h2', {}, 'Settings'),
      field('Name', name), field('Token Lifetime (seconds)', lifetime),
      h('div', { class: 'field switch', 'data-field': 'allow_offline_access' }, offline, h('label', { for: 'f-allow_offline_access' }, 'Allow Offline Access')),
      h('button', { type: 'submit' }, 'Save changes'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      fieldError(form, null);
      void mgmt
        .call('PATCH', path, { name: name.value, token_lifetime: Number(lifetime.value), allow_offline_access: offline.checked })
        .then(() => {
          ctx.notify('API saved');
          ctx.go(location.hash);
        })
        .catch((err: Error) => fieldError(form, fieldOf(err.message, ['token_lifetime']) ?? 'name', err.message));
    });
    sections.push(form, permissions(ctx, path, a.scopes as Json[]));
  }
  const client = h('select', { name: 'client_id' }, machines.map((c) => h('option', { value: c.client_id }, c.name)));
  const boxes = scopes.map((s) => h('input', { type: 'checkbox', value: s, id: `scope-${s}` }));
  const grantForm = h('form', { class: 'card-form', 'aria-label': 'Authorize an application' },
    h('h2', {}, 'Authorize a machine-to-machine application'),
    field('Application', client),
    h('fieldset', {}, h('legend', {}, 'Scopes'), boxes.map((b) => h('div', { class: 'field switch' }, b, h('label', { for: b.id }, b.value)))),
    h('p', { class: 'field-error', role: 'alert', hidden: true }),
    h('button', { type: 'submit', disabled: machines.length === 0 }, 'Authorize'));
  grantForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const scope = boxes.filter((b) => b.checked).map((b) => b.value);
    void act(ctx, 'Application authorized', () => mgmt.call('POST', '/client-grants', { client_id: client.value, audience: a.identifier, scope }));
  });
  ctx.main.replaceChildren(
    heading(a.name),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Identifier'), h('dd', {}, h('code', {}, a.identifier)),
      h('dt', {}, 'Token lifetime'), h('dd', {}, `${a.token_lifetime} s`),
      h('dt', {}, 'Offline access'), h('dd', {}, a.allow_offline_access ? 'Allowed' : 'No'),
      h('dt', {}, 'Permissions'), h('dd', {}, scopes.length ? scopes.join(' ') : '—')),
    ...sections,
    h('section', { 'aria-labelledby': 'grants-title' },
      h('h2', { id: 'grants-title' }, 'Machine-to-machine applications'),
      table('Client grants', ['Application', 'Scopes', ''],
        grants.map((g) => [
          link(`#/applications/${enc(g.client_id)}`, names.get(g.client_id) ?? g.client_id),
          grantScopes(ctx, g, names.get(g.client_id) ?? g.client_id, scopes),
          h('button', { type: 'button', 'aria-label': `Remove the grant of ${names.get(g.client_id) ?? g.client_id}`, onclick: () => void act(ctx, 'Grant removed', () => mgmt.call('DELETE', `/client-grants/${enc(g.id)}`)) }, 'Remove'),
        ]),
        'No application may call this API with client credentials.'),
      machines.length ? grantForm : h('p', { class: 'empty' }, 'Create a Machine to Machine application to authorize it here.')),
  );
}

/** An API's permissions (its `scopes`): a table with "Remove" per row and a form to add one;
 * each change PATCHes the whole list, as the Management API replaces it. */
function permissions(ctx: Ctx, path: string, current: Json[]): HTMLElement {
  const save = (scopes: Json[], done: string): Promise<void> => act(ctx, done, () => ctx.api.call('PATCH', path, { scopes }));
  const value = h('input', { name: 'value', required: true, placeholder: 'read:messages', autocomplete: 'off' });
  const description = h('input', { name: 'description', placeholder: 'Read messages', autocomplete: 'off' });
  const add = h('form', { class: 'card-form', 'aria-label': 'Add a permission' },
    h('h3', {}, 'Add a permission'), field('Permission', value), field('Description', description),
    h('button', { type: 'submit' }, 'Add permission'));
  add.addEventListener('submit', (e) => {
    e.preventDefault();
    fieldError(add, null);
    void ctx.api
      .call('PATCH', path, { scopes: [...current, { value: value.value.trim(), description: description.value.trim() }] })
      .then(() => {
        ctx.notify('Permission added');
        ctx.go(location.hash);
      })
      .catch((err: Error) => fieldError(add, 'value', err.message));
  });
  return h('section', { 'aria-labelledby': 'permissions-title' },
    h('h2', { id: 'permissions-title' }, 'Permissions'),
    table('Permissions', ['Permission', 'Description', ''],
      current.map((s) => [
        h('code', {}, s.value),
        s.description || '—',
        h('button', { type: 'button', 'aria-label': `Remove permission ${s.value}`,
          onclick: () => void save(current.filter((o) => o.value !== s.value), 'Permission removed') }, 'Remove'),
      ]),
      'No permissions yet.'),
    add);
}

/** A grant's scopes as switches of the API's permissions, saved with `PATCH /client-grants/{id}`. */
function grantScopes(ctx: Ctx, g: Json, name: string, scopes: string[]): HTMLElement {
  const granted = new Set(g.scope as string[]);
  const boxes = scopes.map((s) => h('input', { type: 'checkbox', value: s, id: `grant-${g.id}-${s}`, checked: granted.has(s) }));
  const form = h('form', { class: 'grant-scopes', 'aria-label': `Scopes of ${name}` },
    h('fieldset', {}, h('legend', { class: 'visually-hidden' }, `Scopes of ${name}`),
      boxes.length ? boxes.map((b) => h('div', { class: 'field switch' }, b, h('label', { for: b.id }, b.value))) : h('span', {}, '—')),
    h('button', { type: 'submit', 'aria-label': `Save the scopes of ${name}` }, 'Save scopes'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const scope = boxes.filter((b) => b.checked).map((b) => b.value);
    void act(ctx, 'Scopes saved', () => ctx.api.call('PATCH', `/client-grants/${enc(g.id)}`, { scope }));
  });
  return form;
}

// ------------------------------------------------------------------ Logs

export async function logs(ctx: Ctx, params: URLSearchParams): Promise<void> {
  const type = h('select', { name: 'type' }, h('option', { value: '' }, 'All events'),
    Object.entries(EVENT_NAMES).map(([code, label]) => h('option', { value: code, selected: params.get('type') === code }, `${code} — ${label}`)));
  const userId = h('input', { name: 'user_id', value: params.get('user_id') ?? '' });
  const clientId = h('input', { name: 'client_id', value: params.get('client_id') ?? '' });
  const from = h('input', { type: 'datetime-local', name: 'from', value: params.get('from') ?? '' });
  const to = h('input', { type: 'datetime-local', name: 'to', value: params.get('to') ?? '' });
  const terms: string[] = [];
  if (params.get('type')) terms.push(`type:${params.get('type')}`);
  if (params.get('user_id')) terms.push(`user_id:"${params.get('user_id')}"`);
  if (params.get('client_id')) terms.push(`client_id:"${params.get('client_id')}"`);
  const iso = (v: string | null): string => (v ? new Date(v).toISOString() : '*');
  if (params.get('from') || params.get('to')) terms.push(`date:[${iso(params.get('from'))} TO ${iso(params.get('to'))}]`);
  const q = terms.length ? `&q=${enc(terms.join(' '))}` : '';
  const fetchRows = (): Promise<Json[]> => ctx.api.get<Json[]>(`/logs?per_page=100&sort=date:-1${q}`);
  const listed = await fetchRows();
  const live = h('input', { type: 'checkbox', id: 'f-live', role: 'switch', checked: params.get('live') === '1' });
  const form = h('form', { class: 'filters', 'aria-label': 'Filter logs' },
    field('Event type', type), field('User ID', userId), field('Client ID', clientId), field('From', from), field('To', to),
    h('div', { class: 'field switch' }, live, h('label', { for: 'f-live' }, 'Live')),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const el of [type, userId, clientId, from, to]) if (el.value) p.set(el.name, el.value);
    if (live.checked) p.set('live', '1');
    ctx.go(`#/logs?${p}`);
  });
  const rows = (list: Json[]): HTMLElement =>
    table('Logs', ['Date', 'Event', 'Description', 'User', 'Application'],
      list.map((l) => [
        when(l.date),
        h('span', {}, h('code', {}, l.type), ' — ', EVENT_NAMES[l.type] ?? l.type),
        l.description,
        l.user_id ? link(`#/users/${enc(l.user_id)}`, l.user_name ?? l.user_id) : '—',
        l.client_id ? link(`#/applications/${enc(l.client_id)}`, l.client_name ?? l.client_id) : '—',
      ]),
      'No events match.');
  const body = h('div', { 'aria-live': live.checked ? 'polite' : 'off' }, rows(listed));
  ctx.main.replaceChildren(heading('Logs'), form, body);
  // Live: follow new events every 3 seconds while this view is shown and the switch is on.
  const timer = window.setInterval(() => {
    if (!live.checked || !body.isConnected) return void (body.isConnected || clearInterval(timer));
    void fetchRows().then((list) => body.replaceChildren(rows(list)), () => undefined);
  }, 3000);
}

export function errorView(ctx: Ctx, e: unknown): void {
  const message = e instanceof ApiError ? `${e.message} (${e.status})` : e instanceof Error ? e.message : String(e);
  ctx.main.replaceChildren(heading('Something went wrong'), h('p', { class: 'error', role: 'alert' }, message));
}
