// Replays the official Gateway API HTTPRoute conformance cases (shared/conformance/gateway-api)
// through the model's CRD defaults, the Wasm L7 matcher and the backend selection; the weight
// case also runs through the Wasm policy's weighted pick (simulate()) on a Service frontend.
//
// The cases are Gateway-bound (gateway profile): the test plays the Gateway's part, attaching
// routes to the case's Gateway listener and filtering them by hostname (fact 18). Cases whose
// expectation depends on what a filter does (category `filter`, or a filter in the matched rule
// whose effect the case checks) are counted as unsupported: meshc does not apply filters.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import type { PolicyInstance } from '../../src/wasm/instance.ts';
import { buildModel } from '../../src/model/build.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { createL7Matcher, type L7Matcher } from '../../src/l7/matcher.ts';
import { encodeRoutes, type HttpRequest } from '../../src/l7/encode.ts';
import { hostnameMatches, hostnameTiers, hostOf } from '../../src/l7/hostname.ts';
import { decideRule, expectedShares, pickBackend, type BackendContext, type RuleDecision } from '../../src/l7/select.ts';
import { readReferenceGrant } from '../../src/l7/reference-grant.ts';
import { normalizeHTTPRoute, GATEWAY_GROUP } from '../../src/model/httproute.ts';
import { normalizeService } from '../../src/model/service.ts';
import { collectObjects } from '../../src/model/objects.ts';
import { formatDiagnostic } from '../../src/model/diagnostics.ts';
import type { Diagnostic, HTTPRoute, RouteRule, Service } from '../../src/model/types.ts';
import { randomStream } from '../proxy/random-routes.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const casesDir = process.env.MESHC_CONFORMANCE_DIR ?? path.join(repoRoot, '..', 'shared', 'conformance', 'gateway-api');
const casesFile = path.join(casesDir, 'cases.json');
if (!existsSync(casesFile)) {
  throw new Error(`conformance cases not found at ${casesFile}: put shared/ beside the checkout or set MESHC_CONFORMANCE_DIR`);
}

type Obj = Record<string, any>;
interface Case {
  name: string;
  category: 'matching' | 'backend-selection' | 'weight' | 'filter';
  profile: string;
  routes: Obj[];
  parents: Obj[];
  services: Obj[];
  reference_grants?: Obj[];
  request: { host: string | null; port: number; path: string; method: string; headers: Record<string, string>; query: Record<string, string> };
  expect: {
    status: number;
    backend?: string;
    namespace?: string;
    distribution?: Record<string, number>;
    tolerance?: number;
    total_requests?: number;
    upstream?: unknown;
    per_request_invariant?: string;
  };
}

const cases: Case[] = JSON.parse(readFileSync(casesFile, 'utf8'));

/**
 * Namespace labels from the suite's base manifests (conformance/base/manifests.yaml), which the
 * cases do not carry; needed for a listener's `allowedRoutes.namespaces.from: Selector`.
 */
const NAMESPACE_LABELS: Record<string, Record<string, string>> = {
  'gateway-conformance-infra': { 'gateway-conformance': 'infra' },
  'gateway-conformance-app-backend': { 'gateway-conformance': 'backend' },
  'gateway-conformance-web-backend': { 'gateway-conformance': 'backend' },
};

let matcher: L7Matcher;

/** Filter types whose effect is only on headers: they never change status or backend. */
const HEADER_ONLY_FILTERS = new Set(['RequestHeaderModifier', 'ResponseHeaderModifier']);

type Outcome =
  | { kind: 'decided'; decision: RuleDecision; rule: RouteRule; route: HTTPRoute }
  | { kind: 'no-match' }
  | { kind: 'unsupported'; reason: string };

interface Loaded {
  routes: { route: HTTPRoute; hostnames: string[] }[];
  ctx: BackendContext;
}

function load(c: Case): Loaded {
  const diagnostics: Diagnostic[] = [];
  const routes = c.routes.map((obj, doc) => {
    const route = normalizeHTTPRoute(obj, { file: `${c.name}:routes`, doc }, diagnostics);
    if (!route) throw new Error(`${c.name}: route ${doc} rejected:\n${diagnostics.map(formatDiagnostic).join('\n')}`);
    const hostnames: string[] = obj.spec?.hostnames ?? [];
    return { route, hostnames };
  });
  const services = new Map<string, Service>();
  const serviceDiagnostics: Diagnostic[] = [];
  const objects = collectObjects(c.services.map((object, doc) => ({ file: `${c.name}:services`, doc, object })), serviceDiagnostics);
  for (const object of objects) {
    const svc = normalizeService(object);
    if (!svc) throw new Error(`${c.name}: service rejected:\n${serviceDiagnostics.map(formatDiagnostic).join('\n')}`);
    services.set(`${svc.meta.namespace}/${svc.meta.name}`, svc);
  }
  const referenceGrants = (c.reference_grants ?? []).map(readReferenceGrant);
  return {
    routes,
    ctx: { profile: 'gateway', service: (ns, name) => services.get(`${ns}/${name}`), referenceGrants },
  };
}

