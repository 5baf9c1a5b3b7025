// Runs the Wasm L7 matcher (assembly/l7) on encoded routes and requests.

import type { PolicyInstance } from '../wasm/instance.ts';
import { encodeRequest, type EncodedRoutes, type HttpRequest } from './encode.ts';

/** The winning match: indexes into `EncodedRoutes.routes`, the route's rules, and the rule's matches. */
export interface L7Match {
  route: number;
  rule: number;
  match: number;
  /** The rule's reference as encoded (by default its index in `EncodedRoutes.rules`). */
  ruleRef: number;
}

export interface L7Matcher {
  /** The winning match for the request, or null when no rule matches (the caller answers 404). */
  match(routes: EncodedRoutes, req: HttpRequest): L7Match | null;
  /** Same, for a request already encoded with encodeRequest. */
  matchEncoded(routes: EncodedRoutes, request: Uint8Array): L7Match | null;
}

/** Which route set each instance holds in its routes buffer, so it is copied only when it changes. */
const loadedRoutes = new WeakMap<PolicyInstance, EncodedRoutes>();

export function createL7Matcher(instance: PolicyInstance): L7Matcher {
  const wasm = instance.exports;

  function load(routes: EncodedRoutes): void {
    if (loadedRoutes.get(instance) === routes) return;
    loadedRoutes.delete(instance);
    const ptr = wasm.l7_routes_buffer(routes.bytes.length);
    instance.bytes().set(routes.bytes, ptr); // fresh view: the call above may have grown memory
    if (wasm.l7_load_routes(routes.bytes.length) !== 1) {
      throw new Error(`l7 matcher: the routes buffer (${routes.bytes.length} bytes) was rejected as malformed`);
    }
    loadedRoutes.set(instance, routes);
  }

  function matchEncoded(routes: EncodedRoutes, request: Uint8Array): L7Match | null {
    load(routes);
    const ptr = wasm.l7_request_buffer(request.length);
    instance.bytes().set(request, ptr);
    const rc = wasm.l7_match(request.length);
    if (rc === 0) return null;
    if (rc !== 1) {
      throw new Error(`l7 matcher: ${rc === -1 ? 'no routes loaded' : rc === -2 ? 'malformed request buffer' : `unexpected result ${rc}`}`);
    }
    return {
      route: wasm.l7_result_route(),
      rule: wasm.l7_result_rule(),
      match: wasm.l7_result_match(),
      ruleRef: wasm.l7_result_rule_ref() >>> 0,
    };
  }

  return {
    match: (routes, req) => matchEncoded(routes, encodeRequest(req)),
    matchEncoded,
  };
}
