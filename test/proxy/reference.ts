// The outcome the Wasm side decides for one request at one L7 listener: the Wasm matcher
// (assembly/l7) on the listener's routes, then the rule's weighted groups from the compiled
// tables picked with the given random number (r % total over the cumulative weights).
import type { HttpRequest } from '../../src/l7/encode.ts';
import { encodeRoutes, type EncodedRoutes } from '../../src/l7/encode.ts';
import { routesForFrontend } from '../../src/l7/attach.ts';
import type { L7Matcher } from '../../src/l7/matcher.ts';
import { ruleKey } from '../../src/tables/compile.ts';
import type { ListenerPlan } from '../../src/proxy/plan.ts';

export interface Outcome {
  status: number;
  /** `namespace/name` of the backend Service, for a 200. */
  backend?: string;
}

const encodedByListener = new WeakMap<ListenerPlan, EncodedRoutes>();

export function referenceOutcome(matcher: L7Matcher, listener: ListenerPlan, req: HttpRequest, pick: number): Outcome {
  const f = listener.frontend;
  let encoded = encodedByListener.get(listener);
  if (!encoded) {
    const sf = { namespace: f.service.meta.namespace, name: f.service.meta.name, port: f.port.port, portName: f.port.name };
    encoded = encodeRoutes(routesForFrontend(f.routes, sf, listener.consumerNamespace ?? f.service.meta.namespace));
    encodedByListener.set(listener, encoded);
  }
  const match = matcher.match(encoded, req);
  if (!match) return { status: 404 };
  const rule = encoded.rules[match.ruleRef]!;
  const { groupSet } = f.rules.get(ruleKey(rule.route, rule.ruleIndex))!;
  if (groupSet.total === 0) return { status: 500 };
  let r = (pick >>> 0) % groupSet.total;
  for (const g of groupSet.groups) {
    if (r >= g.weight) {
      r -= g.weight;
      continue;
    }
    if (!g.pool) return { status: 500 };
    if (g.pool.slots.length === 0) return { status: 503 };
    return { status: 200, backend: g.service };
  }
  throw new Error('weights do not add up to the total');
}
