// Encodes the HTTPRoutes of one Service frontend, and one HTTP request, into the byte layouts the
// Wasm L7 matcher reads (declared in assembly/l7/layout.ts). Pure: usable in Node and the browser.

import type { HTTPRoute, RouteMatch } from '../model/types.ts';
import { compileRegex, NEVER_MATCHES, RegexUnsupportedError } from './regex.ts';

export const ROUTES_MAGIC = 0x3152374c; // "L7R1"
export const REQUEST_MAGIC = 0x3151374c; // "L7Q1"
const REQUEST_HEADER_BYTES = 28;
const REQUEST_RECORD_BYTES = 16;
const PATH_TYPE_CODE = { Exact: 0, PathPrefix: 1, RegularExpression: 2 } as const;
const VALUE_TYPE_CODE = { Exact: 0, RegularExpression: 1 } as const;
const U16_MAX = 0xffff;

/** An HTTP request as the matcher sees it. Header names are matched case-insensitively. */
export interface HttpRequest {
  /** The path without the query string, for example `/v2/example`. */
  path: string;
  /** Default `GET`. Compared exactly (methods are case-sensitive). */
  method?: string;
  /** A repeated header is an array; matching uses its first value. */
  headers?: Record<string, string | readonly string[]>;
  /** Decoded query parameters; a repeated parameter is an array and matching uses its first value. */
  query?: Record<string, string | readonly string[]>;
}

/** One rule of an encoded route set. `EncodedRoutes.rules[ruleRef]` when refs are the default numbering. */
export interface EncodedRule {
  route: HTTPRoute;
  /** Index of the route in `EncodedRoutes.routes`. */
  routeIndex: number;
  /** Index of the rule in `route.rules`. */
  ruleIndex: number;
  ruleRef: number;
}

export interface EncodedRoutes {
  bytes: Uint8Array;
  /** The routes in encoded order (oldest first, then `namespace/name`); `L7Match.route` indexes this. */
  routes: HTTPRoute[];
  /** Every rule in encoded order. */
  rules: EncodedRule[];
  /**
   * Conditions the matcher cannot evaluate, one message each naming the route and field: regular
   * expressions outside the supported subset (see regex.ts). They are encoded as never matching.
   */
  unsupported: string[];
}

export interface EncodeRoutesOptions {
  /** The number the matcher reports for a rule; default: the rule's index in `EncodedRoutes.rules`. */
  ruleRef?: (route: HTTPRoute, ruleIndex: number) => number;
}

/**
 * Route order for cross-route ties (semantics.md B.16): oldest creationTimestamp first, then
 * `namespace/name` alphabetically. A route without a timestamp (read from a file) counts as newer
 * than any route with one.
 */
