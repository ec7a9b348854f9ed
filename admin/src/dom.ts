/** A tiny DOM builder: elements from a tag, attributes and children; text is always text. */
export type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
  }
  return el;
}

/** A labelled input: `<label>text <input></label>` plus a slot for the server's message. */
export function field(label: string, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  const id = `f-${(input.name || label).replace(/\W+/g, '-')}`;
  input.id = id;
  const error = h('p', { class: 'field-error', id: `${id}-error`, role: 'alert', hidden: true });
  input.setAttribute('aria-describedby', `${id}-error`);
  return h('div', { class: 'field', 'data-field': input.name }, h('label', { for: id }, label), input, hint ? h('p', { class: 'hint' }, hint) : null, error);
}

/** Shows `message` next to the field named `name` in `form` (or clears every message). */
export function fieldError(form: HTMLElement, name: string | null, message = ''): void {
  for (const p of form.querySelectorAll<HTMLElement>('.field-error')) {
    p.hidden = true;
    p.textContent = '';
  }
  if (!name) return;
  const p = form.querySelector<HTMLElement>(`[data-field="${name}"] .field-error`);
  if (p) {
    p.textContent = message;
    p.hidden = false;
  }
}

export function table(caption: string, headers: string[], rows: Child[][], empty: string): HTMLElement {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) => h('td', { 'data-label': headers[i] }, c))))),
    ),
  );
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
