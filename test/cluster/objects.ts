// Objects the cluster tests create, and the waits they share: connections from client pods on
// every node until the backends they reach are what a test expects.
import type { ConnectionRecord, TestCluster } from './cluster.ts';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function service(namespace: string, name: string, selector: Record<string, string> | undefined, ports: { name?: string; port: number; targetPort: number }[] = [{ port: 80, targetPort: 8080 }]) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { type: 'ClusterIP', ...(selector ? { selector } : {}), ports: ports.map((p) => ({ protocol: 'TCP', ...p })) },
  };
}

export function deployment(namespace: string, name: string, replicas: number, labels: Record<string, string>, port = 8080) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { terminationGracePeriodSeconds: 5, containers: [{ name: 'server', image: 'meshc.test/pod-server', ports: [{ containerPort: port, protocol: 'TCP' }] }] },
      },
    },
  };
}

/** An HTTPRoute attached to Service `parent` (the mesh profile); weights and matches left to the CRD's defaults unless given. */
export function route(namespace: string, name: string, parent: string, backends: { name: string; port?: number; weight?: number }[], version = 'v1') {
  return {
    apiVersion: `gateway.networking.k8s.io/${version}`,
    kind: 'HTTPRoute',
    metadata: { name, namespace },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: parent, port: 80 }],
      rules: [{ backendRefs: backends.map((b) => ({ name: b.name, ...(b.port === undefined ? {} : { port: b.port }), ...(b.weight === undefined ? {} : { weight: b.weight }) })) }],
    },
  };
}

/** Polls `probe` until it returns true; throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** The backends (pod names, or `error:CODE`) a batch of connections reached. */
export function reached(records: ConnectionRecord[]): string[] {
  return [...new Set(records.map((r) => (r.error ? `error:${r.error}` : r.backend!)))].sort();
}

/**
 * Connections from each of `clients` (pods in `namespace`) to host:port, again and again, until
 * every client reaches exactly `expected` (sorted), or throws after `timeoutMs`.
 */
export async function untilEveryNode(cluster: TestCluster, clients: string[], host: string, port: number, expected: string[] | ((seen: string[]) => boolean), what: string, timeoutMs = 20000, namespace = 'default'): Promise<void> {
  const ok = typeof expected === 'function' ? expected : (seen: string[]) => JSON.stringify(seen) === JSON.stringify([...expected].sort());
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(clients);
  const last = new Map<string, string[]>();
  while (pending.size > 0) {
    await Promise.all(
      [...pending].map(async (client) => {
        const seen = reached(await cluster.connections(namespace, client, host, port, 12));
        last.set(client, seen);
        if (ok(seen)) pending.delete(client);
      }),
    );
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      const problems = cluster.kubelet.errors.length ? `; kubelet: ${cluster.kubelet.errors.join('; ')}` : '';
      const said = [...cluster.agents].map(([node, agent]) => `\nagent ${node}, last lines:\n  ${agent.log.slice(-12).join('\n  ')}`).join('');
      throw new Error(`${what}: after ${timeoutMs} ms, ${[...pending].map((c) => `${c} still reaches ${JSON.stringify(last.get(c))}`).join('; ')}${typeof expected === 'function' ? '' : ` (expected ${JSON.stringify(expected)})`}${problems}${said}`);
    }
    await sleep(200);
  }
}

/** What one node's maps hold for a Service frontend (`namespace/name:port/TCP`), from `meshc inspect`. */
export interface InMaps {
  /** Pod names of its backends, sorted; a serving, terminating one as `name (terminating)`. */
  backends: string[];
  /** Per weighted group of its route (none without one): the frontends whose backends it uses. */
  routedTo: string[][];
}

/**
 * Every node's maps for the frontend `frontend`, read with `meshc inspect` on each node's pins
 * (undefined where it is not in the maps).
 */
export function inEveryNodesMaps(cluster: TestCluster, frontend: string): Record<string, InMaps | undefined> {
  const out: Record<string, InMaps | undefined> = {};
  for (const [node, agent] of cluster.agents) {
    const found = agent.inspect().services.find((s: any) => s.name === frontend);
    out[node] = found
      ? {
          backends: found.backends.map((b: any) => `${(b.pod ?? b.ip).replace(/^[^/]*\//, '')}${b.state === 'ready' ? '' : ` (${b.state})`}`).sort(),
          routedTo: found.groups.map((g: any) => [...g.targets].sort()),
        }
      : undefined;
  }
  return out;
}

/** The same `expected` for every node of the cluster (to compare with inEveryNodesMaps). */
export function onEveryNode<T>(cluster: TestCluster, expected: T): Record<string, T> {
  return Object.fromEntries([...cluster.agents.keys()].map((node) => [node, structuredClone(expected)]));
}

/**
 * Reads every node's maps until each holds `expected` for `frontend`; throws with what they hold
 * after `timeoutMs` (a deleted pod leaves them only after its drain, the harness's stop and delete,
 * and the controller's update: over 20 s once at load average 27).
 */
export async function untilEveryNodesMaps(cluster: TestCluster, frontend: string, expected: InMaps, what: string, timeoutMs = 40000): Promise<void> {
  const want = JSON.stringify(onEveryNode(cluster, expected));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = inEveryNodesMaps(cluster, frontend);
    if (JSON.stringify(seen) === want) return;
    if (Date.now() > deadline) throw new Error(`${what}: after ${timeoutMs} ms every node's maps hold for ${frontend} ${JSON.stringify(seen)}, not ${JSON.stringify(expected)} each`);
    await sleep(500);
  }
}
