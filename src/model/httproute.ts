// Gateway API HTTPRoutes (v1 and v1beta1): the CRD's defaults and validation rules, and the check
// of references to Services. Facts cited are those of shared/conformance/gateway-api/semantics.md.

import type {
  BackendRef,
  Diagnostic,
  HTTPRoute,
  ParentRef,
  PathMatchType,
  ReferenceGrant,
  RouteMatch,
  RouteRule,
  Service,
  StringMatchType,
} from './types.ts';
import type { FieldPath } from './manifest-doc.ts';
import { Reporter, type ObjectOrigin } from './diagnostics.ts';
import { readHeaderEdits } from './header-filter.ts';
import { readRuleFilters, readTimeouts, reportBackendFilters } from './route-filters.ts';
import { collectObjects, GATEWAY_GROUP, isDnsLabel, type KubeObject } from './objects.ts';
import { referenceGrantAllows } from './reference-grant.ts';
import { PORT_RANGE } from './service.ts';
import { enumAt, integerInRange, isFields, mappingAt, mappingsAt, stringAt, type Fields } from './fields.ts';
import { FILTER_SUPPORT, notAppliedText, RULE_FIELD_SUPPORT } from './support.ts';

export { GATEWAY_GROUP };
const MAX_WEIGHT = 1_000_000;
const PATH_TYPES: readonly PathMatchType[] = ['Exact', 'PathPrefix', 'RegularExpression'];
const STRING_MATCH_TYPES: readonly StringMatchType[] = ['Exact', 'RegularExpression'];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
/** RFC 3986 path characters, or a %-escape (the CRD's pattern for Exact and PathPrefix values). */
const PATH_CHARACTERS = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+$/;
/** NUL and the other C0 controls, and DEL: never part of a name or of a header value on the wire. */
const CONTROL = /[\u0000-\u001f\u007f]/;
/** CR, LF and NUL: a header value on the wire never holds one (RFC 9110 5.5). */
const CR_LF_NUL = /[\r\n\0]/;
/** An HTTP token: the CRD's pattern for header and query parameter names. */
const HTTP_TOKEN = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

/**
 * Reads one HTTPRoute object (as parsed YAML/JSON, API-server defaults not applied) and applies
 * the CRD defaults (facts 4-6, 25, 28-29). Returns undefined when the API server would refuse the
 * route; problems go to `diagnostics`. References to Services are not checked here: see
 * resolveRouteReferences.
 */
export function normalizeHTTPRoute(obj: unknown, source: ObjectOrigin, diagnostics: Diagnostic[]): HTTPRoute | undefined {
  const before = diagnostics.length;
  const [object] = collectObjects([{ file: source.file, doc: source.doc, line: source.line, locate: source.locate, object: obj }], diagnostics);
  if (object?.kind === 'HTTPRoute') return readHTTPRoute(object);
  if (diagnostics.length === before) new Reporter(diagnostics, source).reject(['kind'], 'expected an HTTPRoute');
  return undefined;
}

/** The route from a collected object, or undefined when it is invalid. */
export function readHTTPRoute(object: KubeObject): HTTPRoute | undefined {
  const { body, meta, report } = object;
  const spec = mappingAt(body, 'spec', [], report);
  const route: HTTPRoute = {
    meta,
    apiVersion: object.apiVersion,
    parentRefs: mappingsAt(spec, 'parentRefs', ['spec'], report).map(([entry, index]) =>
      readParentRef(entry, ['spec', 'parentRefs', index], meta.namespace, report),
    ),
    rules: readRules(spec, meta.namespace, report),
  };
  if (report.rejected) return undefined;
  if (reportMeshParents(route, report)) reportNotApplied(spec, report);
  return route;
}

function isMeshParent(parent: ParentRef): boolean {
  return parent.group === '' && parent.kind === 'Service';
}

