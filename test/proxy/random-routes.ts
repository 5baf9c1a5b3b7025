// Random HTTPRoutes and requests for the differential test (Wasm matcher vs HAProxy): every
// kind of match (path Exact / PathPrefix / RegularExpression, headers and query parameters Exact
// and RegularExpression, method), several rules and routes with precedence ties, weights
// (zero too), backendRefs to Services without endpoints or that do not exist, rules without any.

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
const chance = (r: Random, percent: number) => r() % 100 < percent;

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

function randomBackendRef(r: Random): Obj {
  const name = chance(r, 85) ? pick(r, BACKENDS) : pick(r, [EMPTY_BACKEND, MISSING_BACKEND]);
  const ref: Obj = { name, port: 8080 };
  if (chance(r, 60)) ref['weight'] = r() % 5;
  return ref;
}

/** 1-3 HTTPRoutes on `frontend` port 80 in `namespace`, each with 1-4 rules. */
export function randomRoutes(r: Random, namespace: string, frontend: string): Obj[] {
  return Array.from({ length: 1 + (r() % 3) }, (_, k) => {
    const rules = Array.from({ length: 1 + (r() % 4) }, () => {
      const rule: Obj = {};
      if (!chance(r, 15)) rule['matches'] = Array.from({ length: 1 + (r() % 3) }, () => randomMatch(r));
      if (!chance(r, 5)) rule['backendRefs'] = Array.from({ length: 1 + (r() % 3) }, () => randomBackendRef(r));
      return rule;
    });
    const metadata: Obj = { name: `${frontend}-r${k}`, namespace };
    // Precedence ties across routes go to the oldest: some routes have timestamps.
    if (chance(r, 50)) metadata['creationTimestamp'] = `2026-01-0${1 + (r() % 3)}T00:00:00Z`;
    return {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata,
      spec: { parentRefs: [{ group: '', kind: 'Service', name: frontend, port: 80 }], rules },
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
