// The node proxy's configuration: the third sink of the compiled tables. Prints a ProxyPlan as
// haproxy.cfg (HAProxy 2.6), byte for byte the same for the same plan and options.
//
// One HAProxy frontend per listener (an L7 Service port and client set) on a port of its own at
// the node address: connect4 rewrites the ClusterIP:port to that port, so the port alone says
// which Service was dialled (no SO_ORIGINAL_DST lookup), and each frontend holds only its own
// rules. In each frontend, http-request rules run in order:
//   1. the weighted pick's random number (txn.meshc_pick) and the first value of each query
//      parameter that a match reads (txn.meshc_qN);
//   2. the matches in precedence order: the first that holds sets txn.meshc_rule;
//   3. 404 when none did; then per rule: 500 for the share of invalid backendRefs;
//   4. use_backend by rule and, for a rule with several backendRefs, by the pick's place in the
//      cumulative weights (r % total, as src/l7/select.ts pickBackend and the kernel's weighted
//      pick do), read from process variables that the runtime API changes without a reload;
//   5. the chosen rule's filters (filter-config.ts); a rule's timeout goes in txn.meshc_timeout,
//      which the pool's backend applies (set-timeout needs a backend).
// One HAProxy backend per Service port pool, shared by every rule that sends to it.

import type { RouteMatch } from '../model/types.ts';
import type { ListenerPlan, PlannedMatch, PlannedPool, ProxyPlan } from './plan.ts';
import { poolName } from './plan.ts';
import { pcreFor } from './pcre.ts';
import { bytesRegex, quoted, sectionName, singleQuoted } from './config-words.ts';
import { writeRedirect, writeRequestFilters } from './filter-config.ts';
import { slotName, type PoolSlots, type SlotTable } from './slots.ts';

export interface HaproxyConfigOptions {
  /** The node address the listeners bind (pods reach the node there; never 127.0.0.1 on a node). */
  bindAddress: string;
  /** Listener port by listener name (see ports.ts). */
  ports: ReadonlyMap<string, number>;
  /** The master's runtime API socket, for endpoint and weight changes without a reload. */
  statsSocket?: string;
  /**
   * Print each pool as fixed server slots (slots.ts) so endpoints change through the runtime API.
   * Without it, one server line per endpoint.
   */
  slots?: SlotTable;
  /** With `slots`: print every slot as free (the configuration's shape, to tell a reload from a runtime change). */
  shapeOnly?: boolean;
  /**
   * Differential tests only: take the weighted pick's random number from this request header
   * instead of `rand`, so the test can give HAProxy and the Wasm matcher the same number.
   */
  pickHeader?: string;
  /**
   * A unix datagram socket the agent reads: one line per request in ACCESS_LOG_FORMAT (src/observe
   * parses it). Without it, requests are not logged.
   */
  accessLog?: string;
  /**
   * HAProxy threads (`nbthread`); default 1. One thread measured ×0.72-0.76 of the default's CPU
   * per connection-per-request on a 2-core node (bench/proxy-hop.ts --variants, two runs), with
   * keep-alive about the same (×1.03-1.08): no handoff between threads per connection. A node
   * whose L7 traffic needs more than one core raises it.
   */
  threads?: number;
}

/**
 * The request log line (HAProxy log-format): a version word, accept time (s.ms), client, listener,
 * pool, server slot and address, the rule and weighted group the frontend chose, status, total and
 * server times (ms), termination state, method, then the path (last: it may hold anything).
 */
export const ACCESS_LOG_FORMAT = 'meshc1 %Ts.%ms %ci:%cp %f %b %s %si:%sp %[var(txn.meshc_rule)] %[var(txn.meshc_g)] %ST %Ta %Tr %tsc %HM %HPO';

/** HAProxy sample-fetch arguments cannot carry every token character; these are safe. */
const SAFE_NAME = /^[A-Za-z0-9_.-]+$/;

