// The HTTPRoute filters that are not header edits (RequestRedirect, URLRewrite, RequestMirror) and
// a rule's timeouts, checked as the CRD's schema and CEL rules do.

import type { BackendRef, Mirror, PathModifier, Redirect, Rewrite, RouteMatch } from './types.ts';
import type { FieldPath } from './manifest-doc.ts';
import type { Reporter } from './diagnostics.ts';
import { enumAt, integerAt, integerInRange, mappingAt, mappingsAt, stringAt, type Fields } from './fields.ts';

const HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const REDIRECT_CODES = [301, 302, 303, 307, 308];
const DURATION = /^(?:[0-9]{1,5}(?:h|ms|m|s)){1,4}$/;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
/** Filters a rule may hold once (CEL: "... filter cannot be repeated"). */
const ONCE = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite'];
/** Filter types meshc applies; the others are reported and not applied. */
export const APPLIED_FILTERS = [...ONCE, 'RequestMirror'];

function hostname(obj: Fields, path: FieldPath, report: Reporter): string | undefined {
  const value = stringAt(obj, 'hostname', path, report);
  if (value === undefined) return undefined;
  if (value.length > 253 || !HOSTNAME.test(value)) {
    report.reject([...path, 'hostname'], `${JSON.stringify(value)} is not a valid hostname (lower-case RFC 1123, no wildcard)`);
    return undefined;
  }
  return value;
}

function pathModifier(obj: Fields, path: FieldPath, matches: readonly RouteMatch[], report: Reporter, filter: string): PathModifier | undefined {
  if (obj['path'] === undefined || obj['path'] === null) return undefined;
  const spec = mappingAt(obj, 'path', path, report);
  const at = [...path, 'path'];
  const type = enumAt(spec, 'type', at, report, ['ReplaceFullPath', 'ReplacePrefixMatch'] as const, 'ReplaceFullPath');
  const field = type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
  const value = stringAt(spec, field, at, report);
  if (value === undefined) {
    report.reject([...at, field], `is required when type is ${type}`);
    return undefined;
  }
  if (value.length > 1024 || (value !== '' && !value.startsWith('/')) || (value === '' && type === 'ReplaceFullPath')) {
    report.reject([...at, field], `${JSON.stringify(value)} must start with "/" (at most 1024 characters)`);
    return undefined;
  }
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    report.reject([...at, field], `${JSON.stringify(value)} contains a control character (CR, LF, NUL...), which no request path holds`);
    return undefined;
  }
  if (type === 'ReplaceFullPath') return { type, value };
  const [only] = matches;
  if (matches.length !== 1 || only!.path.type !== 'PathPrefix') {
    report.reject([...at, 'type'], `When using ${filter} filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified`);
    return undefined;
  }
  return { type, value, prefix: only!.path.value };
}

function redirect(spec: Fields, at: FieldPath, matches: readonly RouteMatch[], report: Reporter): Redirect {
  const r: Redirect = { statusCode: 302 };
  const scheme = stringAt(spec, 'scheme', at, report);
  if (scheme === 'http' || scheme === 'https') r.scheme = scheme;
  else if (scheme !== undefined) report.reject([...at, 'scheme'], `${JSON.stringify(scheme)} is not one of "http", "https"`);
  const host = hostname(spec, at, report);
  if (host !== undefined) r.hostname = host;
  const port = integerInRange(spec, 'port', at, report, { min: 1, max: 65535, what: 'port' });
  if (port !== undefined) r.port = port;
  const path = pathModifier(spec, at, matches, report, 'RequestRedirect');
  if (path) r.path = path;
  const code = integerAt(spec, 'statusCode', at, report);
  if (code !== undefined) {
    if (REDIRECT_CODES.includes(code)) r.statusCode = code;
    else report.reject([...at, 'statusCode'], `${code} is not one of ${REDIRECT_CODES.join(', ')}`);
  }
  return r;
}

function mirror(spec: Fields, at: FieldPath, namespace: string, report: Reporter): Mirror | undefined {
  const ref = mappingAt(spec, 'backendRef', at, report);
  const refAt = [...at, 'backendRef'];
  const name = stringAt(ref, 'name', refAt, report) ?? '';
  if (name === '') {
    report.reject([...refAt, 'name'], 'is required');
    return undefined;
  }
  const backend: BackendRef = {
    group: stringAt(ref, 'group', refAt, report) ?? '',
    kind: stringAt(ref, 'kind', refAt, report) ?? 'Service',
    namespace: stringAt(ref, 'namespace', refAt, report) || namespace,
    name,
    weight: 1,
  };
  const port = integerInRange(ref, 'port', refAt, report, { min: 1, max: 65535, what: 'port' });
  if (port !== undefined) backend.port = port;
  else if (backend.group === '' && backend.kind === 'Service') report.reject([...refAt, 'port'], 'is required for a Service reference');
  let percent = 100;
  if (spec['percent'] !== undefined && spec['fraction'] !== undefined) report.reject([...at, 'percent'], 'only one of percent and fraction may be set');
  const p = integerInRange(spec, 'percent', at, report, { min: 0, max: 100, what: 'percent' });
  if (p !== undefined) percent = p;
  if (spec['fraction'] !== undefined) {
    const f = mappingAt(spec, 'fraction', at, report);
    const fAt = [...at, 'fraction'];
    const numerator = integerInRange(f, 'numerator', fAt, report, { min: 0, max: 2 ** 31 - 1, what: 'numerator' });
    const denominator = integerInRange(f, 'denominator', fAt, report, { min: 1, max: 2 ** 31 - 1, what: 'denominator' }) ?? 100;
    if (numerator === undefined) report.reject([...fAt, 'numerator'], 'is required');
    else if (numerator > denominator) report.reject(fAt, 'numerator must be less than or equal to denominator');
    else percent = (numerator * 100) / denominator;
  }
  return { backend, percent };
}

