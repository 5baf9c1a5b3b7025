// TEST DOUBLE support: fills the API server stand-in with a cluster of a given size (Namespaces,
// Nodes with zones, Services with ClusterIPs, one EndpointSlice per Service), for benchmarks.
import type { ApiServerStandin, KubeObject } from './standin.ts';

export interface ScaleOptions {
  services: number;
  endpoints: number;
  namespaces?: number;
  nodes?: number;
  zones?: number;
}

/** 10.96.0.0/12 holds 2^20 addresses: service i gets 10.96.0.0 + i + 1. */
export function clusterIP(index: number): string {
  const n = (10 << 24) + (96 << 16) + index + 1;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Pod addresses from 10.128.0.0/9, one per endpoint. */
export function podIP(index: number): string {
  const n = (10 << 24) + (128 << 16) + index + 1;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export const scaleNamespace = (i: number) => `ns-${i}`;
export const scaleService = (i: number) => `svc-${i}`;

export function scaleSlice(options: ScaleOptions, service: number, generation = 0): KubeObject {
  const namespaces = options.namespaces ?? 100;
  const nodes = options.nodes ?? 50;
  const perService = Math.floor(options.endpoints / options.services) + (service < options.endpoints % options.services ? 1 : 0);
  const first = service * Math.floor(options.endpoints / options.services) + Math.min(service, options.endpoints % options.services);
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${scaleService(service)}-abcde`,
      namespace: scaleNamespace(service % namespaces),
      labels: { 'kubernetes.io/service-name': scaleService(service), 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: perService }, (_, k) => ({
      addresses: [podIP(first + k + generation * options.endpoints)],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: `node-${(first + k) % nodes}`,
    })),
  };
}

export function seedScale(server: ApiServerStandin, options: ScaleOptions): void {
  const namespaces = options.namespaces ?? 100;
  const nodes = options.nodes ?? 50;
  const zones = options.zones ?? 3;
  for (let i = 0; i < namespaces; i++) server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: scaleNamespace(i) } });
  for (let i = 0; i < nodes; i++) {
    server.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${i}`, labels: { 'topology.kubernetes.io/zone': `zone-${i % zones}` } } });
  }
  for (let i = 0; i < options.services; i++) {
    const ip = clusterIP(i);
    server.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: scaleService(i), namespace: scaleNamespace(i % namespaces) },
      spec: { type: 'ClusterIP', clusterIP: ip, clusterIPs: [ip], selector: { app: scaleService(i) }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    });
    server.create(scaleSlice(options, i));
  }
}
