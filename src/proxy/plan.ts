// What the node proxy serves, taken from the compiled tables: one listener per L7 Service port
// and client set (the producer routes, or one namespace's consumer routes), its matches in the
// order HAProxy must try them, its rules with their weighted groups, and the pools they use.
//
// Precedence: the Wasm matcher takes the match with the largest precedence key, the first one in
// route / rule / match order on equal keys. HAProxy takes the first rule that holds, so the
// matches are listed by key, largest first, in a stable sort: the same winner.

import type { Algorithm, HTTPRoute, RouteMatch } from '../model/types.ts';
import type { CompiledTables, FrontendInfo, GroupSetInfo, PoolInfo } from '../tables/compile.ts';
import { ruleKey } from '../tables/compile.ts';
import { encodeRoutes } from '../l7/encode.ts';
import { routesForFrontend } from '../l7/attach.ts';
import { frontendServing } from './serving.ts';
import { sectionName } from './config-words.ts';
import { APPLIED_FILTERS } from '../model/route-filters.ts';

export interface PlannedRule {
  route: HTTPRoute;
  ruleIndex: number;
  groupSet: GroupSetInfo;
}

export interface PlannedMatch {
  /** Index into ListenerPlan.rules. */
  rule: number;
  matchIndex: number;
  match: RouteMatch;
  key: bigint;
}

export interface ListenerPlan {
  /** The HAProxy frontend's name: `namespace.service.port`, plus `.from.namespace` for consumer routes. */
  name: string;
  frontend: FrontendInfo;
  /** undefined: the producer routes, for clients without consumer routes of their own. */
  consumerNamespace?: string;
  why: string;
  rules: PlannedRule[];
  matches: PlannedMatch[];
}

export interface PlannedPool {
  pool: PoolInfo;
  /** The pool's own Service's meshc.io/lb-algorithm. */
  algorithm: Algorithm;
}

export interface ProxyPlan {
  listeners: ListenerPlan[];
  /** Every pool a listener uses, by its HAProxy backend name, sorted by name. */
  pools: Map<string, PlannedPool>;
  /** What the proxy does not serve as written, each naming the route and field. */
  reports: string[];
}

const utf8 = new TextEncoder();

/** The Wasm matcher's precedence key (assembly/l7/matcher.ts precedenceKey), from the model. */
export function precedenceKey(match: RouteMatch): bigint {
  const exact = match.path.type === 'Exact' ? 1n : 0n;
  const prefixLen = match.path.type === 'PathPrefix' ? BigInt(utf8.encode(match.path.value).length) : 0n;
  const method = match.method ? 1n : 0n;
  const headers = BigInt(new Set(match.headers.map((h) => h.name.toLowerCase())).size);
  const query = BigInt(new Set(match.queryParams.map((q) => q.name)).size);
  return (exact << 56n) | (prefixLen << 40n) | (method << 32n) | (headers << 16n) | query;
}

/** The HAProxy backend name of a pool: `pool.namespace.service.port`. */
export function poolName(pool: PoolInfo): string {
  const m = /^([^/]+)\/([^:]+):(\d+)\//.exec(pool.owner);
  if (!m) throw new Error(`pool owner ${JSON.stringify(pool.owner)} is not namespace/name:port/protocol`);
  return sectionName('pool', m[1]!, m[2]!, m[3]!);
}

/** What the proxy does not apply exactly as the rule says, each at its field. */
function notApplied(route: HTTPRoute, ruleIndex: number): string[] {
  const rule = route.rules[ruleIndex]!;
  const where = `HTTPRoute ${route.meta.namespace}/${route.meta.name}: spec.rules[${ruleIndex}]`;
  const out: string[] = [];
  if (rule.mirrors?.length) out.push(`${where}.filters: RequestMirror is not applied: HAProxy 2.6 has no request mirroring`);
  for (const key of ['request', 'backendRequest'] as const) {
    if (rule.timeouts?.[key]) out.push(`${where}.timeouts.${key}: applied as HAProxy's server timeout (the longest wait for the backend), not as a deadline for the whole ${key === 'request' ? 'request' : 'backend request'}`);
  }
  for (const type of rule.filters) {
    if (!APPLIED_FILTERS.includes(type)) out.push(`${where}.filters: ${type} is not applied by the node proxy`);
  }
  return out;
}