/** Whether a route attaches to a listener of one of the case's Gateways on the request's port. */
function attachesToGateway(route: HTTPRoute, c: Case): boolean {
  return route.parentRefs.some((ref) => {
    if (ref.group !== GATEWAY_GROUP || ref.kind !== 'Gateway') return false;
    const gateway = c.parents.find((g) => g.metadata.name === ref.name && (g.metadata.namespace ?? 'default') === ref.namespace);
    if (!gateway) return false;
    return (gateway.spec.listeners as Obj[]).some((listener) => {
      if (ref.sectionName !== undefined && listener.name !== ref.sectionName) return false;
      if (ref.port !== undefined && listener.port !== ref.port) return false;
      if (listener.port !== c.request.port || listener.protocol !== 'HTTP') return false;
      if (listener.hostname && !(c.request.host && hostnameMatches(listener.hostname, hostOf(c.request.host)))) return false;
      return namespaceAllowed(listener.allowedRoutes?.namespaces, gateway.metadata.namespace, route.meta.namespace);
    });
  });
}

function namespaceAllowed(allowed: Obj | undefined, gatewayNamespace: string, routeNamespace: string): boolean {
  const from = allowed?.from ?? 'Same';
  if (from === 'All') return true;
  if (from === 'Same') return routeNamespace === gatewayNamespace;
  if (from === 'Selector') {
    const wanted: Record<string, string> = allowed?.selector?.matchLabels ?? {};
    if (allowed?.selector?.matchExpressions) throw new Error('allowedRoutes selector matchExpressions: not supported by this replay');
    const labels = NAMESPACE_LABELS[routeNamespace] ?? {};
    return Object.entries(wanted).every(([k, v]) => labels[k] === v);
  }
  throw new Error(`allowedRoutes.namespaces.from: unknown value ${JSON.stringify(from)}`);
}

function requestOf(c: Case): HttpRequest {
  const headers: Record<string, string> = { ...c.request.headers };
  if (c.request.host !== null) headers['host'] = c.request.host;
  return { path: c.request.path, method: c.request.method, headers, query: c.request.query };
}

function decide(c: Case, loaded: Loaded): Outcome {
  if (c.category === 'filter') return { kind: 'unsupported', reason: 'category filter' };
  const attached = loaded.routes.filter((r) => attachesToGateway(r.route, c));
  const tiers = hostnameTiers(attached, (r) => r.hostnames, c.request.host);
  for (const tier of tiers) {
    const encoded = encodeRoutes(tier.map((r) => r.route));
    assert.equal(encoded.unsupported, [], 'no unsupported match conditions');
    const m = matcher.match(encoded, requestOf(c));
    if (!m) continue;
    const route = encoded.routes[m.route];
    const rule = route.rules[m.rule];
    const effective = rule.filters.filter((f) => !HEADER_ONLY_FILTERS.has(f));
    if (effective.length > 0) return { kind: 'unsupported', reason: `matched rule has filters ${effective.join(', ')}` };
    if (rule.filters.length > 0 && (c.expect.upstream !== undefined || c.expect.per_request_invariant !== undefined)) {
      return { kind: 'unsupported', reason: `the case checks what filters ${rule.filters.join(', ')} do to the request` };
    }
    return { kind: 'decided', decision: decideRule(rule, route.meta.namespace, loaded.ctx), rule, route };
  }
  return { kind: 'no-match' };
}

/** Deterministic u32 stream (the proxy test's mulberry32) seeded from the case name. */
function seededRandom(seedText: string): () => number {
  let s = 0x9e3779b9;
  for (let i = 0; i < seedText.length; i++) s = Math.imul(s ^ seedText.charCodeAt(i), 0x85ebca6b) >>> 0;
  return randomStream(s);
}

function checkSingle(c: Case, outcome: Outcome): void {
  if (outcome.kind === 'no-match') {
    assert.is(404, c.expect.status, 'no rule matched: 404');
    return;
  }
  if (outcome.kind !== 'decided') throw new Error('unreachable');
  const shares = expectedShares(outcome.decision);
  if (c.expect.status === 200) {
    assert.is(shares.size, 1, `every request goes to one backend, got ${JSON.stringify([...shares])}`);
    const [key] = [...shares.keys()];
    assert.is.not(key, '500', `expected 200, the rule answers 500 (${outcome.decision.kind === 'error' ? outcome.decision.reason : JSON.stringify(outcome.decision.backends)})`);
    const [namespace, name] = key.split('/');
    if (c.expect.backend !== undefined) assert.is(name, c.expect.backend, 'backend Service');
    if (c.expect.namespace !== undefined) assert.is(namespace, c.expect.namespace, 'backend namespace');
  } else {
    assert.is(c.expect.status, 500, `unexpected expected status ${c.expect.status}`);
    assert.equal([...shares], [['500', 1]], 'every request gets 500');
  }
  const pick = pickBackend(outcome.decision, seededRandom(c.name)());
  assert.is(pick.status, c.expect.status, 'a single pick agrees');
}

