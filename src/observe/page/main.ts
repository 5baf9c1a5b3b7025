// The live service map: reads the agent's /flows stream (same origin) and draws Services and pods
// as a graph (cytoscape), a flow table and per-Service charts (uPlot). Memory is bounded: the
// table keeps the last FLOW_ROWS flows, each edge the last WINDOW per-second counts, each chart
// the last POINTS seconds, and at most MAX_NODES nodes and MAX_CHARTS charts.
import cytoscape from 'cytoscape';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Flow, Verdict } from '../flow.ts';
import type { EdgeCount, ServiceSecond, Tick } from '../summary.ts';

const FLOW_ROWS = 200;
const WINDOW = 30;
const POINTS = 120;
const MAX_NODES = 300;
const MAX_CHARTS = 12;
const COLORS: Record<Verdict, string> = { translated: '#2f9e62', redirected: '#3a7bd5', refused: '#e8893a', denied: '#d64545', authenticated: '#8a5cd6' };

const $ = (id: string) => document.getElementById(id)!;

interface EdgeState {
  from: string;
  to: string;
  /** Per-second counts, newest last, at most WINDOW. */
  counts: number[];
  verdicts: Partial<Record<Verdict, number>>[];
}

const edges = new Map<string, EdgeState>();
const cy = cytoscape({
  container: $('map'),
  style: [
    { selector: 'node', style: { label: 'data(label)', 'font-size': 10, 'text-wrap': 'wrap', 'text-max-width': '140px', 'background-color': '#9aa4b5', width: 18, height: 18 } },
    { selector: 'node[kind = "service"]', style: { shape: 'round-rectangle', 'background-color': '#3a7bd5', width: 28, height: 20 } },
    { selector: 'node[kind = "pod"]', style: { 'background-color': '#2f9e62' } },
    { selector: 'edge', style: { width: 'data(width)', 'line-color': 'data(color)', 'target-arrow-color': 'data(color)', 'target-arrow-shape': 'triangle', 'curve-style': 'bezier', label: 'data(label)', 'font-size': 9 } },
  ],
  layout: { name: 'grid' },
});

let layoutDue = false;

function nodeKind(id: string): string {
  return id.slice(0, id.indexOf(' '));
}

function ensureNode(id: string): void {
  if (cy.getElementById(id).nonempty()) return;
  if (cy.nodes().length >= MAX_NODES) return;
  cy.add({ group: 'nodes', data: { id, kind: nodeKind(id), label: id.slice(id.indexOf(' ') + 1) } });
  layoutDue = true;
}

function dominant(verdicts: Partial<Record<Verdict, number>>[]): Verdict {
  const sum = new Map<Verdict, number>();
  for (const v of verdicts) for (const [k, n] of Object.entries(v) as [Verdict, number][]) sum.set(k, (sum.get(k) ?? 0) + n);
  let best: Verdict = 'translated';
  let most = -1;
  for (const [k, n] of sum) if (n > most) [best, most] = [k, n];
  return best;
}

function applyEdges(tickEdges: EdgeCount[]): void {
  const seen = new Set<string>();
  for (const e of tickEdges) {
    const key = `${e.from}\u0000${e.to}`;
    seen.add(key);
    let state = edges.get(key);
    if (!state) edges.set(key, (state = { from: e.from, to: e.to, counts: [], verdicts: [] }));
    state.counts.push(e.count);
    state.verdicts.push(e.verdicts);
  }
  for (const [key, state] of edges) {
    if (!seen.has(key)) {
      state.counts.push(0);
      state.verdicts.push({});
    }
    if (state.counts.length > WINDOW) {
      state.counts.shift();
      state.verdicts.shift();
    }
    const total = state.counts.reduce((a, b) => a + b, 0);
    const id = `e ${key}`;
    if (total === 0) {
      edges.delete(key);
      cy.getElementById(id).remove();
      continue;
    }
    ensureNode(state.from);
    ensureNode(state.to);
    if (cy.getElementById(state.from).empty() || cy.getElementById(state.to).empty()) continue;
    const data = { width: 1 + Math.log2(1 + total), color: COLORS[dominant(state.verdicts)], label: String(total), count: total };
    const edge = cy.getElementById(id);
    if (edge.empty()) cy.add({ group: 'edges', data: { id, source: state.from, target: state.to, ...data } });
    else edge.data(data);
  }
  // Nodes with no edge left go too.
  cy.nodes().filter((n) => n.connectedEdges().empty()).remove();
  if (layoutDue) {
    layoutDue = false;
    cy.layout({ name: 'breadthfirst', directed: true, spacingFactor: 1.1, animate: false }).run();
  }
  renderEdgeTable();
}

function renderEdgeTable(): void {
  const rows = [...edges.values()]
    .map((e) => ({ e, total: e.counts.reduce((a, b) => a + b, 0), verdict: dominant(e.verdicts) }))
    .sort((a, b) => (a.e.from + a.e.to < b.e.from + b.e.to ? -1 : 1));
  const body = ($('edges') as HTMLTableElement).tBodies[0]!;
  body.replaceChildren(...rows.map(({ e, total, verdict }) => {
    const sums = new Map<string, number>();
    for (const v of e.verdicts) for (const [k, n] of Object.entries(v)) sums.set(k, (sums.get(k) ?? 0) + (n ?? 0));
    const tr = row([e.from, e.to, String(total), [...sums].map(([k, n]) => `${k} ${n}`).join(', ')]);
    tr.className = `v-${verdict}`;
    tr.dataset.from = e.from;
    tr.dataset.to = e.to;
    tr.dataset.count = String(total);
    return tr;
  }));
}

