// The table compiler: turns the model into the rows of every map that the policy reads. The
// same rows go to Wasm memory (simulation, playground) and to BPF maps (the node agent).
import type { BackendRef, Endpoint, HTTPRoute, Model, RouteRule, Service, ServicePort } from '../model/types.ts';
import { endpointKey, objectKey } from '../model/types.ts';
import * as L from './layouts.ts';
import { addressWords, encode, hex, netPort } from './codec.ts';
import { maglevRing } from './maglev.ts';
import { TableIds } from './ids.ts';
import { orderRoutes } from '../l7/encode.ts';

export interface TableRow {
  key: Uint8Array;
  value: Uint8Array;
}

/** Rows of one map, keyed by the hex of the key bytes. */
export type MapRows = Map<string, TableRow>;

export interface BackendInfo {
  id: number;
  ip: string;
  port: number;
  state: 'ready' | 'terminating';
  pod?: { namespace: string; name: string };
  nodeName?: string;
  zone?: string;
}

export interface PoolInfo {
  table: number;
  /** Service and port the pool belongs to, `namespace/name:port`. */
  owner: string;
  slots: BackendInfo[];
  counts: PoolCounts;
  maglev: boolean;
}

export interface PoolCounts {
  ready: number;
  ready_zone: number;
  ready_local: number;
  term: number;
  term_zone: number;
  term_local: number;
}

export interface GroupInfo {
  /** `namespace/name` of the backendRef's Service. */
  service: string;
  port?: number;
  weight: number;
  invalid?: string;
  pool?: PoolInfo;
}

export interface GroupSetInfo {
  set: number;
  count: number;
  total: number;
  groups: GroupInfo[];
}

export interface RuleInfo {
  route: HTTPRoute;
  ruleIndex: number;
  groupSet: GroupSetInfo;
}

export interface FrontendInfo {
  service: Service;
  port: ServicePort;
  vip: string;
  family: 4 | 6;
  protocol: ServicePort['protocol'];
  id: number;
  algorithm: number;
  flags: number;
  pool: PoolInfo;
  /** HTTPRoutes attached to this frontend (producer routes first, in precedence order). */
  routes: HTTPRoute[];
  /** Every rule of the attached routes with its weighted groups, keyed by `ns/name#rule`. */
  rules: Map<string, RuleInfo>;
  /** The rule a plain connection takes in the kernel, when routes are attached. */
  defaultRule?: RuleInfo;
  keyBytes: Uint8Array;
  /** The node proxy's listener this frontend's service row points at (CompileOptions.proxy). */
  steered?: ProxyTarget;
  /** The node proxy's listeners for the clients of namespaces with consumer routes (CompileOptions.consumerProxy). */
  consumers?: ConsumerTarget[];
}

/** A consumer-route listener: connect() from `namespace`'s clients goes there (the glue's mc_consumer). */
export interface ConsumerTarget extends ProxyTarget {
  namespace: string;
  /** The listener's backend id (its mc_backends row). */
  backend: number;
}

/** A node proxy listener: where connect() sends an L7 frontend's connections. */
export interface ProxyTarget {
  address: string;
  port: number;
}

export interface CompiledTables {
  rows: Map<L.MapName, MapRows>;
  frontends: FrontendInfo[];
  pools: Map<number, PoolInfo>;
  backends: Map<number, BackendInfo>;
  /** Problems found while compiling (for example too many backendRefs in a rule). */
  warnings: string[];
  /** Backend tables whose rows came from the cache, and those built anew. */
  reuse: { pools: number; built: number };
}

