// The typed model of Kubernetes state that every source (manifest files, the API server) produces
// and the table compiler consumes. Pure data: no I/O, usable in Node and in the browser.
import type { ALG } from '../generated/constants.ts';
import type { NetworkPolicy } from './netpol-types.ts';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type Family = 4 | 6;
/** A load-balancing algorithm of the policy (its ALG_* constants, assembly/constants.ts). */
export type Algorithm = keyof typeof ALG;

/** Where an object came from, for diagnostics: file path, 0-based document index in that file. */
export interface SourceRef {
  file: string;
  doc: number;
}

/** One problem with the input. Names the object and the field it concerns. */
export interface Diagnostic {
  severity: 'error' | 'warning';
  file: string;
  /** 0-based YAML document index inside the file, or -1 for the whole file. */
  doc: number;
  /** 1-based line of the document or node the problem is at, when known. */
  line?: number;
  kind?: string;
  namespace?: string;
  name?: string;
  /** JSON-path-like field, for example `spec.ports[1].targetPort`. */
  field?: string;
  message: string;
}

export interface ObjectMeta {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  creationTimestamp?: string;
  /** metadata.uid: on a node it names the pod's cgroup (for meshc.io/skip). */
  uid?: string;
  source: SourceRef;
  /** Set when the annotation `meshc.io/skip: "true"` is present: kept in the model, but marked. */
  skip?: boolean;
}

export interface ServicePort {
  name: string; // '' when the Service has a single unnamed port
  port: number;
  protocol: Protocol;
  /** Number, or the name of a container port resolved per endpoint. */
  targetPort: number | string;
  appProtocol?: string;
}

export interface Service {
  meta: ObjectMeta;
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  /** Empty for headless ('None') and ExternalName services. First entry is the primary family. */
  clusterIPs: string[];
  /** spec.ipFamilyPolicy as written (the API server's default is SingleStack, or RequireDualStack for two families). */
  ipFamilyPolicy?: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
  /** spec.ipFamilies as written, primary first. */
  ipFamilies?: Family[];
  headless: boolean;
  externalName?: string;
  ports: ServicePort[];
  /** Absent: endpoints are managed by hand (EndpointSlices only). */
  selector?: Record<string, string>;
  sessionAffinity: 'None' | 'ClientIP';
  /** spec.sessionAffinityConfig.clientIP.timeoutSeconds, default 10800. */
  affinityTimeoutSeconds: number;
  internalTrafficPolicy: 'Cluster' | 'Local';
  /** spec.trafficDistribution: 'PreferClose' turns on zone preference. */
  preferSameZone: boolean;
  /** From the annotation meshc.io/lb-algorithm; default 'random'. */
  algorithm: Algorithm;
}

/** An endpoint of a Service, for one Service port, with the target port already resolved. */
export interface Endpoint {
  ip: string;
  family: Family;
  port: number;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  zone?: string;
  /** EndpointSlice hints.forZones, if set. */
  forZones?: string[];
  /** namespace/name of the pod behind it, when known. */
  pod?: { namespace: string; name: string };
}

export interface PodInfo {
  meta: ObjectMeta;
  ip?: string;
  ips: string[];
  nodeName?: string;
  zone?: string;
  ready: boolean;
  terminating: boolean;
  /** Container ports by name, for named targetPorts. */
  namedPorts: Record<string, { port: number; protocol: Protocol }>;
  /** True when meshc made the pod up from a workload (simulation only). */
  synthesized: boolean;
  /** The workload that owns it, `Deployment/name` and so on. */
  owner?: string;
  /** status.phase when given; pods in phase Succeeded or Failed get no endpoints. */
  phase?: string;
  /** spec.serviceAccountName ("default" when unset): the workload identity (docs/identity.md). */
  serviceAccount?: string;
  /** spec.hostNetwork: the pod shares the node's address and holds no identity of its own. */
  hostNetwork?: boolean;
}

export type PathMatchType = 'Exact' | 'PathPrefix' | 'RegularExpression';
export type StringMatchType = 'Exact' | 'RegularExpression';

/** HTTPRouteMatch after CRD defaults: path is always set. */
export interface RouteMatch {
  path: { type: PathMatchType; value: string };
  headers: { type: StringMatchType; name: string; value: string }[];
  queryParams: { type: StringMatchType; name: string; value: string }[];
  method?: string;
}

