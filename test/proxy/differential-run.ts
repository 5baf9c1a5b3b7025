// The differential run, inside a network namespace of its own (see differential.test.ts): the
// same requests through the Wasm matcher (reference.ts) and through a real HAProxy on the
// generated configuration, with echo backends on pod addresses. Prints a JSON summary.
//
// Two sets: random routes (one frontend Service per scenario, all in one HAProxy), and the
// Gateway API conformance cases that apply to a mesh (one HAProxy per case: each case has its
// own Services).
import http from 'node:http';
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel } from '../../src/model/build.ts';
import type { Model } from '../../src/model/types.ts';
import { formatDiagnostic } from '../../src/model/diagnostics.ts';
import { compileTables } from '../../src/tables/compile.ts';
import { planProxy, type ListenerPlan } from '../../src/proxy/plan.ts';
import { haproxyConfig } from '../../src/proxy/haproxy-config.ts';
import { assignListenerPorts } from '../../src/proxy/ports.ts';
import { parseRequestTarget } from '../../src/l7/encode.ts';
import { createL7Matcher, type L7Matcher } from '../../src/l7/matcher.ts';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import { ECHO_RESPONSE_HEADERS, startEchoServers, type Echoed } from './echo.ts';
import { startHaproxy } from './haproxy-process.ts';
import { comparableHeaders, HOP_HEADERS, referenceOutcome, type Outcome } from './reference.ts';
import type { PolicyInstance } from '../../src/wasm/instance.ts';
import { BACKENDS, chance, EMPTY_BACKEND, randomRequest, randomRoutes, randomStream, type RandomRequest, type Random } from './random-routes.ts';

type Obj = Record<string, any>;

export const NODE_IP = '10.0.0.1';
export const PICK_HEADER = 'x-meshc-pick';
const NAMESPACE = 'diff';
const CONSUMER_NAMESPACE = 'client';

export interface Mismatch {
  set: string;
  listener: string;
  request: RandomRequest & { pick: number };
  wasm: Outcome;
  haproxy: Outcome;
}

/** How many answers the filters changed, by what they changed, and how many requests went over h2c. */
export interface FilterCounts { redirects: number; rewrittenTargets: number; editedRequestHeaders: number; editedResponseHeaders: number; h2c: number }

export interface DifferentialSummary {
  random: { scenarios: number; requests: number; byStatus: Record<string, number>; filtered: FilterCounts; consumerListeners: number };
  conformance: { applicable: number; skipped: Record<string, string>; requests: number; expectationFailures: string[]; meshSemantics: string[] };
  mismatches: Mismatch[];
  reports: string[];
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

interface Answer { status: number; body: string; headers: [string, string][] }

/** The headers a request is sent with, in the order Node writes them (Host last unless given). */
function headerList(port: number, req: RandomRequest, pick: number): [string, string][] {
  const list: [string, string][] = [...Object.entries(req.headers), [PICK_HEADER, String(pick)]];
  if (!list.some(([n]) => n.toLowerCase() === 'host')) list.push(['Host', `${NODE_IP}:${port}`]);
  return list;
}

function send(port: number, req: RandomRequest, pick: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = Object.fromEntries(headerList(port, req, pick));
    const r = http.request({ host: NODE_IP, port, method: req.method, path: req.target, agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      const raw: [string, string][] = [];
      for (let i = 0; i < res.rawHeaders.length; i += 2) raw.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: raw }));
    });
    r.on('error', reject);
    r.end();
  });
}

/** h2c sessions (prior knowledge) by listener port: every fifth batch of requests goes over HTTP/2. */
const sessions = new Map<number, http2.ClientHttp2Session>();

/** The same request over h2c: lower-case names, Host as :authority (HAProxy sends it on as Host). */
function h2Headers(port: number, req: RandomRequest, pick: number): [string, string][] {
  const list = headerList(port, req, pick).map(([n, v]): [string, string] => [n.toLowerCase(), v]);
  // :authority is a pseudo-header, sent before every other header.
  return [...list.filter(([n]) => n === 'host'), ...list.filter(([n]) => n !== 'host')];
}