export interface CompileOptions {
  /** The node the tables are for: decides which endpoints are local. */
  node?: string;
  /** The node's zone; defaults to the zone of `node` in the model. */
  zone?: string;
  /** Keep ids stable across compiles (the agent); a fresh space by default. */
  ids?: TableIds;
  /**
   * Rows of earlier compiles, reused where their inputs are the same objects (a source that
   * rebuilds only what changed keeps the others): the agent's updates then cost what changed.
   */
  cache?: CompileCache;
  /**
   * The node proxy (meshc agent): the listener a frontend's connections go to, or undefined to
   * decide it in the kernel. A steered frontend's service row points at a pool of one backend,
   * the listener, instead of its catch-all rule's groups, so connect() rewrites the ClusterIP to
   * the proxy with the same policy code. Only the agent's tables are steered: the simulator
   * decides the routes itself.
   */
  proxy?: (frontend: FrontendInfo) => ProxyTarget | undefined;
  /**
   * The node proxy listener for `namespace`'s clients of a frontend with consumer routes of that
   * namespace, or undefined. Each gets a backend row (FrontendInfo.consumers); the agent writes
   * the glue's mc_consumer from them.
   */
  consumerProxy?: (frontend: FrontendInfo, namespace: string) => ProxyTarget | undefined;
}

interface PoolMemo {
  /** The model's endpoint list the pool was made from (compared by identity). */
  source: readonly Endpoint[];
  /** Node, zone and the zone/node numbering the rows were made with. */
  placement: string;
  content: string;
  info: PoolInfo;
  /** Each slot's backend key (`ip:port`) and mc_backends row. */
  backendRows: { key: string; hexKey: string; row: TableRow }[];
  rows: [L.MapName, string, TableRow][];
}

/** What compileTables may reuse from one compile to the next. */
export class CompileCache {
  readonly pools = new Map<string, PoolMemo>();
  readonly frontends = new Map<string, { info: FrontendInfo; hexKey: string; row: TableRow }>();
}

const NO_ENDPOINTS: readonly Endpoint[] = [];

export function ruleKey(route: HTTPRoute, ruleIndex: number): string {
  return `${route.meta.namespace}/${route.meta.name}#${ruleIndex}`;
}

/** Whether an HTTPRoute parentRef attaches the route to this Service port (GAMMA). */
export function attachesTo(route: HTTPRoute, svc: Service, port: ServicePort): boolean {
  return route.parentRefs.some(
    (ref) =>
      ref.group === '' &&
      ref.kind === 'Service' &&
      ref.name === svc.meta.name &&
      ref.namespace === svc.meta.namespace &&
      (ref.port === undefined || ref.port === port.port) &&
      (ref.sectionName === undefined || ref.sectionName === port.name),
  );
}

/** The id key of a frontend: ClusterIP, port and protocol (adopt.ts rebuilds it from a row). */
function frontendKeyOf(vip: string, port: ServicePort): string {
  return `${vip}:${port.port}/${port.protocol}`;
}

function isCatchAll(rule: RouteRule): boolean {
  return rule.matches.some(
    (m) => m.path.type === 'PathPrefix' && m.path.value === '/' && m.headers.length === 0 && m.queryParams.length === 0 && !m.method,
  );
}

class TableCompiler {
  private readonly rows = new Map<L.MapName, MapRows>();
  private readonly pools = new Map<number, PoolInfo>();
  private readonly poolsByKey = new Map<string, PoolInfo>();
  private readonly backends = new Map<number, BackendInfo>();
  private readonly warnings: string[] = [];
  private readonly zoneIds = new Map<string, number>();
  private readonly nodeIds = new Map<string, number>();
  private readonly liveTables = new Set<string>();
  private readonly liveSets = new Set<string>();
  private readonly liveBackends = new Set<string>();
  private readonly liveServices = new Set<string>();
  private readonly usedPools = new Set<string>();
  private readonly usedFrontends = new Set<string>();
  private readonly reuse = { pools: 0, built: 0 };
  /** What a pool's order and rows depend on besides its endpoints (see PoolMemo). */
  private readonly placement: string;
  private readonly zone?: string;

