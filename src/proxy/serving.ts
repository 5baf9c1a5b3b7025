// Where a Service port's connections are decided: in the kernel at connect() (L4), or by the
// node proxy (L7), and why. Routes that only split by weight stay in the kernel; a match on
// path, headers, method or query, a filter or a timeout needs the HTTP request, so the proxy
// serves them.

import type { HTTPRoute, RouteRule } from '../model/types.ts';
import type { FrontendInfo } from '../tables/compile.ts';

export interface Serving {
  layer: 'L4' | 'L7';
  /** One line, for simulate, inspect and the agent's log. */
  why: string;
}

export interface FrontendServing {
  /** What clients get that have no consumer route of their own namespace. */
  producer: Serving;
  /** Namespaces with consumer routes of their own: always the proxy (the kernel tables hold producer routes). */
  consumers: Map<string, Serving>;
}

/** Why a rule needs the HTTP request, or undefined when a connection is enough. */
export function ruleNeedsHttp(rule: RouteRule): string | undefined {
  const specific = rule.matches.find((m) => !(m.path.type === 'PathPrefix' && m.path.value === '/' && m.headers.length === 0 && m.queryParams.length === 0 && !m.method));
  if (specific) {
    const on = [
      ...(specific.path.type !== 'PathPrefix' || specific.path.value !== '/' ? ['path'] : []),
      ...(specific.headers.length > 0 ? ['headers'] : []),
      ...(specific.method ? ['method'] : []),
      ...(specific.queryParams.length > 0 ? ['query'] : []),
    ];
    return `matches on ${on.join(', ')}`;
  }
  if (rule.filters.length > 0) return `has filters (${rule.filters.join(', ')})`;
  if (rule.timeouts?.request || rule.timeouts?.backendRequest) return 'has timeouts';
  return undefined;
}

function routesServing(routes: readonly HTTPRoute[], none: string): Serving {
  for (const route of routes) {
    for (const [index, rule] of route.rules.entries()) {
      const need = ruleNeedsHttp(rule);
      if (need) return { layer: 'L7', why: `HTTPRoute ${route.meta.namespace}/${route.meta.name} rule ${index} ${need}` };
    }
  }
  if (routes.length === 0) return { layer: 'L4', why: none };
  const names = routes.map((r) => `${r.meta.namespace}/${r.meta.name}`).join(', ');
  return { layer: 'L4', why: `HTTPRoute ${names}: catch-all rules only, weights decided per connection` };
}

export function frontendServing(frontend: FrontendInfo): FrontendServing {
  const namespace = frontend.service.meta.namespace;
  const producer = routesServing(frontend.routes.filter((r) => r.meta.namespace === namespace), 'no HTTPRoute');
  const consumers = new Map<string, Serving>();
  const others = [...new Set(frontend.routes.map((r) => r.meta.namespace).filter((ns) => ns !== namespace))].sort();
  for (const ns of others) {
    const names = frontend.routes.filter((r) => r.meta.namespace === ns).map((r) => `${ns}/${r.meta.name}`).join(', ');
    consumers.set(ns, { layer: 'L7', why: `consumer HTTPRoute ${names} applies to clients in namespace ${ns} only` });
  }
  return { producer, consumers };
}
