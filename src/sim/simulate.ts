// The simulator's core: where N connections (or requests, behind an L7 route) to a Service go.
// Pure: takes a model and an instantiated policy.wasm, so the CLI and the playground share it.
import type { HTTPRoute, Model, PodInfo, RouteRule, Service, ServicePort } from '../model/types.ts';
import { objectKey } from '../model/types.ts';
import type { PolicyInstance } from '../wasm/instance.ts';
import { compileTables, ruleKey, type CompiledTables, type FrontendInfo, type GroupSetInfo } from '../tables/compile.ts';
import { WasmSink } from '../sinks/wasm.ts';
import * as L from '../tables/layouts.ts';
import { decode } from '../tables/codec.ts';
import { encodeRoutes, type HttpRequest } from '../l7/encode.ts';
import { routesForFrontend } from '../l7/attach.ts';
import { createL7Matcher } from '../l7/matcher.ts';
import { encodeFilters, filterRequest } from '../l7/filters.ts';
import { frontendServing, type Serving } from '../proxy/serving.ts';
import type { HeaderEdits } from '../model/types.ts';
import { hash64 } from '../model/hash.ts';
import { resolveServiceAddress } from './service-address.ts';
import { networkGate, type NetworkGate, type SimulatedNetworkPolicy } from '../netpol/simulate.ts';

export interface SimulateInput {
  /** Service name, namespace (default "default") and port number or name; or the Service's ClusterIP and port. */
  to: { name: string; namespace?: string; port: number | string } | { clusterIP: string; port: number | string };
  /** The client pod, `namespace/name`; without it each connection comes from a new client. */
  from?: string;
  request?: Partial<HttpRequest>;
  connections: number;
  seed: number;
  /** Simulated time between two connections, in milliseconds (default 1). */
  intervalMs?: number;
}

export interface SimulatedBackend {
  service: string;
  pod: string | null;
  ip: string;
  port: number;
  count: number;
}

export interface SimulateResult {
  service: { namespace: string; name: string; port: number; clusterIP: string };
  route: { namespace: string; name: string; rule: number } | null;
  connections: number;
  refused: number;
  refusedReasons: Record<string, number>;
  /** HTTP status the L7 path answers for refused requests (404 no route, 500 bad backendRef), or a redirect's. */
  status?: number;
  backends: SimulatedBackend[];
  warnings: string[];
  /** Where this Service port is decided for this client: in the kernel at connect() (L4) or by the node proxy (L7), and why. */
  served: Serving;
  /** What the matched rule's filters do (src/l7/filters.ts, the node proxy's order). */
  filters?: SimulatedFilters;
  /** Network policy verdicts on the chosen backends, when the model has policies (src/netpol/). */
  networkPolicy?: SimulatedNetworkPolicy;
  /** The matched rule's backendRefs to another namespace than the route's, which a mesh route uses without a ReferenceGrant: one line each. */
  crossNamespace?: string[];
}

export interface SimulatedFilters {
  /** RequestRedirect: every request is answered with this status and Location. */
  redirect?: { status: number; location: string };
  /** The request the backend receives after the rule's URLRewrite and RequestHeaderModifier (before a backendRef's own). */
  request?: { path: string; headers: [string, string][] };
  /** The rule's ResponseHeaderModifier. */
  responseHeaders?: HeaderEdits;
  /** backendRef-level filters and filters the node proxy does not apply, one line each. */
  notes: string[];
}

/** Where the request is decided and what the matched rule's filters do, one line each (CLI and playground). */
export function servedLines(result: SimulateResult, method = 'GET'): string[] {
  const lines = [`${result.served.layer === 'L7' ? 'Decided by the node proxy (L7)' : 'Decided in the kernel at connect() (L4)'}: ${result.served.why}`];
  const f = result.filters;
  if (f?.redirect) lines.push(`RequestRedirect: every request is answered ${f.redirect.status}, Location: ${f.redirect.location}`);
  if (f?.request) lines.push(`The backend receives: ${method} ${f.request.path}, headers ${f.request.headers.map(([n, v]) => `${n}: ${v}`).join(', ')}`);
  if (f?.responseHeaders) {
    const r = f.responseHeaders;
    lines.push(`Response headers: ${[...r.set.map((h) => `set ${h.name}: ${h.value}`), ...r.add.map((h) => `add ${h.name}: ${h.value}`), ...r.remove.map((n) => `remove ${n}`)].join(', ')}`);
  }
  for (const note of f?.notes ?? []) lines.push(`  ${note}`);
  for (const line of result.crossNamespace ?? []) lines.push(line);
  return lines;
}

/** Bad simulation input (unknown service, port or pod): the CLI's exit status 1. */
export class SimulateError extends Error {}

