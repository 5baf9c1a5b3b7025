// TEST DOUBLE support: the resource types the API server stand-in (standin.ts) serves, with the
// group, versions, scope and kind that the real API server publishes for them in discovery.

export interface ResourceType {
  /** '' for the core group (served under /api/v1). */
  group: string;
  /** Served versions, preferred first. */
  versions: string[];
  /** Plural resource name as it appears in URLs. */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  /**
   * Custom resources (CRDs) keep apiVersion and kind on every item of a list; the built-in
   * resources leave them out of list items, as the real server's JSON does.
   */
  custom: boolean;
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function defaultResources(gatewayVersions: string[], ciliumVersions: string[] = []): ResourceType[] {
  const types: ResourceType[] = [
    { group: '', versions: ['v1'], resource: 'namespaces', singular: 'namespace', kind: 'Namespace', namespaced: false, custom: false },
    { group: '', versions: ['v1'], resource: 'nodes', singular: 'node', kind: 'Node', namespaced: false, custom: false },
    { group: '', versions: ['v1'], resource: 'services', singular: 'service', kind: 'Service', namespaced: true, custom: false },
    { group: '', versions: ['v1'], resource: 'pods', singular: 'pod', kind: 'Pod', namespaced: true, custom: false },
    { group: '', versions: ['v1'], resource: 'serviceaccounts', singular: 'serviceaccount', kind: 'ServiceAccount', namespaced: true, custom: false },
    { group: '', versions: ['v1'], resource: 'configmaps', singular: 'configmap', kind: 'ConfigMap', namespaced: true, custom: false },
    { group: 'discovery.k8s.io', versions: ['v1'], resource: 'endpointslices', singular: 'endpointslice', kind: 'EndpointSlice', namespaced: true, custom: false },
    { group: 'networking.k8s.io', versions: ['v1'], resource: 'networkpolicies', singular: 'networkpolicy', kind: 'NetworkPolicy', namespaced: true, custom: false },
    { group: 'apps', versions: ['v1'], resource: 'daemonsets', singular: 'daemonset', kind: 'DaemonSet', namespaced: true, custom: false },
    { group: 'batch', versions: ['v1'], resource: 'jobs', singular: 'job', kind: 'Job', namespaced: true, custom: false },
    { group: 'rbac.authorization.k8s.io', versions: ['v1'], resource: 'clusterroles', singular: 'clusterrole', kind: 'ClusterRole', namespaced: false, custom: false },
    { group: 'rbac.authorization.k8s.io', versions: ['v1'], resource: 'clusterrolebindings', singular: 'clusterrolebinding', kind: 'ClusterRoleBinding', namespaced: false, custom: false },
    { group: 'rbac.authorization.k8s.io', versions: ['v1'], resource: 'roles', singular: 'role', kind: 'Role', namespaced: true, custom: false },
    { group: 'rbac.authorization.k8s.io', versions: ['v1'], resource: 'rolebindings', singular: 'rolebinding', kind: 'RoleBinding', namespaced: true, custom: false },
  ];
  if (gatewayVersions.length > 0) {
    types.push({
      group: 'gateway.networking.k8s.io',
      versions: gatewayVersions,
      resource: 'httproutes',
      singular: 'httproute',
      kind: 'HTTPRoute',
      namespaced: true,
      custom: true,
    });
  }
  if (ciliumVersions.length > 0) types.push(ciliumType(ciliumVersions));
  return types;
}

/** CiliumNetworkPolicy as a CRD serves it (a cluster where Cilium is installed). */
export function ciliumType(versions: string[]): ResourceType {
  return { group: 'cilium.io', versions, resource: 'ciliumnetworkpolicies', singular: 'ciliumnetworkpolicy', kind: 'CiliumNetworkPolicy', namespaced: true, custom: true };
}

export function groupVersion(group: string, version: string): string {
  return group === '' ? version : `${group}/${version}`;
}

/** The APIResourceList entry of a resource, as /api/v1 and /apis/GROUP/VERSION list them. */
export function apiResource(type: ResourceType): Record<string, unknown> {
  return { name: type.resource, singularName: type.singular, namespaced: type.namespaced, kind: type.kind, verbs: VERBS };
}