/** What a RequestHeaderModifier does: set (replace every value), add (one more value), remove. */
export interface HeaderEdits {
  set: { name: string; value: string }[];
  add: { name: string; value: string }[];
  remove: string[];
}

export interface BackendRef {
  group: string; // '' for core
  kind: string; // 'Service' by default
  namespace: string; // defaulted to the route's namespace
  name: string;
  port?: number;
  weight: number; // default 1
  /** Set when the reference cannot be resolved: requests sent to it get 500 / refused. */
  invalid?: string;
  /** The backendRef's RequestHeaderModifier, applied after the rule's. */
  requestHeaders?: HeaderEdits;
  /** The backendRef's ResponseHeaderModifier, applied after the rule's. */
  responseHeaders?: HeaderEdits;
}

/** HTTPPathModifier: the whole path, or the matched PathPrefix, replaced. */
export interface PathModifier {
  type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  value: string;
  /** ReplacePrefixMatch: the rule's one PathPrefix match value (the prefix replaced). */
  prefix?: string;
}

/** RequestRedirect: fields left out keep the request's (port: see src/l7/filters.ts). */
export interface Redirect {
  scheme?: 'http' | 'https';
  hostname?: string;
  port?: number;
  path?: PathModifier;
  statusCode: number;
}

/** URLRewrite: the Host header and the path the backend sees. */
export interface Rewrite {
  hostname?: string;
  path?: PathModifier;
}

/** RequestMirror: a copy of the request goes to this backend too (its answer is dropped). */
export interface Mirror {
  backend: BackendRef;
  /** Share of requests mirrored, 0-100 (percent or fraction; default 100). */
  percent: number;
}

export interface RouteRule {
  name?: string;
  /** Defaulted to [{path: PathPrefix '/'}] when omitted. */
  matches: RouteMatch[];
  backendRefs: BackendRef[];
  /** Filter types present on the rule or its backendRefs. */
  filters: string[];
  /** The rule's RequestHeaderModifier (applied by the node proxy and the Wasm matcher). */
  requestHeaders?: HeaderEdits;
  /** The rule's ResponseHeaderModifier. */
  responseHeaders?: HeaderEdits;
  redirect?: Redirect;
  rewrite?: Rewrite;
  mirrors?: Mirror[];
  /** timeouts.request and timeouts.backendRequest, in milliseconds. */
  timeouts?: { request?: number; backendRequest?: number };
}

export interface ParentRef {
  group: string;
  kind: string;
  namespace: string;
  name: string;
  port?: number;
  sectionName?: string;
}

export interface HTTPRoute {
  meta: ObjectMeta;
  apiVersion: string;
  parentRefs: ParentRef[];
  rules: RouteRule[];
}

/** A ReferenceGrant: HTTPRoutes (and other kinds) of the `from` namespaces may refer to `to` in its namespace. */
export interface ReferenceGrant {
  namespace: string;
  name: string;
  from: { group: string; kind: string; namespace: string }[];
  /** `name` unset: every object of that group and kind. */
  to: { group: string; kind: string; name?: string }[];
}

export interface Node {
  name: string;
  zone?: string;
  /** status.addresses' first InternalIP: where pods reach the node (the node proxy's address). */
  internalIP?: string;
}

export interface Model {
  namespaces: Map<string, ObjectMeta>;
  /** Keyed by `namespace/name`. */
  services: Map<string, Service>;
  /** Keyed by `namespace/name/portName-or-number` (see endpointKey). */
  endpoints: Map<string, Endpoint[]>;
  pods: Map<string, PodInfo>;
  routes: HTTPRoute[];
  nodes: Map<string, Node>;
  diagnostics: Diagnostic[];
  /** Objects of kinds meshc knows it does not need (ConfigMap, Secret, RBAC...), counted by kind. */
  ignored: Map<string, number>;
  /** NetworkPolicies and CiliumNetworkPolicies (src/netpol/), sorted by kind, namespace and name. */
  networkPolicies?: NetworkPolicy[];
}

export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Endpoints are stored per Service port: the port's name, or its number when unnamed. */
export function endpointKey(svc: Service, port: ServicePort): string {
  return `${svc.meta.namespace}/${svc.meta.name}/${port.name || String(port.port)}`;
}
