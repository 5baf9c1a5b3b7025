// The network policy model: NetworkPolicy (networking.k8s.io/v1) and CiliumNetworkPolicy
// (cilium.io/v2) read into one shape, which src/netpol/tables.ts compiles into identities and rules.
import type { ObjectMeta, Protocol } from './types.ts';

export interface LabelRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values: string[];
}

/** A Kubernetes label selector; an empty one selects everything. */
export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelRequirement[];
}

/** A peer of a rule: pods (by labels, in namespaces chosen by labels or the policy's own), or an address block. */
export type NetworkPeer =
  | { kind: 'pods'; pods: LabelSelector; namespaces?: LabelSelector }
  | { kind: 'cidr'; cidr: string; except: string[] };

/** A port of a rule: a number (with endPort, a range) or a container port's name; absent: every port. */
export interface NetworkPort {
  protocol: Protocol;
  port?: number | string;
  endPort?: number;
}

export interface NetworkRule {
  /** 'any': the rule names no peer, so every peer matches. */
  peers: NetworkPeer[] | 'any';
  /** 'all': every port of every protocol. */
  ports: NetworkPort[] | 'all';
  /** CiliumNetworkPolicy `authentication.mode: required` (enforced by the agent's tunnel, docs/tunnel.md; reported otherwise). */
  authentication?: 'required';
}

export interface NetworkPolicy {
  kind: 'NetworkPolicy' | 'CiliumNetworkPolicy';
  meta: ObjectMeta;
  /** The pods of the policy's namespace it selects (its subjects). */
  podSelector: LabelSelector;
  /** Set when the policy isolates its pods for ingress: only these rules then let traffic in. */
  ingress?: NetworkRule[];
  /** Set when the policy isolates its pods for egress. */
  egress?: NetworkRule[];
}

export function policyName(policy: NetworkPolicy): string {
  return `${policy.kind} ${policy.meta.namespace}/${policy.meta.name}`;
}