function checkWeights(c: Case, outcome: Outcome): void {
  if (outcome.kind !== 'decided') throw new Error(`weight case did not match a rule (${outcome.kind})`);
  const { distribution, total_requests: total } = c.expect;
  if (!distribution || !total) throw new Error('weight case without distribution or total_requests');
  const counts = new Map<string, number>();
  const random = seededRandom(c.name);
  for (let i = 0; i < total; i++) {
    const pick = pickBackend(outcome.decision, random());
    const key = pick.status === 200 ? pick.backend.name : String(pick.status);
    if (pick.status === 200 && c.expect.namespace !== undefined) assert.is(pick.backend.namespace, c.expect.namespace);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  checkDistribution(c, counts, total);
  checkDistribution(c, weightsThroughPolicy(c), total);
}

/**
 * The same case through the whole Wasm path: the routes attached to a Service frontend (the mesh
 * profile; the weight rules are the same), the case's Services with pods made up from their
 * workloads, the L7 matcher, then the policy's weighted pick (decideGroups), via simulate().
 */
function weightsThroughPolicy(c: Case): Map<string, number> {
  const namespace = c.routes[0]!.metadata.namespace as string;
  const frontend = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'conformance-frontend', namespace }, spec: { ports: [{ port: 80 }] } };
  const workloads = Object.entries((c as Case & { service_workloads: Record<string, string[]> }).service_workloads).flatMap(([key, deployments]) => {
    const svc = c.services.find((s) => `${s.metadata.namespace}/${s.metadata.name}` === key)!;
    return deployments.map((name) => ({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: svc.metadata.namespace },
      spec: { replicas: 2, selector: { matchLabels: svc.spec.selector }, template: { metadata: { labels: svc.spec.selector }, spec: { containers: [{ name: 'app', ports: [{ containerPort: 3000 }] }] } } },
    }));
  });
  const routes = c.routes.map((r) => ({ ...r, spec: { ...r.spec, parentRefs: [{ group: '', kind: 'Service', name: 'conformance-frontend', port: 80 }] } }));
  const objects = [frontend, ...c.services, ...workloads, ...routes];
  const model = buildModel(objects.map((object, doc) => ({ file: `${c.name}.yaml`, doc, object })));
  const result = simulate(model, policy, {
    to: { name: 'conformance-frontend', namespace, port: 80 },
    request: { path: c.request.path, method: c.request.method, headers: c.request.headers, query: c.request.query },
    connections: c.expect.total_requests!,
    seed: Number(seededRandom(c.name)()),
  });
  const counts = new Map<string, number>();
  for (const b of result.backends) if (b.count > 0) counts.set(b.service.split('/')[1]!, (counts.get(b.service.split('/')[1]!) ?? 0) + b.count);
  if (result.refused > 0) counts.set('500', result.refused);
  return counts;
}

function checkDistribution(c: Case, counts: Map<string, number>, total: number): void {
  const { distribution, tolerance } = c.expect;
  if (!distribution || tolerance === undefined) throw new Error('weight case without distribution or tolerance');
  for (const key of counts.keys()) assert.ok(key in distribution, `requests went to ${key}, which is not in the expected distribution`);
  for (const [backend, fraction] of Object.entries(distribution)) {
    const seen = (counts.get(backend) ?? 0) / total;
    if (fraction === 0) assert.is(counts.get(backend) ?? 0, 0, `${backend} has weight 0 and must get no request`);
    else assert.ok(Math.abs(seen - fraction) <= tolerance, `${backend}: ${seen.toFixed(3)} of requests, expected ${fraction} ± ${tolerance}`);
  }
}

let passed = 0;
let supported = 0;
const unsupported: string[] = [];

const replay = suite('conformance: Gateway API HTTPRoute cases');
let policy: PolicyInstance;
replay.before(async () => {
  policy = await loadPolicyWasm();
  matcher = createL7Matcher(policy);
});
for (const c of cases) {
  replay(c.name, () => {
    assert.is(c.profile, 'gateway', 'the replay plays a Gateway');
    const outcome = decide(c, load(c));
    if (outcome.kind === 'unsupported') {
      unsupported.push(`${c.name}: ${outcome.reason}`);
      return;
    }
    supported++;
    if (c.category === 'weight') checkWeights(c, outcome);
    else checkSingle(c, outcome);
    passed++;
  });
}
replay('every supported case passes', () => {
  console.log(`conformance: ${passed} passed, ${unsupported.length} unsupported (filters), ${cases.length} total`);
  for (const line of unsupported) console.log(`  unsupported: ${line}`);
  assert.ok(supported > 0, 'some cases ran');
  assert.is(passed, supported);
  assert.is(supported + unsupported.length, cases.length, 'every case is either run or reported unsupported');
});
replay.run();
