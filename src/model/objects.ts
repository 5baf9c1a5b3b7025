// From parsed documents to Kubernetes objects of the kinds meshc reads: unpacks `List`s, reads
// metadata, counts the kinds it knows it does not need, warns about the kinds it does not know, and
// resolves duplicates (the later one wins, as `kubectl apply` of the files in that order would).

import type { Diagnostic, ObjectMeta } from './types.ts';
import type { ManifestDoc } from './manifest-doc.ts';
import { Reporter, type ObjectOrigin } from './diagnostics.ts';
import { isFields, listAt, stringAt, stringMapAt, mappingAt, type Fields } from './fields.ts';

export type KnownKind =
  | 'Service'
  | 'EndpointSlice'
  | 'Pod'
  | 'Deployment'
  | 'StatefulSet'
  | 'ReplicaSet'
  | 'Namespace'
  | 'Node'
  | 'HTTPRoute'
  | 'ReferenceGrant'
  | 'NetworkPolicy'
  | 'CiliumNetworkPolicy';

const API_VERSIONS: Record<KnownKind, readonly string[]> = {
  Service: ['v1'],
  EndpointSlice: ['discovery.k8s.io/v1'],
  Pod: ['v1'],
  Deployment: ['apps/v1'],
  StatefulSet: ['apps/v1'],
  ReplicaSet: ['apps/v1'],
  Namespace: ['v1'],
  Node: ['v1'],
  HTTPRoute: ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'],
  ReferenceGrant: ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'],
  NetworkPolicy: ['networking.k8s.io/v1'],
  CiliumNetworkPolicy: ['cilium.io/v2'],
};

const CLUSTER_SCOPED: ReadonlySet<KnownKind> = new Set(['Namespace', 'Node']);

/**
 * Kinds of demo and production manifests that do not change where a connection goes: skipped
 * without a warning and counted (`Model.ignored`). Keyed by API group, then kind; true when
 * cluster-scoped.
 */
export const IGNORED_KINDS: Readonly<Record<string, Readonly<Record<string, boolean>>>> = {
  '': { ServiceAccount: false, ConfigMap: false, Secret: false, PersistentVolumeClaim: false, PersistentVolume: true, LimitRange: false, ResourceQuota: false },
  'rbac.authorization.k8s.io': { Role: false, RoleBinding: false, ClusterRole: true, ClusterRoleBinding: true },
  'networking.k8s.io': { Ingress: false, IngressClass: true },
  'policy': { PodDisruptionBudget: false },
  'autoscaling': { HorizontalPodAutoscaler: false },
  'batch': { Job: false, CronJob: false },
  'storage.k8s.io': { StorageClass: true },
  'scheduling.k8s.io': { PriorityClass: true },
  'apiextensions.k8s.io': { CustomResourceDefinition: true },
  'gateway.networking.k8s.io': { Gateway: false, GatewayClass: true },
};

/** Kinds meshc does not read although they bear on routing: the warning says what to do instead. */
export const UNREAD_KINDS: Readonly<Record<string, string>> = {
  Endpoints: 'meshc reads EndpointSlices, not the legacy Endpoints: write an EndpointSlice (discovery.k8s.io/v1) for a Service without a selector',
  DaemonSet: 'meshc makes up pods for Deployments, StatefulSets and ReplicaSets only: Services that select its pods get endpoints only from Pods or EndpointSlices',
  GRPCRoute: 'meshc applies HTTPRoutes only: this route is not applied',
  TCPRoute: 'meshc applies HTTPRoutes only: this route is not applied',
  TLSRoute: 'meshc applies HTTPRoutes only: this route is not applied',
  UDPRoute: 'meshc applies HTTPRoutes only: this route is not applied',
};

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** Whether the kind is known and ignored, and if so whether it is cluster-scoped. */
function ignoredKind(kind: string, apiVersion: string): boolean | undefined {
  const group = IGNORED_KINDS[groupOf(apiVersion)];
  return group && Object.hasOwn(group, kind) ? group[kind] : undefined;
}

export const DEFAULT_NAMESPACE = 'default';
export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
export const SKIP_ANNOTATION = 'meshc.io/skip';