function sendH2(port: number, req: RandomRequest, pick: number): Promise<Answer> {
  let session = sessions.get(port);
  if (!session || session.closed || session.destroyed) {
    session = http2.connect(`http://${NODE_IP}:${port}`);
    session.on('error', () => undefined);
    sessions.set(port, session);
  }
  const list = h2Headers(port, req, pick);
  const authority = list.find(([n]) => n === 'host')![1];
  const headers: http2.OutgoingHttpHeaders = { ':method': req.method, ':path': req.target, ':authority': authority };
  for (const [n, v] of list) if (n !== 'host') headers[n] = v;
  return new Promise((resolve, reject) => {
    const stream = session!.request(headers, { endStream: true });
    let status = 0;
    const raw: [string, string][] = [];
    // The raw header list: the headers object joins repeated names.
    // The raw header list (Node passes it third; @types/node leaves it out): the object joins repeated names.
    const onResponse = (h: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
      status = Number(h[':status']);
      for (let i = 0; i < rawHeaders.length; i += 2) if (!rawHeaders[i]!.startsWith(':')) raw.push([rawHeaders[i]!, rawHeaders[i + 1]!]);
    };
    stream.on('response', onResponse as (h: http2.IncomingHttpHeaders, flags: number) => void);
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (d) => { body += d; });
    stream.on('end', () => resolve({ status, body, headers: raw }));
    stream.on('error', reject);
  });
}

/** Pod addresses: one per backend Service, so the echo's address names the Service. */
class Addresses {
  private readonly byService = new Map<string, string>();
  readonly endpoints: { ip: string; port: number }[] = [];
  ip(service: string): string {
    let ip = this.byService.get(service);
    if (!ip) {
      const n = this.byService.size + 10;
      ip = `10.244.${n >> 8}.${n & 255}`;
      this.byService.set(service, ip);
    }
    return ip;
  }
  service(ip: string): string | undefined {
    for (const [s, a] of this.byService) if (a === ip) return s;
    return undefined;
  }
  listen(ip: string, port: number): void {
    if (!this.endpoints.some((e) => e.ip === ip && e.port === port)) this.endpoints.push({ ip, port });
  }
}

