// Small builders for HTTPRoute model objects (already defaulted) used by the L7 tests.

import type { BackendRef, HTTPRoute, RouteMatch, RouteRule, ParentRef } from '../../src/model/types.ts';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import { createL7Matcher, type L7Matcher } from '../../src/l7/matcher.ts';

let shared: Promise<L7Matcher> | undefined;

/** One matcher over build/policy.wasm for a test file (load it in a suite's `before` hook). */
export function sharedMatcher(): Promise<L7Matcher> {
  return (shared ??= loadPolicyWasm().then(createL7Matcher));
}

export interface MatchSpec {
  exact?: string;
  prefix?: string;
  regex?: string;
  method?: string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
}

export function match(spec: MatchSpec = {}): RouteMatch {
  const path = spec.exact !== undefined
    ? { type: 'Exact' as const, value: spec.exact }
    : spec.regex !== undefined
      ? { type: 'RegularExpression' as const, value: spec.regex }
      : { type: 'PathPrefix' as const, value: spec.prefix ?? '/' };
  const m: RouteMatch = {
    path,
    headers: Object.entries(spec.headers ?? {}).map(([name, value]) => ({ type: 'Exact' as const, name, value })),
    queryParams: Object.entries(spec.query ?? {}).map(([name, value]) => ({ type: 'Exact' as const, name, value })),
  };
  if (spec.method !== undefined) m.method = spec.method;
  return m;
}

export function backend(name: string, extra: Partial<BackendRef> = {}): BackendRef {
  return { group: '', kind: 'Service', namespace: 'default', name, port: 80, weight: 1, ...extra };
}

export function rule(matches: RouteMatch[], backendRefs: BackendRef[] = [backend('svc')]): RouteRule {
  return { matches, backendRefs, filters: [] };
}

export interface RouteSpec {
  namespace?: string;
  created?: string;
  parentRefs?: ParentRef[];
}

export function route(name: string, rules: RouteRule[], spec: RouteSpec = {}): HTTPRoute {
  const namespace = spec.namespace ?? 'default';
  const r: HTTPRoute = {
    meta: { namespace, name, labels: {}, annotations: {}, source: { file: 'test', doc: 0 } },
    apiVersion: 'gateway.networking.k8s.io/v1',
    parentRefs: spec.parentRefs ?? [{ group: '', kind: 'Service', namespace, name: 'svc' }],
    rules,
  };
  if (spec.created !== undefined) r.meta.creationTimestamp = spec.created;
  return r;
}