  constructor(
    private readonly model: Model,
    private readonly options: CompileOptions,
    private readonly ids: TableIds,
  ) {
    for (const name of L.TABLE_WRITE_ORDER) this.rows.set(name, new Map());
    const zones = new Set<string>();
    const nodes = new Set<string>();
    let endpointZone: string | undefined;
    for (const list of model.endpoints.values()) {
      for (const ep of list) {
        if (ep.zone) zones.add(ep.zone);
        if (ep.nodeName) nodes.add(ep.nodeName);
        if (ep.zone && options.node !== undefined && ep.nodeName === options.node) endpointZone = ep.zone;
      }
    }
    // The node's zone: given, else its Node object's label, else what its endpoints say.
    this.zone = options.zone ?? (options.node ? (model.nodes.get(options.node)?.zone ?? endpointZone) : undefined);
    [...zones].sort().forEach((z, i) => this.zoneIds.set(z, i + 1));
    [...nodes].sort().forEach((n, i) => this.nodeIds.set(n, i + 1));
    this.placement = JSON.stringify([options.node ?? null, this.zone ?? null, [...this.zoneIds.keys()], [...this.nodeIds.keys()]]);
  }

  compile(): CompiledTables {
    const frontends: FrontendInfo[] = [];
    const services = [...this.model.services.values()].sort((a, b) =>
      objectKey(a.meta.namespace, a.meta.name) < objectKey(b.meta.namespace, b.meta.name) ? -1 : 1,
    );
    const routesByParent = new Map<string, HTTPRoute[]>();
    for (const route of orderRoutes(this.model.routes)) {
      for (const parent of new Set(route.parentRefs.filter((r) => r.kind === 'Service' && r.group === '').map((r) => objectKey(r.namespace, r.name)))) {
        routesByParent.set(parent, [...(routesByParent.get(parent) ?? []), route]);
      }
    }
    // Free the ids of frontends that are gone before new ones take any: after a restart that
    // adopted many frontends, a new set must not run out of ids the old one no longer needs.
    // (Their rows go first in the apply in steps; at once, a reused id is on two rows for the
    // moment between the new row and the old one's removal.)
    const balanced = services.filter((svc) => !svc.headless && svc.type !== 'ExternalName');
    this.ids.services.retain(new Set(balanced.flatMap((svc) => svc.ports.flatMap((port) => svc.clusterIPs.map((vip) => frontendKeyOf(vip, port))))));
    for (const svc of balanced) {
      const routes = routesByParent.get(objectKey(svc.meta.namespace, svc.meta.name)) ?? [];
      for (const port of svc.ports) {
        for (const vip of svc.clusterIPs) frontends.push(this.frontend(svc, port, vip, routes));
      }
    }
    this.ids.services.retain(this.liveServices);
    this.ids.backends.retain(this.liveBackends);
    this.ids.tables.retain(this.liveTables);
    this.ids.groupSets.retain(this.liveSets);
    this.pruneCache();
    return { rows: this.rows, frontends, pools: this.pools, backends: this.backends, warnings: this.warnings, reuse: this.reuse };
  }

  /** Forgets what this compile did not use, so the cache holds only the live state. */
  private pruneCache(): void {
    const cache = this.options.cache;
    if (!cache) return;
    for (const key of cache.pools.keys()) if (!this.usedPools.has(key)) cache.pools.delete(key);
    for (const key of cache.frontends.keys()) if (!this.usedFrontends.has(key)) cache.frontends.delete(key);
  }

