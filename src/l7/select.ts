// What happens after a rule matched: which backendRefs are usable, the weighted pick among them,
// and the error statuses (semantics.md C).

import type { BackendRef, RouteRule, Service } from '../model/types.ts';

/** A ReferenceGrant, reduced to what backendRef checks need. */
export interface ReferenceGrant {
  namespace: string;
  name: string;
  from: { group: string; kind: string; namespace: string }[];
  to: { group: string; kind: string; name?: string }[];
}

export interface BackendContext {
  /** Mesh routes reach other namespaces freely; Gateway-bound routes need a ReferenceGrant. */
  profile: 'mesh' | 'gateway';
  service(namespace: string, name: string): Service | undefined;
  referenceGrants?: readonly ReferenceGrant[];
}

/**
 * Why a backendRef of a route in `routeNamespace` cannot be used, or undefined if it can
 * (fact 21): an invalid-field reason set by the model, a kind other than core Service, a
 * missing port, a Service that does not exist or lacks that port, or (Gateway profile) a
 * cross-namespace reference without a matching ReferenceGrant (fact 27).
 */
export function backendRefProblem(routeNamespace: string, ref: BackendRef, ctx: BackendContext): string | undefined {
  const target = `${ref.namespace}/${ref.name}`;
  if (ref.invalid) return ref.invalid;
  if (ref.group !== '' || ref.kind !== 'Service') {
    return `InvalidKind: backendRef ${target} has kind ${ref.group ? `${ref.kind}.${ref.group}` : ref.kind}; only core Service is supported`;
  }
  if (ref.port === undefined) return `UnsupportedValue: backendRef to Service ${target} has no port`;
  if (ctx.profile === 'gateway' && ref.namespace !== routeNamespace && !grantAllows(ctx.referenceGrants ?? [], routeNamespace, ref)) {
    return `RefNotPermitted: no ReferenceGrant in namespace ${ref.namespace} lets HTTPRoutes from ${routeNamespace} refer to Service ${ref.name}`;
  }
  const svc = ctx.service(ref.namespace, ref.name);
  if (!svc) return `BackendNotFound: Service ${target} does not exist`;
  if (!svc.ports.some((p) => p.port === ref.port)) return `BackendNotFound: Service ${target} has no port ${ref.port}`;
  return undefined;
}

function grantAllows(grants: readonly ReferenceGrant[], fromNamespace: string, ref: BackendRef): boolean {
  return grants.some((g) =>
    g.namespace === ref.namespace &&
    g.from.some((f) => f.group === 'gateway.networking.k8s.io' && f.kind === 'HTTPRoute' && f.namespace === fromNamespace) &&
    g.to.some((t) => t.group === '' && t.kind === 'Service' && (t.name === undefined || t.name === '' || t.name === ref.name)),
  );
}

export interface WeightedBackend {
  ref: BackendRef;
  weight: number;
  /** Set when the backendRef is unusable: its share of requests gets 500. */
  problem?: string;
}

export type RuleDecision =
  /** Every request to this rule gets 500. */
  | { kind: 'error'; status: 500; reason: string }
  /** Requests are split by weight; entries with a problem answer 500 for their share. */
  | { kind: 'weighted'; backends: WeightedBackend[]; totalWeight: number };

/**
 * The decision for a matched rule (facts 20, 21, 23, 24). A rule without backendRefs gets 500
 * (conformance HTTPRouteNoBackendRefs). When all weights are 0 the spec names no status
 * (fact 24, ambiguous: PR #4769 leans to 500, a Kuma issue to 503); meshc answers 500, the same
 * as for a rule with no usable backend, and says why.
 */
export function decideRule(rule: RouteRule, routeNamespace: string, ctx: BackendContext): RuleDecision {
  if (rule.backendRefs.length === 0) return { kind: 'error', status: 500, reason: 'the rule has no backendRefs' };
  const backends = rule.backendRefs.map((ref): WeightedBackend => {
    const problem = backendRefProblem(routeNamespace, ref, ctx);
    return problem === undefined ? { ref, weight: ref.weight } : { ref, weight: ref.weight, problem };
  });
  const totalWeight = backends.reduce((sum, b) => sum + b.weight, 0);
  if (totalWeight === 0) {
    return { kind: 'error', status: 500, reason: 'every backendRef of the rule has weight 0 (unspecified by the spec; meshc answers 500)' };
  }
  if (totalWeight > 0xffffffff) throw new Error(`rule weights sum to ${totalWeight}, more than a u32`);
  return { kind: 'weighted', backends, totalWeight };
}

export type BackendPick =
  | { status: 200; backend: BackendRef }
  | { status: 500; reason: string };

/**
 * Maps a uniform random u32 to one backendRef: `r % totalWeight` walked over the cumulative
 * weights, so a weight-0 entry is never picked. Stands in for the Wasm weighted group pick of the
 * L4 policy, which takes the same (weights, random) input.
 */
export function pickBackend(decision: RuleDecision, random: number): BackendPick {
  if (decision.kind === 'error') return { status: 500, reason: decision.reason };
  let r = (random >>> 0) % decision.totalWeight;
  for (const b of decision.backends) {
    if (r < b.weight) return b.problem === undefined ? { status: 200, backend: b.ref } : { status: 500, reason: b.problem };
    r -= b.weight;
  }
  throw new Error('pickBackend: cumulative weights do not add up to totalWeight');
}

/** Expected fraction of requests per outcome: `namespace/name` of a backend, or `500`. */
export function expectedShares(decision: RuleDecision): Map<string, number> {
  const shares = new Map<string, number>();
  if (decision.kind === 'error') return shares.set('500', 1);
  for (const b of decision.backends) {
    const key = b.problem === undefined ? `${b.ref.namespace}/${b.ref.name}` : '500';
    shares.set(key, (shares.get(key) ?? 0) + b.weight / decision.totalWeight);
  }
  return shares;
}