const ALGORITHM_BALANCE: Record<string, string> = {
  random: 'balance random',
  'round-robin': 'balance roundrobin',
  'least-conn': 'balance leastconn',
  maglev: 'balance source\n    hash-type consistent',
};

class Lines {
  readonly out: string[] = [];
  section(header: string): void { this.out.push('', header); }
  line(text: string): void { this.out.push(`    ${text}`); }
  comment(text: string): void { this.out.push(`    # ${text}`); }
}

/** Why a match cannot be written for HAProxy exactly as the Wasm matcher decides it, if it cannot. */
function inexpressible(match: RouteMatch): { field: string; why: string } | undefined {
  for (const [i, h] of match.headers.entries()) {
    if (!SAFE_NAME.test(h.name)) return { field: `headers[${i}].name`, why: `header name ${JSON.stringify(h.name)} has characters HAProxy's req.fhdr() argument cannot carry` };
    if (h.type === 'Exact' && h.value === '') return { field: `headers[${i}].value`, why: 'an empty Exact value (the CRD requires one character)' };
  }
  for (const [i, q] of match.queryParams.entries()) {
    if (!SAFE_NAME.test(q.name)) return { field: `queryParams[${i}].name`, why: `query parameter name ${JSON.stringify(q.name)} has characters the proxy does not match exactly` };
    if (q.type === 'Exact' && q.value === '') return { field: `queryParams[${i}].value`, why: 'an empty Exact value (the CRD requires one character)' };
  }
  return undefined;
}

/** A regex that is never written because the Wasm matcher does not take it either (never matches). */
function unsupportedRegex(match: RouteMatch): boolean {
  if (match.path.type === 'RegularExpression' && 'unsupported' in pcreFor(match.path.value)) return true;
  return [...match.headers, ...match.queryParams].some((c) => c.type === 'RegularExpression' && 'unsupported' in pcreFor(c.value));
}

function valueTest(type: 'Exact' | 'RegularExpression', value: string): string {
  if (type === 'Exact') return `-m str -- ${quoted(value)}`;
  const p = pcreFor(value);
  if ('unsupported' in p) throw new Error('unreachable: unsupported regexes are left out');
  return `-m reg -- ${singleQuoted(p.pattern)}`;
}

function matchConditions(lines: Lines, m: PlannedMatch, k: number, queryVars: Map<string, string>): string[] {
  const acl = (suffix: string) => sectionName(`m${k}`, suffix);
  const names: string[] = [];
  const { path } = m.match;
  const pathAcl = acl('path');
  if (path.type === 'Exact') lines.line(`acl ${pathAcl} path -m str -- ${quoted(path.value)}`);
  else if (path.type === 'RegularExpression') lines.line(`acl ${pathAcl} path ${valueTest('RegularExpression', path.value)}`);
  else {
    // Whole segments: `/abc` (or `/abc/`) takes `/abc` and `/abc/...`, never `/abcd`.
    const prefix = path.value.endsWith('/') ? path.value.slice(0, -1) : path.value;
    if (prefix === '') lines.line(`acl ${pathAcl} path -m len 0`);
    else lines.line(`acl ${pathAcl} path -m str -- ${quoted(prefix)}`);
    lines.line(`acl ${pathAcl} path -m beg -- ${quoted(`${prefix}/`)}`);
  }
  names.push(pathAcl);
  if (m.match.method) {
    lines.line(`acl ${acl('method')} method -m str -- ${m.match.method}`);
    names.push(acl('method'));
  }
  const headers = new Set<string>();
  m.match.headers.forEach((h, i) => {
    if (headers.has(h.name.toLowerCase())) return;
    headers.add(h.name.toLowerCase());
    lines.line(`acl ${acl(`h${i}`)} req.fhdr(${h.name.toLowerCase()},1) ${valueTest(h.type, h.value)}`);
    names.push(acl(`h${i}`));
  });
  const params = new Set<string>();
  m.match.queryParams.forEach((q, i) => {
    if (params.has(q.name)) return;
    params.add(q.name);
    lines.line(`acl ${acl(`q${i}`)} var(${queryVars.get(q.name)!}),url_dec ${valueTest(q.type, q.value)}`);
    names.push(acl(`q${i}`));
  });
  return names;
}