  private frontend(svc: Service, port: ServicePort, vip: string, routes: HTTPRoute[]): FrontendInfo {
    const protocol = port.protocol;
    const frontendKey = frontendKeyOf(vip, port);
    this.liveServices.add(frontendKey);
    const maglev = svc.algorithm === 'maglev';
    const family = vip.includes(':') ? 6 : 4;
    const pool = this.pool(svc, port, maglev, family);
    const attached = routes.filter((r) => attachesTo(r, svc, port));
    const memo = this.options.cache?.frontends.get(frontendKey);
    this.usedFrontends.add(frontendKey);
    if (memo && memo.info.service === svc && memo.info.port === port && memo.info.pool === pool && attached.length === 0 && memo.info.routes.length === 0) {
      // The same Service object and the same pool: the same row as last time.
      this.rows.get('mc_services')!.set(memo.hexKey, memo.row);
      return memo.info;
    }
    const words = addressWords(vip);
    const id = this.ids.services.assign(frontendKey);
    const algorithm = L.ALG[svc.algorithm];
    const rules = new Map<string, RuleInfo>();
    let defaultRule: RuleInfo | undefined;
    let l7 = false;
    for (const route of attached) {
      route.rules.forEach((rule, ruleIndex) => {
        const info: RuleInfo = { route, ruleIndex, groupSet: this.groupSet(route, rule, maglev, words.family) };
        rules.set(ruleKey(route, ruleIndex), info);
        // Consumer routes (another namespace) apply to their own namespace's clients only, so
        // they never decide what a plain connection gets in the kernel.
        if (route.meta.namespace !== svc.meta.namespace) return;
        if (!isCatchAll(rule) || rule.matches.length > 1) l7 = true;
        if (!defaultRule && isCatchAll(rule)) defaultRule = info;
      });
    }
    const producer = attached.some((r) => r.meta.namespace === svc.meta.namespace);
    const info: FrontendInfo = {
      service: svc, port, vip, family: words.family, protocol, id, algorithm, flags: 0, pool,
      routes: attached, rules, defaultRule, keyBytes: new Uint8Array(0),
    };
    const target = producer ? this.options.proxy?.(info) : undefined;
    if (target && (target.address.includes(':') ? 6 : 4) === words.family) {
      // The refusing set stays live, so a compile without steering (the proxy cannot serve) finds the same ids.
      if (!defaultRule) this.refusingSet();
      return this.withConsumers(this.steered(info, target, frontendKey));
    }
    let flags = 0;
    if (svc.sessionAffinity === 'ClientIP') flags |= L.SVC_F.affinity;
    if (svc.internalTrafficPolicy === 'Local') flags |= L.SVC_F.local;
    if (svc.preferSameZone) flags |= L.SVC_F['prefer-zone'];
    if (l7) flags |= L.SVC_F.l7;
    // With routes attached, a connection that no rule takes is refused (GAMMA: routes replace
    // the Service's default behaviour); an empty invalid group set says so to the policy.
    const groups = producer ? (defaultRule?.groupSet ?? this.refusingSet()) : undefined;
    const keyBytes = encode(L.ServiceKey, { ...words, port: netPort(port.port), proto: L.IPPROTO[protocol], family: words.family });
    const value = encode(L.ServiceValue, {
      id,
      table: pool.table,
      ...pool.counts,
      algorithm,
      flags,
      group_count: groups?.count ?? 0,
      affinity_timeout: svc.affinityTimeoutSeconds,
      groups: groups?.set ?? 0,
      weight_total: groups?.total ?? 0,
    });
    const row = { key: keyBytes, value };
    const hexKey = hex(keyBytes);
    this.rows.get('mc_services')!.set(hexKey, row);
    info.flags = flags;
    info.keyBytes = keyBytes;
    this.options.cache?.frontends.set(frontendKey, { info, hexKey, row });
    return this.withConsumers(info);
  }

  /** Backend rows for the consumer-route listeners of `info`'s client namespaces. */
  private withConsumers(info: FrontendInfo): FrontendInfo {
    const ask = this.options.consumerProxy;
    if (!ask) return info;
    const own = info.service.meta.namespace;
    const namespaces = [...new Set(info.routes.map((r) => r.meta.namespace).filter((ns) => ns !== own))].sort();
    const consumers: ConsumerTarget[] = [];
    for (const namespace of namespaces) {
      const target = ask(info, namespace);
      if (!target || (target.address.includes(':') ? 6 : 4) !== info.family) continue;
      const endpoint: Endpoint = { ip: target.address, port: target.port, family: info.family, ready: true, serving: true, terminating: false };
      const backend = this.backend(endpoint, []);
      consumers.push({ ...target, namespace, backend: backend.id });
    }
    if (consumers.length > 0) info.consumers = consumers;
    return info;
  }