export interface RuleFilters {
  redirect?: Redirect;
  rewrite?: Rewrite;
  mirrors: Mirror[];
}

/**
 * The rule's RequestRedirect, URLRewrite and RequestMirror filters (`owner` is the rule). A filter
 * without its field, a repeated one, or a redirect beside a rewrite is rejected, as the CRD does.
 */
export function readRuleFilters(owner: Fields, path: FieldPath, namespace: string, matches: readonly RouteMatch[], report: Reporter): RuleFilters {
  const out: RuleFilters = { mirrors: [] };
  const seen = new Set<string>();
  for (const [filter, index] of mappingsAt(owner, 'filters', path, report)) {
    const type = filter['type'];
    const at = [...path, 'filters', index];
    if (typeof type !== 'string') continue; // reported by the filter-type reader
    if (ONCE.includes(type)) {
      if (seen.has(type)) report.reject([...at, 'type'], `${type} filter cannot be repeated`);
      seen.add(type);
    }
    const key = type === 'RequestRedirect' ? 'requestRedirect' : type === 'URLRewrite' ? 'urlRewrite' : type === 'RequestMirror' ? 'requestMirror' : undefined;
    if (!key) continue;
    if (filter[key] === undefined || filter[key] === null) {
      report.error([...at, key], `is required when type is ${type}; the filter is not applied`);
      continue;
    }
    const spec = mappingAt(filter, key, at, report);
    if (type === 'RequestRedirect') out.redirect = redirect(spec, [...at, key], matches, report);
    else if (type === 'URLRewrite') {
      const rewrite: Rewrite = {};
      const host = hostname(spec, [...at, key], report);
      if (host !== undefined) rewrite.hostname = host;
      const p = pathModifier(spec, [...at, key], matches, report, 'URLRewrite');
      if (p) rewrite.path = p;
      out.rewrite = rewrite;
    } else {
      const m = mirror(spec, [...at, key], namespace, report);
      if (m) out.mirrors.push(m);
    }
  }
  if (seen.has('RequestRedirect') && seen.has('URLRewrite')) {
    report.reject([...path, 'filters'], 'May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both');
  }
  return out;
}

/** Filters on a backendRef that meshc does not apply there (only header modifiers are), reported. */
export function reportBackendFilters(owner: Fields, path: FieldPath, report: Reporter): void {
  for (const [filter, index] of mappingsAt(owner, 'filters', path, report)) {
    const type = filter['type'];
    if (typeof type === 'string' && type !== 'RequestHeaderModifier' && type !== 'ResponseHeaderModifier') {
      report.error([...path, 'filters', index, 'type'], `${type} on a backendRef is not applied (only RequestHeaderModifier and ResponseHeaderModifier are)`);
    }
  }
}

function duration(obj: Fields, key: string, path: FieldPath, report: Reporter): number | undefined {
  const value = stringAt(obj, key, path, report);
  if (value === undefined) return undefined;
  if (!DURATION.test(value)) {
    report.reject([...path, key], `${JSON.stringify(value)} is not a Gateway API duration (for example "10s", "1m30s", "500ms")`);
    return undefined;
  }
  let ms = 0;
  for (const [, n, unit] of value.matchAll(/([0-9]+)(h|ms|m|s)/g)) ms += Number(n) * UNIT_MS[unit!]!;
  return ms;
}

/** timeouts.request and timeouts.backendRequest in milliseconds (0: no timeout); backendRequest may not exceed request. */
export function readTimeouts(owner: Fields, path: FieldPath, report: Reporter): { request?: number; backendRequest?: number } | undefined {
  if (owner['timeouts'] === undefined || owner['timeouts'] === null) return undefined;
  const spec = mappingAt(owner, 'timeouts', path, report);
  const at = [...path, 'timeouts'];
  const out: { request?: number; backendRequest?: number } = {};
  const request = duration(spec, 'request', at, report);
  if (request !== undefined) out.request = request;
  const backend = duration(spec, 'backendRequest', at, report);
  if (backend !== undefined) out.backendRequest = backend;
  if (request && backend && backend > request) report.reject([...at, 'backendRequest'], 'backendRequest timeout cannot be longer than request timeout');
  return out;
}