/**
 * Parents that are not Services are not in the mesh (a Gateway's routes are the Gateway's job),
 * and neither is a route without parentRefs: each is reported. True when the route has a
 * Service parent, so meshc applies it.
 */
function reportMeshParents(route: HTTPRoute, report: Reporter): boolean {
  if (route.parentRefs.length === 0) {
    report.warn(['spec', 'parentRefs'], 'the route has no parentRefs, so it is not in the mesh and meshc does not apply it (a mesh route has a Service parent: group "", kind Service)');
    return false;
  }
  const inMesh = route.parentRefs.some(isMeshParent);
  route.parentRefs.forEach((parent, index) => {
    if (isMeshParent(parent)) return;
    const kind = parent.group === GATEWAY_GROUP ? parent.kind : `${parent.kind}.${parent.group || 'core'}`;
    const consequence = inMesh ? 'this parent is left out (its Service parents apply)' : 'the route is not applied';
    report.warn(['spec', 'parentRefs', index], `${kind} ${parent.namespace}/${parent.name} is not in the mesh: meshc applies routes to Service parents only, so ${consequence}`);
  });
  return inMesh;
}

/** Every filter, rule field and `hostnames` that meshc reads past, each at its field. */
function reportNotApplied(spec: Fields, report: Reporter): void {
  if (Array.isArray(spec['hostnames']) && spec['hostnames'].length > 0) {
    report.warn(['spec', 'hostnames'], 'is ignored: mesh routes match on the Service a client dialled, not on hostnames (GEP-1426); match the Host header instead');
  }
  mappingItems(spec, 'rules').forEach(([rule, r]) => {
    const at = ['spec', 'rules', r];
    reportFilters(rule, at, report);
    // Other filter types on a backendRef are an error of their own (route-filters.ts reportBackendFilters).
    mappingItems(rule, 'backendRefs').forEach(([backend, b]) => reportFilters(backend, [...at, 'backendRefs', b], report, BACKEND_FILTER_TYPES));
    for (const [field, support] of Object.entries(RULE_FIELD_SUPPORT)) {
      const text = rule[field] !== undefined && rule[field] !== null ? notAppliedText(support) : undefined;
      if (text) report.warn([...at, field], text);
    }
  });
}

/** The mapping items of a list already read (and reported on) by readRules. */
function mappingItems(owner: Fields, key: string): [Fields, number][] {
  const value = owner[key];
  if (!Array.isArray(value)) return [];
  return value.flatMap((item, index): [Fields, number][] => (isFields(item) ? [[item, index]] : []));
}

/** The filter types a backendRef may carry. */
const BACKEND_FILTER_TYPES: ReadonlySet<string> = new Set(['RequestHeaderModifier', 'ResponseHeaderModifier']);

function reportFilters(owner: Fields, at: FieldPath, report: Reporter, only?: ReadonlySet<string>): void {
  mappingItems(owner, 'filters').forEach(([filter, f]) => {
    const type = filter['type'];
    if (typeof type !== 'string' || type === '' || (only && !only.has(type))) return;
    if (!Object.hasOwn(FILTER_SUPPORT, type)) {
      report.error([...at, 'filters', f, 'type'], `${JSON.stringify(type)} is not a Gateway API filter type (${Object.keys(FILTER_SUPPORT).join(', ')}); not applied`);
      return;
    }
    const text = notAppliedText(FILTER_SUPPORT[type]);
    if (text) report.warn([...at, 'filters', f], `${type} ${text}`);
  });
}

/** parentRef group defaults to gateway.networking.k8s.io and kind to Gateway (fact 6). */
function readParentRef(entry: Fields, path: FieldPath, namespace: string, report: Reporter): ParentRef {
  const parent: ParentRef = {
    group: stringAt(entry, 'group', path, report) ?? GATEWAY_GROUP,
    kind: stringAt(entry, 'kind', path, report) ?? 'Gateway',
    namespace: refNamespace(entry, path, namespace, report),
    name: requiredName(entry, path, report),
  };
  const port = integerInRange(entry, 'port', path, report, PORT_RANGE);
  if (port !== undefined) parent.port = port;
  const sectionName = stringAt(entry, 'sectionName', path, report);
  if (sectionName) parent.sectionName = sectionName;
  return parent;
}