/** xorshift32, the same generator as policy.wasm's. */
export function xorshift32(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

/**
 * The Service, its port, and the ClusterIP dialled: the one given, or the Service's primary (a
 * dual-stack Service has a frontend per family, each with that family's endpoints).
 */
export function findService(model: Model, address: SimulateInput['to']): { svc: Service; port: ServicePort; clusterIP: string } {
  const to = resolveServiceAddress(model, address);
  if (!to) throw new SimulateError(`no Service has the ClusterIP ${'clusterIP' in address ? address.clusterIP : ''}`);
  const namespace = to.namespace ?? 'default';
  const svc = model.services.get(objectKey(namespace, to.name));
  if (!svc) {
    const known = [...model.services.keys()].join(', ') || 'none';
    throw new SimulateError(`Service ${namespace}/${to.name} not found (known: ${known})`);
  }
  const port = svc.ports.find((p) => (typeof to.port === 'number' ? p.port === to.port : p.name === to.port));
  if (!port) {
    const known = svc.ports.map((p) => (p.name ? `${p.port} (${p.name})` : String(p.port))).join(', ');
    throw new SimulateError(`Service ${namespace}/${to.name} has no port ${to.port} (ports: ${known})`);
  }
  if (svc.headless || svc.type === 'ExternalName' || svc.clusterIPs.length === 0) {
    throw new SimulateError(`Service ${namespace}/${to.name} is ${svc.type === 'ExternalName' ? 'an ExternalName' : 'a headless'} Service: it has no ClusterIP to load-balance`);
  }
  return { svc, port, clusterIP: 'clusterIP' in address ? address.clusterIP : svc.clusterIPs[0]! };
}

const MAX_CANDIDATES = 10;

function findPod(model: Model, from: string): PodInfo {
  const [namespace, name] = from.includes('/') ? from.split('/', 2) as [string, string] : ['default', from];
  const pod = model.pods.get(objectKey(namespace, name));
  if (!pod) throw new SimulateError(`pod ${namespace}/${name} (--from) not found; ${podCandidates(model, namespace, name)}`);
  return pod;
}

/** The pods a mistyped --from may have meant: those whose name shares the most leading characters, same namespace first. */
function podCandidates(model: Model, namespace: string, name: string): string {
  if (model.pods.size === 0) return 'the manifests have no pods';
  const common = (a: string) => {
    let n = 0;
    while (n < a.length && n < name.length && a[n] === name[n]) n++;
    return n;
  };
  const ranked = [...model.pods.values()]
    .map((pod) => ({ key: objectKey(pod.meta.namespace, pod.meta.name), same: pod.meta.namespace === namespace, prefix: common(pod.meta.name) }))
    .sort((a, b) => Number(b.same) - Number(a.same) || b.prefix - a.prefix || (a.key < b.key ? -1 : 1));
  const shown = ranked.slice(0, MAX_CANDIDATES).map((c) => c.key);
  const more = ranked.length > shown.length ? ` and ${ranked.length - shown.length} more` : '';
  return `pods: ${shown.join(', ')}${more}`;
}

export function simulate(model: Model, instance: PolicyInstance, input: SimulateInput): SimulateResult {
  const { svc, port, clusterIP } = findService(model, input.to);
  const pod = input.from ? findPod(model, input.from) : undefined;
  const warnings: string[] = [];
  if (svc.internalTrafficPolicy === 'Local' && !pod?.nodeName) {
    warnings.push(`${objectKey(svc.meta.namespace, svc.meta.name)} has internalTrafficPolicy Local: without --from a pod on a node, no endpoint is local`);
  }
  const tables = compileTables(model, { node: pod?.nodeName, zone: pod?.zone });
  warnings.push(...tables.warnings);
  new WasmSink(instance).load(tables);
  const gate = networkGate(model, instance, pod);
  const frontend = tables.frontends.find((f) => f.service === svc && f.port === port && f.vip === clusterIP)!;
  const clientNamespace = pod?.meta.namespace ?? svc.meta.namespace;
  const serving = frontendServing(frontend);
  const served = serving.consumers.get(clientNamespace) ?? serving.producer;
  const choice = chooseGroups(model, instance, frontend, clientNamespace, input.request ?? {}, warnings);
  const redirected = choice.filters?.redirect !== undefined;
  const counts = redirected ? { refused: 0, reasons: {}, backends: [] } : runConnections(instance, tables, frontend, choice.groups, pod, input, gate);
  return {
    service: { namespace: svc.meta.namespace, name: svc.meta.name, port: port.port, clusterIP: frontend.vip },
    route: choice.route,
    connections: input.connections,
    refused: counts.refused,
    refusedReasons: counts.reasons,
    ...(choice.status !== undefined && (counts.refused > 0 || redirected) ? { status: choice.status } : {}),
    backends: counts.backends,
    warnings,
    served,
    ...(choice.filters ? { filters: choice.filters } : {}),
    ...(gate ? { networkPolicy: gate.report } : {}),
    ...(choice.crossNamespace?.length ? { crossNamespace: choice.crossNamespace } : {}),
  };
}

interface GroupChoice {
  groups: GroupSetInfo | null;
  route: SimulateResult['route'];
  status?: number;
  filters?: SimulatedFilters;
  crossNamespace?: string[];
}

/**
 * The rule's backendRefs to another namespace: a mesh route uses them without a ReferenceGrant
 * (GEP-1294, "Namespace boundaries"); grants govern Gateway-bound routes only (src/model/reference-grant.ts).
 */
function crossNamespaceLines(route: HTTPRoute, rule: RouteRule): string[] {
  const from = route.meta.namespace;
  return rule.backendRefs
    .filter((b) => b.namespace !== from && !b.invalid)
    .map((b) => `backendRef ${b.namespace}/${b.name} is in another namespace than HTTPRoute ${from}/${route.meta.name}: a mesh route needs no ReferenceGrant to use it (GEP-1294, Namespace boundaries); grants govern Gateway-bound routes`);
}

/** Runs the L7 matcher when routes apply to this client; returns the weighted groups to use. */
function chooseGroups(
  model: Model, instance: PolicyInstance, frontend: FrontendInfo, clientNamespace: string,
  request: Partial<HttpRequest>, warnings: string[],
): GroupChoice {
  const svc = frontend.service;
  const routes = routesForFrontend(
    model.routes,
    { namespace: svc.meta.namespace, name: svc.meta.name, port: frontend.port.port, portName: frontend.port.name },
    clientNamespace,
  );
  if (routes.length === 0) return { groups: null, route: null };
  const encoded = encodeRoutes(routes);
  warnings.push(...encoded.unsupported);
  // A mesh request carries Host (HTTP/1.1 requires it): the Service's name unless the request gives one.
  const headers = { ...(request.headers ?? {}) };
  if (!Object.keys(headers).some((h) => h.toLowerCase() === 'host')) {
    headers['host'] = `${svc.meta.name}.${svc.meta.namespace}.svc.cluster.local${frontend.port.port === 80 ? '' : `:${frontend.port.port}`}`;
  }
  const match = createL7Matcher(instance).match(encoded, { path: request.path ?? '/', method: request.method ?? 'GET', headers, query: request.query ?? {} });
  if (!match) return { groups: emptySet(), route: null, status: 404 };
  const rule = encoded.rules[match.ruleRef]!;
  const filters = ruleFilters(instance, encoded.rules.map((r) => r.route.rules[r.ruleIndex]!), match.ruleRef, request, frontend.port.port);
  const route = { namespace: rule.route.meta.namespace, name: rule.route.meta.name, rule: rule.ruleIndex };
  if (filters?.redirect) return { groups: emptySet(), route, status: filters.redirect.status, filters };
  const info = frontend.rules.get(ruleKey(rule.route, rule.ruleIndex))!;
  const invalid = info.groupSet.groups.filter((g) => g.invalid);
  for (const g of invalid) warnings.push(`HTTPRoute ${rule.route.meta.namespace}/${rule.route.meta.name} rule ${rule.ruleIndex}: backendRef ${g.service || '(none)'}: ${g.invalid}`);
  const crossNamespace = crossNamespaceLines(rule.route, rule.route.rules[rule.ruleIndex]!);
  return {
    groups: info.groupSet,
    route,
    ...(invalid.length > 0 ? { status: 500 } : {}),
    ...(filters ? { filters } : {}),
    ...(crossNamespace.length > 0 ? { crossNamespace } : {}),
  };
}

/** The matched rule's filters applied to the request just matched on `instance`; undefined when it has none. */
function ruleFilters(
  instance: PolicyInstance, rules: RouteRule[], index: number, request: Partial<HttpRequest>, port: number,
): SimulatedFilters | undefined {
  const rule = rules[index]!;
  const notes: string[] = [];
  rule.backendRefs.forEach((b, i) => {
    const kinds = [b.requestHeaders ? 'request' : '', b.responseHeaders ? 'response' : ''].filter(Boolean);
    if (kinds.length > 0) notes.push(`backendRefs[${i}] (${b.namespace}/${b.name}) edits the ${kinds.join(' and ')} headers when it is picked`);
  });
  for (const m of rule.mirrors ?? []) notes.push(`RequestMirror to ${m.backend.namespace}/${m.backend.name} (${m.percent}%) is not applied: the node proxy (HAProxy 2.6) has no request mirroring`);
  if (!rule.redirect && !rule.rewrite && !rule.requestHeaders && !rule.responseHeaders && notes.length === 0) return undefined;
  const query = Object.entries(request.query ?? {}).flatMap(([k, list]) => (typeof list === 'string' ? [list] : list).map((v) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)).join('&');
  const result = filterRequest(instance, encodeFilters(rules), index, -1, { path: request.path ?? '/', port, ...(query ? { query } : {}) });
  const out: SimulatedFilters = { notes };
  if (result.kind === 'redirect') out.redirect = { status: result.status, location: result.location };
  else if (rule.rewrite || rule.requestHeaders) out.request = { path: result.path, headers: result.headers };
  if (rule.responseHeaders && !rule.redirect) out.responseHeaders = rule.responseHeaders;
  return out;
}

/** No rule matched: every request is refused (404). */
function emptySet(): GroupSetInfo {
  return { set: 0, count: 0, total: 0, groups: [] };
}

function runConnections(
  instance: PolicyInstance, tables: CompiledTables, frontend: FrontendInfo, groups: GroupSetInfo | null,
  pod: PodInfo | undefined, input: SimulateInput, gate?: NetworkGate,
): { refused: number; reasons: Record<string, number>; backends: SimulatedBackend[] } {
  const wasm = instance.exports;
  const keyPtr = wasm.host_scratch(frontend.keyBytes.length + L.Decision.size);
  const outPtr = keyPtr + frontend.keyBytes.length;
  instance.bytes().set(frontend.keyBytes, keyPtr);
  const byBackend = new Map<string, SimulatedBackend>();
  for (const pool of candidatePools(frontend, groups)) {
    for (const b of pool.slots) byBackend.set(`${pool.owner}|${b.id}`, backendRow(pool.owner, b));
  }
  const reasons: Record<string, number> = {};
  let refused = 0;
  let rand = (input.seed >>> 0) || 1;
  const fixedClient = pod ? hash64(pod.ip ?? objectKey(pod.meta.namespace, pod.meta.name)) : undefined;
  const interval = BigInt(Math.round((input.intervalMs ?? 1) * 1e6));
  for (let i = 0; i < input.connections; i++) {
    rand = xorshift32(rand);
    const client = fixedClient ?? BigInt(xorshift32(rand ^ 0x5bd1e995)) | (BigInt(i) << 32n);
    const now = BigInt(i) * interval;
    if (groups && groups.count === 0) {
      refused++;
      reasons['no-route-match'] = (reasons['no-route-match'] ?? 0) + 1;
      continue;
    }
    const verdict = wasm.mc_decide_groups(keyPtr, groups?.set ?? 0, groups?.count ?? 0, groups?.total ?? 0, client, rand, now, outPtr);
    // Network policy: a denied pick moves to the next allowed backend of its range, as in the hooks.
    const gated = verdict === L.VERDICT.translate && gate ? gate.pick(keyPtr, outPtr) : undefined;
    const out = decode(L.Decision, instance.bytes().subarray(outPtr, outPtr + L.Decision.size));
    if (verdict !== L.VERDICT.translate) {
      refused++;
      const reason = L.REASONS[Number(out.reason)] ?? `reason-${out.reason}`;
      reasons[reason] = (reasons[reason] ?? 0) + 1;
      continue;
    }
    const pool = tables.pools.get(Number(out.table))!;
    const backend = tables.backends.get(Number(out.backend_id))!;
    if (gated && !gated.allowed) {
      refused++;
      reasons['network-policy'] = (reasons['network-policy'] ?? 0) + 1;
      continue;
    }
    const key = `${pool.owner}|${backend.id}`;
    const row = byBackend.get(key) ?? backendRow(pool.owner, backend);
    row.count++;
    byBackend.set(key, row);
  }
  const backends = [...byBackend.values()].sort((a, b) =>
    a.service !== b.service ? (a.service < b.service ? -1 : 1) : (a.pod ?? a.ip) < (b.pod ?? b.ip) ? -1 : 1,
  );
  return { refused, reasons, backends };
}

function candidatePools(frontend: FrontendInfo, groups: GroupSetInfo | null) {
  if (!groups) return [frontend.pool];
  return groups.groups.flatMap((g) => (g.pool && g.weight > 0 ? [g.pool] : []));
}

function backendRow(owner: string, b: { ip: string; port: number; pod?: { namespace: string; name: string } }): SimulatedBackend {
  return {
    service: owner.slice(0, owner.indexOf(':')),
    pod: b.pod ? objectKey(b.pod.namespace, b.pod.name) : null,
    ip: b.ip,
    port: b.port,
    count: 0,
  };
}