/** The http-request rules that put the first value of each query parameter a match reads in a variable. */
function queryVariables(lines: Lines, written: PlannedMatch[]): Map<string, string> {
  const vars = new Map<string, string>();
  for (const m of written) for (const q of m.match.queryParams) if (!vars.has(q.name)) vars.set(q.name, `txn.meshc_q${vars.size}`);
  for (const [name, v] of vars) {
    const n = bytesRegex(name);
    const present = sectionName(`${v.slice(4)}.present`);
    lines.comment(`first value of query parameter ${JSON.stringify(name)} (only '&' separates parameters)`);
    lines.line(`acl ${present} query -m reg -- ${singleQuoted(`\\A(?:[^&]*&)*${n}(?:[=&]|\\z)`)}`);
    const first = `\\A(?:(?!${n}(?:[=&]|\\z))[^&]*&)*${n}(?:=([^&]*))?(?:&[\\x00-\\xff]*)?\\z`;
    lines.line(`http-request set-var(${v}) ${singleQuoted(`query,regsub("${first}","\\1")`)} if ${present}`);
  }
  return vars;
}

function ruleTitle(l: ListenerPlan, r: number, shapeOnly: boolean): string {
  const rule = l.rules[r]!;
  const groups = rule.groupSet.groups.map((g) => `${shapeOnly ? 'w' : g.weight} -> ${g.invalid ? `500 (${g.service || 'no backendRef'}: ${g.invalid})` : `${g.service}:${g.port}`}`);
  return `rule ${r}: HTTPRoute ${rule.route.meta.namespace}/${rule.route.meta.name} spec.rules[${rule.ruleIndex}]: ${groups.join(', ')}`;
}

/**
 * The weighted pick of a rule with several backendRefs, from process variables (set in the
 * global section, changed through the runtime API without a reload): r = pick % total, then the
 * first group whose cumulative end is above r. Returns each group's condition.
 */
function weightedPick(lines: Lines, l: ListenerPlan, li: number, r: number, ruleAcl: string, weights: Map<string, number>): string[] {
  const { groups, total } = l.rules[r]!.groupSet;
  const name = (suffix: string) => `proc.meshc_l${li}_r${r}_${suffix}`;
  weights.set(name('t'), total);
  lines.line(`http-request set-var(txn.meshc_r) var(txn.meshc_pick),mod(${name('t')}) if ${ruleAcl}`);
  let end = 0;
  groups.forEach((g, k) => {
    end += g.weight;
    weights.set(name(`e${k}`), end);
    lines.line(`http-request set-var(txn.meshc_g) int(${k}) if ${ruleAcl} !group.chosen { var(txn.meshc_r),sub(${name(`e${k}`)}) -m int lt 0 }`);
  });
  // Only while a runtime weight change is half applied can a pick fall past every end.
  lines.line(`http-request set-var(txn.meshc_g) int(${groups.length - 1}) if ${ruleAcl} !group.chosen`);
  return groups.map((_, k) => ` { var(txn.meshc_g) -m int eq ${k} }`);
}

