// The kinds the Kubernetes source watches: where each is listed, how RBAC names it, which
// HTTPRoute version is read, and how an object is keyed in the source's caches.
import type { KubernetesObject } from '@kubernetes/client-node';

export type WatchedKind = 'Service' | 'EndpointSlice' | 'HTTPRoute' | 'Node' | 'Namespace' | 'Pod';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

export interface KindSpec {
  kind: WatchedKind;
  /** API version and collection path; HTTPRoute's depend on discovery. */
  apiVersion?: string;
  path?: string;
  namespaced: boolean;
}

export const KIND_SPECS: Record<WatchedKind, KindSpec> = {
  Service: { kind: 'Service', apiVersion: 'v1', path: '/api/v1/services', namespaced: true },
  EndpointSlice: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', path: '/apis/discovery.k8s.io/v1/endpointslices', namespaced: true },
  HTTPRoute: { kind: 'HTTPRoute', namespaced: true },
  Node: { kind: 'Node', apiVersion: 'v1', path: '/api/v1/nodes', namespaced: false },
  Namespace: { kind: 'Namespace', apiVersion: 'v1', path: '/api/v1/namespaces', namespaced: false },
  Pod: { kind: 'Pod', apiVersion: 'v1', path: '/api/v1/pods', namespaced: true },
};

/** What the source reads, as RBAC names it: deploy/clusterrole.yaml must grant exactly these. */
export const WATCHED_RESOURCES: readonly { kind: WatchedKind; group: string; resource: string }[] = [
  { kind: 'Service', group: '', resource: 'services' },
  { kind: 'EndpointSlice', group: 'discovery.k8s.io', resource: 'endpointslices' },
  { kind: 'HTTPRoute', group: GATEWAY_GROUP, resource: 'httproutes' },
  { kind: 'Node', group: '', resource: 'nodes' },
  { kind: 'Namespace', group: '', resource: 'namespaces' },
  { kind: 'Pod', group: '', resource: 'pods' },
];

/** Which HTTPRoute version to watch among those served: v1, else v1beta1, else none. */
export function chooseRouteVersion(served: readonly string[]): string | undefined {
  return ['v1', 'v1beta1'].find((v) => served.includes(v));
}

/** The cache key of an object: `namespace/name`, or the name of a cluster-scoped object. */
export const objectKey = (namespaced: boolean, object: KubernetesObject) =>
  namespaced ? `${object.metadata?.namespace || 'default'}/${object.metadata?.name}` : String(object.metadata?.name);

/** `namespace/name` into its two parts. */
export function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}
