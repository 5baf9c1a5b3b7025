// The latency chart, drawn by hand as SVG: one panel per scenario, one row per setup, a dot per
// percentile (p50, p90, p99, p99.9) on a log-scale time axis shared by the panels.
import type { Latency } from './lib/load.ts';

export interface ChartRow {
  label: string;
  latencyUs: Pick<Latency, 'p50' | 'p90' | 'p99' | 'p999'>;
}

export interface ChartPanel {
  title: string;
  rows: ChartRow[];
}

const PERCENTILES = [
  { key: 'p50', label: 'p50', color: '#1b7837', shape: 'circle' },
  { key: 'p90', label: 'p90', color: '#2166ac', shape: 'square' },
  { key: 'p99', label: 'p99', color: '#d6604d', shape: 'diamond' },
  { key: 'p999', label: 'p99.9', color: '#762a83', shape: 'triangle' },
] as const;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function marker(shape: string, x: number, y: number, color: string): string {
  const r = 5;
  switch (shape) {
    case 'square':
      return `<rect x="${(x - r + 0.5).toFixed(1)}" y="${(y - r + 0.5).toFixed(1)}" width="${2 * r - 1}" height="${2 * r - 1}" fill="${color}"/>`;
    case 'diamond':
      return `<path d="M${x.toFixed(1)} ${y - r - 1}L${(x + r + 1).toFixed(1)} ${y}L${x.toFixed(1)} ${y + r + 1}L${(x - r - 1).toFixed(1)} ${y}Z" fill="${color}"/>`;
    case 'triangle':
      return `<path d="M${x.toFixed(1)} ${y - r - 1}L${(x + r + 1).toFixed(1)} ${y + r}L${(x - r - 1).toFixed(1)} ${y + r}Z" fill="${color}"/>`;
    default:
      return `<circle cx="${x.toFixed(1)}" cy="${y}" r="${r}" fill="${color}"/>`;
  }
}

function formatUs(us: number): string {
  if (us >= 1_000_000) return `${us / 1_000_000} s`;
  if (us >= 1000) return `${us / 1000} ms`;
  return `${us} µs`;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** A log-scale dot plot of latency percentiles; `caption` goes under the title. */
export function latencyChart(title: string, caption: string, panels: ChartPanel[]): string {
  const width = 860;
  const left = 250;
  const right = 30;
  const rowH = 26;
  const panelGap = 44;
  const top = 78;
  const values = panels.flatMap((p) => p.rows.flatMap((r) => PERCENTILES.map((q) => r.latencyUs[q.key]))).filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...values))));
  const hi = Math.pow(10, Math.max(Math.ceil(Math.log10(Math.max(...values))), Math.log10(lo) + 1));
  const plotW = width - left - right;
  const xOf = (v: number) => left + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotW;

  const out: string[] = [];
  const bands: string[] = [];
  let y = top;
  const panelTops: Array<{ top: number; bottom: number }> = [];
  for (const panel of panels) {
    out.push(`<text x="12" y="${y - 10}" font-weight="bold">${esc(panel.title)}</text>`);
    const start = y;
    panel.rows.forEach((row, i) => {
      const cy = y + i * rowH + rowH / 2;
      if (i % 2 === 0) bands.push(`<rect x="${left}" y="${cy - rowH / 2}" width="${plotW}" height="${rowH}" fill="#f4f4f4"/>`);
      out.push(`<text x="${left - 10}" y="${cy + 4}" text-anchor="end">${esc(row.label)}</text>`);
      const xs = PERCENTILES.map((q) => xOf(row.latencyUs[q.key]));
      out.push(`<line x1="${Math.min(...xs).toFixed(1)}" y1="${cy}" x2="${Math.max(...xs).toFixed(1)}" y2="${cy}" stroke="#999"/>`);
      PERCENTILES.forEach((q, k) => {
        const v = row.latencyUs[q.key];
        if (Number.isFinite(v) && v > 0) out.push(`${marker(q.shape, xs[k]!, cy, q.color)}<title>${esc(`${row.label} ${q.label}: ${v.toFixed(0)} µs`)}</title>`);
      });
    });
    y += panel.rows.length * rowH;
    panelTops.push({ top: start, bottom: y });
    y += panelGap;
  }
  const bottom = panelTops[panelTops.length - 1]?.bottom ?? top;
  const captionLines = wrap(caption, 130);
  const height = bottom + 50 + captionLines.length * 14;
  const grid: string[] = [];
  for (let decade = lo; decade <= hi; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const v = decade * m;
      if (v > hi) break;
      const x = xOf(v);
      for (const p of panelTops) grid.push(`<line x1="${x.toFixed(1)}" y1="${p.top}" x2="${x.toFixed(1)}" y2="${p.bottom}" stroke="${m === 1 ? '#bbb' : '#e2e2e2'}"/>`);
      if (m === 1) grid.push(`<text x="${x.toFixed(1)}" y="${bottom + 16}" text-anchor="middle" fill="#555">${formatUs(v)}</text>`);
    }
  }
  const legend = PERCENTILES.map((q, i) => `${marker(q.shape, left + 20 + i * 90, 48, q.color)}<text x="${left + 32 + i * 90}" y="52">${q.label}</text>`).join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="12" y="22" font-size="16" font-weight="bold">${esc(title)}</text>`,
    ...captionLines.map((line, i) => `<text x="12" y="${bottom + 52 + i * 14}" fill="#555" font-size="11">${esc(line)}</text>`),
    legend,
    ...bands,
    ...grid,
    ...out,
    `<text x="${left + plotW / 2}" y="${bottom + 32}" text-anchor="middle" fill="#555" font-size="11">latency (log scale)</text>`,
    '</svg>',
    '',
  ].join('\n');
}