/** A DNS-1123 subdomain, the rule for most object names. */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A DNS-1123 label (namespaces, and the namespaces references name). */
export function isDnsLabel(text: string): boolean {
  return text.length <= 63 && DNS_LABEL.test(text);
}

export interface KubeObject {
  kind: KnownKind;
  apiVersion: string;
  meta: ObjectMeta;
  /** The whole object as parsed. */
  body: Fields;
  origin: ObjectOrigin;
  /** Reports problems about this object. */
  report: Reporter;
}

/**
 * Every object of a known kind in `docs`, in document order; problems go to `diagnostics`, and
 * objects of ignored kinds are counted by kind in `ignored`. Of two objects with the same kind,
 * namespace and name the later one is kept, and the earlier one says so.
 */
export function collectObjects(docs: readonly ManifestDoc[], diagnostics: Diagnostic[], ignored = new Map<string, number>()): KubeObject[] {
  const objects: (KubeObject | undefined)[] = [];
  const seen = new Map<string, number>();
  for (const doc of docs) {
    const origin: ObjectOrigin = { file: doc.file, doc: doc.doc, line: doc.line, locate: doc.locate, pathInDoc: [] };
    if (doc.error !== undefined) {
      reportSyntaxError(doc, diagnostics);
      continue;
    }
    for (const object of objectsOfDocument(doc.object, origin, diagnostics, ignored)) {
      const key = `${object.kind}/${object.meta.namespace}/${object.meta.name}`;
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        const replaced = objects[earlier]!;
        replaced.report.warn(['metadata', 'name'], `${object.kind} is defined again at ${where(object.origin)}: that later one is used, as kubectl apply in this order would; this one is ignored`);
        objects[earlier] = undefined;
      }
      seen.set(key, objects.length);
      objects.push(object);
    }
  }
  return objects.filter((object) => object !== undefined);
}

function reportSyntaxError(doc: ManifestDoc, diagnostics: Diagnostic[]): void {
  const diagnostic: Diagnostic = { severity: 'error', file: doc.file, doc: doc.doc, message: doc.error ?? 'unreadable document' };
  if (doc.line !== undefined) diagnostic.line = doc.line;
  diagnostics.push(diagnostic);
}

function objectsOfDocument(value: unknown, origin: ObjectOrigin, diagnostics: Diagnostic[], ignored: Map<string, number>): KubeObject[] {
  if (value === null || value === undefined) return [];
  const report = new Reporter(diagnostics, origin);
  if (!isFields(value)) {
    report.reject(undefined, 'not a Kubernetes object (expected a mapping with apiVersion, kind and metadata)');
    return [];
  }
  const kind = stringAt(value, 'kind', [], report);
  const apiVersion = stringAt(value, 'apiVersion', [], report);
  if (!kind || !apiVersion) {
    if (!report.rejected) report.reject(undefined, 'not a Kubernetes object: apiVersion and kind are required');
    return [];
  }
  if (isList(kind, value)) return itemsOfList(value, origin, diagnostics, ignored, report.about({ kind }));
  if (ignoredKind(kind, apiVersion) !== undefined) {
    ignored.set(kind, (ignored.get(kind) ?? 0) + 1);
    return [];
  }
  return [objectOf(value, kind, apiVersion, origin, report)].filter((object) => object !== undefined);
}

/** `kind: List`, and typed lists such as `ServiceList` as `kubectl get -o yaml` writes them. */
function isList(kind: string, value: Fields): boolean {
  return kind === 'List' || (kind.endsWith('List') && Array.isArray(value['items']));
}

function itemsOfList(list: Fields, origin: ObjectOrigin, diagnostics: Diagnostic[], ignored: Map<string, number>, report: Reporter): KubeObject[] {
  return listAt(list, 'items', [], report).flatMap((item, index) =>
    objectsOfDocument(item, { ...origin, pathInDoc: [...(origin.pathInDoc ?? []), 'items', index] }, diagnostics, ignored),
  );
}

