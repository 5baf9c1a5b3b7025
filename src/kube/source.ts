// The agent's view of a live cluster: client-node informers (list + watch) for Services,
// EndpointSlices, HTTPRoutes (gateway.networking.k8s.io v1, or v1beta1 when that is all the
// server has), Nodes, Namespaces, NetworkPolicies, CiliumNetworkPolicies (cilium.io/v2, when
// Cilium's CRD is installed) and Pods: every Pod, whose labels and addresses are network policy's
// identities (and this node's for meshc.io/skip). It keeps the objects it was sent and builds the
// same Model as the manifests directory from them.
//
// Guarantees the agent relies on:
// - No batch is delivered before the first full list of every resource has arrived (`synced`),
//   so an agent that restarts never removes live backends from pinned maps while it catches up.
// - A watch that ends is resumed from its last resourceVersion; a 410 Gone relists (client-node's
//   ListWatch replaces its cache in one step, and batches are built from the cache, so a relist
//   never yields a model with a live object missing). Failures retry after a capped, jittered,
//   exponential backoff; meanwhile the cache (last known state) stays and `stale` is set.
// - Events are coalesced: a batch is delivered once no event came for `quietMs`, or `maxDelayMs`
//   after the first one. Each batch names the Services it can change and, per changed object,
//   when the informer saw it, for the network programming latency histogram.
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { buildModel, type BuildOptions } from '../model/build.ts';
import type { ManifestDoc } from '../model/manifest-doc.ts';
import type { Diagnostic, Model } from '../model/types.ts';
import { SKIP_ANNOTATION } from '../model/objects.ts';
import { Backoff, systemClock, type BackoffOptions, type Clock, type TimerHandle } from './clock.ts';
import { Coalescer } from './coalescer.ts';
import { loadKubeConfig } from './client.ts';
import { IncrementalModel } from './incremental-model.ts';
import { NetworkModel } from './network-model.ts';
import { PendingChanges, type ObjectChange } from './changes.ts';
import { KIND_SPECS, objectKey, type WatchedKind } from './kinds.ts';
import { ResourceWatcher, type SourceMetrics, type WatcherHost } from './watcher.ts';

export interface KubeSourceOptions {
  /** kubeconfig file (`--kubeconfig`); without it and without `kubeConfig`: in-cluster config. */
  kubeconfig?: string;
  /** A loaded KubeConfig (tests, or an agent that loaded it already). */
  kubeConfig?: KubeConfig;
  /** This node's name: Pods are watched on this node only (`spec.nodeName`). */
  nodeName?: string;
  /** Watch this node's Pods for meshc.io/skip. Default: when nodeName is set. With networkPolicy, every Pod is watched. */
  pods?: boolean;
  /**
   * Watch NetworkPolicies, CiliumNetworkPolicies and every Pod (the policies' identities), and put
   * them in the model. Default true.
   */
  networkPolicy?: boolean;
  /** Quiet period before a batch is delivered. Default 50 ms. */
  quietMs?: number;
  /** Longest a change waits for a batch under a constant stream of events. Default 250 ms. */
  maxDelayMs?: number;
  backoff?: BackoffOptions;
  /** A watch that lived this long resets the backoff. Default 5 s. */
  stableMs?: number;
  /** Server-side watch timeout: each watch gets a random value in [t, 2t). Default 300 s. */
  watchTimeoutSeconds?: number;
  /** Objects per list page. Default 500. */
  pageSize?: number;
  /** How often to look again for the Gateway API or cilium.io when the server does not serve it. Default 60 s. */
  rediscoverMs?: number;
  /**
   * Rebuild only the Services a batch touches (default true); false rebuilds the whole model for
   * every batch (the reference the incremental build is tested against).
   */
  incremental?: boolean;
  /** Model options (service CIDR, …); pods are never synthesized from a live cluster. */
  build?: Omit<BuildOptions, 'synthesize'>;
  clock?: Clock;
  random?: () => number;
  metrics?: SourceMetrics;
  log?: (line: string) => void;
}