/** No rules means one rule matching every request, with no backends (fact 4). */
function readRules(spec: Fields, namespace: string, report: Reporter): RouteRule[] {
  const entries = mappingsAt(spec, 'rules', ['spec'], report);
  if (spec['rules'] === undefined || spec['rules'] === null) return [{ matches: [defaultMatch()], backendRefs: [], filters: [] }];
  return entries.map(([entry, index]) => readRule(entry, ['spec', 'rules', index], namespace, report));
}

function readRule(entry: Fields, path: FieldPath, namespace: string, report: Reporter): RouteRule {
  const matches = mappingsAt(entry, 'matches', path, report).map(([match, index]) => readMatch(match, [...path, 'matches', index], report));
  const backends = mappingsAt(entry, 'backendRefs', path, report);
  const rule: RouteRule = {
    matches: matches.length > 0 ? matches : [defaultMatch()],
    backendRefs: backends.map(([backend, index]) => readBackendRef(backend, [...path, 'backendRefs', index], namespace, report)),
    filters: filterTypes(entry, path, backends, report),
  };
  const name = stringAt(entry, 'name', path, report);
  if (name) rule.name = name;
  const requestHeaders = readHeaderEdits(entry, path, report);
  if (requestHeaders) rule.requestHeaders = requestHeaders;
  const responseHeaders = readHeaderEdits(entry, path, report, 'ResponseHeaderModifier');
  if (responseHeaders) rule.responseHeaders = responseHeaders;
  const { redirect, rewrite, mirrors } = readRuleFilters(entry, path, namespace, rule.matches, report);
  if (redirect) rule.redirect = redirect;
  if (rewrite) rule.rewrite = rewrite;
  if (mirrors.length > 0) rule.mirrors = mirrors;
  const timeouts = readTimeouts(entry, path, report);
  if (timeouts) rule.timeouts = timeouts;
  return rule;
}

function defaultMatch(): RouteMatch {
  return { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] };
}

function readMatch(entry: Fields, path: FieldPath, report: Reporter): RouteMatch {
  const match: RouteMatch = {
    path: readPathMatch(mappingAt(entry, 'path', path, report), [...path, 'path'], report),
    headers: readStringMatches(entry, 'headers', path, report, (a, b) => a.toLowerCase() === b.toLowerCase()),
    queryParams: readStringMatches(entry, 'queryParams', path, report, (a, b) => a === b),
  };
  const method = entry['method'] === undefined ? undefined : enumAt(entry, 'method', path, report, METHODS, 'GET');
  if (method) match.method = method;
  return match;
}

/** type defaults to PathPrefix and value to "/" (fact 5); values are checked as the CRD does (fact 10). */
function readPathMatch(entry: Fields, path: FieldPath, report: Reporter): RouteMatch['path'] {
  const type = enumAt(entry, 'type', path, report, PATH_TYPES, 'PathPrefix');
  const value = stringAt(entry, 'value', path, report) ?? '/';
  const problem = type === 'RegularExpression' ? regularExpressionProblem(value) : pathValueProblem(value);
  if (problem) report.reject([...path, 'value'], `${JSON.stringify(value)} ${problem}`);
  return { type, value };
}

/** Why an Exact or PathPrefix value is invalid, or undefined when it is valid. */
export function pathValueProblem(value: string): string | undefined {
  if (!value.startsWith('/')) return 'must start with "/"';
  if (value.length > 1024) return 'must be at most 1024 characters';
  for (const part of ['//', '/./', '/../', '%2f', '%2F', '#']) {
    if (value.includes(part)) return `must not contain ${JSON.stringify(part)}`;
  }
  for (const end of ['/..', '/.']) {
    if (value.endsWith(end)) return `must not end with ${JSON.stringify(end)}`;
  }
  if (!PATH_CHARACTERS.test(value)) return 'may only contain RFC 3986 path characters';
  return undefined;
}

