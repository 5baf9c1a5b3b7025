// The kinds the Kubernetes source watches: where each is listed, how RBAC names it, which
// versions of a discovered kind (HTTPRoute, CiliumNetworkPolicy) are read, and how an object is
// keyed in the source's caches.
import type { KubernetesObject } from '@kubernetes/client-node';

export type WatchedKind = 'Service' | 'EndpointSlice' | 'HTTPRoute' | 'Node' | 'Namespace' | 'Pod' | 'NetworkPolicy' | 'CiliumNetworkPolicy';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
export const CILIUM_GROUP = 'cilium.io';

/**
 * A kind served by a CRD that may be absent: its group is looked up in discovery (and again every
 * so often while it is absent), and the first of `versions` the server serves is watched.
 */
export interface Discovered {
  group: string;
  /** Versions meshc reads, preferred first. */
  versions: readonly string[];
  resource: string;
  /** What stays off while the group is not served, and what goes on (for the one log line that says so). */
  off: string;
}

export interface KindSpec {
  kind: WatchedKind;
  /** API version and collection path; a discovered kind's depend on what the server serves. */
  apiVersion?: string;
  path?: string;
  namespaced: boolean;
  discovered?: Discovered;
}

export const KIND_SPECS: Record<WatchedKind, KindSpec> = {
  Service: { kind: 'Service', apiVersion: 'v1', path: '/api/v1/services', namespaced: true },
  EndpointSlice: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', path: '/apis/discovery.k8s.io/v1/endpointslices', namespaced: true },
  HTTPRoute: {
    kind: 'HTTPRoute',
    namespaced: true,
    discovered: { group: GATEWAY_GROUP, versions: ['v1', 'v1beta1'], resource: 'httproutes', off: 'routes are off until it is' },
  },
  Node: { kind: 'Node', apiVersion: 'v1', path: '/api/v1/nodes', namespaced: false },
  Namespace: { kind: 'Namespace', apiVersion: 'v1', path: '/api/v1/namespaces', namespaced: false },
  Pod: { kind: 'Pod', apiVersion: 'v1', path: '/api/v1/pods', namespaced: true },
  NetworkPolicy: { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', path: '/apis/networking.k8s.io/v1/networkpolicies', namespaced: true },
  CiliumNetworkPolicy: {
    kind: 'CiliumNetworkPolicy',
    namespaced: true,
    discovered: { group: CILIUM_GROUP, versions: ['v2'], resource: 'ciliumnetworkpolicies', off: 'CiliumNetworkPolicies are not read until it is (Cilium\'s CRD is not installed); NetworkPolicies are' },
  },
};

/** What the source reads, as RBAC names it: deploy/clusterrole.yaml must grant exactly these. */
export const WATCHED_RESOURCES: readonly { kind: WatchedKind; group: string; resource: string }[] = [
  { kind: 'Service', group: '', resource: 'services' },
  { kind: 'EndpointSlice', group: 'discovery.k8s.io', resource: 'endpointslices' },
  { kind: 'HTTPRoute', group: GATEWAY_GROUP, resource: 'httproutes' },
  { kind: 'Node', group: '', resource: 'nodes' },
  { kind: 'Namespace', group: '', resource: 'namespaces' },
  { kind: 'Pod', group: '', resource: 'pods' },
  { kind: 'NetworkPolicy', group: 'networking.k8s.io', resource: 'networkpolicies' },
  { kind: 'CiliumNetworkPolicy', group: CILIUM_GROUP, resource: 'ciliumnetworkpolicies' },
];

/** Which version of a discovered kind to watch among those served: the first meshc reads, else none. */
export function chooseVersion(discovered: Discovered, served: readonly string[]): string | undefined {
  return discovered.versions.find((v) => served.includes(v));
}

/** Which HTTPRoute version to watch among those served: v1, else v1beta1, else none. */
export function chooseRouteVersion(served: readonly string[]): string | undefined {
  return chooseVersion(KIND_SPECS.HTTPRoute.discovered!, served);
}

/** The cache key of an object: `namespace/name`, or the name of a cluster-scoped object. */
export const objectKey = (namespaced: boolean, object: KubernetesObject) =>
  namespaced ? `${object.metadata?.namespace || 'default'}/${object.metadata?.name}` : String(object.metadata?.name);

/** `namespace/name` into its two parts. */
export function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}