function slice(namespace: string, service: string, ports: { name: string; port: number }[], ip: string): Obj {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${service}-slice`, namespace, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: ports.map((p) => ({ name: p.name, port: p.port, protocol: 'TCP' })),
    endpoints: [{ addresses: [ip], conditions: { ready: true } }],
  };
}

function model(objects: Obj[], where: string): Model {
  const m = buildModel(objects.map((object, doc) => ({ file: where, doc, object })));
  // Every object must make it into the model (references to missing Services are reported, and kept).
  const routes = objects.filter((o) => o.kind === 'HTTPRoute').length;
  const services = objects.filter((o) => o.kind === 'Service').length;
  if (m.routes.length !== routes || m.services.size !== services) {
    throw new Error(`${where}: objects were rejected:\n${m.diagnostics.map(formatDiagnostic).join('\n')}`);
  }
  return m;
}

function haproxyOutcome(res: Answer, addresses: Addresses): Outcome {
  if (res.status >= 300 && res.status < 400) {
    return { status: res.status, location: res.headers.find(([n]) => n.toLowerCase() === 'location')?.[1] ?? '(none)' };
  }
  if (res.status !== 200) return { status: res.status };
  const echoed = JSON.parse(res.body) as Echoed;
  return {
    status: 200,
    backend: addresses.service(echoed.address) ?? `unknown ${echoed.address}`,
    target: echoed.url,
    requestHeaders: comparableHeaders(echoed.headers, (n) => !HOP_HEADERS.has(n)),
    responseHeaders: comparableHeaders(res.headers, (n) => n.startsWith('x-')),
  };
}

function same(a: Outcome, b: Outcome): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

async function runRequests(
  set: string, listener: ListenerPlan, port: number, requests: { req: RandomRequest; pick: number }[],
  wasm: { instance: PolicyInstance; matcher: L7Matcher }, addresses: Addresses, summary: DifferentialSummary,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const counts = summary.random.filtered;
  const inFlight = 8;
  for (let i = 0; i < requests.length; i += inFlight) {
    const batch = requests.slice(i, i + inFlight);
    const h2 = (i / inFlight) % 5 === 4;
    const results = await Promise.all(batch.map(({ req, pick }) => (h2 ? sendH2 : send)(port, req, pick)));
    if (h2) counts.h2c += batch.length;
    batch.forEach(({ req, pick }, k) => {
      const { path: p, query } = parseRequestTarget(req.target);
      const sent = h2 ? h2Headers(port, req, pick) : headerList(port, req, pick);
      const q = req.target.indexOf('?');
      const expected = referenceOutcome(wasm.instance, wasm.matcher, listener, {
        path: p, method: req.method, headers: Object.fromEntries(sent), query,
        ...(q < 0 ? {} : { rawQuery: req.target.slice(q + 1) }),
      }, pick);
      const got = haproxyOutcome(results[k]!, addresses);
      outcomes.push(got);
      if (got.location) counts.redirects++;
      if (got.target !== undefined && got.target !== req.target) counts.rewrittenTargets++;
      if (got.requestHeaders && JSON.stringify(got.requestHeaders) !== JSON.stringify(comparableHeaders(sent, (n) => !HOP_HEADERS.has(n)))) counts.editedRequestHeaders++;
      if (got.responseHeaders && JSON.stringify(got.responseHeaders) !== JSON.stringify(ECHO_RESPONSE_HEADERS)) counts.editedResponseHeaders++;
      if (!same(expected, got)) summary.mismatches.push({ set, listener: listener.name, request: { ...req, pick }, wasm: expected, haproxy: got });
    });
  }
  return outcomes;
}

async function runRandom(matcher: { instance: PolicyInstance; matcher: L7Matcher }, seed: number, scenarios: number, perScenario: number, summary: DifferentialSummary): Promise<void> {
  const addresses = new Addresses();
  const r = randomStream(seed);
  const objects: Obj[] = [];
  for (const b of BACKENDS) {
    objects.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: b, namespace: NAMESPACE }, spec: { ports: [{ port: 8080, targetPort: 8080 }] } });
    const ip = addresses.ip(`${NAMESPACE}/${b}`);
    objects.push(slice(NAMESPACE, b, [{ name: '', port: 8080 }], ip));
    addresses.listen(ip, 8080);
  }
  objects.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: EMPTY_BACKEND, namespace: NAMESPACE }, spec: { ports: [{ port: 8080 }] } });
  const routesByFrontend = new Map<string, Obj[]>();
  for (let k = 0; k < scenarios; k++) {
    const frontend = `front-${k}`;
    objects.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: frontend, namespace: NAMESPACE }, spec: { ports: [{ port: 80, targetPort: 8080 }] } });
    const routes = randomRoutes(r, NAMESPACE, frontend);
    // One scenario in five also has consumer routes: a listener of their own for that namespace's clients.
    if (chance(r, 20)) routes.push(...randomRoutes(r, CONSUMER_NAMESPACE, frontend, NAMESPACE).map((route) => ({ ...route, metadata: { ...(route['metadata'] as Obj), name: `${frontend}-consumer-${(route['metadata'] as Obj)['name']}` } })));
    routesByFrontend.set(frontend, routes);
    objects.push(...routes);
  }
  const tables = compileTables(model(objects, 'random'));
  const plan = planProxy(tables, { allRouted: true });
  const ports = assignListenerPorts(plan.listeners.map((l) => l.name));
  const config = haproxyConfig(plan, { bindAddress: NODE_IP, ports, pickHeader: PICK_HEADER });
  summary.reports.push(...config.reports);
  const echo = await startEchoServers(addresses.endpoints);
  const proxy = await startHaproxy(config.text, [...ports.values()].map((port) => ({ host: NODE_IP, port })));
  try {
    for (const listener of plan.listeners) {
      const routes = routesByFrontend.get(listener.frontend.service.meta.name)!;
      const requests = Array.from({ length: perScenario }, () => ({ req: randomRequest(r, routes), pick: r() }));
      const outcomes = await runRequests('random', listener, ports.get(listener.name)!, requests, matcher, addresses, summary);
      summary.random.scenarios++;
      if (listener.consumerNamespace) summary.random.consumerListeners++;
      summary.random.requests += outcomes.length;
      for (const o of outcomes) summary.random.byStatus[o.status] = (summary.random.byStatus[o.status] ?? 0) + 1;
    }
  } finally {
    await proxy.stop();
    await echo.close();
  }
}

interface Case {
  name: string;
  category: string;
  routes: Obj[];
  parents: Obj[];
  services: Obj[];
  reference_grants?: Obj[];
  request: { host: string | null; path: string; method: string; headers: Record<string, string>; query: Record<string, string> };
  expect: {
    status: number; backend?: string; namespace?: string; distribution?: Record<string, number>; total_requests?: number;
    /** What the backend must receive (filter cases): its path, headers (repeated ones joined by ","), headers it must not. */
    upstream?: { path?: string; headers?: Record<string, string>; absent_headers?: string[] };
  };
}

/** Whether one of the case's routes has a backendRef to a namespace other than its own. */
function crossNamespaceRef(c: Case): boolean {
  return c.routes.some((route) => ((route.spec.rules ?? []) as Obj[]).some((rule) =>
    ((rule.backendRefs ?? []) as Obj[]).some((ref) => ref.namespace !== undefined && ref.namespace !== route.metadata.namespace)));
}

/** Why a case does not apply to a Service parent, or undefined when it does. */
function notForMesh(c: Case): string | undefined {
  if (c.routes.some((r) => r.spec.hostnames?.length)) return 'route hostnames (Gateway listeners only)';
  if (c.parents.some((g) => (g.spec.listeners as Obj[]).some((l) => l.hostname))) return 'listener hostname (Gateway only)';
  if (new Set(c.routes.map((r) => r.metadata.namespace)).size > 1) return 'routes in several namespaces for one Gateway';
  return undefined;
}

function caseTarget(c: Case): string {
  const q = Object.entries(c.request.query ?? {}).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return q ? `${c.request.path}?${q}` : c.request.path;
}

/** How the request the backend received differs from what a filter case expects, if it does. */
function upstreamProblem(c: Case, o: Outcome): string | undefined {
  const up = c.expect.upstream;
  if (!up || !o.requestHeaders) return undefined;
  const path = o.target?.split('?')[0];
  if (up.path !== undefined && path !== up.path) return `the backend got path ${path}, the case expects ${up.path}`;
  const value = (name: string) => {
    const values = o.requestHeaders!.filter(([n]) => n === name.toLowerCase()).map(([, v]) => v);
    return values.length === 0 ? undefined : values.join(',');
  };
  for (const [name, want] of Object.entries(up.headers ?? {})) {
    if (value(name) !== want) return `the backend got ${name}: ${value(name) ?? '(none)'}, the case expects ${want}`;
  }
  for (const name of up.absent_headers ?? []) if (value(name) !== undefined) return `the backend got ${name}, the case expects none`;
  return undefined;
}

async function runConformance(matcher: { instance: PolicyInstance; matcher: L7Matcher }, casesFile: string, summary: DifferentialSummary): Promise<void> {
  const cases = JSON.parse(readFileSync(casesFile, 'utf8')) as Case[];
  const addresses = new Addresses();
  const applicable: { c: Case; objects: Obj[] }[] = [];
  for (const c of cases) {
    const skip = notForMesh(c);
    if (skip) {
      summary.conformance.skipped[c.name] = skip;
      continue;
    }
    const namespace = c.routes[0]!.metadata.namespace as string;
    const objects: Obj[] = [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'conformance-frontend', namespace }, spec: { ports: [{ port: 80 }] } }];
    for (const svc of c.services) {
      const ns = svc.metadata.namespace ?? 'default';
      const ip = addresses.ip(`${ns}/${svc.metadata.name}`);
      const ports = (svc.spec.ports as Obj[]).map((p) => ({ name: p.name ?? '', port: Number(p.targetPort ?? p.port) }));
      for (const p of ports) addresses.listen(ip, p.port);
      objects.push(svc, slice(ns, svc.metadata.name, ports, ip));
    }
    for (const route of c.routes) {
      objects.push({ ...route, spec: { ...route.spec, parentRefs: [{ group: '', kind: 'Service', name: 'conformance-frontend', port: 80 }] } });
    }
    // A backendRef to another namespace is used only when one of the case's grants allows it.
    objects.push(...(c.reference_grants ?? []));
    applicable.push({ c, objects });
  }
  const echo = await startEchoServers(addresses.endpoints);
  try {
    for (const { c, objects } of applicable) {
      const plan = planProxy(compileTables(model(objects, c.name)), { allRouted: true });
      const [listener] = plan.listeners;
      if (!listener) throw new Error(`${c.name}: no listener planned`);
      summary.conformance.applicable++;
      const ports = assignListenerPorts([listener.name]);
      const config = haproxyConfig(plan, { bindAddress: NODE_IP, ports, pickHeader: PICK_HEADER });
      summary.reports.push(...config.reports.map((m) => `${c.name}: ${m}`));
      const headers: Record<string, string> = { ...c.request.headers };
      if (c.request.host) headers['host'] = c.request.host;
      const req: RandomRequest = { target: caseTarget(c), method: c.request.method, headers };
      const total = c.expect.total_requests ?? 1;
      const r: Random = randomStream(total);
      const requests = Array.from({ length: total }, () => ({ req, pick: r() }));
      const proxy = await startHaproxy(config.text, [{ host: NODE_IP, port: ports.get(listener.name)! }]);
      try {
        const outcomes = await runRequests(c.name, listener, ports.get(listener.name)!, requests, matcher, addresses, summary);
        summary.conformance.requests += outcomes.length;
        if (!c.expect.distribution) {
          const o = outcomes[0]!;
          const wanted = c.expect.backend ? `${c.expect.namespace ?? listener.frontend.service.meta.namespace}/${c.expect.backend}` : undefined;
          if (o.status !== c.expect.status || (wanted !== undefined && o.backend !== wanted)) {
            // Under a Service parent a backendRef to another namespace needs no ReferenceGrant
            // (GEP-1426), so the 500 a Gateway parent gives is a 200 in the mesh, by design.
            const list = c.expect.status === 500 && o.status === 200 && crossNamespaceRef(c) ? summary.conformance.meshSemantics : summary.conformance.expectationFailures;
            list.push(`${c.name}: HAProxy answered ${o.status} ${o.backend ?? ''}, the case expects ${c.expect.status} ${wanted ?? ''}`);
          }
          const problem = upstreamProblem(c, o);
          if (problem) summary.conformance.expectationFailures.push(`${c.name}: ${problem}`);
        }
      } finally {
        await proxy.stop();
      }
    }
  } finally {
    await echo.close();
  }
}

async function main(): Promise<void> {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const casesFile = path.join(process.env.MESHC_CONFORMANCE_DIR ?? path.join(root, '..', 'shared', 'conformance', 'gateway-api'), 'cases.json');
  const instance = await loadPolicyWasm();
  const matcher = { instance, matcher: createL7Matcher(instance) };
  const summary: DifferentialSummary = {
    random: { scenarios: 0, requests: 0, byStatus: {}, consumerListeners: 0, filtered: { redirects: 0, rewrittenTargets: 0, editedRequestHeaders: 0, editedResponseHeaders: 0, h2c: 0 } },
    conformance: { applicable: 0, skipped: {}, requests: 0, expectationFailures: [], meshSemantics: [] },
    mismatches: [],
    reports: [],
  };
  const scenarios = Number(process.env.MESHC_DIFF_SCENARIOS ?? 50);
  const perScenario = Number(process.env.MESHC_DIFF_REQUESTS ?? 200);
  await runRandom(matcher, Number(process.env.MESHC_DIFF_SEED ?? 14), scenarios, perScenario, summary);
  await runConformance(matcher, casesFile, summary);
  agent.destroy();
  for (const session of sessions.values()) session.close();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

await main();
