// The request panel's result: the deciding HTTPRoute rule, refusals, and a bar chart of where the
// connections went, per backend Service and per pod. Plain HTML bars.

import { servedLines, type SimulateResult } from '../sim/simulate.ts';
import { countsByService } from '../policy-tests/evaluate.ts';
import { networkLines } from '../netpol/simulate.ts';

export interface ResultElements {
  route: HTMLElement;
  refused: HTMLElement;
  chart: HTMLElement;
  warnings: HTMLElement;
}

const HUES = [210, 28, 140, 280, 350, 180, 60, 100];

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function share(count: number, total: number): number {
  return total > 0 ? count / total : 0;
}

function barRow(kind: 'service' | 'pod' | 'refused', label: string, count: number, total: number, hue: number, data: Record<string, string>): HTMLTableRowElement {
  const fraction = share(count, total);
  const row = el('tr', { class: kind, 'data-count': String(count), 'data-share': fraction.toFixed(4), ...data });
  row.append(el('th', { scope: 'row' }, label));
  const cell = el('td', { class: 'bar-cell' });
  const bar = el('span', { class: 'bar' });
  bar.style.width = `${(100 * fraction).toFixed(2)}%`;
  bar.style.setProperty('--hue', String(hue));
  cell.append(bar);
  row.append(cell, el('td', { class: 'num' }, String(count)), el('td', { class: 'num' }, `${(100 * fraction).toFixed(1)}%`));
  return row;
}

export function renderResult(els: ResultElements, outcome: { result: SimulateResult } | { problem: string }): void {
  els.chart.replaceChildren();
  els.warnings.replaceChildren();
  if ('problem' in outcome) {
    els.route.textContent = outcome.problem;
    els.route.className = 'problem';
    els.refused.textContent = '';
    return;
  }
  const r = outcome.result;
  const unit = r.route || r.status === 404 ? 'requests' : 'connections';
  els.route.className = '';
  els.route.replaceChildren();
  if (r.route) {
    els.route.append('HTTPRoute ', el('strong', { id: 'route-name' }, `${r.route.namespace}/${r.route.name}`), ', rule ', el('strong', { id: 'route-rule' }, String(r.route.rule)));
  } else if (r.status === 404) {
    els.route.textContent = 'No HTTPRoute rule matches this request: every request gets 404.';
  } else {
    els.route.textContent = `No HTTPRoute applies: plain Service load balancing (ClusterIP ${r.service.clusterIP}).`;
  }
  for (const line of servedLines(r)) els.route.append(el('div', { class: 'served' }, line.trim()));
  for (const line of networkLines(r.networkPolicy)) els.route.append(el('div', { class: 'served network-policy' }, line.trim()));
  const reasons = Object.entries(r.refusedReasons).map(([reason, n]) => `${reason}: ${n}`).join(', ');
  els.refused.textContent = `${r.connections} ${unit} to ${r.service.namespace}/${r.service.name}:${r.service.port}, ${r.refused} refused${reasons ? ` (${reasons})` : ''}.`;

  const table = el('table', { class: 'bars' });
  table.append(el('caption', {}, `Where the ${unit} went`));
  const head = el('tr');
  for (const h of ['Backend', '', 'Count', 'Share']) head.append(el('th', { scope: 'col' }, h));
  const thead = el('thead');
  thead.append(head);
  table.append(thead);
  const body = el('tbody');
  const services = countsByService(r);
  const hueOf = new Map<string, number>();
  [...new Set(r.backends.map((b) => b.service))].forEach((s, i) => hueOf.set(s, HUES[i % HUES.length]!));
  for (const service of [...hueOf.keys()]) {
    const count = services.find(([s]) => s === service)?.[1] ?? 0;
    body.append(barRow('service', service, count, r.connections, hueOf.get(service)!, { 'data-service': service }));
    for (const b of r.backends.filter((x) => x.service === service)) {
      const label = `${b.pod ?? '(no pod)'} ${b.ip}:${b.port}`;
      body.append(barRow('pod', label, b.count, r.connections, hueOf.get(service)!, { 'data-service': service, 'data-pod': b.pod ?? '' }));
    }
  }
  if (r.refused > 0) body.append(barRow('refused', `refused${reasons ? ` (${reasons})` : ''}`, r.refused, r.connections, 0, { 'data-refused': 'true' }));
  table.append(body);
  els.chart.append(table);
  for (const w of r.warnings) els.warnings.append(el('li', {}, w));
}