export interface ChangeBatch {
  /** The first batch after the initial full list: the whole state, no per-object changes. */
  initial: boolean;
  /** True when a change can touch any Service (a Node's zone, the first batch, a retry after a listener failed). */
  all: boolean;
  /** Services (`namespace/name`) whose rows the changes can alter. */
  services: ReadonlySet<string>;
  /** One entry per changed object (several events of one object merge, keeping the first seenAt). */
  changes: ObjectChange[];
  /** A Pod's or Namespace's meshc.io/skip may have changed: see skipped(). */
  skipChanged: boolean;
  /** The model of the cache at the time the batch was cut. */
  model: Model;
  stale: boolean;
  /** Clock time when the model was built. */
  builtAt: number;
}

export interface ResourceStatus {
  kind: WatchedKind;
  /** The served version being watched (HTTPRoute: v1 or v1beta1); undefined while unknown. */
  apiVersion?: string;
  /** HTTPRoute and CiliumNetworkPolicy only: the server serves no version meshc reads. */
  absent: boolean;
  listed: boolean;
  failing: boolean;
  lastError?: string;
  objects: number;
  resourceVersion: string;
  watchRestarts: number;
  relists: number;
}

export interface SourceStatus {
  synced: boolean;
  stale: boolean;
  /** How long the source has been stale (0 when it is not). */
  staleForMs: number;
  resources: ResourceStatus[];
}

export interface SkippedWorkloads {
  /** Namespaces annotated meshc.io/skip: "true". */
  namespaces: string[];
  /** Pods on this node opted out, by their own annotation or their namespace's. */
  pods: { namespace: string; name: string; uid: string; reason: 'pod' | 'namespace' }[];
}

/** What read() returns: the same shape as ManifestSource's snapshot, plus the sync state. */
export interface KubeSnapshot {
  model: Model;
  diagnostics: Diagnostic[];
  heldBack: string[];
  synced: boolean;
  stale: boolean;
}

export type BatchListener = (batch: ChangeBatch) => void | Promise<void>;

export class KubeSource implements WatcherHost {
  readonly kubeConfig: KubeConfig;
  readonly metrics?: SourceMetrics;
  private readonly watchers: ResourceWatcher[];
  private readonly byKind = new Map<WatchedKind, ResourceWatcher>();
  private readonly clock: Clock;
  private readonly coalescer: Coalescer;
  private readonly listeners = new Set<BatchListener>();
  private readonly statusListeners = new Set<(status: SourceStatus) => void>();
  private readonly buildOptions: BuildOptions;
  private readonly logLine: (line: string) => void;
  private readonly incremental?: IncrementalModel;
  private readonly network?: NetworkModel;
  private readonly nodeName?: string;
  private lastModel?: Model;
  private changedSinceBatch = true;
  private readonly retryBackoff: Backoff;
  private retryTimer?: TimerHandle;
  private readonly pending = new PendingChanges();
  private initialDelivered = false;
  private flushing = false;
  private flushAgain = false;
  private syncWaiters: (() => void)[] = [];
  private staleSince?: number;
  private wasStale = false;
  private started = false;

