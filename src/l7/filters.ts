// The filters of a route set, for the Wasm L7 matcher: what happens to a request after a rule
// matched and a backendRef was picked. Encodes every rule's header edits (request and response,
// rule and backendRef level) and its redirect or rewrite once, then runs them in the instance
// that matched the request (assembly/l7/edit.ts and rewrite.ts).
//
// Order, the same in the node proxy: a RequestRedirect answers at once (before any backend is
// chosen); otherwise URLRewrite's hostname (a set of Host), the rule's RequestHeaderModifier, the
// backendRef's, then URLRewrite's path. On the response: the rule's ResponseHeaderModifier, then
// the backendRef's. The query string is never changed.

import type { HeaderEdits, PathModifier, RouteRule } from '../model/types.ts';
import type { PolicyInstance } from '../wasm/instance.ts';
import { editRequestHeaders, editHeaderList, encodeEdits, type EncodedEdits } from './edits.ts';

export const REWRITES_MAGIC = 0x3157374c; // "L7W1"
const KIND = { redirect: 1, rewrite: 2 } as const;
const PATH_TYPE = { ReplaceFullPath: 1, ReplacePrefixMatch: 2 } as const;

/** Indexes into the encoded edits and rewrites for one rule (-1: none). */
export interface RuleFilterRefs {
  requestEdit: number;
  responseEdit: number;
  redirect: number;
  rewrite: number;
  redirectStatus: number;
  /** Per backendRef of the rule. */
  backends: { requestEdit: number; responseEdit: number }[];
}

export interface EncodedFilters {
  edits: EncodedEdits;
  rewrites: Uint8Array;
  /** By rule, in the order given to encodeFilters. */
  rules: RuleFilterRefs[];
}

const utf8 = new TextEncoder();
const text = new TextDecoder();

function str(parts: number[], s: string, what: string): void {
  const b = utf8.encode(s);
  if (b.length > 0xffff) throw new Error(`${what}: ${b.length} bytes is longer than the matcher's limit of 65535`);
  parts.push(b.length & 0xff, b.length >> 8, ...b);
}

function record(parts: number[], kind: number, path: PathModifier | undefined, status: number, port: number, scheme: string, hostname: string): void {
  parts.push(kind, path ? PATH_TYPE[path.type] : 0, status & 0xff, status >> 8, port & 0xff, port >> 8, 0, 0);
  str(parts, scheme, 'redirect scheme');
  str(parts, hostname, 'hostname');
  str(parts, path?.value ?? '', 'path modifier value');
  str(parts, path?.prefix ?? '', 'path prefix');
}

/** The rule-level request edits: URLRewrite's hostname as a set of Host, before the RequestHeaderModifier's. */
export function ruleRequestEdits(rule: RouteRule): HeaderEdits | undefined {
  const host = rule.redirect ? undefined : rule.rewrite?.hostname;
  if (host === undefined) return rule.requestHeaders;
  const own = rule.requestHeaders ?? { set: [], add: [], remove: [] };
  return { set: [{ name: 'host', value: host }, ...own.set], add: own.add, remove: own.remove };
}

/** Encodes the filters of `rules` (one Service frontend's, in any order the caller keeps). */
export function encodeFilters(rules: readonly RouteRule[]): EncodedFilters {
  const lists: HeaderEdits[] = [];
  const add = (e: HeaderEdits | undefined) => (e ? lists.push(e) - 1 : -1);
  const parts: number[] = [];
  let count = 0;
  const refs = rules.map((rule): RuleFilterRefs => {
    let redirect = -1;
    let rewrite = -1;
    if (rule.redirect) {
      const r = rule.redirect;
      record(parts, KIND.redirect, r.path, r.statusCode, r.port ?? 0, r.scheme ?? '', r.hostname ?? '');
      redirect = count++;
    } else if (rule.rewrite?.path) {
      record(parts, KIND.rewrite, rule.rewrite.path, 0, 0, '', '');
      rewrite = count++;
    }
    return {
      requestEdit: add(ruleRequestEdits(rule)),
      responseEdit: add(rule.responseHeaders),
      redirect,
      rewrite,
      redirectStatus: rule.redirect?.statusCode ?? 0,
      backends: rule.backendRefs.map((b) => ({ requestEdit: add(b.requestHeaders), responseEdit: add(b.responseHeaders) })),
    };
  });
  const rewrites = new Uint8Array(8 + parts.length);
  const v = new DataView(rewrites.buffer);
  v.setUint32(0, REWRITES_MAGIC, true);
  v.setUint32(4, count, true);
  rewrites.set(parts, 8);
  return { edits: encodeEdits(lists), rewrites, rules: refs };
}

/** What the filters make of a request: a redirect, or the request the backend receives. */
export type FilteredRequest =
  | { kind: 'redirect'; status: number; location: string }
  | { kind: 'forward'; path: string; headers: [string, string][] };

const loadedRewrites = new WeakMap<PolicyInstance, Uint8Array>();

function runRewrite(instance: PolicyInstance, rewrites: Uint8Array, index: number, port: number): string {
  const wasm = instance.exports;
  if (loadedRewrites.get(instance) !== rewrites) {
    const ptr = wasm.l7_rewrites_buffer(rewrites.length);
    instance.bytes().set(rewrites, ptr);
    if (wasm.l7_load_rewrites(rewrites.length) !== 1) throw new Error('l7 matcher: the rewrites buffer was rejected as malformed');
    loadedRewrites.set(instance, rewrites);
  }
  if (wasm.l7_rewrite(index, port) !== 1) throw new Error(`l7 matcher: rewrite ${index} not applied (out of range)`);
  const at = wasm.l7_rewrite_result();
  const bytes = instance.bytes();
  const n = bytes[at]! | (bytes[at + 1]! << 8);
  return text.decode(bytes.slice(at + 2, at + 2 + n));
}

/**
 * The filters of rule `rule` (index into EncodedFilters.rules), with backendRef `backend` picked
 * (-1 when none is), applied to the request last matched on `instance`. `port` is the Service
 * port the client dialled (a redirect's default port); `query` the raw query string, kept as is.
 */
export function filterRequest(
  instance: PolicyInstance, filters: EncodedFilters, rule: number, backend: number,
  request: { path: string; query?: string; port: number },
): FilteredRequest {
  const refs = filters.rules[rule];
  if (!refs) throw new Error(`filters: no rule ${rule}`);
  const query = request.query === undefined ? '' : `?${request.query}`;
  if (refs.redirect >= 0) {
    return { kind: 'redirect', status: refs.redirectStatus, location: runRewrite(instance, filters.rewrites, refs.redirect, request.port) + query };
  }
  const path = refs.rewrite >= 0 ? runRewrite(instance, filters.rewrites, refs.rewrite, request.port) : request.path;
  const headers = editRequestHeaders(instance, filters.edits, refs.requestEdit, backend >= 0 ? refs.backends[backend]!.requestEdit : -1);
  return { kind: 'forward', path: path + query, headers };
}

/** The response headers after the rule's, then the backendRef's, ResponseHeaderModifier. */
export function filterResponseHeaders(
  instance: PolicyInstance, filters: EncodedFilters, rule: number, backend: number, headers: readonly [string, string][],
): [string, string][] {
  const refs = filters.rules[rule];
  if (!refs) throw new Error(`filters: no rule ${rule}`);
  return editHeaderList(instance, filters.edits, refs.responseEdit, backend >= 0 ? refs.backends[backend]!.responseEdit : -1, headers);
}
