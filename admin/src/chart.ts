/** An SVG line chart of event counts per time bucket (a picture, with a text summary for screen readers). */
export interface Series {
  label: string;
  /** CSS class of its line and legend swatch. */
  cls: string;
  /** Event times (ms since the epoch). */
  dates: number[];
}

const NS = 'http://www.w3.org/2000/svg';

function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export function chart(start: number, bucketMs: number, buckets: number, series: Series[]): HTMLElement {
  const W = 720;
  const H = 220;
  const pad = { l: 36, r: 8, t: 10, b: 24 };
  const counts = series.map((s) => {
    const c = new Array<number>(buckets).fill(0);
    for (const d of s.dates) {
      const i = Math.floor((d - start) / bucketMs);
      if (i >= 0 && i < buckets) c[i]! += 1;
    }
    return c;
  });
  const top = Math.max(1, ...counts.flat());
  const x = (i: number): number => pad.l + (i / (buckets - 1)) * (W - pad.l - pad.r);
  const y = (n: number): number => H - pad.b - (n / top) * (H - pad.t - pad.b);
  const summary = series.map((s, i) => `${s.label}: ${counts[i]!.reduce((a, b) => a + b, 0)}`).join(', ');
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `Per 15 minutes over the last 24 hours. ${summary}` });
  for (const n of [0, top]) {
    root.append(svg('line', { x1: pad.l, x2: W - pad.r, y1: y(n), y2: y(n), class: 'grid' }));
    root.append(svg('text', { x: pad.l - 6, y: y(n) + 4, class: 'axis', 'text-anchor': 'end' }, String(n)));
  }
  for (const [i, label] of [[0, '24 h ago'], [buckets - 1, 'now']] as const) {
    root.append(svg('text', { x: x(i), y: H - 6, class: 'axis', 'text-anchor': i === 0 ? 'start' : 'end' }, label));
  }
  series.forEach((s, k) => {
    const points = counts[k]!.map((n, i) => `${x(i).toFixed(1)},${y(n).toFixed(1)}`).join(' ');
    root.append(svg('polyline', { points, class: `series ${s.cls}` }));
  });
  const legend = document.createElement('ul');
  legend.className = 'legend';
  series.forEach((s, k) => {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = `swatch ${s.cls}`;
    li.append(sw, `${s.label} (${counts[k]!.reduce((a, b) => a + b, 0)})`);
    legend.append(li);
  });
  const figure = document.createElement('figure');
  figure.append(root, legend);
  return figure;
}
