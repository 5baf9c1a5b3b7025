// The supervisor under load, inside a network namespace of its own (see supervisor.test.ts and
// bench/proxy-reload.ts): echo backends on pod addresses, the supervisor's HAProxy at the node
// address, clients sending requests without pause (half on keep-alive connections, half on a new
// connection each) while route changes (reloads) and endpoint changes (runtime API) are applied.
// Every request must get 200 from the pool its header selects. Then the master is killed and
// must come back. Prints a JSON summary.
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildModel } from '../../src/model/build.ts';
import { compileTables } from '../../src/tables/compile.ts';
import { ProxySupervisor, type ApplyResult } from '../../src/proxy/supervisor.ts';
import { startEchoServers, type Echoed } from './echo.ts';
import { randomStream } from './random-routes.ts';

type Obj = Record<string, unknown>;

export const NODE_IP = '10.0.0.1';
const NS = 'load';
const POD_COUNT = 40;
/** Each pool keeps between these many endpoints, so its 8 primary slots suffice (no growth reload). */
const MIN_ENDPOINTS = 2;
const MAX_ENDPOINTS = 8;

export interface SupervisorSummary {
  routeChanges: number;
  endpointChanges: number;
  weightChanges: number;
  /** After the last weight change (b0 weight 0), every split request went to b1. */
  finalWeightsRespected: boolean;
  requests: number;
  failed: number;
  failures: string[];
  byAction: Record<string, number>;
  reloadMs: { p50: number; p99: number; max: number };
  runtimeMs: { p50: number; p99: number; max: number };
  stats: ProxySupervisor['stats'];
  finalPoolsRespected: boolean;
  restartedAfterKill: boolean;
  configAfterKillIsCurrent: boolean;
}

const podIp = (pool: number, i: number) => `10.244.${pool + 1}.${i + 1}`;

interface State {
  /** Per pool (b0, b1): endpoint index -> ready (true) or serving-terminating (false). */
  endpoints: Map<number, boolean>[];
  routeVersion: number;
  /** The split rule's backendRef weights (b0, b1); never both 0. */
  split: [number, number];
}

