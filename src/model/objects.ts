// From parsed documents to Kubernetes objects of the kinds meshc reads: unpacks `List`s, reads
// metadata, warns about kinds it does not know, and rejects duplicates (the first one wins).

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
  | 'ReferenceGrant';

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
};

const CLUSTER_SCOPED: ReadonlySet<KnownKind> = new Set(['Namespace', 'Node']);

export const DEFAULT_NAMESPACE = 'default';
export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
export const SKIP_ANNOTATION = 'meshc.io/skip';

/** A DNS-1123 subdomain, the rule for most object names. */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

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

/** Every object of a known kind in `docs`, in document order; problems go to `diagnostics`. */
export function collectObjects(docs: readonly ManifestDoc[], diagnostics: Diagnostic[]): KubeObject[] {
  const objects: KubeObject[] = [];
  const seen = new Map<string, KubeObject>();
  for (const doc of docs) {
    const origin: ObjectOrigin = { file: doc.file, doc: doc.doc, line: doc.line, locate: doc.locate, pathInDoc: [] };
    if (doc.error !== undefined) {
      reportSyntaxError(doc, diagnostics);
      continue;
    }
    for (const object of objectsOfDocument(doc.object, origin, diagnostics)) {
      const key = `${object.kind}/${object.meta.namespace}/${object.meta.name}`;
      const first = seen.get(key);
      if (first) {
        object.report.reject(['metadata', 'name'], `duplicate ${object.kind}: already defined at ${where(first.origin)}; this one is ignored`);
        continue;
      }
      seen.set(key, object);
      objects.push(object);
    }
  }
  return objects;
}

function reportSyntaxError(doc: ManifestDoc, diagnostics: Diagnostic[]): void {
  const diagnostic: Diagnostic = { severity: 'error', file: doc.file, doc: doc.doc, message: doc.error ?? 'unreadable document' };
  if (doc.line !== undefined) diagnostic.line = doc.line;
  diagnostics.push(diagnostic);
}

function objectsOfDocument(value: unknown, origin: ObjectOrigin, diagnostics: Diagnostic[]): KubeObject[] {
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
  if (isList(kind, value)) return itemsOfList(value, origin, diagnostics, report.about({ kind }));
  return [objectOf(value, kind, apiVersion, origin, report)].filter((object) => object !== undefined);
}

/** `kind: List`, and typed lists such as `ServiceList` as `kubectl get -o yaml` writes them. */
function isList(kind: string, value: Fields): boolean {
  return kind === 'List' || (kind.endsWith('List') && Array.isArray(value['items']));
}

function itemsOfList(list: Fields, origin: ObjectOrigin, diagnostics: Diagnostic[], report: Reporter): KubeObject[] {
  return listAt(list, 'items', [], report).flatMap((item, index) =>
    objectsOfDocument(item, { ...origin, pathInDoc: [...(origin.pathInDoc ?? []), 'items', index] }, diagnostics),
  );
}

function objectOf(body: Fields, kind: string, apiVersion: string, origin: ObjectOrigin, report: Reporter): KubeObject | undefined {
  const known = knownKind(kind, apiVersion);
  const name = nameOf(body);
  const namespace = known && CLUSTER_SCOPED.has(known) ? undefined : namespaceOf(body);
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
  const metadata = body['metadata'];
  const namespace = isFields(metadata) ? metadata['namespace'] : undefined;
  return typeof namespace === 'string' && namespace !== '' ? namespace : DEFAULT_NAMESPACE;
}

function readMeta(body: Fields, kind: KnownKind, origin: ObjectOrigin, report: Reporter): ObjectMeta {
  const metadata = mappingAt(body, 'metadata', [], report);
  const path = ['metadata'];
  const name = stringAt(metadata, 'name', path, report) ?? '';
  if (name === '') report.reject([...path, 'name'], 'is required');
  else if (name.length > 253 || !SUBDOMAIN.test(name)) report.reject([...path, 'name'], `${JSON.stringify(name)} is not a valid name (lower-case DNS subdomain)`);
  const namespace = CLUSTER_SCOPED.has(kind) ? '' : stringAt(metadata, 'namespace', path, report) || DEFAULT_NAMESPACE;
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