function writeListener(lines: Lines, l: ListenerPlan, li: number, options: HaproxyConfigOptions, reports: string[], weights: Map<string, number>): void {
  const port = options.ports.get(l.name);
  if (port === undefined) throw new Error(`listener ${l.name}: no port assigned`);
  const svc = l.frontend.service;
  lines.section(`frontend ${l.name}`);
  lines.comment(`Service ${svc.meta.namespace}/${svc.meta.name} port ${l.frontend.port.port} (ClusterIP ${l.frontend.vip})${l.consumerNamespace ? `, clients in namespace ${l.consumerNamespace}` : ''}`);
  lines.comment(`served here because ${l.why}`);
  lines.line(`bind ${options.bindAddress.includes(':') ? `[${options.bindAddress}]` : options.bindAddress}:${port}`);
  lines.line(options.pickHeader ? `http-request set-var(txn.meshc_pick) req.fhdr(${options.pickHeader},1)` : 'http-request set-var(txn.meshc_pick) rand');
  const written = l.matches.filter((m) => {
    const rule = l.rules[m.rule]!;
    const where = `HTTPRoute ${rule.route.meta.namespace}/${rule.route.meta.name}: spec.rules[${rule.ruleIndex}].matches[${m.matchIndex}]`;
    const problem = inexpressible(m.match);
    if (problem) reports.push(`${where}.${problem.field}: ${problem.why}; the proxy never takes this match`);
    return !problem && !unsupportedRegex(m.match);
  });
  const queryVars = queryVariables(lines, written);
  lines.line('acl rule.chosen var(txn.meshc_rule) -m found');
  written.forEach((m, k) => {
    const rule = l.rules[m.rule]!;
    const conditions = [];
    lines.comment(`match ${k}: HTTPRoute ${rule.route.meta.namespace}/${rule.route.meta.name} spec.rules[${rule.ruleIndex}].matches[${m.matchIndex}] -> rule ${m.rule}`);
    conditions.push(...matchConditions(lines, m, k, queryVars));
    lines.line(`http-request set-var(txn.meshc_rule) int(${m.rule}) if !rule.chosen ${conditions.join(' ')}`);
  });
  lines.line('http-request return status 404 if !rule.chosen');
  const uses: string[] = [];
  const responses: string[] = [];
  if (l.rules.some((rule) => rule.groupSet.groups.length > 1)) lines.line('acl group.chosen var(txn.meshc_g) -m found');
  l.rules.forEach((rule, r) => {
    lines.comment(ruleTitle(l, r, options.shapeOnly === true));
    const ruleAcl = sectionName(`rule.${r}`);
    lines.line(`acl ${ruleAcl} var(txn.meshc_rule) -m int eq ${r}`);
    const spec = rule.route.rules[rule.ruleIndex]!;
    if (writeRedirect(lines, spec, ruleAcl, r, l.frontend.port.port)) return;
    const { groups, total } = rule.groupSet;
    if (total === 0) {
      lines.line(`http-request return status 500 if ${ruleAcl}`);
      return;
    }
    const conditions = groups.length > 1 ? weightedPick(lines, l, li, r, ruleAcl, weights) : [''];
    const shares = groups.map((g, k) => (g.pool ? conditions[k] : undefined));
    groups.forEach((g, k) => {
      if (!g.pool) lines.line(`http-request return status 500 if ${ruleAcl}${conditions[k]}`);
      else uses.push(`use_backend ${poolName(g.pool)} if ${ruleAcl}${conditions[k]}`);
    });
    responses.push(...writeRequestFilters(lines, spec, ruleAcl, r, shares));
  });
  for (const u of responses) lines.line(u);
  for (const u of uses) lines.line(u);
}

/** A free slot's placeholder address: never used, the slot is in maintenance until it is filled. */
const FREE_SLOT = '127.0.0.1:1';