function objects(state: State): Obj[] {
  const out: Obj[] = [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'front', namespace: NS }, spec: { ports: [{ port: 80 }] } },
  ];
  state.endpoints.forEach((eps, pool) => {
    const name = `b${pool}`;
    out.push({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { ports: [{ port: 8080 }] } });
    out.push({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${name}-slice`, namespace: NS, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4', ports: [{ name: '', port: 8080, protocol: 'TCP' }],
      endpoints: [...eps].sort((a, b) => a[0] - b[0]).map(([i, ready]) => ({
        addresses: [podIp(pool, i)],
        conditions: ready ? { ready: true } : { ready: false, serving: true, terminating: true },
      })),
    });
  });
  // The route: x-v: 2 goes to b1, x-v: split to b0 and b1 by weight, everything else to b0; each version adds a rule of its own
  // (a path nobody requests), so every route change is a new configuration and a reload.
  out.push({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'front', namespace: NS },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: 'front', port: 80 }],
      rules: [
        { matches: [{ path: { type: 'Exact', value: `/version-${state.routeVersion}` } }], backendRefs: [{ name: 'b1', port: 8080 }] },
        { matches: [{ headers: [{ name: 'x-v', value: '2' }] }], backendRefs: [{ name: 'b1', port: 8080 }] },
        { matches: [{ headers: [{ name: 'x-v', value: 'split' }] }], backendRefs: [{ name: 'b0', port: 8080, weight: state.split[0] }, { name: 'b1', port: 8080, weight: state.split[1] }] },
        { backendRefs: [{ name: 'b0', port: 8080 }], filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-route-version', value: String(state.routeVersion) }] } }] },
      ],
    },
  });
  return out;
}

function tablesOf(state: State) {
  return compileTables(buildModel(objects(state).map((object, doc) => ({ file: 'load', doc, object }))));
}

/** One change: add, remove or flip an endpoint of a pool, keeping it within bounds and with one ready. */
function endpointChange(state: State, r: () => number): void {
  const pool = r() % 2;
  const eps = state.endpoints[pool]!;
  const ready = [...eps.values()].filter(Boolean).length;
  const kind = r() % 3;
  if ((kind === 0 && eps.size < MAX_ENDPOINTS) || eps.size < MIN_ENDPOINTS) {
    let i = r() % POD_COUNT;
    while (eps.has(i)) i = (i + 1) % POD_COUNT;
    eps.set(i, true);
  } else if (kind === 1 && eps.size > MIN_ENDPOINTS) {
    const candidates = [...eps.keys()].filter((i) => !(eps.get(i) && ready === 1));
    eps.delete(candidates[r() % candidates.length]!);
  } else {
    const candidates = [...eps.keys()].filter((i) => !(eps.get(i) && ready === 1));
    const i = candidates[r() % candidates.length]!;
    eps.set(i, !eps.get(i));
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Client { stop(): Promise<void>; requests: number; failures: string[] }

/** A client sending requests back to back; `pool` says which pool's addresses may answer. */
type Kind = 'plain' | 'canary' | 'split';
const HEADERS: Record<Kind, Record<string, string>> = { plain: {}, canary: { 'x-v': '2' }, split: { 'x-v': 'split' } };
const ANSWERS: Record<Kind, RegExp> = { plain: /^10\.244\.1\./, canary: /^10\.244\.2\./, split: /^10\.244\.[12]\./ };

function client(port: number, keepAlive: boolean, kind: Kind): Client {
  const agent = new http.Agent({ keepAlive, maxSockets: 1 });
  const c: Client = { requests: 0, failures: [], stop: async () => undefined };
  let running = true;
  const one = () => new Promise<void>((resolve) => {
    const req = http.request({ host: NODE_IP, port, path: '/', agent, headers: HEADERS[kind] }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        c.requests++;
        if (res.statusCode !== 200) c.failures.push(`status ${res.statusCode}`);
        else {
          const address = (JSON.parse(body) as Echoed).address;
          if (!ANSWERS[kind].test(address)) c.failures.push(`${kind} request answered by ${address}`);
        }
        resolve();
      });
    });
    req.on('error', (error) => {
      c.requests++;
      c.failures.push(error.message);
      resolve();
    });
    req.end();
  });
  const loop = (async () => {
    while (running) await one();
  })();
  c.stop = async () => {
    running = false;
    await loop;
    agent.destroy();
  };
  return c;
}

async function served(port: number, kind: Kind, n: number): Promise<Set<string>> {
  const addresses = new Set<string>();
  const agent = new http.Agent({ keepAlive: false });
  for (let i = 0; i < n; i++) {
    const body = await new Promise<string>((resolve, reject) => {
      http.get({ host: NODE_IP, port, path: '/', agent, headers: HEADERS[kind] }, (res) => {
        let b = '';
        res.on('data', (d) => { b += d; });
        res.on('end', () => resolve(b));
      }).on('error', reject);
    });
    addresses.add((JSON.parse(body) as Echoed).address);
  }
  return addresses;
}

async function main(): Promise<void> {
  const routeChanges = Number(process.env.MESHC_PROXY_ROUTE_CHANGES ?? 10);
  const endpointChanges = Number(process.env.MESHC_PROXY_ENDPOINT_CHANGES ?? 100);
  const weightChanges = Number(process.env.MESHC_PROXY_WEIGHT_CHANGES ?? 20);
  const clients = Number(process.env.MESHC_PROXY_CLIENTS ?? 4);
  const r = randomStream(Number(process.env.MESHC_PROXY_SEED ?? 3));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshc-proxy-supervisor-'));
  const echoAddresses = [0, 1].flatMap((pool) => Array.from({ length: POD_COUNT }, (_, i) => ({ ip: podIp(pool, i), port: 8080 })));
  const echo = await startEchoServers(echoAddresses);
  const state: State = { endpoints: [new Map([[0, true], [1, true], [2, true]]), new Map([[0, true], [1, true]])], routeVersion: 0, split: [1, 1] };
  const supervisor = new ProxySupervisor({ dir, bindAddress: NODE_IP, restartDelayMs: 200, ...(process.env.MESHC_HAPROXY ? { bin: process.env.MESHC_HAPROXY } : {}) });
  const results: ApplyResult[] = [];
  const summary: SupervisorSummary = {
    routeChanges, endpointChanges, weightChanges, finalWeightsRespected: false, requests: 0, failed: 0, failures: [], byAction: {},
    reloadMs: { p50: 0, p99: 0, max: 0 }, runtimeMs: { p50: 0, p99: 0, max: 0 }, stats: supervisor.stats,
    finalPoolsRespected: false, restartedAfterKill: false, configAfterKillIsCurrent: false,
  };
  try {
    const first = await supervisor.apply(tablesOf(state));
    if (first.plan.listeners.length !== 1) throw new Error(`expected one listener, got ${first.plan.listeners.length}`);
    const port = 15001;
    const kinds: Kind[] = ['plain', 'canary', 'split'];
    const load = Array.from({ length: Math.max(clients, 3) }, (_, k) => client(port, k % 2 === 0, kinds[k % 3]!));
    // Route, endpoint and weight changes interleaved evenly, in a random order.
    const changes: ('route' | 'endpoint' | 'weight')[] = [
      ...Array<'route'>(routeChanges).fill('route'), ...Array<'endpoint'>(endpointChanges).fill('endpoint'), ...Array<'weight'>(weightChanges).fill('weight'),
    ];
    for (let i = changes.length - 1; i > 0; i--) {
      const j = r() % (i + 1);
      [changes[i], changes[j]] = [changes[j]!, changes[i]!];
    }
    let weightsLeft = weightChanges;
    for (const change of changes) {
      if (change === 'route') state.routeVersion++;
      else if (change === 'endpoint') endpointChange(state, r);
      else {
        weightsLeft--;
        // The last weight change leaves b0 at 0, so the split is checked exactly afterwards.
        state.split = weightsLeft === 0 ? [0, 1 + (r() % 5)] : [r() % 6, 1 + (r() % 5)];
      }
      results.push(await supervisor.apply(tablesOf(state)));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const c of load) await c.stop();
    summary.requests = load.reduce((n, c) => n + c.requests, 0);
    summary.failures = load.flatMap((c) => c.failures).slice(0, 20);
    summary.failed = load.reduce((n, c) => n + c.failures.length, 0);
    for (const res of results) summary.byAction[res.action] = (summary.byAction[res.action] ?? 0) + 1;
    const times = (action: string) => results.filter((x) => x.action === action).map((x) => x.ms);
    for (const [key, action] of [['reloadMs', 'reload'], ['runtimeMs', 'runtime']] as const) {
      summary[key] = { p50: percentile(times(action), 50), p99: percentile(times(action), 99), max: Math.max(0, ...times(action)) };
    }
    // Only the current endpoints answer: ready ones while a pool has any.
    const expected = (pool: number) => new Set([...state.endpoints[pool]!].filter(([, ready]) => ready).map(([i]) => podIp(pool, i)));
    const got = [await served(port, 'plain', 120), await served(port, 'canary', 120)];
    summary.finalWeightsRespected = weightChanges === 0 || [...await served(port, 'split', 60)].every((a) => a.startsWith('10.244.2.'));
    summary.finalPoolsRespected = got.every((set, pool) => [...set].every((a) => expected(pool).has(a)) && set.size === expected(pool).size);
    // The master killed: the supervisor starts it again from the current configuration.
    const before = readFileSync(supervisor.configFile, 'utf8');
    process.kill(supervisor.masterPid!, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (supervisor.stats.restarts === 1 && supervisor.running) {
        try {
          const after = await served(port, 'canary', 5);
          summary.restartedAfterKill = [...after].every((a) => expected(1).has(a));
          break;
        } catch {
          // the new worker is not listening yet
        }
      }
    }
    summary.configAfterKillIsCurrent = readFileSync(supervisor.configFile, 'utf8') === before;
  } finally {
    await supervisor.stop();
    await echo.close();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

await main();
