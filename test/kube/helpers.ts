// Shared by the kube tests: a stand-in API server (serving Cilium's CRD unless told otherwise), a
// KubeSource with short timings against it, object builders and a polling wait. With `manual:
// true` the source runs on a ManualClock with a fixed random (every backoff is its nominal delay):
// its timers (coalescing, backoff, retries) fire only when the test advances the clock, so no test
// sleeps to let time pass.
import { KubeConfig } from '@kubernetes/client-node';
import { ApiServerStandin, type StandinOptions } from '../apiserver/standin.ts';
import { KubeSource, type ChangeBatch, type KubeSourceOptions } from '../../src/kube/source.ts';
import { ManualClock } from '../../src/kube/clock.ts';

export interface Harness {
  server: ApiServerStandin;
  source: KubeSource;
  batches: ChangeBatch[];
  logs: string[];
  /** The source's clock when the harness is `manual`. */
  clock: ManualClock | undefined;
  close(): Promise<void>;
}

export async function harness(options: { standin?: StandinOptions; source?: Partial<KubeSourceOptions>; seed?: (s: ApiServerStandin) => void; start?: boolean; manual?: boolean } = {}): Promise<Harness> {
  // Cilium's CRD served unless a test says otherwise, so that every watcher lists and watches.
  const server = new ApiServerStandin({ ciliumVersions: ['v2'], ...options.standin });
  options.seed?.(server);
  await server.start();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(server.kubeconfig());
  const logs: string[] = [];
  const clock = options.manual ? new ManualClock() : undefined;
  const source = new KubeSource({
    ...(clock ? { clock, random: () => 0.5 } : {}),
    kubeConfig,
    quietMs: 20,
    maxDelayMs: 100,
    backoff: { initialMs: 20, maxMs: 150 },
    log: (line) => logs.push(line),
    ...options.source,
  });
  const batches: ChangeBatch[] = [];
  source.onBatch((batch) => {
    batches.push(batch);
  });
  if (options.start ?? true) await source.start();
  return {
    server,
    source,
    batches,
    logs,
    clock,
    async close() {
      await source.stop();
      await server.stop();
    },
  };
}

export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Moves a manual clock on in steps of `stepMs` until `predicate` holds, letting I/O (the stand-in's
 * responses and watch events) in between steps; fails after `maxMs` of clock time.
 */
export async function advanceUntil(clock: ManualClock, what: string, predicate: () => boolean, stepMs: number, maxMs = 60_000): Promise<void> {
  const start = clock.now();
  for (;;) {
    await waitFor(what, predicate, 2).catch(() => undefined);
    if (predicate()) return;
    if (clock.now() - start >= maxMs) throw new Error(`${what}: not after ${maxMs} ms of clock time`);
    clock.advance(stepMs);
  }
}

export function service(namespace: string, name: string, clusterIP: string, ports: { name?: string; port: number; targetPort?: number }[] = [{ port: 80, targetPort: 8080 }], annotations: Record<string, string> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, annotations },
    spec: { type: 'ClusterIP', clusterIP, clusterIPs: [clusterIP], ports: ports.map((p) => ({ protocol: 'TCP', ...p })) },
  };
}

export function slice(namespace: string, serviceName: string, name: string, ips: string[], port = 8080, portName = '') {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    ports: [{ name: portName, port, protocol: 'TCP' }],
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  };
}

export function namespace(name: string, annotations: Record<string, string> = {}) {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, annotations } };
}

export function node(name: string, zone?: string) {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: zone ? { 'topology.kubernetes.io/zone': zone } : {} } };
}

export function route(namespace: string, name: string, parent: string, backends: { name: string; port: number; weight?: number }[], version = 'v1') {
  return {
    apiVersion: `gateway.networking.k8s.io/${version}`,
    kind: 'HTTPRoute',
    metadata: { name, namespace },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: parent, port: 80 }],
      rules: [{ backendRefs: backends.map((b) => ({ name: b.name, port: b.port, weight: b.weight ?? 1 })) }],
    },
  };
}

/** IPs of the endpoints of `namespace/name` port `port` (by name or number) in a model. */
export function endpointIPs(model: ChangeBatch['model'], key: string): string[] {
  return (model.endpoints.get(key) ?? []).map((e) => e.ip).sort();
}