function objectOf(body: Fields, kind: string, apiVersion: string, origin: ObjectOrigin, report: Reporter): KubeObject | undefined {
  const known = knownKind(kind, apiVersion);
  const name = nameOf(body);
  // An unknown kind may be cluster-scoped: it is named with a namespace only when it has one written.
  const namespace = known ? (CLUSTER_SCOPED.has(known) ? undefined : namespaceOf(body)) : writtenNamespace(body);
  const objectReport = report.about({ kind, namespace, name });
  if (!known) {
    objectReport.warn(undefined, unknownKindMessage(kind, apiVersion));
    return undefined;
  }
  const meta = readMeta(body, known, origin, objectReport);
  if (objectReport.rejected) return undefined;
  return { kind: known, apiVersion, meta, body, origin, report: objectReport };
}

function knownKind(kind: string, apiVersion: string): KnownKind | undefined {
  if (!Object.hasOwn(API_VERSIONS, kind)) return undefined;
  return API_VERSIONS[kind as KnownKind].includes(apiVersion) ? (kind as KnownKind) : undefined;
}

function unknownKindMessage(kind: string, apiVersion: string): string {
  if (Object.hasOwn(UNREAD_KINDS, kind)) return `not read by meshc: ${UNREAD_KINDS[kind]}`;
  if (!Object.hasOwn(API_VERSIONS, kind)) return `unknown kind, ignored (apiVersion ${apiVersion})`;
  const supported = API_VERSIONS[kind as KnownKind].join(' or ');
  return `unknown kind, ignored: apiVersion ${apiVersion} is not supported for ${kind} (use ${supported})`;
}

function nameOf(body: Fields): string | undefined {
  const metadata = body['metadata'];
  const name = isFields(metadata) ? metadata['name'] : undefined;
  return typeof name === 'string' ? name : undefined;
}

function namespaceOf(body: Fields): string {
  return writtenNamespace(body) ?? DEFAULT_NAMESPACE;
}

function writtenNamespace(body: Fields): string | undefined {
  const metadata = body['metadata'];
  const namespace = isFields(metadata) ? metadata['namespace'] : undefined;
  return typeof namespace === 'string' && namespace !== '' ? namespace : undefined;
}

function readMeta(body: Fields, kind: KnownKind, origin: ObjectOrigin, report: Reporter): ObjectMeta {
  const metadata = mappingAt(body, 'metadata', [], report);
  const path = ['metadata'];
  const name = stringAt(metadata, 'name', path, report) ?? '';
  if (name === '') report.reject([...path, 'name'], 'is required');
  else if (kind === 'Namespace' ? !isDnsLabel(name) : name.length > 253 || !SUBDOMAIN.test(name)) {
    report.reject([...path, 'name'], `${JSON.stringify(name)} is not a valid ${kind === 'Namespace' ? 'Namespace name (lower-case DNS label, at most 63 characters)' : 'name (lower-case DNS subdomain)'}`);
  }
  const namespace = CLUSTER_SCOPED.has(kind) ? '' : stringAt(metadata, 'namespace', path, report) || DEFAULT_NAMESPACE;
  if (namespace !== '' && !isDnsLabel(namespace)) report.reject([...path, 'namespace'], `${JSON.stringify(namespace)} is not a valid namespace (lower-case DNS label, at most 63 characters)`);
  const meta: ObjectMeta = {
    namespace,
    name,
    labels: stringMapAt(metadata, 'labels', path, report),
    annotations: stringMapAt(metadata, 'annotations', path, report),
    source: { file: origin.file, doc: origin.doc },
  };
  const creationTimestamp = stringAt(metadata, 'creationTimestamp', path, report);
  if (creationTimestamp) meta.creationTimestamp = creationTimestamp;
  const uid = stringAt(metadata, 'uid', path, report);
  if (uid) meta.uid = uid;
  if (meta.annotations[SKIP_ANNOTATION] === 'true') meta.skip = true;
  return meta;
}

/** `file:line (doc N)`, as in formatted diagnostics. */
function where(origin: ObjectOrigin): string {
  const line = origin.locate?.(origin.pathInDoc ?? []) ?? origin.line;
  return `${origin.file}${line !== undefined ? `:${line}` : ''} (doc ${origin.doc + 1})`;
}