  constructor(options: KubeSourceOptions = {}) {
    this.kubeConfig = options.kubeConfig ?? loadKubeConfig({ kubeconfig: options.kubeconfig });
    this.clock = options.clock ?? systemClock;
    this.metrics = options.metrics;
    this.logLine = options.log ?? ((line) => process.stderr.write(`meshc kube: ${line}\n`));
    this.buildOptions = { ...options.build, synthesize: false };
    if (options.incremental ?? true) {
      this.incremental = new IncrementalModel(
        {
          docs: (kind) => this.byKind.get(kind)!.docs,
          slicesOf: (service) => this.pending.slicesOf(service),
          routeServices: () => this.pending.routeServices(),
        },
        this.buildOptions,
      );
    }
    const quietMs = options.quietMs ?? 50;
    this.coalescer = new Coalescer(this.clock, quietMs, options.maxDelayMs ?? Math.max(250, quietMs), () => void this.flush());
    const random = options.random ?? Math.random;
    this.retryBackoff = new Backoff(options.backoff, random);
    this.nodeName = options.nodeName;
    const networkPolicy = options.networkPolicy ?? true;
    if (networkPolicy) this.network = new NetworkModel((kind) => this.byKind.get(kind)!.docs.values());
    const nodePods = !networkPolicy && (options.pods ?? options.nodeName !== undefined);
    if (nodePods && !options.nodeName) throw new Error('KubeSource: pods: true needs nodeName (only this node\'s Pods are watched)');
    const kinds: WatchedKind[] = [
      'Namespace',
      'Node',
      'Service',
      'EndpointSlice',
      'HTTPRoute',
      ...(networkPolicy ? (['Pod', 'NetworkPolicy', 'CiliumNetworkPolicy'] as const) : nodePods ? (['Pod'] as const) : []),
    ];
    const common = {
      stableMs: options.stableMs ?? 5000,
      watchTimeoutSeconds: options.watchTimeoutSeconds ?? 300,
      pageSize: options.pageSize ?? 500,
      rediscoverMs: options.rediscoverMs ?? 60_000,
    };
    this.watchers = kinds.map((kind) => {
      const fieldSelector = kind === 'Pod' && nodePods ? `spec.nodeName=${options.nodeName}` : undefined;
      const watcher = new ResourceWatcher(KIND_SPECS[kind], this, this.kubeConfig, { ...common, fieldSelector }, this.clock, random, options.backoff);
      this.byKind.set(kind, watcher);
      return watcher;
    });
  }