/** The regular-expression dialect is implementation-specific (fact 9): meshc uses JavaScript's. */
function regularExpressionProblem(value: string): string | undefined {
  try {
    new RegExp(value);
    return undefined;
  } catch (error) {
    return `is not a valid regular expression: ${(error as Error).message}`;
  }
}

/**
 * Header or query parameter matches: type defaults to Exact (fact 6). When two entries name the
 * same header (case-insensitively) or parameter, only the first counts (fact 11), so later ones
 * are dropped with a warning.
 */
function readStringMatches(
  entry: Fields,
  key: 'headers' | 'queryParams',
  path: FieldPath,
  report: Reporter,
  sameName: (a: string, b: string) => boolean,
): RouteMatch['headers'] {
  const matches: RouteMatch['headers'] = [];
  for (const [item, index] of mappingsAt(entry, key, path, report)) {
    const at = [...path, key, index];
    const name = requiredName(item, at, report);
    if (name !== '' && !HTTP_TOKEN.test(name)) report.reject([...at, 'name'], `${JSON.stringify(name)} is not a valid ${key === 'headers' ? 'header' : 'query parameter'} name`);
    const value = stringAt(item, 'value', at, report);
    if (value === undefined) report.reject([...at, 'value'], 'is required');
    else if (key === 'headers' && CR_LF_NUL.test(value)) report.reject([...at, 'value'], `${JSON.stringify(value)} contains CR, LF or NUL, which no request header holds`);
    const type = enumAt(item, 'type', at, report, STRING_MATCH_TYPES, 'Exact');
    if (type === 'RegularExpression' && value !== undefined) {
      const problem = regularExpressionProblem(value);
      if (problem) report.reject([...at, 'value'], `${JSON.stringify(value)} ${problem}`);
    }
    if (matches.some((earlier) => sameName(earlier.name, name))) {
      report.warn([...at, 'name'], `${JSON.stringify(name)} is already matched by an earlier entry; only the first one counts`);
      continue;
    }
    matches.push({ type, name, value: value ?? '' });
  }
  return matches;
}

/**
 * group defaults to "" and kind to Service; namespace to the route's; weight to 1 (fact 6). A
 * Service reference must have a port, the Service port (fact 25). A kind other than core Service
 * is kept, marked invalid (InvalidKind): requests sent to it get 500 (fact 21).
 */
function readBackendRef(entry: Fields, path: FieldPath, namespace: string, report: Reporter): BackendRef {
  const backend: BackendRef = {
    group: stringAt(entry, 'group', path, report) ?? '',
    kind: stringAt(entry, 'kind', path, report) ?? 'Service',
    namespace: refNamespace(entry, path, namespace, report),
    name: requiredName(entry, path, report),
    weight: integerInRange(entry, 'weight', path, report, { min: 0, max: MAX_WEIGHT, what: 'weight' }) ?? 1,
  };
  const port = integerInRange(entry, 'port', path, report, PORT_RANGE);
  if (port !== undefined) backend.port = port;
  const requestHeaders = readHeaderEdits(entry, path, report);
  if (requestHeaders) backend.requestHeaders = requestHeaders;
  const responseHeaders = readHeaderEdits(entry, path, report, 'ResponseHeaderModifier');
  if (responseHeaders) backend.responseHeaders = responseHeaders;
  reportBackendFilters(entry, path, report);
  if (!isServiceRef(backend)) {
    backend.invalid = 'InvalidKind';
    const kind = backend.group ? `${backend.kind}.${backend.group}` : backend.kind;
    report.error([...path, 'kind'], `${kind} is not a supported backend kind (only core Service); requests sent to it get 500`);
  } else if (port === undefined) {
    report.reject([...path, 'port'], 'is required for a Service reference');
  }
  return backend;
}

