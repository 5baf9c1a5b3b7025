// Random Kubernetes state for the differential test: Services (IPv4 and IPv6, TCP and UDP, one or
// two ports) with random algorithms, affinity, Local and zone preference; EndpointSlices with
// random ready / serving-terminating / gone endpoints on random nodes and zones; HTTPRoutes with
// random weights (some backendRefs unresolvable). Manifests go through the real model builder.
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { ALGORITHMS } from '../../src/model/service.ts';
import type { Algorithm, Model } from '../../src/model/types.ts';

/** xorshift32 with helpers; deterministic for a seed. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = (seed >>> 0) || 0x9e3779b9;
  }
  u32(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
  int(n: number): number {
    return this.u32() % n;
  }
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }
}

/** What a scenario stresses; every knob is a probability or a fixed choice. */
export interface Profile {
  algorithms: readonly Algorithm[];
  affinity: number;
  local: number;
  preferClose: number;
  ipv6: number;
  udp: number;
  /** Probability that a Service has no endpoints at all. */
  empty: number;
  /** Endpoint condition weights: ready, serving-terminating, not serving. */
  conditions: readonly [number, number, number];
  /** Probability that a Service gets an HTTPRoute with weighted backendRefs. */
  routes: number;
  maxEndpoints: number;
}

export const BASE_PROFILE: Profile = {
  algorithms: ALGORITHMS,
  affinity: 0.2,
  local: 0.1,
  preferClose: 0.2,
  ipv6: 0.2,
  udp: 0.2,
  empty: 0.1,
  conditions: [0.7, 0.2, 0.1],
  routes: 0.1,
  maxEndpoints: 12,
};

export interface RandomModel {
  model: Model;
  /** The node the tables are compiled for (decides Local and zone). */
  node: string;
  manifests: string;
}

const ZONES = ['zone-a', 'zone-b', 'zone-c'];

export function randomModel(rng: Rng, profile: Profile): RandomModel {
  const docs: object[] = [];
  const nodes: Array<{ name: string; zone: string }> = [];
  const nodeCount = 2 + rng.int(4);
  for (let i = 0; i < nodeCount; i++) {
    const node = { name: `node-${i}`, zone: ZONES[i % ZONES.length]! };
    nodes.push(node);
    docs.push({ apiVersion: 'v1', kind: 'Node', metadata: { name: node.name, labels: { 'topology.kubernetes.io/zone': node.zone } } });
  }
  const serviceCount = 4 + rng.int(9);
  const services: Array<{ name: string; ports: number[] }> = [];
  let podIndex = 1;
  for (let s = 0; s < serviceCount; s++) {
    const name = `svc-${s}`;
    const v6 = rng.chance(profile.ipv6);
    const protocol = rng.chance(profile.udp) ? 'UDP' : 'TCP';
    const portCount = 1 + rng.int(2);
    const ports = Array.from({ length: portCount }, (_, i) => ({ name: `p${i}`, port: 80 + i * 1000 + rng.int(50), protocol, targetPort: 8000 + i }));
    const clusterIP = v6 ? `fd00:10:96::${(s + 1).toString(16)}` : `10.96.${s >> 8}.${(s & 255) + 1}`;
    const spec: Record<string, unknown> = { clusterIP, ports };
    if (rng.chance(profile.affinity)) {
      spec.sessionAffinity = 'ClientIP';
      spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 1 + rng.int(20) } };
    }
    if (rng.chance(profile.local)) spec.internalTrafficPolicy = 'Local';
    if (rng.chance(profile.preferClose)) spec.trafficDistribution = 'PreferClose';
    docs.push({
      apiVersion: 'v1', kind: 'Service',
      metadata: { name, namespace: 'default', annotations: { 'meshc.io/lb-algorithm': rng.pick(profile.algorithms) } },
      spec,
    });
    services.push({ name, ports: ports.map((p) => p.port) });
    const endpointCount = rng.chance(profile.empty) ? 0 : 1 + rng.int(profile.maxEndpoints);
    const endpoints = [];
    for (let e = 0; e < endpointCount; e++) {
      const node = rng.pick(nodes);
      const roll = rng.u32() / 0x100000000;
      const [ready, term] = profile.conditions;
      const conditions =
        roll < ready ? { ready: true, serving: true, terminating: false }
        : roll < ready + term ? { ready: false, serving: true, terminating: true }
        : { ready: false, serving: false, terminating: true };
      const pod = podIndex++;
      endpoints.push({
        addresses: [v6 ? `fd00:10:244::${pod.toString(16)}` : `10.244.${pod >> 8}.${pod & 255}`],
        conditions,
        nodeName: node.name,
        zone: node.zone,
      });
    }
    docs.push({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${name}-slice`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
      addressType: v6 ? 'IPv6' : 'IPv4',
      ports: ports.map((p) => ({ name: p.name, port: p.targetPort, protocol })),
      endpoints,
    });
  }
  services.forEach((svc, s) => {
    if (!rng.chance(profile.routes)) return;
    const refs = [];
    const refCount = 1 + rng.int(4);
    for (let r = 0; r < refCount; r++) {
      if (rng.chance(0.15)) {
        refs.push({ name: 'does-not-exist', port: 80, weight: rng.int(5) });
        continue;
      }
      const target = rng.pick(services);
      refs.push({ name: target.name, port: rng.pick(target.ports), weight: rng.int(100) });
    }
    docs.push({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute',
      metadata: { name: `route-${s}`, namespace: 'default' },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: svc.name, port: svc.ports[0] }], rules: [{ backendRefs: refs }] },
    });
  });
  const manifests = docs.map((d) => JSON.stringify(d)).join('\n---\n');
  const model = buildModel(parseManifests(manifests, 'random.yaml'));
  // Unresolvable backendRefs are made on purpose (their share is refused); nothing else may fail.
  const errors = model.diagnostics.filter((d) => d.severity === 'error' && !/backendRefs\[\d+\]\.name$/.test(d.field ?? ''));
  if (errors.length > 0) throw new Error(`random model has errors: ${JSON.stringify(errors.slice(0, 3))}`);
  return { model, node: rng.pick(nodes).name, manifests };
}