  /** Starts every list and watch; resolves once they are under way (not when synced). */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await Promise.all(this.watchers.map((watcher) => watcher.start()));
  }

  async stop(): Promise<void> {
    this.started = false;
    this.coalescer.cancel();
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await Promise.all(this.watchers.map((watcher) => watcher.stop()));
  }

  /**
   * True once every resource has been listed in full at least once. A method, as the agent's
   * AgentSource interface has it (src/agent/agent.ts).
   */
  synced(): boolean {
    return this.watchers.every((watcher) => watcher.listed);
  }

  /** True while some list or watch is failing: the cache is the last known state. */
  stale(): boolean {
    return this.watchers.some((watcher) => watcher.failing);
  }

  now(): number {
    return this.clock.now();
  }

  status(): SourceStatus {
    return {
      synced: this.synced(),
      stale: this.stale(),
      staleForMs: this.staleSince === undefined ? 0 : this.clock.now() - this.staleSince,
      resources: this.watchers.map((w) => ({
        kind: w.kind,
        apiVersion: w.apiVersion,
        absent: w.absent,
        listed: w.listed,
        failing: w.failing,
        lastError: w.lastError,
        objects: w.docs.size,
        resourceVersion: w.resourceVersion,
        watchRestarts: w.watchRestarts,
        relists: w.relists,
      })),
    };
  }

  /** Resolves once synced; rejects after `timeoutMs` (if given) naming the resources not listed yet. */
  waitForSync(timeoutMs?: number): Promise<void> {
    if (this.synced()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      this.syncWaiters.push(done);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.syncWaiters = this.syncWaiters.filter((w) => w !== done);
          const missing = this.watchers.filter((w) => !w.listed).map((w) => `${w.kind}${w.lastError ? ` (${w.lastError})` : ''}`);
          reject(new Error(`not synced after ${timeoutMs} ms: no full list yet of ${missing.join(', ')}`));
        }, timeoutMs);
      }
    });
  }

  /**
   * Batches of changes, delivered one at a time (a listener's promise is awaited before the next
   * batch is cut). The first batch comes once synced, with `initial: true`. Returns an unsubscribe.
   */
  onBatch(listener: BatchListener): () => void {
    this.listeners.add(listener);
    if (this.synced() && !this.initialDelivered) this.coalescer.poke();
    return () => this.listeners.delete(listener);
  }

  /** Called when synced or stale change. */
  onStatus(listener: (status: SourceStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** The model of everything cached now. */
  model(): Model {
    const docs: ManifestDoc[] = [];
    for (const watcher of this.watchers) {
      // Pods and policies go in apart (network-model.ts): endpoints come from EndpointSlices only.
      if (NETWORK_KINDS.has(watcher.kind)) continue;
      for (const doc of watcher.docs.values()) docs.push(doc);
    }
    return this.withNetwork(buildModel(docs, this.buildOptions));
  }

  /**
   * Same shape as ManifestSource.read(), plus the sync state. Right after a batch (nothing
   * changed since) this is the batch's model, so an agent that calls read() from onBatch pays
   * for no second build.
   */
  async read(): Promise<KubeSnapshot> {
    const model = !this.changedSinceBatch && this.lastModel ? this.lastModel : this.model();
    return { model, diagnostics: model.diagnostics, heldBack: [], synced: this.synced(), stale: this.stale() };
  }

  /** Workloads opted out with meshc.io/skip: "true". */
  skipped(): SkippedWorkloads {
    const skipping = (object: any) => object?.metadata?.annotations?.[SKIP_ANNOTATION] === 'true';
    const namespaces = [...this.byKind.get('Namespace')!.docs.values()].filter((d) => skipping(d.object)).map((d) => (d.object as any).metadata.name as string);
    const skippedNs = new Set(namespaces);
    const pods: SkippedWorkloads['pods'] = [];
    for (const doc of this.byKind.get('Pod')?.docs.values() ?? []) {
      const pod = doc.object as any;
      if (this.nodeName !== undefined && pod.spec?.nodeName !== this.nodeName) continue;
      const namespace: string = pod.metadata.namespace || 'default';
      const reason = skipping(pod) ? 'pod' : skippedNs.has(namespace) ? 'namespace' : undefined;
      if (reason) pods.push({ namespace, name: pod.metadata.name, uid: pod.metadata.uid ?? '', reason });
    }
    return { namespaces: namespaces.sort(), pods };
  }

  // ---- called by the resource watchers ----

  /** @internal */
  log(line: string): void {
    this.logLine(line);
  }

  /** @internal */
  objectEvent(watcher: ResourceWatcher, type: ObjectChange['type'], object: KubernetesObject): void {
    const key = objectKey(watcher.spec.namespaced, object);
    if (type === 'deleted') {
      this.objectGone(watcher, key, object);
      return;
    }
    // List items of built-in kinds come without apiVersion and kind.
    const typed = object as KubernetesObject & Record<string, unknown>;
    if (!typed.kind) typed.kind = watcher.kind;
    if (!typed.apiVersion) typed.apiVersion = watcher.apiVersion;
    slim(typed);
    if (watcher.kind === 'Pod') trimPod(typed);
    const file = `kube:${watcher.kind}/${key}`;
    watcher.docs.set(key, { file, doc: 0, object: typed });
    this.noteChange(watcher, type, key, object);
  }

  /** @internal */
  objectGone(watcher: ResourceWatcher, key: string, object: KubernetesObject): void {
    if (!watcher.docs.delete(key)) return;
    this.noteChange(watcher, 'deleted', key, object);
  }

  /** @internal */
  listedOne(): void {
    if (!this.synced()) return;
    this.log(`synced: ${this.watchers.map((w) => `${w.docs.size} ${w.kind}${w.absent ? ' (absent)' : ''}`).join(', ')}`);
    for (const waiter of this.syncWaiters.splice(0)) waiter();
    this.emitStatus();
    this.coalescer.poke();
    this.coalescer.flushNow();
  }

  /** @internal */
  healthChanged(): void {
    const stale = this.stale();
    if (stale && !this.wasStale) this.staleSince = this.clock.now();
    if (!stale) this.staleSince = undefined;
    if (stale !== this.wasStale) {
      this.wasStale = stale;
      this.emitStatus();
    }
  }

  private emitStatus(): void {
    const status = this.status();
    for (const listener of this.statusListeners) listener(status);
  }

  private noteChange(watcher: ResourceWatcher, type: ObjectChange['type'], key: string, object: KubernetesObject): void {
    this.metrics?.objectEvent(watcher.kind, type);
    this.changedSinceBatch = true;
    // The initial batch carries the whole state: no per-object changes before it.
    this.pending.note(watcher.kind, watcher.spec.namespaced, key, type, object, this.initialDelivered ? this.clock.now() : undefined);
    if (this.initialDelivered && this.synced()) this.coalescer.poke();
  }

  private cutBatch(): ChangeBatch {
    const initial = !this.initialDelivered;
    this.initialDelivered = true;
    const taken = this.pending.take(() => this.byKind.get('Service')!.docs.keys(), initial);
    const batch: ChangeBatch = {
      initial,
      all: taken.all,
      services: taken.services,
      changes: taken.changes,
      skipChanged: taken.skipChanged,
      model: !this.incremental ? this.model() : this.withNetwork(taken.all ? this.incremental.full() : this.incremental.update(taken.services, taken.deletedFiles)),
      stale: this.stale(),
      builtAt: this.clock.now(),
    };
    this.lastModel = batch.model;
    this.changedSinceBatch = false;
    return batch;
  }

  private withNetwork(model: Model): Model {
    return this.network ? this.network.fill(model) : model;
  }

  private hasPending(): boolean {
    return !this.initialDelivered || this.pending.any();
  }

  /**
   * A listener failed (a map write refused, …): its changes come again in a later batch, after a
   * backoff, marked as touching every Service, so the maps converge once the cause is gone.
   */
  private redeliver(batch: ChangeBatch): void {
    this.pending.requeue(batch.changes);
    const delay = this.retryBackoff.next();
    this.log(`the batch comes again in ${delay} ms`);
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.coalescer.poke();
    }, delay);
  }

  private async flush(): Promise<void> {
    if (!this.synced() || this.listeners.size === 0) return;
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.flushing = true;
    try {
      do {
        this.flushAgain = false;
        if (!this.hasPending()) break;
        const batch = this.cutBatch();
        let failed = false;
        for (const listener of [...this.listeners]) {
          try {
            await listener(batch);
          } catch (error) {
            failed = true;
            this.log(`batch listener failed: ${(error as Error).message ?? error}`);
          }
        }
        if (failed) {
          this.redeliver(batch);
          break; // the retry timer flushes again
        }
        this.retryBackoff.reset();
      } while (this.flushAgain || (this.pending.size > 0 && !this.coalescer.pending));
    } finally {
      this.flushing = false;
    }
  }
}

