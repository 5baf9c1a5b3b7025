// The Services every benchmark setup routes: one target Service (the one the clients dial) and
// N - 1 filler Services that only make the tables (or the iptables chains) as large as a cluster
// with N Services. Addresses exist only inside the bench's network namespace.
import { buildModel } from '../../src/model/build.ts';
import type { ManifestDoc } from '../../src/model/manifest-doc.ts';
import type { Model } from '../../src/model/types.ts';

/** The target Service's ClusterIP and port, and the pod behind it. */
export const TARGET = { clusterIP: '10.96.0.10', port: 80, podIP: '10.244.0.10', targetPort: 8080 } as const;

function ipv4(base: number, index: number): string {
  const a = (base + index) >>> 0;
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}
const FILLER_CLUSTER_BASE = (10 << 24) | (100 << 16);
const FILLER_POD_BASE = (10 << 24) | (200 << 16);

/** Filler Service i (0-based): a ClusterIP in 10.100.0.0/14 and one pod that does not exist. */
export function filler(index: number): { name: string; clusterIP: string; podIP: string } {
  if (index >= 1 << 18) throw new Error(`filler service ${index}: more than ${1 << 18} fillers do not fit 10.100.0.0/14`);
  return { name: `filler-${index}`, clusterIP: ipv4(FILLER_CLUSTER_BASE, index), podIP: ipv4(FILLER_POD_BASE, index) };
}

export interface ServiceSpec {
  name: string;
  clusterIP: string;
  port: number;
  targetPort: number;
  pods: string[];
  /** meshc.io/lb-algorithm, when not the default (random). */
  algorithm?: string;
}

/** A Service and its EndpointSlice as Kubernetes objects. */
export function serviceObjects(s: ServiceSpec): [object, object] {
  const svc = {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: s.name, namespace: 'bench', ...(s.algorithm ? { annotations: { 'meshc.io/lb-algorithm': s.algorithm } } : {}) },
    spec: { clusterIP: s.clusterIP, ports: [{ name: 'http', port: s.port, targetPort: s.targetPort }] },
  };
  const slice = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${s.name}-1`, namespace: 'bench', labels: { 'kubernetes.io/service-name': s.name } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: s.targetPort, protocol: 'TCP' }],
    endpoints: s.pods.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  };
  return [svc, slice];
}

/** The given Services plus fillers up to `total`. */
export function withFillers(total: number, services: ServiceSpec[]): ServiceSpec[] {
  const all = [...services];
  for (let i = 0; all.length < total; i++) {
    const f = filler(i);
    all.push({ name: f.name, clusterIP: f.clusterIP, port: 80, targetPort: 8080, pods: [f.podIP] });
  }
  return all;
}

/** Manifest text (JSON documents, which are YAML) for the agent's manifests directory. */
export function manifestText(services: ServiceSpec[]): string {
  return services.flatMap(serviceObjects).map((o) => JSON.stringify(o)).join('\n---\n') + '\n';
}

/** The target Service with one pod. */
export function targetService(): ServiceSpec {
  return { name: 'target', clusterIP: TARGET.clusterIP, port: TARGET.port, targetPort: TARGET.targetPort, pods: [TARGET.podIP] };
}

/**
 * The model of these Services, built from the objects directly (parsing 100,000 Services as YAML
 * text takes the yaml package most of a minute; the objects are the same).
 */
export function modelOf(services: ServiceSpec[]): Model {
  const docs: ManifestDoc[] = services.flatMap(serviceObjects).map((object, doc) => ({ file: 'bench', doc, object }));
  const model = buildModel(docs);
  const errors = model.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new Error(`bench services: ${errors.length} errors in the model, first: ${JSON.stringify(errors[0])}`);
  return model;
}
