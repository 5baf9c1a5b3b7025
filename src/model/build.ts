// The pure core of the loader: parsed manifest documents in, the typed Model out. No I/O, so it
// runs in Node and in the browser alike.

import type { Diagnostic, HTTPRoute, Model, Node, ObjectMeta, PodInfo, ReferenceGrant, Service } from './types.ts';
import type { ManifestDoc } from './manifest-doc.ts';
import type { WithReporter } from './diagnostics.ts';
import { collectObjects, type KnownKind, type KubeObject } from './objects.ts';
import { assignClusterIPs, normalizeService } from './service.ts';
import { normalizeNode } from './node.ts';
import { normalizePod, PodIndex } from './pod.ts';
import { isWorkloadKind, normalizeWorkload, synthesizePods, type Workload } from './workload.ts';
import { normalizeEndpointSlice, type EndpointSliceInfo } from './endpointslice.ts';
import { serviceEndpoints } from './endpoints.ts';
import { checkRouteReferences, readHTTPRoute } from './httproute.ts';
import { readReferenceGrant } from './reference-grant.ts';
import { parseCidr, type Cidr } from './ip.ts';
import { readNetworkPolicies } from './netpol.ts';

export type { ManifestDoc } from './manifest-doc.ts';

export interface BuildOptions {
  /** Where ClusterIPs without one in their manifest come from. Default 10.96.0.0/12. */
  serviceCIDR?: string;
  /** Where IPv6 and dual-stack Services' IPv6 ClusterIPs come from. Default fd00:10:96::/112. */
  serviceCIDRv6?: string;
  /** Where synthesized pods' addresses come from. Default 10.244.0.0/16. */
  podCIDR?: string;
  /** Where synthesized pods' IPv6 addresses come from, when a Service has an IPv6 ClusterIP. Default fd00:10:244::/64. */
  podCIDRv6?: string;
  /**
   * Simulation mode: make up pods for Deployments, StatefulSets and ReplicaSets that have no real
   * Pod in the input, so their Services get endpoints. Default true; the agent passes false.
   */
  synthesize?: boolean;
  /** Nodes to spread synthesized pods over (added to the model's nodes). Default: no placement. */
  nodes?: readonly Node[];
}

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
export const DEFAULT_SERVICE_CIDR_V6 = 'fd00:10:96::/112';
export const DEFAULT_POD_CIDR = '10.244.0.0/16';
export const DEFAULT_POD_CIDR_V6 = 'fd00:10:244::/64';

/**
 * Builds the model from parsed documents. Invalid objects are left out and reported in
 * `model.diagnostics`; the valid rest loads. Throws only for invalid options.
 */
export function buildModel(docs: readonly ManifestDoc[], options: BuildOptions = {}): Model {
  const serviceCIDR = cidrOption('serviceCIDR', options.serviceCIDR ?? DEFAULT_SERVICE_CIDR);
  const serviceCIDRv6 = cidrOption('serviceCIDRv6', options.serviceCIDRv6 ?? DEFAULT_SERVICE_CIDR_V6);
  if (serviceCIDR.family !== 4 || serviceCIDRv6.family !== 6) throw new Error('serviceCIDR must be an IPv4 block and serviceCIDRv6 an IPv6 block');
  const podCIDR = cidrOption('podCIDR', options.podCIDR ?? DEFAULT_POD_CIDR);
  const diagnostics: Diagnostic[] = [];
  const ignored = new Map<string, number>();
  const objects = groupByKind(collectObjects(docs, diagnostics, ignored));

  const nodes = readNodes(objects.get('Node') ?? [], options.nodes ?? []);
  const services = readServices(objects.get('Service') ?? []);
  assignClusterIPs(services, [serviceCIDR, serviceCIDRv6]);
  const needsV6 = [...services.values()].some(({ value }) => value.clusterIPs.some((ip) => ip.includes(':')));
  const podCIDRs = { v4: podCIDR, ...(needsV6 ? { v6: cidrOption('podCIDRv6', options.podCIDRv6 ?? DEFAULT_POD_CIDR_V6) } : {}) };
  const pods = readPods(objects, nodes, podCIDRs, options);
  const slices = readSlices(objects.get('EndpointSlice') ?? [], nodes);

  const model: Model = {
    namespaces: readNamespaces(objects.get('Namespace') ?? []),
    services: new Map([...services].map(([key, { value }]) => [key, value])),
    endpoints: new Map(),
    pods: new Map(pods.map((pod) => [`${pod.meta.namespace}/${pod.meta.name}`, pod])),
    routes: [],
    nodes,
    diagnostics,
    ignored,
  };
  const podIndex = new PodIndex(pods);
  for (const { value: service, report } of services.values()) {
    for (const [key, endpoints] of serviceEndpoints(service, { slicesByService: slices, pods: podIndex }, report)) {
      model.endpoints.set(key, endpoints);
    }
  }
  const grants = (objects.get('ReferenceGrant') ?? []).map(readReferenceGrant).filter((grant) => grant !== undefined);
  model.routes = readRoutes(objects.get('HTTPRoute') ?? [], model.services, grants);
  model.networkPolicies = readNetworkPolicies(objects.get('NetworkPolicy') ?? [], objects.get('CiliumNetworkPolicy') ?? []);
  sortByPosition(diagnostics, docs);
  return model;
}