function writeSlots(lines: Lines, slots: PoolSlots, shapeOnly: boolean): void {
  for (const backup of [false, true]) {
    (backup ? slots.backup : slots.primary).forEach((e, i) => {
      const flag = backup ? ' backup' : '';
      if (!e || shapeOnly) lines.line(`server ${slotName(backup, i)} ${FREE_SLOT}${flag} disabled`);
      else lines.line(`server ${slotName(backup, i)} ${e.ip.includes(':') ? `[${e.ip}]` : e.ip}:${e.port}${flag}${e.pod ? `  # ${e.pod}` : ''}`);
    });
  }
}

function writePool(lines: Lines, name: string, { pool, algorithm }: PlannedPool, options: HaproxyConfigOptions): void {
  lines.section(`backend ${name}`);
  const slots = options.slots?.get(name);
  if (slots) lines.comment(`Service ${pool.owner}: ${slots.primary.length} slots for ready endpoints, ${slots.backup.length} backup slots for serving-terminating ones (used only when none is ready); endpoints change through the runtime API`);
  else {
    const ready = pool.slots.filter((b) => b.state === 'ready').length;
    lines.comment(`Service ${pool.owner}: ${ready} ready, ${pool.slots.length - ready} serving-terminating (used only when none is ready)`);
  }
  lines.line(ALGORITHM_BALANCE[algorithm] ?? ALGORITHM_BALANCE.random!);
  lines.line('http-request set-timeout server var(txn.meshc_timeout) if { var(txn.meshc_timeout) -m found }');
  if (slots) {
    writeSlots(lines, slots, options.shapeOnly === true);
    return;
  }
  for (const b of pool.slots) {
    const address = b.ip.includes(':') ? `[${b.ip}]:${b.port}` : `${b.ip}:${b.port}`;
    const pod = b.pod ? `  # ${b.pod.namespace}/${b.pod.name}` : '';
    lines.line(`server ${sectionName(`${b.ip}:${b.port}`)} ${address}${b.state === 'ready' ? '' : ' backup'}${pod}`);
  }
}

export interface HaproxyConfig {
  text: string;
  /** The weighted picks' process variables (totals and cumulative ends) and their values. */
  weights: Map<string, number>;
  /** What the configuration does not apply as the routes say (each names the route and field). */
  reports: string[];
}

/** haproxy.cfg for the plan. */
export function haproxyConfig(plan: ProxyPlan, options: HaproxyConfigOptions): HaproxyConfig {
  const lines = new Lines();
  const reports = [...plan.reports];
  lines.out.push(
    '# DO NOT EDIT: generated by meshc (src/proxy/haproxy-config.ts) from the compiled tables:',
    `# ${plan.listeners.length} L7 listener(s), ${plan.pools.size} Service pool(s). Regenerated on every change.`,
  );
  const weights = new Map<string, number>();
  const body = new Lines();
  plan.listeners.forEach((l, li) => writeListener(body, l, li, options, reports, weights));
  for (const [name, pool] of plan.pools) writePool(body, name, pool, options);
  lines.section('global');
  if (options.statsSocket) lines.line(`stats socket ${options.statsSocket} mode 600 level admin expose-fd listeners`);
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new Error(`node proxy: threads is ${threads}: want a whole number from 1 to 64`);
  lines.line(`nbthread ${threads}`);
  lines.line('log stderr format raw local0 notice');
  if (options.accessLog) lines.line(`log ${options.accessLog} len 4096 format raw local0 info`);
  if (weights.size > 0) lines.comment('weighted picks (listener, rule): total and cumulative end per backendRef; the runtime API changes them');
  for (const [name, value] of weights) lines.line(`set-var ${name} int(${options.shapeOnly ? 0 : value})`);
  lines.section('defaults');
  lines.line('mode http');
  lines.line('log global');
  lines.line('option dontlognull');
  if (options.accessLog) lines.line(`log-format ${quoted(ACCESS_LOG_FORMAT)}`);
  // On a reload the old worker answers the next request of an idle keep-alive connection (with
  // Connection: close) instead of closing it under a client that may be sending one.
  lines.line('option idle-close-on-response');
  // Idle connections to a pod serve any client's next request: a client that opens a connection
  // per request does not cost a new connection to the pod each time (as HAProxy's default,
  // "safe", would for each client connection's first request).
  lines.line('http-reuse always');
  lines.line('timeout connect 5s');
  lines.line('timeout client 60s');
  lines.line('timeout server 60s');
  lines.line('timeout http-request 10s');
  lines.line('timeout http-keep-alive 60s');
  lines.out.push(...body.out);
  return { text: `${lines.out.join('\n')}\n`, weights, reports };
}