function listener(frontend: FrontendInfo, routes: HTTPRoute[], why: string, consumerNamespace: string | undefined, reports: string[]): ListenerPlan {
  const svc = frontend.service;
  const encoded = encodeRoutes(routes);
  reports.push(...encoded.unsupported);
  const rules: PlannedRule[] = [];
  const matches: PlannedMatch[] = [];
  for (const encodedRule of encoded.rules) {
    const info = frontend.rules.get(ruleKey(encodedRule.route, encodedRule.ruleIndex));
    if (!info) throw new Error(`HTTPRoute ${encodedRule.route.meta.namespace}/${encodedRule.route.meta.name}: rule ${encodedRule.ruleIndex} is not in the compiled tables`);
    const rule = rules.push({ route: encodedRule.route, ruleIndex: encodedRule.ruleIndex, groupSet: info.groupSet }) - 1;
    reports.push(...notApplied(encodedRule.route, encodedRule.ruleIndex));
    encodedRule.route.rules[encodedRule.ruleIndex]!.matches.forEach((match, matchIndex) => {
      matches.push({ rule, matchIndex, match, key: precedenceKey(match) });
    });
  }
  const ordered = matches.map((m, i) => ({ m, i })).sort((a, b) => (a.m.key === b.m.key ? a.i - b.i : a.m.key > b.m.key ? -1 : 1)).map((x) => x.m);
  const base = [svc.meta.namespace, svc.meta.name, String(frontend.port.port)];
  const name = consumerNamespace === undefined ? sectionName(...base) : sectionName(...base, 'from', consumerNamespace);
  return { name, frontend, ...(consumerNamespace === undefined ? {} : { consumerNamespace }), why, rules, matches: ordered };
}

export interface PlanOptions {
  /**
   * Also serve the Service ports whose routes the kernel decides (catch-all rules, weights only),
   * so the proxy can be compared with the Wasm policy on every route (the differential test).
   */
  allRouted?: boolean;
}

/** The proxy's plan for the compiled tables: every L7 Service port (first ClusterIP of each). */
export function planProxy(tables: CompiledTables, options: PlanOptions = {}): ProxyPlan {
  const listeners: ListenerPlan[] = [];
  const reports: string[] = [];
  const seen = new Set<string>();
  for (const frontend of tables.frontends) {
    const svc = frontend.service;
    const key = `${svc.meta.namespace}/${svc.meta.name}:${frontend.port.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const serving = frontendServing(frontend);
    const wanted = [
      ...(serving.producer.layer === 'L7' || (options.allRouted && frontend.routes.some((r) => r.meta.namespace === svc.meta.namespace))
        ? [{ namespace: undefined, why: serving.producer.why }] : []),
      ...[...serving.consumers].map(([namespace, s]) => ({ namespace, why: s.why })),
    ];
    if (wanted.length === 0) continue;
    if (frontend.protocol !== 'TCP') {
      reports.push(`Service ${key}/${frontend.protocol}: HTTPRoutes attach to a ${frontend.protocol} port; the proxy serves HTTP over TCP only, so they are not applied`);
      continue;
    }
    const sf = { namespace: svc.meta.namespace, name: svc.meta.name, port: frontend.port.port, portName: frontend.port.name };
    for (const w of wanted) {
      const routes = routesForFrontend(frontend.routes, sf, w.namespace ?? svc.meta.namespace);
      listeners.push(listener(frontend, routes, w.why, w.namespace, reports));
    }
  }
  listeners.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const algorithms = new Map(tables.frontends.map((f) => [`${f.service.meta.namespace}/${f.service.meta.name}`, f.service.algorithm]));
  const pools = new Map<string, PlannedPool>();
  for (const l of listeners) {
    for (const rule of l.rules) {
      for (const group of rule.groupSet.groups) {
        if (!group.pool || pools.has(poolName(group.pool))) continue;
        pools.set(poolName(group.pool), { pool: group.pool, algorithm: algorithms.get(group.service) ?? 'random' });
      }
    }
  }
  return { listeners, pools: new Map([...pools].sort(([a], [b]) => (a < b ? -1 : 1))), reports };
}