  /**
   * The service row of a frontend the node proxy serves: a pool of one backend, the listener,
   * with no groups, so the policy translates every connect() to it (no affinity, locality or
   * zone preference: there is one proxy, on this node). The rule rows stay, for the proxy's plan.
   */
  private steered(info: FrontendInfo, target: ProxyTarget, frontendKey: string): FrontendInfo {
    const owner = `meshc-proxy/${info.service.meta.namespace}/${info.service.meta.name}:${info.port.port}/${info.protocol}`;
    const backendRows: PoolMemo['backendRows'] = [];
    const endpoint: Endpoint = { ip: target.address, port: target.port, family: info.family, ready: true, serving: true, terminating: false };
    const backend = this.backend(endpoint, backendRows);
    const content = `${owner}|${target.address}:${target.port}|${backend.id}`;
    this.liveTables.add(content);
    const table = this.ids.tables.assign(content);
    const counts: PoolCounts = { ready: 1, ready_zone: 1, ready_local: 1, term: 0, term_zone: 0, term_local: 0 };
    this.put('mc_slots', encode(L.TableKey, { table, index: 0 }), encode(L.TableValue, { value: backend.id }));
    this.put('mc_members', encode(L.TableKey, { table, index: backend.id }), encode(L.TableValue, { value: 0 }));
    const words = addressWords(info.vip);
    const flags = L.SVC_F.l7;
    const keyBytes = encode(L.ServiceKey, { ...words, port: netPort(info.port.port), proto: L.IPPROTO[info.protocol], family: words.family });
    const value = encode(L.ServiceValue, {
      id: info.id, table, ...counts, algorithm: L.ALG.random, flags, group_count: 0, affinity_timeout: 0, groups: 0, weight_total: 0,
    });
    const row = { key: keyBytes, value };
    const hexKey = hex(keyBytes);
    this.rows.get('mc_services')!.set(hexKey, row);
    const steered: FrontendInfo = { ...info, flags, keyBytes, steered: { ...target } };
    this.options.cache?.frontends.set(frontendKey, { info: steered, hexKey, row });
    return steered;
  }

  private put(map: L.MapName, key: Uint8Array, value: Uint8Array, record?: [L.MapName, string, TableRow][]): void {
    const hexKey = hex(key);
    const row = { key, value };
    this.rows.get(map)!.set(hexKey, row);
    record?.push([map, hexKey, row]);
  }

  /**
   * The backend table of one Service port for one address family (a dual-stack Service's IPv6
   * ClusterIP never leads to an IPv4 pod), ordered for usableSlots() in the policy.
   */
  private pool(svc: Service, port: ServicePort, maglev: boolean, family: 4 | 6): PoolInfo {
    const owner = `${svc.meta.namespace}/${svc.meta.name}:${port.port}/${port.protocol}`;
    const cacheKey = `${owner}|${maglev}|${family}`;
    const cached = this.poolsByKey.get(cacheKey);
    if (cached) return cached;
    const source = this.model.endpoints.get(endpointKey(svc, port)) ?? NO_ENDPOINTS;
    this.usedPools.add(cacheKey);
    const memo = this.options.cache?.pools.get(cacheKey);
    if (memo && memo.source === source && memo.placement === this.placement && this.reusePool(memo)) {
      this.poolsByKey.set(cacheKey, memo.info);
      return memo.info;
    }
    const { list, counts } = this.orderedPool(source, family);
    const backendRows: PoolMemo['backendRows'] = [];
    const slots = list.map((ep) => this.backend(ep, backendRows));
    // The owner is part of the content: two Services with the same endpoints get a table each, so
    // the table a decision names tells which Service (or backendRef) made it.
    const content = `${owner}|${slots.map((b) => `${b.id}:${b.state}`).join(',')}|${Object.values(counts).join(',')}|${maglev}`;
    this.liveTables.add(content);
    const table = this.ids.tables.assign(content);
    const info: PoolInfo = { table, owner, slots, counts, maglev };
    this.poolsByKey.set(cacheKey, info);
    if (this.pools.has(table)) return info;
    this.pools.set(table, info);
    this.reuse.built++;
    const rows: [L.MapName, string, TableRow][] = [];
    slots.forEach((backend, index) => {
      this.put('mc_slots', encode(L.TableKey, { table, index }), encode(L.TableValue, { value: backend.id }), rows);
      this.put('mc_members', encode(L.TableKey, { table, index: backend.id }), encode(L.TableValue, { value: index }), rows);
    });
    if (maglev) this.maglevRows(table, slots, counts, rows);
    this.options.cache?.pools.set(cacheKey, { source, placement: this.placement, content, info, backendRows, rows });
    return info;
  }

