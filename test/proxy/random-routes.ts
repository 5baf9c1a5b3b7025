// Random HTTPRoutes and requests for the differential test (Wasm matcher vs HAProxy): every
// kind of match (path Exact / PathPrefix / RegularExpression, headers and query parameters Exact
// and RegularExpression, method), several rules and routes with precedence ties, weights
// (zero too), backendRefs to Services without endpoints or that do not exist, rules without any,
// and filters: request and response header edits on rules and backendRefs, redirects (scheme,
// hostname, port, path, status) and URL rewrites (hostname, full path, prefix).

type Obj = Record<string, unknown>;

export type Random = () => number;

/** mulberry32: a deterministic u32 stream. */
export function randomStream(seed: number): Random {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const pick = <T>(r: Random, items: readonly T[]): T => items[r() % items.length]!;
export const chance = (r: Random, percent: number) => r() % 100 < percent;

export const BACKENDS = ['b0', 'b1', 'b2', 'b3'];
/** A Service without endpoints (503) and one that does not exist (500). */
export const EMPTY_BACKEND = 'empty';
export const MISSING_BACKEND = 'missing';

const SEGMENTS = ['a', 'ab', 'api', 'v1', 'v2', 'x.y', '~u', 'A', '%C3%A9', 'a-b'];
const EXACT_PATHS = ['/', '/a', '/a/', '/api/v1', '/ab', '/A', '/x.y'];
const PREFIX_PATHS = ['/', '/a', '/a/', '/api', '/api/v1', '/api/v1/', '/ab', '/%C3%A9'];
const REGEX_PATHS = ['/a.*', '/(api|v1)/[a-z0-9]+', '/v[0-9]', '.*/x\\.y', '/a+b?', '/[^/]+/?', '/%C3%A9.*', '(/[a-z]{1,2})+', '/API', '^/ab$'];
const HEADER_NAMES = ['x-a', 'X-B', 'version', 'x-canary-user'];
const HEADER_VALUES = ['one', 'two', 'true', 'One', 'a b', 'x,y', '1'];
const VALUE_REGEXES = ['o.*', 't(wo|rue)', '[a-z]+', '.*', '[0-9]+', 'x.y', 'a b|one', '\\d'];
const QUERY_NAMES = ['a', 'b', 'ver'];
const QUERY_VALUES = ['1', '2', 'x y', 'x+y', 'one'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];

function randomMatch(r: Random): Obj {
  const match: Obj = {};
  const kind = r() % 4;
  if (kind === 0) match['path'] = { type: 'Exact', value: pick(r, EXACT_PATHS) };
  else if (kind === 1) match['path'] = { type: 'PathPrefix', value: pick(r, PREFIX_PATHS) };
  else if (kind === 2) match['path'] = { type: 'RegularExpression', value: pick(r, REGEX_PATHS) };
  const headers = [...new Set(Array.from({ length: r() % 3 }, () => pick(r, HEADER_NAMES)))];
  if (headers.length > 0) {
    match['headers'] = headers.map((name) => chance(r, 70)
      ? { name, value: pick(r, HEADER_VALUES) }
      : { type: 'RegularExpression', name, value: pick(r, VALUE_REGEXES) });
  }
  const query = [...new Set(Array.from({ length: r() % 3 }, () => pick(r, QUERY_NAMES)))];
  if (query.length > 0) {
    match['queryParams'] = query.map((name) => chance(r, 70)
      ? { name, value: pick(r, QUERY_VALUES) }
      : { type: 'RegularExpression', name, value: pick(r, VALUE_REGEXES) });
  }
  if (chance(r, 25)) match['method'] = pick(r, METHODS);
  return match;
}

const REQUEST_EDIT_NAMES = ['x-a', 'X-B', 'x-new', 'version', 'X-Canary-User'];
const RESPONSE_EDIT_NAMES = ['x-r1', 'X-R2', 'x-r3'];
const EDIT_VALUES = ['v1', 'two words', 'x%41y', 'One', 'a,b', '"q"', '$HOME'];
const MODIFIER_PATHS = ['/', '/xyz', '/xyz/', '/a/b', '/%C3%A9'];

function headerModifier(r: Random, names: readonly string[]): Obj {
  const edit = (): Obj => ({ name: pick(r, names), value: pick(r, EDIT_VALUES) });
  const out: Obj = {};
  const unique = (list: Obj[]) => list.filter((e, i) => list.findIndex((x) => String(x['name']).toLowerCase() === String(e['name']).toLowerCase()) === i);
  if (chance(r, 60)) out['set'] = unique(Array.from({ length: 1 + (r() % 2) }, edit));
  if (chance(r, 60)) out['add'] = unique(Array.from({ length: 1 + (r() % 2) }, edit));
  if (chance(r, 50)) out['remove'] = [...new Set(Array.from({ length: 1 + (r() % 2) }, () => pick(r, names)))];
  return out;
}

function headerFilters(r: Random, requestPercent: number, responsePercent: number): Obj[] {
  const filters: Obj[] = [];
  if (chance(r, requestPercent)) filters.push({ type: 'RequestHeaderModifier', requestHeaderModifier: headerModifier(r, REQUEST_EDIT_NAMES) });
  if (chance(r, responsePercent)) filters.push({ type: 'ResponseHeaderModifier', responseHeaderModifier: headerModifier(r, RESPONSE_EDIT_NAMES) });
  return filters;
}

/** A path modifier; ReplacePrefixMatch only when the rule has exactly one PathPrefix match (CEL). */
function pathModifier(r: Random, matches: Obj[] | undefined): Obj {
  const one = matches === undefined ? { path: { type: 'PathPrefix', value: '/' } } : matches.length === 1 ? matches[0]! : undefined;
  const prefix = one && (one['path'] === undefined || (one['path'] as Obj)['type'] === 'PathPrefix');
  if (prefix && chance(r, 60)) return { type: 'ReplacePrefixMatch', replacePrefixMatch: pick(r, [...MODIFIER_PATHS, '']) };
  return { type: 'ReplaceFullPath', replaceFullPath: pick(r, MODIFIER_PATHS) };
}

function ruleFilters(r: Random, matches: Obj[] | undefined): Obj[] {
  const filters = headerFilters(r, 35, 30);
  const kind = r() % 100;
  if (kind < 12) {
    const redirect: Obj = {};
    if (chance(r, 50)) redirect['scheme'] = pick(r, ['http', 'https']);
    if (chance(r, 40)) redirect['hostname'] = pick(r, ['example.com', 'v2.diff.svc']);
    if (chance(r, 30)) redirect['port'] = pick(r, [80, 443, 8443]);
    if (chance(r, 60)) redirect['path'] = pathModifier(r, matches);
    if (chance(r, 50)) redirect['statusCode'] = pick(r, [301, 302, 307, 308]);
    filters.push({ type: 'RequestRedirect', requestRedirect: redirect });
  } else if (kind < 30) {
    const rewrite: Obj = {};
    if (chance(r, 50)) rewrite['hostname'] = pick(r, ['rewritten.example', 'b1.diff']);
    if (chance(r, 80)) rewrite['path'] = pathModifier(r, matches);
    filters.push({ type: 'URLRewrite', urlRewrite: rewrite });
  }
  return r() % 2 === 0 ? filters : filters.reverse();
}

function randomBackendRef(r: Random): Obj {
  const name = chance(r, 85) ? pick(r, BACKENDS) : pick(r, [EMPTY_BACKEND, MISSING_BACKEND]);
  const ref: Obj = { name, port: 8080 };
  if (chance(r, 60)) ref['weight'] = r() % 5;
  const filters = headerFilters(r, 20, 15);
  if (filters.length > 0) ref['filters'] = filters;
  return ref;
}

/**
 * 1-3 HTTPRoutes on `frontend` port 80 in `namespace`, each with 1-4 rules. With a
 * `frontendNamespace` of another namespace they are consumer routes (for that namespace's
 * clients only) whose backendRefs name the frontend's namespace.
 */
export function randomRoutes(r: Random, namespace: string, frontend: string, frontendNamespace = namespace): Obj[] {
  return Array.from({ length: 1 + (r() % 3) }, (_, k) => {
    const rules = Array.from({ length: 1 + (r() % 4) }, () => {
      const rule: Obj = {};
      if (!chance(r, 15)) rule['matches'] = Array.from({ length: 1 + (r() % 3) }, () => randomMatch(r));
      if (!chance(r, 5)) {
        rule['backendRefs'] = Array.from({ length: 1 + (r() % 3) }, () => ({ ...randomBackendRef(r), ...(frontendNamespace === namespace ? {} : { namespace: frontendNamespace }) }));
      }
      const filters = ruleFilters(r, rule['matches'] as Obj[] | undefined);
      if (filters.length > 0) rule['filters'] = filters;
      return rule;
    });
    const metadata: Obj = { name: `${frontend}-r${k}`, namespace };
    // Precedence ties across routes go to the oldest: some routes have timestamps.
    if (chance(r, 50)) metadata['creationTimestamp'] = `2026-01-0${1 + (r() % 3)}T00:00:00Z`;
    return {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata,
      spec: { parentRefs: [{ group: '', kind: 'Service', name: frontend, namespace: frontendNamespace, port: 80 }], rules },
    };
  });
}

export interface RandomRequest {
  /** The request target as sent: path and raw query. */
  target: string;
  method: string;
  headers: Record<string, string>;
}

function randomPath(r: Random): string {
  if (chance(r, 10)) return pick(r, [...EXACT_PATHS, ...PREFIX_PATHS]);
  const segments = Array.from({ length: r() % 4 }, () => pick(r, SEGMENTS));
  return `/${segments.join('/')}${chance(r, 15) ? '/' : ''}`;
}

function encodeValue(v: string): string {
  return v.replace(/ /g, '%20');
}

/** A request; half of them built to satisfy (most of) one of the routes' matches. */
export function randomRequest(r: Random, routes: readonly Obj[]): RandomRequest {
  const headers: Record<string, string> = {};
  const query: [string, string][] = [];
  let path = randomPath(r);
  let method = chance(r, 70) ? 'GET' : pick(r, METHODS);
  const matches = routes.flatMap((route) => ((route['spec'] as Obj)['rules'] as Obj[]).flatMap((rule) => (rule['matches'] as Obj[] | undefined) ?? []));
  if (matches.length > 0 && chance(r, 50)) {
    const m = pick(r, matches);
    const p = m['path'] as { type: string; value: string } | undefined;
    if (p && p.type !== 'RegularExpression') path = p.type === 'Exact' || chance(r, 50) ? p.value : `${p.value.replace(/\/$/, '')}/${pick(r, SEGMENTS)}`;
    for (const h of (m['headers'] as { name: string; value: string; type?: string }[] | undefined) ?? []) {
      if (chance(r, 85)) headers[chance(r, 50) ? h.name : h.name.toUpperCase()] = h.type ? pick(r, HEADER_VALUES) : h.value;
    }
    for (const q of (m['queryParams'] as { name: string; value: string; type?: string }[] | undefined) ?? []) {
      if (chance(r, 85)) query.push([q.name, q.type ? pick(r, QUERY_VALUES) : q.value]);
    }
    if (m['method'] && chance(r, 80)) method = m['method'] as string;
  }
  for (let i = r() % 2; i > 0; i--) {
    const name = pick(r, HEADER_NAMES);
    // A client sends one header per name given (Node's setHeader ignores case).
    if (!Object.keys(headers).some((h) => h.toLowerCase() === name.toLowerCase())) headers[name] = pick(r, HEADER_VALUES);
  }
  for (let i = r() % 3; i > 0; i--) query.push([pick(r, QUERY_NAMES), pick(r, QUERY_VALUES)]);
  if (chance(r, 10)) query.push([pick(r, QUERY_NAMES), '']);
  const shuffled = query.sort(() => (r() % 2 === 0 ? -1 : 1));
  const qs = shuffled.map(([n, v]) => (v === '' && chance(r, 50) ? n : `${n}=${encodeValue(v)}`)).join('&');
  return { target: qs ? `${path}?${qs}` : path, method, headers };
}
