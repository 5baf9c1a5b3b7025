// The outcome the Wasm side decides for one request at one L7 listener: the Wasm matcher
// (assembly/l7) on the listener's routes, the rule's weighted groups from the compiled tables
// picked with the given random number (r % total over the cumulative weights), then the rule's
// and the picked backendRef's filters (src/l7/filters.ts): a redirect, or the request target and
// headers the backend receives and the response headers the client gets.
import type { HttpRequest } from '../../src/l7/encode.ts';
import { encodeRoutes, type EncodedRoutes } from '../../src/l7/encode.ts';
import { routesForFrontend } from '../../src/l7/attach.ts';
import type { L7Matcher } from '../../src/l7/matcher.ts';
import { encodeFilters, filterRequest, filterResponseHeaders, type EncodedFilters } from '../../src/l7/filters.ts';
import type { PolicyInstance } from '../../src/wasm/instance.ts';
import { ruleKey } from '../../src/tables/compile.ts';
import type { ListenerPlan } from '../../src/proxy/plan.ts';
import { ECHO_RESPONSE_HEADERS } from './echo.ts';

export interface Outcome {
  status: number;
  /** `namespace/name` of the backend Service, for a 200. */
  backend?: string;
  /** A redirect's Location. */
  location?: string;
  /** The request target the backend received (path and query). */
  target?: string;
  /** The headers the backend received, names lower-cased, in order (hop-by-hop and framing left out). */
  requestHeaders?: [string, string][];
  /** The response's x- headers, names lower-cased, in order. */
  responseHeaders?: [string, string][];
}

/** Headers the comparison leaves out: the connection's and the body's framing, which each hop sets for itself. */
export const HOP_HEADERS = new Set(['connection', 'keep-alive', 'content-length', 'transfer-encoding']);

export function comparableHeaders(headers: readonly [string, string][], keep: (name: string) => boolean): [string, string][] {
  return headers.map(([n, v]): [string, string] => [n.toLowerCase(), v]).filter(([n]) => keep(n));
}

interface Encoded { routes: EncodedRoutes; filters: EncodedFilters }
const encodedByListener = new WeakMap<ListenerPlan, Encoded>();

export interface ReferenceRequest extends HttpRequest {
  /** The raw query string (after `?`), kept as is by every filter. */
  rawQuery?: string;
}

export function referenceOutcome(instance: PolicyInstance, matcher: L7Matcher, listener: ListenerPlan, req: ReferenceRequest, pick: number): Outcome {
  const f = listener.frontend;
  let encoded = encodedByListener.get(listener);
  if (!encoded) {
    const sf = { namespace: f.service.meta.namespace, name: f.service.meta.name, port: f.port.port, portName: f.port.name };
    const routes = encodeRoutes(routesForFrontend(f.routes, sf, listener.consumerNamespace ?? f.service.meta.namespace));
    encoded = { routes, filters: encodeFilters(routes.rules.map((r) => r.route.rules[r.ruleIndex]!)) };
    encodedByListener.set(listener, encoded);
  }
  const match = matcher.match(encoded.routes, req);
  if (!match) return { status: 404 };
  const rule = encoded.routes.rules[match.ruleRef]!;
  const request = { path: req.path, port: f.port.port, ...(req.rawQuery === undefined ? {} : { query: req.rawQuery }) };
  if (rule.route.rules[rule.ruleIndex]!.redirect) {
    const r = filterRequest(instance, encoded.filters, match.ruleRef, -1, request);
    if (r.kind !== 'redirect') throw new Error('a redirect rule did not redirect');
    return { status: r.status, location: r.location };
  }
  const { groupSet } = f.rules.get(ruleKey(rule.route, rule.ruleIndex))!;
  if (groupSet.total === 0) return { status: 500 };
  let r = (pick >>> 0) % groupSet.total;
  for (const [index, g] of groupSet.groups.entries()) {
    if (r >= g.weight) {
      r -= g.weight;
      continue;
    }
    if (!g.pool) return { status: 500 };
    if (g.pool.slots.length === 0) return { status: 503 };
    const sent = filterRequest(instance, encoded.filters, match.ruleRef, index, request);
    if (sent.kind !== 'forward') throw new Error('a forwarding rule redirected');
    const response = filterResponseHeaders(instance, encoded.filters, match.ruleRef, index, ECHO_RESPONSE_HEADERS);
    return {
      status: 200,
      backend: g.service,
      target: sent.path,
      requestHeaders: comparableHeaders(sent.headers, (n) => !HOP_HEADERS.has(n)),
      responseHeaders: comparableHeaders(response, (n) => n.startsWith('x-')),
    };
  }
  throw new Error('weights do not add up to the total');
}