  /**
   * Puts a pool of the previous compile back as it was: same endpoint objects, same placement,
   * so the same backends, ids, revision and rows. False if its revision is taken by another pool.
   */
  private reusePool(memo: PoolMemo): boolean {
    if (this.pools.has(memo.info.table)) return false;
    memo.backendRows.forEach((b, i) => this.registerBackend(b.key, memo.info.slots[i]!, b.hexKey, b.row));
    this.liveTables.add(memo.content);
    this.pools.set(memo.info.table, memo.info);
    for (const [map, hexKey, row] of memo.rows) this.rows.get(map)!.set(hexKey, row);
    this.reuse.pools++;
    return true;
  }

  /** Ready endpoints, then serving-terminating ones, each ordered by ordered(). */
  private orderedPool(source: readonly Endpoint[], family: 4 | 6): { list: Endpoint[]; counts: PoolCounts } {
    const endpoints = source.filter((e) => e.family === family);
    const ready = this.ordered(endpoints.filter((e) => e.ready));
    const term = this.ordered(endpoints.filter((e) => !e.ready && e.serving));
    return {
      list: [...ready.list, ...term.list],
      counts: {
        ready: ready.list.length, ready_zone: ready.zone, ready_local: ready.local,
        term: term.list.length, term_zone: term.zone, term_local: term.local,
      },
    };
  }

  /** The ring covers the ready slots, or the serving-terminating ones when none is ready. */
  private maglevRows(table: number, slots: BackendInfo[], counts: PoolCounts, record: [L.MapName, string, TableRow][]): void {
    const base = counts.ready > 0 ? 0 : counts.ready;
    const count = counts.ready > 0 ? counts.ready : counts.term;
    if (count === 0) return;
    const names = slots.slice(base, base + count).map((b) => `${b.ip}:${b.port}`);
    const ring = maglevRing(names, L.MAGLEV_RING);
    ring.forEach((owner, position) => {
      this.put('mc_maglev', encode(L.TableKey, { table, index: position }), encode(L.TableValue, { value: base + owner }), record);
    });
  }

