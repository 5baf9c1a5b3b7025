// The names a flow carries: client addresses and cgroups to pods, the node proxy's listeners to
// the Service dialled and its rules to HTTPRoute rules, backends to their Service and pod. The
// agent updates it after every sync from the model and the tables it just compiled.
import type { Model } from '../model/types.ts';
import type { CompiledTables } from '../tables/compile.ts';
import { planProxy } from '../proxy/plan.ts';

export interface FlowPod {
  namespace: string;
  name: string;
  /** The node the pod runs on, when the model says. */
  node: string | null;
}

export interface ListenerNames {
  /** `namespace/name` of the Service whose port the listener serves. */
  service: string;
  port: number;
  /** Set on a consumer routes' listener: the clients' namespace. */
  consumerNamespace?: string;
  /** By the listener's rule index (txn.meshc_rule): the HTTPRoute and its spec.rules index. */
  rules: { route: string; rule: number }[];
}

/** kubelet's pod cgroup names: pod<uid> (cgroupfs) or ...-pod<uid with _>.slice (systemd). */
const POD_UID = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/;

export class FlowDirectory {
  private pods = new Map<string, FlowPod>();
  private podsByUid = new Map<string, FlowPod>();
  private listeners = new Map<string, ListenerNames>();
  private pools = new Map<string, string>();
  private backends = new Map<string, string>();
  private backendsById = new Map<number, { service: string; pod: string | null }>();
  private proxyListeners = new Set<string>();

  update(model: Model, tables: CompiledTables): void {
    const pods = new Map<string, FlowPod>();
    const byUid = new Map<string, FlowPod>();
    for (const pod of model.pods.values()) {
      if (pod.synthesized) continue;
      const named: FlowPod = { namespace: pod.meta.namespace, name: pod.meta.name, node: pod.nodeName ?? null };
      for (const ip of new Set([...(pod.ip ? [pod.ip] : []), ...pod.ips])) pods.set(ip, named);
      if (pod.meta.uid) byUid.set(pod.meta.uid.toLowerCase().replaceAll('_', '-'), named);
    }
    const backends = new Map<string, string>();
    const byId = new Map<number, { service: string; pod: string | null }>();
    for (const pool of tables.pools.values()) {
      const service = pool.owner.replace(/^meshc-proxy\//, '').replace(/:\d+(\/\w+)?$/, '');
      for (const b of pool.slots) {
        const pod = b.pod ? `${b.pod.namespace}/${b.pod.name}` : null;
        if (pod) backends.set(`${b.ip}:${b.port}`, pod);
        byId.set(b.id, { service: pool.owner.startsWith('meshc-proxy/') ? 'node proxy' : service, pod });
      }
    }
    const proxyListeners = new Set<string>();
    for (const f of tables.frontends) {
      for (const t of [...(f.steered ? [f.steered] : []), ...(f.consumers ?? [])]) proxyListeners.add(`${t.address.includes(':') ? `[${t.address}]` : t.address}:${t.port}`);
    }
    const plan = planProxy(tables);
    const listeners = new Map<string, ListenerNames>();
    for (const l of plan.listeners) {
      const svc = l.frontend.service.meta;
      listeners.set(l.name, {
        service: `${svc.namespace}/${svc.name}`,
        port: l.frontend.port.port,
        ...(l.consumerNamespace ? { consumerNamespace: l.consumerNamespace } : {}),
        rules: l.rules.map((r) => ({ route: `${r.route.meta.namespace}/${r.route.meta.name}`, rule: r.ruleIndex })),
      });
    }
    const pools = new Map<string, string>();
    for (const [name, p] of plan.pools) pools.set(name, p.pool.owner.replace(/:\d+(\/\w+)?$/, ''));
    this.pods = pods;
    this.podsByUid = byUid;
    this.listeners = listeners;
    this.pools = pools;
    this.backends = backends;
    this.backendsById = byId;
    this.proxyListeners = proxyListeners;
  }

  /** Whether `address` (ip:port) is one of the node proxy's listeners (a steered connection's backend). */
  isProxyListener(address: string): boolean {
    return this.proxyListeners.has(address);
  }

  podByAddress(ip: string): FlowPod | null {
    return this.pods.get(ip) ?? null;
  }

  /** The pod whose UID is in the cgroup path (kubelet's naming), or null. */
  podByCgroupPath(path: string): FlowPod | null {
    const uid = POD_UID.exec(path)?.[1];
    return uid === undefined ? null : (this.podsByUid.get(uid.replaceAll('_', '-')) ?? null);
  }

  listener(name: string): ListenerNames | undefined {
    return this.listeners.get(name);
  }

  /** `namespace/name` of the Service an HAProxy pool (backend section) sends to. */
  poolService(pool: string): string | null {
    return this.pools.get(pool) ?? null;
  }

  backendPod(ip: string, port: number): string | null {
    return this.backends.get(`${ip}:${port}`) ?? null;
  }

  /** The Service and pod of a kernel backend id (`node proxy` for a steered frontend's listener). */
  backendById(id: number): { service: string; pod: string | null } | null {
    return this.backendsById.get(id) ?? null;
  }
}