/**
 * Drops what meshc never reads and the cache would hold for every object: managedFields and
 * kubectl's copy of the last applied object (often larger than the object itself). The cached
 * object is client-node's own, so this is done in place, once per received version.
 */
export function slim(object: KubernetesObject): void {
  const metadata = object.metadata;
  if (!metadata) return;
  delete metadata.managedFields;
  if (metadata.annotations && LAST_APPLIED in metadata.annotations) delete metadata.annotations[LAST_APPLIED];
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** Kinds the model gets from NetworkModel, not from buildModel. */
const NETWORK_KINDS: ReadonlySet<WatchedKind> = new Set(['Pod', 'NetworkPolicy', 'CiliumNetworkPolicy']);

/**
 * Every Pod of the cluster is cached (network policy's identities): keep only what the model reads
 * of it (src/model/pod.ts: containers' ports, node, phase, addresses, the Ready condition), in
 * place, so that a cluster's Pods cost their labels and addresses rather than their whole specs.
 */
export function trimPod(object: KubernetesObject): void {
  const pod = object as KubernetesObject & { spec?: Record<string, any>; status?: Record<string, any> };
  if (pod.spec && typeof pod.spec === 'object') {
    const { containers, nodeName } = pod.spec;
    pod.spec = {
      ...(Array.isArray(containers) ? { containers: containers.map((c: any) => (c && typeof c === 'object' ? { name: c.name, ...(c.ports === undefined ? {} : { ports: c.ports }) } : c)) } : {}),
      ...(nodeName === undefined ? {} : { nodeName }),
    };
  }
  if (pod.status && typeof pod.status === 'object') {
    const { phase, podIP, podIPs, conditions } = pod.status;
    pod.status = {
      ...(phase === undefined ? {} : { phase }),
      ...(podIP === undefined ? {} : { podIP }),
      ...(podIPs === undefined ? {} : { podIPs }),
      ...(Array.isArray(conditions) ? { conditions: conditions.filter((c: any) => c?.type === 'Ready') } : {}),
    };
  }
}