  /** This node's endpoints first, then the rest of its zone, then the others; by address inside. */
  private ordered(endpoints: Endpoint[]): { list: Endpoint[]; local: number; zone: number } {
    const byAddress = (a: Endpoint, b: Endpoint) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1);
    const isLocal = (e: Endpoint) => this.options.node !== undefined && e.nodeName === this.options.node;
    const inZone = (e: Endpoint) =>
      this.zone !== undefined && (e.forZones ? e.forZones.includes(this.zone) : e.zone === this.zone);
    const local = endpoints.filter(isLocal).sort(byAddress);
    const zone = endpoints.filter((e) => !isLocal(e) && inZone(e)).sort(byAddress);
    const rest = endpoints.filter((e) => !isLocal(e) && !inZone(e)).sort(byAddress);
    return { list: [...local, ...zone, ...rest], local: local.length, zone: local.length + zone.length };
  }

  private backend(ep: Endpoint, record: PoolMemo['backendRows']): BackendInfo {
    const key = `${ep.ip}:${ep.port}`;
    const id = this.ids.backends.assign(key);
    const state = ep.ready ? 'ready' : 'terminating';
    const info: BackendInfo = { id, ip: ep.ip, port: ep.port, state, pod: ep.pod, nodeName: ep.nodeName, zone: ep.zone };
    const words = addressWords(ep.ip);
    const k = encode(L.ArrayIndex, { index: id });
    const zone = ep.zone ? this.zoneIds.get(ep.zone)! : 0;
    const node = ep.nodeName ? this.nodeIds.get(ep.nodeName)! : 0;
    const value = encode(L.Backend, { ...words, port: netPort(ep.port), state: L.BACKEND[state], family: words.family, zone, node, weight: 1 });
    const built = { key, hexKey: hex(k), row: { key: k, value } };
    record.push(built);
    return this.registerBackend(key, info, built.hexKey, built.row);
  }

  /** Counts a backend as live and puts its row, unless a ready claim on it came first. */
  private registerBackend(key: string, info: BackendInfo, hexKey: string, row: TableRow): BackendInfo {
    this.liveBackends.add(key);
    const known = this.backends.get(info.id);
    // One address can back several Services; a ready claim wins over a terminating one.
    if (known && known.state === 'ready') return known === info ? info : { ...info, state: known.state };
    this.backends.set(info.id, info);
    this.rows.get('mc_backends')!.set(hexKey, row);
    return info;
  }

  /** The weighted groups of one rule: each backendRef's share and its Service port's pool. */
  private groupSet(route: HTTPRoute, rule: RouteRule, maglev: boolean, family: 4 | 6): GroupSetInfo {
    const where = `HTTPRoute ${route.meta.namespace}/${route.meta.name}`;
    let refs = rule.backendRefs;
    if (refs.length > L.MAX_GROUPS) {
      this.warnings.push(`${where}: a rule has ${refs.length} backendRefs; meshc uses the first ${L.MAX_GROUPS}`);
      refs = refs.slice(0, L.MAX_GROUPS);
    }
    const groups = refs.map((ref) => this.group(ref, maglev, family));
    // A rule without backendRefs answers 500: one invalid group carries all of its traffic.
    if (groups.length === 0) groups.push({ service: '', weight: 1, invalid: 'no backendRefs' });
    return this.writeSet(groups);
  }

  private refusingSet(): GroupSetInfo {
    return this.writeSet([{ service: '', weight: 1, invalid: 'no rule matches a plain connection' }]);
  }

  private group(ref: BackendRef, maglev: boolean, family: 4 | 6): GroupInfo {
    const service = objectKey(ref.namespace, ref.name);
    const base: GroupInfo = { service, port: ref.port, weight: ref.weight };
    if (ref.invalid) return { ...base, invalid: ref.invalid };
    if (ref.group !== '' || ref.kind !== 'Service') return { ...base, invalid: `unsupported kind ${ref.kind}` };
    const svc = this.model.services.get(service);
    if (!svc) return { ...base, invalid: `Service ${service} not found` };
    const port = svc.ports.find((p) => p.port === ref.port);
    if (!port) return { ...base, invalid: `Service ${service} has no port ${ref.port ?? '(unset)'}` };
    return { ...base, pool: this.pool(svc, port, maglev, family) };
  }

  private writeSet(groups: GroupInfo[]): GroupSetInfo {
    const content = groups.map((g) => `${g.weight}:${g.pool?.table ?? `x${g.invalid}`}`).join(',');
    this.liveSets.add(content);
    const set = this.ids.groupSets.assign(content);
    let total = 0;
    groups.forEach((group, index) => {
      total += group.weight;
      const counts = group.pool?.counts;
      this.put('mc_groups', encode(L.GroupKey, { set, index }), encode(L.Group, {
        weight_end: total,
        table: group.pool?.table ?? 0,
        ...(counts ?? {}),
        flags: group.pool ? 0 : L.GROUP_F_INVALID,
      }));
    });
    return { set, count: groups.length, total, groups };
  }
}

export function compileTables(model: Model, options: CompileOptions = {}): CompiledTables {
  return new TableCompiler(model, options, options.ids ?? new TableIds()).compile();
}