function isServiceRef(ref: { group: string; kind: string }): boolean {
  return ref.group === '' && ref.kind === 'Service';
}

/** The types of the rule's filters and of its backendRefs' filters, each once. */
function filterTypes(rule: Fields, path: FieldPath, backends: [Fields, number][], report: Reporter): string[] {
  const types = new Set<string>();
  const collect = (owner: Fields, at: FieldPath) => {
    for (const [filter, index] of mappingsAt(owner, 'filters', at, report)) {
      const type = stringAt(filter, 'type', [...at, 'filters', index], report);
      if (type) types.add(type);
      else report.reject([...at, 'filters', index, 'type'], 'is required');
    }
  };
  collect(rule, path);
  for (const [backend, index] of backends) collect(backend, [...path, 'backendRefs', index]);
  return [...types];
}

/** The CRD's ObjectName: 1 to 253 characters; a control character can name nothing. */
function requiredName(entry: Fields, path: FieldPath, report: Reporter): string {
  const name = stringAt(entry, 'name', path, report) ?? '';
  if (name === '') report.reject([...path, 'name'], 'is required');
  else if (name.length > 253) report.reject([...path, 'name'], 'must be at most 253 characters');
  else if (CONTROL.test(name)) report.reject([...path, 'name'], `${JSON.stringify(name)} contains a control character`);
  return name;
}

/** A reference's namespace: the route's when unset, else a DNS label (the CRD's Namespace pattern). */
function refNamespace(entry: Fields, path: FieldPath, namespace: string, report: Reporter): string {
  const written = stringAt(entry, 'namespace', path, report);
  if (!written) return namespace;
  if (!isDnsLabel(written)) report.reject([...path, 'namespace'], `${JSON.stringify(written)} is not a valid namespace (lower-case DNS label)`);
  return written;
}

/**
 * Checks the route's references to Services against `services` (keyed namespace/name): a
 * backendRef to a missing Service, or to a port the Service does not have, is marked invalid
 * (BackendNotFound) and reported; a parentRef to a missing Service is reported. A backendRef to
 * another namespace needs a ReferenceGrant for the route's Gateway parents only (fact 27): the
 * mesh needs none (fact 32, GEP-1426). Without one, it is reported, and marked invalid
 * (RefNotPermitted) when the route has no Service parent.
 */
export function resolveRouteReferences(
  route: HTTPRoute, services: ReadonlyMap<string, Service>, diagnostics: Diagnostic[], grants: readonly ReferenceGrant[] = [],
): void {
  const { namespace, name, source } = route.meta;
  checkRouteReferences(route, services, new Reporter(diagnostics, source, { kind: 'HTTPRoute', namespace, name }), grants);
}

export function checkRouteReferences(
  route: HTTPRoute, services: ReadonlyMap<string, Service>, report: Reporter, grants: readonly ReferenceGrant[] = [],
): void {
  route.parentRefs.forEach((parent, index) => checkParentRef(parent, ['spec', 'parentRefs', index], services, report));
  const gatewayParents = route.parentRefs.filter((parent) => parent.group === GATEWAY_GROUP && parent.kind === 'Gateway').length;
  const inMesh = route.parentRefs.some(isMeshParent);
  route.rules.forEach((rule, r) =>
    rule.backendRefs.forEach((backend, b) => {
      const path = ['spec', 'rules', r, 'backendRefs', b];
      if (gatewayParents > 0 && !backend.invalid && !referenceGrantAllows(grants, route.meta.namespace, backend)) {
        checkGrant(backend, path, route.meta.namespace, inMesh, report);
      }
      checkBackendRef(backend, path, services, report);
      checkBackendFamilies(route, backend, path, services, report);
    }),
  );
}