function row(cells: string[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  for (const text of cells) {
    const td = document.createElement('td');
    td.textContent = text;
    td.title = text;
    tr.append(td);
  }
  return tr;
}

function addFlow(f: Flow): void {
  const body = ($('flows') as HTMLTableElement).tBodies[0]!;
  const client = f.source.pod ? `${f.source.pod.namespace}/${f.source.pod.name}` : (f.source.address ?? f.source.cgroup ?? '?');
  const backend = f.destination.backend ? (f.destination.backend.pod ?? f.destination.backend.address ?? '?') : '';
  const tr = row([
    f.time.slice(11, 23), f.layer, client, f.destination.service ?? '?',
    f.http ? (f.http.route ? `${f.http.route} #${f.http.rule}` : 'no route') : '',
    backend, f.http ? `${f.http.method} ${f.http.path}` : f.identity ? `${f.event} ${f.identity.source ?? '?'} -> ${f.identity.destination ?? '?'}` : (f.event ?? f.protocol),
    f.http ? String(f.http.status) : '', f.http ? String(f.http.durationMs) : '',
    f.reason ? `${f.verdict} (${f.reason})` : f.verdict,
  ]);
  tr.className = `v-${f.verdict}`;
  body.prepend(tr);
  while (body.rows.length > FLOW_ROWS) body.deleteRow(body.rows.length - 1);
}

interface Chart {
  plot: uPlot;
  data: number[][];
}

const charts = new Map<string, Chart>();

function chartFor(service: string): Chart | undefined {
  let chart = charts.get(service);
  if (chart || charts.size >= MAX_CHARTS) return chart;
  const box = document.createElement('div');
  box.className = 'chart';
  box.dataset.service = service;
  const title = document.createElement('h3');
  title.textContent = service;
  box.append(title);
  $('charts').append(box);
  const data: number[][] = [[], [], [], [], [], []];
  const plot = new uPlot({
    width: 260,
    height: 120,
    legend: { show: true },
    scales: { x: { time: true }, ms: { auto: true } },
    axes: [{ show: false }, { size: 36 }, { scale: 'ms', side: 1, size: 36 }],
    series: [
      {},
      { label: 'req/s', stroke: '#3a7bd5' },
      { label: 'err/s', stroke: '#d64545' },
      { label: 'p50', stroke: '#2f9e62', scale: 'ms' },
      { label: 'p90', stroke: '#8a5cd6', scale: 'ms' },
      { label: 'p99', stroke: '#e8893a', scale: 'ms' },
    ],
  }, data as uPlot.AlignedData, box);
  charts.set(service, (chart = { plot, data }));
  return chart;
}

function applyServices(time: number, services: ServiceSecond[]): void {
  const byName = new Map(services.map((s) => [s.service, s]));
  for (const s of services) chartFor(s.service);
  for (const [name, chart] of charts) {
    const s = byName.get(name);
    const values = [time / 1000, s?.requests ?? 0, s?.errors ?? 0, s?.p50 ?? null, s?.p90 ?? null, s?.p99 ?? null];
    values.forEach((v, i) => chart.data[i]!.push(v as number));
    if (chart.data[0]!.length > POINTS) for (const series of chart.data) series.shift();
    chart.plot.setData(chart.data as uPlot.AlignedData);
    chart.plot.root.dataset.requests = String(chart.data[1]!.reduce((a, b) => a + b, 0));
  }
}

let lostTotal = 0;
let source: EventSource | undefined;

function connect(): void {
  source?.close();
  const filter = ($('filter') as HTMLInputElement).value.trim();
  source = new EventSource(`/flows?recent=1&max=200${filter ? `&${filter}` : ''}`);
  source.onopen = () => {
    $('status').textContent = 'live';
    $('status').className = 'status ok';
  };
  source.onerror = () => {
    $('status').textContent = 'disconnected (retrying)';
    $('status').className = 'status bad';
  };
  source.addEventListener('flow', (e) => addFlow(JSON.parse((e as MessageEvent<string>).data) as Flow));
  source.addEventListener('lost', (e) => {
    const { count } = JSON.parse((e as MessageEvent<string>).data) as { count: number; why: string };
    lostTotal += count;
    $('lost').textContent = `lost ${lostTotal}`;
    $('lost').className = 'lost some';
  });
  source.addEventListener('tick', (e) => {
    const tick = JSON.parse((e as MessageEvent<string>).data) as Tick & { sampledOut: number };
    $('rates').textContent = `${tick.flows} flows/s${tick.sampledOut > 0 ? ` (${tick.sampledOut} not listed)` : ''}`;
    applyEdges(tick.edges);
    applyServices(tick.time, tick.services);
  });
}

$('filter').addEventListener('change', connect);
$('window-s').textContent = String(WINDOW);
$('flow-cap').textContent = String(FLOW_ROWS);
connect();

/** For the browser test and people at the console: what the graph holds now. */
(window as unknown as { meshcObserve: unknown }).meshcObserve = {
  edges: () => cy.edges().map((e) => ({ from: e.source().id(), to: e.target().id(), count: e.data('count') as number, color: e.data('color') as string })),
  nodes: () => cy.nodes().map((n) => n.id()),
};