/** Diagnostics in input order: by document, then line (the sort is stable). */
function sortByPosition(diagnostics: Diagnostic[], docs: readonly ManifestDoc[]): void {
  const order = new Map<string, number>();
  docs.forEach((doc, index) => order.set(`${doc.doc}:${doc.file}`, order.get(`${doc.doc}:${doc.file}`) ?? index));
  const position = (d: Diagnostic) => order.get(`${d.doc}:${d.file}`) ?? docs.length;
  diagnostics.sort((a, b) => position(a) - position(b) || (a.line ?? 0) - (b.line ?? 0));
}

function cidrOption(name: string, text: string): Cidr {
  const cidr = parseCidr(text);
  if (!cidr) throw new Error(`${name}: ${JSON.stringify(text)} is not a valid CIDR (for example 10.96.0.0/12)`);
  return cidr;
}

function groupByKind(objects: KubeObject[]): Map<KnownKind, KubeObject[]> {
  const groups = new Map<KnownKind, KubeObject[]>();
  for (const object of objects) {
    const group = groups.get(object.kind) ?? [];
    group.push(object);
    groups.set(object.kind, group);
  }
  return groups;
}

/** Nodes from manifests, then those of the options that the manifests do not define. */
function readNodes(objects: readonly KubeObject[], extra: readonly Node[]): Map<string, Node> {
  const nodes = new Map<string, Node>();
  for (const node of objects.map(normalizeNode)) nodes.set(node.name, node);
  for (const node of extra) if (!nodes.has(node.name)) nodes.set(node.name, { ...node });
  return nodes;
}

function readNamespaces(objects: readonly KubeObject[]): Map<string, ObjectMeta> {
  return new Map(objects.map((object) => [object.meta.name, object.meta]));
}

function readServices(objects: readonly KubeObject[]): Map<string, WithReporter<Service>> {
  const services = new Map<string, WithReporter<Service>>();
  for (const object of objects) {
    const service = normalizeService(object);
    if (service) services.set(`${service.meta.namespace}/${service.meta.name}`, { value: service, report: object.report });
  }
  return services;
}

/** Real pods, and in simulation mode the synthesized ones; sorted by namespace/name. */
function readPods(objects: Map<KnownKind, KubeObject[]>, nodes: ReadonlyMap<string, Node>, podCIDRs: { v4: Cidr; v6?: Cidr }, options: BuildOptions): PodInfo[] {
  const real = (objects.get('Pod') ?? []).map((object) => normalizePod(object, nodes)).filter((pod) => pod !== undefined);
  const workloads = [...objects.values()]
    .flat()
    .filter((object) => isWorkloadKind(object.kind))
    .map((object) => normalizeWorkload(object as KubeObject & { kind: Workload['kind'] }))
    .filter((workload) => workload !== undefined);
  const synthesized = options.synthesize === false ? [] : synthesizePods(workloads, real, { podCIDR: podCIDRs.v4, ...(podCIDRs.v6 ? { podCIDRv6: podCIDRs.v6 } : {}), spreadOver: options.nodes });
  const byKey = new Map<string, PodInfo>();
  for (const pod of [...real, ...synthesized]) {
    const key = `${pod.meta.namespace}/${pod.meta.name}`;
    if (!byKey.has(key)) byKey.set(key, pod);
  }
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, pod]) => pod);
}

/** Slices grouped by the Service they belong to, each group sorted by slice name. */
function readSlices(objects: readonly KubeObject[], nodes: ReadonlyMap<string, Node>): Map<string, EndpointSliceInfo[]> {
  const byService = new Map<string, EndpointSliceInfo[]>();
  for (const object of objects) {
    const slice = normalizeEndpointSlice(object, nodes);
    if (!slice) continue;
    const key = `${slice.namespace}/${slice.serviceName}`;
    byService.set(key, [...(byService.get(key) ?? []), slice]);
  }
  for (const group of byService.values()) group.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return byService;
}

/** Valid routes with their references checked, sorted by namespace/name. */
function readRoutes(objects: readonly KubeObject[], services: ReadonlyMap<string, Service>, grants: readonly ReferenceGrant[]): HTTPRoute[] {
  const routes: HTTPRoute[] = [];
  for (const object of objects) {
    const route = readHTTPRoute(object);
    if (!route) continue;
    checkRouteReferences(route, services, object.report, grants);
    routes.push(route);
  }
  const key = (route: HTTPRoute) => `${route.meta.namespace}/${route.meta.name}`;
  return routes.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