export function orderRoutes(routes: readonly HTTPRoute[]): HTTPRoute[] {
  return [...routes].sort((a, b) => {
    const ta = timestampOf(a);
    const tb = timestampOf(b);
    if (ta !== tb) return ta < tb ? -1 : 1;
    const ka = `${a.meta.namespace}/${a.meta.name}`;
    const kb = `${b.meta.namespace}/${b.meta.name}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

function timestampOf(route: HTTPRoute): number {
  const ts = route.meta.creationTimestamp;
  if (ts === undefined) return Number.POSITIVE_INFINITY;
  const t = Date.parse(ts);
  if (Number.isNaN(t)) {
    throw new Error(`HTTPRoute ${route.meta.namespace}/${route.meta.name}: metadata.creationTimestamp: "${ts}" is not a timestamp`);
  }
  return t;
}

const utf8 = new TextEncoder();

/** Little-endian byte writer that grows as needed. */
class ByteWriter {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void { this.reserve(1); this.view.setUint8(this.length, v); this.length += 1; }
  u16(v: number): void { this.reserve(2); this.view.setUint16(this.length, v, true); this.length += 2; }
  u32(v: number): void { this.reserve(4); this.view.setUint32(this.length, v >>> 0, true); this.length += 4; }
  bytes(b: Uint8Array): void { this.reserve(b.length); this.buf.set(b, this.length); this.length += b.length; }
  patchU32(at: number, v: number): void { this.view.setUint32(at, v >>> 0, true); }
  finish(): Uint8Array { return this.buf.slice(0, this.length); }
}

/**
 * Encodes the routes that apply to one Service frontend. Routes are put in tie-break order;
 * header names are lower-cased, and only the first condition per header name (case-insensitive)
 * or per query-param name (exact) is kept, as the spec says.
 */
export function encodeRoutes(routes: readonly HTTPRoute[], options: EncodeRoutesOptions = {}): EncodedRoutes {
  const ordered = orderRoutes(routes);
  const w = new ByteWriter();
  const rules: EncodedRule[] = [];
  const unsupported: string[] = [];
  w.u32(ROUTES_MAGIC);
  w.u32(ordered.length);
  ordered.forEach((route, routeIndex) => {
    const where = `HTTPRoute ${route.meta.namespace}/${route.meta.name}`;
    w.u32(route.rules.length);
    route.rules.forEach((rule, ruleIndex) => {
      const ruleRef = options.ruleRef ? options.ruleRef(route, ruleIndex) : rules.length;
      if (!Number.isInteger(ruleRef) || ruleRef < 0 || ruleRef > 0xffffffff) {
        throw new Error(`${where}: spec.rules[${ruleIndex}]: rule reference ${ruleRef} is not a u32`);
      }
      rules.push({ route, routeIndex, ruleIndex, ruleRef });
      w.u32(ruleRef);
      w.u32(rule.matches.length);
      rule.matches.forEach((match, matchIndex) => {
        encodeMatch(w, match, `${where}: spec.rules[${ruleIndex}].matches[${matchIndex}]`, unsupported);
      });
    });
  });
  return { bytes: w.finish(), routes: ordered, rules, unsupported };
}

function encodeMatch(w: ByteWriter, match: RouteMatch, where: string, unsupported: string[]): void {
  const pathType = PATH_TYPE_CODE[match.path.type];
  if (pathType === undefined) throw new Error(`${where}.path.type: unknown path match type "${match.path.type}"`);
  const path = match.path.type === 'RegularExpression'
    ? regexProgram(match.path.value, `${where}.path.value`, unsupported)
    : routeString(match.path.value, `${where}.path.value`);
  const method = routeString(match.method ?? '', `${where}.method`);
  const headers = firstPerName(match.headers, (n) => n.toLowerCase());
  const query = firstPerName(match.queryParams, (n) => n);
  const start = w.length;
  w.u32(0); // byteLength, patched below
  w.u8(pathType);
  w.u8(0);
  w.u16(path.length);
  w.u16(method.length);
  w.u16(count(headers.length, `${where}.headers`));
  w.u16(count(query.length, `${where}.queryParams`));
  w.u16(0);
  w.bytes(path);
  w.bytes(method);
  const pairs = [
    ...headers.map((h, i) => ({ ...h, name: h.name.toLowerCase(), field: `${where}.headers[${i}]` })),
    ...query.map((q, i) => ({ ...q, field: `${where}.queryParams[${i}]` })),
  ];
  for (const pair of pairs) {
    const type = VALUE_TYPE_CODE[pair.type];
    if (type === undefined) throw new Error(`${pair.field}.type: unknown match type "${pair.type}"`);
    const name = routeString(pair.name, `${pair.field}.name`);
    const value = pair.type === 'RegularExpression'
      ? regexProgram(pair.value, `${pair.field}.value`, unsupported)
      : routeString(pair.value, `${pair.field}.value`);
    w.u8(type);
    w.u16(name.length);
    w.bytes(name);
    w.u16(value.length);
    w.bytes(value);
  }
  w.patchU32(start, w.length - start);
}

function regexProgram(pattern: string, field: string, unsupported: string[]): Uint8Array {
  try {
    return compileRegex(pattern);
  } catch (error) {
    if (!(error instanceof RegexUnsupportedError)) throw error;
    unsupported.push(`${field}: ${JSON.stringify(pattern)}: ${error.message}; this match never matches`);
    return NEVER_MATCHES;
  }
}

function firstPerName<T extends { name: string }>(items: readonly T[], key: (name: string) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item.name);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function routeString(s: string, field: string): Uint8Array {
  const b = utf8.encode(s);
  if (b.length > U16_MAX) throw new Error(`${field}: ${b.length} bytes is longer than the matcher's limit of ${U16_MAX}`);
  return b;
}

function count(n: number, field: string): number {
  if (n > U16_MAX) throw new Error(`${field}: ${n} entries is more than the matcher's limit of ${U16_MAX}`);
  return n;
}

/** Encodes a request. Header names are lower-cased; repeated names keep their order. */
export function encodeRequest(req: HttpRequest): Uint8Array {
  const path = utf8.encode(req.path);
  const method = utf8.encode(req.method ?? 'GET');
  const headers = flatten(req.headers, (n) => n.toLowerCase());
  const query = flatten(req.query, (n) => n);
  const records = [...headers, ...query];
  const strings: Uint8Array[] = [path, method];
  for (const r of records) strings.push(r.name, r.value);
  let off = REQUEST_HEADER_BYTES + records.length * REQUEST_RECORD_BYTES;
  const offsets: number[] = [];
  for (const s of strings) {
    offsets.push(off);
    off += s.length;
  }
  const out = new Uint8Array(off);
  const v = new DataView(out.buffer);
  v.setUint32(0, REQUEST_MAGIC, true);
  v.setUint32(4, offsets[0], true);
  v.setUint32(8, path.length, true);
  v.setUint32(12, offsets[1], true);
  v.setUint32(16, method.length, true);
  v.setUint32(20, headers.length, true);
  v.setUint32(24, query.length, true);
  records.forEach((r, i) => {
    const at = REQUEST_HEADER_BYTES + i * REQUEST_RECORD_BYTES;
    v.setUint32(at, offsets[2 + 2 * i], true);
    v.setUint32(at + 4, r.name.length, true);
    v.setUint32(at + 8, offsets[3 + 2 * i], true);
    v.setUint32(at + 12, r.value.length, true);
  });
  strings.forEach((s, i) => out.set(s, offsets[i]));
  return out;
}

function flatten(
  map: Record<string, string | readonly string[]> | undefined,
  key: (name: string) => string,
): { name: Uint8Array; value: Uint8Array }[] {
  const out: { name: Uint8Array; value: Uint8Array }[] = [];
  for (const [name, value] of Object.entries(map ?? {})) {
    const n = utf8.encode(key(name));
    for (const one of typeof value === 'string' ? [value] : value) out.push({ name: n, value: utf8.encode(one) });
  }
  return out;
}

/**
 * Splits a request target (`/p?a=1&b=2`) into its path and decoded query parameters, keeping
 * repeated parameters in order. `+` is left as is (it means a space only in HTML forms).
 */
export function parseRequestTarget(target: string): { path: string; query: Record<string, string[]> } {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  // No prototype: a parameter named `__proto__` is just a name.
  const query = Object.create(null) as Record<string, string[]>;
  if (q >= 0) {
    for (const part of target.slice(q + 1).split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const name = decodeComponent(eq < 0 ? part : part.slice(0, eq));
      const value = eq < 0 ? '' : decodeComponent(part.slice(eq + 1));
      (query[name] ??= []).push(value);
    }
  }
  return { path, query };
}

function decodeComponent(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // malformed percent-encoding: match on the raw text
  }
}
