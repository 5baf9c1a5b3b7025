// The model's hook for network policy: the objects of both kinds, read and in a stable order.
import type { KubeObject } from './objects.ts';
import { readCiliumNetworkPolicy, readNetworkPolicy } from './netpol-read.ts';
import type { NetworkPolicy } from './netpol-types.ts';

export function readNetworkPolicies(policies: readonly KubeObject[], cilium: readonly KubeObject[]): NetworkPolicy[] {
  const read = [...policies.map(readNetworkPolicy), ...cilium.map(readCiliumNetworkPolicy)].filter((p) => p !== undefined);
  const key = (p: NetworkPolicy) => `${p.kind}/${p.meta.namespace}/${p.meta.name}`;
  return read.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