/**
 * A backendRef whose Service lacks an address family of a mesh parent's ClusterIPs: connections to
 * that parent ClusterIP are translated per family (connect6 needs an IPv6 endpoint), so the share
 * they send to this backendRef finds no endpoint and is refused. Said once per missing family.
 */
function checkBackendFamilies(route: HTTPRoute, backend: BackendRef, path: FieldPath, services: ReadonlyMap<string, Service>, report: Reporter): void {
  if (backend.invalid || !isServiceRef(backend)) return;
  const target = services.get(`${backend.namespace}/${backend.name}`);
  if (!target || target.clusterIPs.length === 0) return;
  const has = new Set(target.clusterIPs.map(familyOf));
  const missing = new Map<4 | 6, string>();
  for (const parent of route.parentRefs.filter(isMeshParent)) {
    const service = services.get(`${parent.namespace}/${parent.name}`);
    for (const ip of service?.clusterIPs ?? []) {
      const family = familyOf(ip);
      if (!has.has(family) && !missing.has(family)) missing.set(family, `${parent.namespace}/${parent.name}'s ClusterIP ${ip}`);
    }
  }
  for (const [family, where] of missing) {
    report.warn(path, `Service ${backend.namespace}/${backend.name} has no IPv${family} ClusterIP or endpoints (its ipFamilies: ${[...has].map((f) => `IPv${f}`).join(', ')}), so the share of connections to ${where} sent to it is refused`);
  }
}

function familyOf(ip: string): 4 | 6 {
  return ip.includes(':') ? 6 : 4;
}

function checkGrant(backend: BackendRef, path: FieldPath, namespace: string, inMesh: boolean, report: Reporter): void {
  const why = `RefNotPermitted: no ReferenceGrant in namespace ${backend.namespace} lets HTTPRoutes from ${namespace} refer to Service ${backend.name}`;
  if (inMesh) {
    report.warn(path, `${why}, so for the route's Gateway parents ResolvedRefs is False and this share gets 500; its Service parents (the mesh) need no grant (GEP-1426) and use it`);
    return;
  }
  backend.invalid = 'RefNotPermitted';
  report.warn(path, `${why}: ResolvedRefs is False and requests sent to it get 500`);
}

function checkParentRef(parent: ParentRef, path: FieldPath, services: ReadonlyMap<string, Service>, report: Reporter): void {
  if (!isServiceRef(parent)) return;
  const service = services.get(`${parent.namespace}/${parent.name}`);
  if (!service) {
    report.error([...path, 'name'], `parent Service ${parent.namespace}/${parent.name} does not exist`);
  } else if (parent.port !== undefined && !service.ports.some((port) => port.port === parent.port)) {
    report.error([...path, 'port'], `parent Service ${parent.namespace}/${parent.name} has no port ${parent.port}`);
  } else if (parent.sectionName !== undefined && !service.ports.some((port) => port.name === parent.sectionName)) {
    report.error([...path, 'sectionName'], `parent Service ${parent.namespace}/${parent.name} has no port named ${JSON.stringify(parent.sectionName)}`);
  }
}

function checkBackendRef(backend: BackendRef, path: FieldPath, services: ReadonlyMap<string, Service>, report: Reporter): void {
  if (backend.invalid || !isServiceRef(backend)) return;
  const service = services.get(`${backend.namespace}/${backend.name}`);
  if (!service) {
    backend.invalid = 'BackendNotFound';
    report.error([...path, 'name'], `Service ${backend.namespace}/${backend.name} does not exist; requests sent to it get 500`);
  } else if (!service.ports.some((port) => port.port === backend.port)) {
    backend.invalid = 'BackendNotFound';
    report.error([...path, 'port'], `Service ${backend.namespace}/${backend.name} has no port ${backend.port}; requests sent to it get 500`);
  }
}
