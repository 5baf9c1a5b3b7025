// The agent's view of a live cluster: client-node informers (list + watch) for Services,
// EndpointSlices, HTTPRoutes (gateway.networking.k8s.io v1, or v1beta1 when that is all the
// server has), Nodes, Namespaces and, for meshc.io/skip, the Pods on this node. It keeps the
// objects it was sent and builds the same Model as the manifests directory from them.
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
import { ListWatch } from '@kubernetes/client-node';
import { buildModel, type BuildOptions } from '../model/build.ts';
import type { ManifestDoc } from '../model/manifest-doc.ts';
import type { Diagnostic, Model } from '../model/types.ts';
import { SKIP_ANNOTATION } from '../model/objects.ts';
import { Backoff, systemClock, type BackoffOptions, type Clock, type TimerHandle } from './clock.ts';
import { Coalescer } from './coalescer.ts';
import { KubeRequestError, TrackedWatch, listAll, loadKubeConfig, servedVersions } from './client.ts';
import { routeRefs, sliceService, withRouteParents, type RouteRefs } from './affected.ts';
import { IncrementalModel } from './incremental-model.ts';

export type WatchedKind = 'Service' | 'EndpointSlice' | 'HTTPRoute' | 'Node' | 'Namespace' | 'Pod';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

interface KindSpec {
  kind: WatchedKind;
  /** API version and collection path; HTTPRoute's depend on discovery. */
  apiVersion?: string;
  path?: string;
  namespaced: boolean;
}

const SPECS: Record<WatchedKind, KindSpec> = {
  Service: { kind: 'Service', apiVersion: 'v1', path: '/api/v1/services', namespaced: true },
  EndpointSlice: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', path: '/apis/discovery.k8s.io/v1/endpointslices', namespaced: true },
  HTTPRoute: { kind: 'HTTPRoute', namespaced: true },
  Node: { kind: 'Node', apiVersion: 'v1', path: '/api/v1/nodes', namespaced: false },
  Namespace: { kind: 'Namespace', apiVersion: 'v1', path: '/api/v1/namespaces', namespaced: false },
  Pod: { kind: 'Pod', apiVersion: 'v1', path: '/api/v1/pods', namespaced: true },
};

/** What the source reads, as RBAC names it: deploy/clusterrole.yaml must grant exactly these. */
export const WATCHED_RESOURCES: readonly { kind: WatchedKind; group: string; resource: string }[] = [
  { kind: 'Service', group: '', resource: 'services' },
  { kind: 'EndpointSlice', group: 'discovery.k8s.io', resource: 'endpointslices' },
  { kind: 'HTTPRoute', group: GATEWAY_GROUP, resource: 'httproutes' },
  { kind: 'Node', group: '', resource: 'nodes' },
  { kind: 'Namespace', group: '', resource: 'namespaces' },
  { kind: 'Pod', group: '', resource: 'pods' },
];

/** Which HTTPRoute version to watch among those served: v1, else v1beta1, else none. */
export function chooseRouteVersion(served: readonly string[]): string | undefined {
  return ['v1', 'v1beta1'].find((v) => served.includes(v));
}

export interface SourceMetrics {
  /** A watch was opened again after one ended: `closed` (clean end), `error`, `expired` (410). */
  watchRestarted(resource: WatchedKind, reason: 'closed' | 'error' | 'expired'): void;
  /** A full list after the first one (after a 410, or a restart without a resourceVersion). */
  relisted(resource: WatchedKind): void;
  /** An object event from a list or a watch. */
  objectEvent(resource: WatchedKind, type: ObjectChange['type']): void;
}

export interface KubeSourceOptions {
  /** kubeconfig file (`--kubeconfig`); without it and without `kubeConfig`: in-cluster config. */
  kubeconfig?: string;
  /** A loaded KubeConfig (tests, or an agent that loaded it already). */
  kubeConfig?: KubeConfig;
  /** This node's name: Pods are watched on this node only (`spec.nodeName`). */
  nodeName?: string;
  /** Watch this node's Pods for meshc.io/skip. Default: when nodeName is set. */
  pods?: boolean;
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
  /** How often to look again for the Gateway API when the server does not serve it. Default 60 s. */
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

export interface ObjectChange {
  kind: WatchedKind;
  /** '' for cluster-scoped objects. */
  namespace: string;
  name: string;
  type: 'added' | 'modified' | 'deleted';
  /** Clock time (ms, the source's clock) when the informer delivered the first unbatched change. */
  seenAt: number;
  resourceVersion?: string;
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
  /** HTTPRoute only: the server serves no version meshc reads. */
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

const keyOf = (namespaced: boolean, object: KubernetesObject) =>
  namespaced ? `${object.metadata?.namespace || 'default'}/${object.metadata?.name}` : String(object.metadata?.name);

/** One resource: its informer, cache of documents, backoff and health. */
class ResourceWatcher {
  readonly docs = new Map<string, ManifestDoc>();
  apiVersion?: string;
  path?: string;
  absent = false;
  listed = false;
  failing = false;
  lastError?: string;
  watchRestarts = 0;
  relists = 0;
  private informer?: ListWatch<KubernetesObject>;
  private readonly backoff: Backoff;
  private lists = 0;
  private watches = 0;
  private listJustDone = false;
  private freshInformer = false;
  private needDiscovery: boolean;
  private establishedAt?: number;
  private eventsThisWatch = 0;
  private quickEnds = 0;
  private endReason: 'closed' | 'error' | 'expired' = 'closed';
  private timer?: TimerHandle;
  private sleeping?: { handle: TimerHandle; resolve: () => void };
  private stopped = false;
  private generation = 0;

  constructor(
    readonly spec: KindSpec,
    private readonly source: KubeSource,
    private readonly kc: KubeConfig,
    private readonly options: Required<Pick<KubeSourceOptions, 'stableMs' | 'watchTimeoutSeconds' | 'pageSize' | 'rediscoverMs'>> & { fieldSelector?: string },
    private readonly clock: Clock,
    private readonly random: () => number,
    backoff: BackoffOptions | undefined,
  ) {
    this.backoff = new Backoff(backoff, random);
    this.apiVersion = spec.apiVersion;
    this.path = spec.path;
    this.needDiscovery = spec.kind === 'HTTPRoute';
  }

  get kind(): WatchedKind {
    return this.spec.kind;
  }

  get resourceVersion(): string {
    return this.informer?.latestResourceVersion() ?? '';
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.begin();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sleeping) {
      this.clock.clearTimeout(this.sleeping.handle);
      this.sleeping.resolve();
      this.sleeping = undefined;
    }
    await this.informer?.stop();
  }

  private async begin(): Promise<void> {
    if (this.stopped) return;
    if (this.needDiscovery) {
      let served: string[];
      try {
        served = await servedVersions(this.kc, GATEWAY_GROUP);
      } catch (error) {
        this.failed(error);
        return;
      }
      if (this.stopped) return;
      this.needDiscovery = false;
      this.recover();
      const version = chooseRouteVersion(served);
      if (version === undefined) {
        this.becomeAbsent(served);
        return;
      }
      this.absent = false;
      if (version !== this.version()) {
        this.source.log(`HTTPRoute: watching ${GATEWAY_GROUP}/${version}${served.length > 0 ? ` (served: ${served.join(', ')})` : ''}`);
        this.apiVersion = `${GATEWAY_GROUP}/${version}`;
        this.path = `/apis/${GATEWAY_GROUP}/${version}/httproutes`;
        await this.retireInformer();
      }
    }
    this.informer ??= this.makeInformer();
    await this.informer.start();
  }

  private version(): string | undefined {
    return this.apiVersion?.split('/')[1];
  }

  /** The Gateway API is not served: no routes, counts as listed; look again later. */
  private becomeAbsent(served: string[]): void {
    if (!this.absent) {
      this.source.log(`HTTPRoute: ${GATEWAY_GROUP} ${served.length > 0 ? `serves only ${served.join(', ')}` : 'is not served'}; routes are off until it is (checking every ${this.options.rediscoverMs} ms)`);
    }
    this.absent = true;
    void this.retireInformer();
    this.apiVersion = undefined;
    this.path = undefined;
    for (const [key, doc] of [...this.docs]) this.source.objectGone(this, key, doc.object as KubernetesObject);
    this.markListed();
    this.needDiscovery = true;
    this.schedule(this.options.rediscoverMs);
  }

  /**
   * Stops the current informer on purpose (a version switch, the Gateway API going away). Its
   * abort surfaces later as an error and late events may follow: callbacks of an informer that
   * is not the current one are ignored.
   */
  private async retireInformer(): Promise<void> {
    const old = this.informer;
    this.informer = undefined;
    this.generation++;
    await old?.stop();
  }

  private makeInformer(): ListWatch<KubernetesObject> {
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    const watch = new TrackedWatch(
      this.kc,
      {
        beforeWatch: () => (current() ? this.beforeWatch() : Promise.resolve()),
        established: () => current() && this.established(),
        event: (type, object) => current() && this.watchEvent(type, object),
        ended: (error) => current() && this.watchEnded(error),
        stopped: () => this.stopped || !current(),
      },
      () => Math.floor(this.options.watchTimeoutSeconds * (1 + this.random())),
    );
    const listFn = () => (current() ? this.list() : Promise.reject(new Error(`${this.kind}: informer retired`)));
    const informer = new ListWatch<KubernetesObject>(this.path!, watch, listFn as any, false, undefined, this.options.fieldSelector);
    informer.on('add', (object) => current() && this.source.objectEvent(this, 'added', object));
    informer.on('update', (object) => current() && this.source.objectEvent(this, 'modified', object));
    informer.on('delete', (object) => current() && this.source.objectEvent(this, 'deleted', object));
    informer.on('error', (error) => current() && this.informerError(error));
    this.freshInformer = true;
    return informer;
  }

  private async list(): Promise<{ metadata: { resourceVersion: string }; items: KubernetesObject[] }> {
    if (this.lists++ > 0) {
      this.relists++;
      this.source.metrics?.relisted(this.kind);
    }
    const list = await listAll(this.kc, this.path!, { pageSize: this.options.pageSize, fieldSelector: this.options.fieldSelector });
    // A new informer starts with an empty cache and cannot tell us what vanished since the
    // previous one (a version switch): compare with our documents.
    if (this.freshInformer) {
      this.freshInformer = false;
      const present = new Set(list.items.map((item) => keyOf(this.spec.namespaced, item)));
      for (const [key, doc] of [...this.docs]) if (!present.has(key)) this.source.objectGone(this, key, doc.object as KubernetesObject);
    }
    this.recover();
    this.listJustDone = true;
    return list;
  }

  private async beforeWatch(): Promise<void> {
    // client-node applies a list to its cache and then opens the watch: the list is in now.
    if (this.listJustDone) {
      this.listJustDone = false;
      this.markListed();
    }
    if (this.quickEnds > 0) await this.sleep(this.backoff.next());
  }

  private established(): void {
    if (this.watches++ > 0) {
      this.watchRestarts++;
      this.source.metrics?.watchRestarted(this.kind, this.endReason);
    }
    this.establishedAt = this.clock.now();
    this.eventsThisWatch = 0;
    this.recover();
  }

  private watchEvent(type: string, object: any): void {
    this.eventsThisWatch++;
    if (type === 'ERROR' && object?.code === 410) {
      this.endReason = 'expired';
      this.source.log(`${this.kind}: watch expired (${object.message ?? '410 Gone'}); relisting`);
    }
  }

  private watchEnded(error: unknown): void {
    const lived = this.establishedAt === undefined ? 0 : this.clock.now() - this.establishedAt;
    const wasEstablished = this.establishedAt !== undefined;
    this.establishedAt = undefined;
    if (this.stopped) return;
    if (error === undefined) {
      if (this.endReason !== 'expired') this.endReason = 'closed';
      // A stream that ends at once without events, over and over, must not become a busy loop.
      this.quickEnds = wasEstablished && (lived >= 1000 || this.eventsThisWatch > 0) ? 0 : this.quickEnds + 1;
    } else if ((error as KubeRequestError).statusCode === 410) {
      this.endReason = 'expired';
      this.source.log(`${this.kind}: watch answered 410 Gone; relisting`);
    } else {
      this.endReason = 'error';
      this.quickEnds = 0;
    }
    if (lived >= this.options.stableMs) this.backoff.reset();
  }

  /** client-node's ListWatch stops after an error other than 410: start it again after a delay. */
  private informerError(error: unknown): void {
    if (this.stopped) return;
    this.endReason = 'error';
    // A 404 on HTTPRoutes: the served versions changed (CRDs removed or upgraded); look again.
    if ((error as { statusCode?: number })?.statusCode === 404 && this.kind === 'HTTPRoute') this.needDiscovery = true;
    this.failed(error);
  }

  private failed(error: unknown): void {
    const message = (error as Error)?.message ?? String(error);
    this.lastError = message;
    const delay = this.backoff.next();
    if (!this.failing) this.source.log(`${this.kind}: ${message}; retrying (backoff ${delay} ms)`);
    this.failing = true;
    this.source.healthChanged();
    this.schedule(delay);
  }

  private recover(): void {
    if (!this.failing) return;
    this.failing = false;
    this.lastError = undefined;
    this.source.log(`${this.kind}: reconnected`);
    this.source.healthChanged();
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.begin().catch((error) => this.failed(error));
    }, delay);
  }

  /** A pause before a watch request; stop() ends it early (the request is then not made). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const handle = this.clock.setTimeout(() => {
        this.sleeping = undefined;
        resolve();
      }, ms);
      this.sleeping = { handle, resolve };
    });
  }

  private markListed(): void {
    if (this.listed) return;
    this.listed = true;
    this.source.listedOne();
  }
}

export class KubeSource {
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
  private readonly routes = new Map<string, RouteRefs>();
  private readonly sliceOwners = new Map<string, string>();
  private readonly slicesByService = new Map<string, Set<string>>();
  private readonly incremental?: IncrementalModel;
  private pendingDeletedFiles = new Set<string>();
  private lastModel?: Model;
  private changedSinceBatch = true;
  private readonly retryBackoff: Backoff;
  private retryTimer?: TimerHandle;
  private pending = new Map<string, ObjectChange>();
  private pendingServices = new Set<string>();
  private pendingNamespaces = new Set<string>();
  private pendingAll = false;
  private pendingSkip = false;
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
          slicesOf: (service) => this.slicesByService.get(service) ?? [],
          routeServices: () => [...this.routes.values()].flatMap((r) => [...r.parents, ...r.backends]),
        },
        this.buildOptions,
      );
    }
    const quietMs = options.quietMs ?? 50;
    this.coalescer = new Coalescer(this.clock, quietMs, options.maxDelayMs ?? Math.max(250, quietMs), () => void this.flush());
    const random = options.random ?? Math.random;
    this.retryBackoff = new Backoff(options.backoff, random);
    const watchPods = options.pods ?? options.nodeName !== undefined;
    if (watchPods && !options.nodeName) throw new Error('KubeSource: pods: true needs nodeName (only this node\'s Pods are watched)');
    const kinds: WatchedKind[] = ['Namespace', 'Node', 'Service', 'EndpointSlice', 'HTTPRoute', ...(watchPods ? (['Pod'] as const) : [])];
    const common = {
      stableMs: options.stableMs ?? 5000,
      watchTimeoutSeconds: options.watchTimeoutSeconds ?? 300,
      pageSize: options.pageSize ?? 500,
      rediscoverMs: options.rediscoverMs ?? 60_000,
    };
    this.watchers = kinds.map((kind) => {
      const fieldSelector = kind === 'Pod' ? `spec.nodeName=${options.nodeName}` : undefined;
      const watcher = new ResourceWatcher(SPECS[kind], this, this.kubeConfig, { ...common, fieldSelector }, this.clock, random, options.backoff);
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
      if (watcher.kind === 'Pod') continue; // skip only: endpoints come from EndpointSlices
      for (const doc of watcher.docs.values()) docs.push(doc);
    }
    return buildModel(docs, this.buildOptions);
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
    const key = keyOf(watcher.spec.namespaced, object);
    if (type === 'deleted') {
      this.objectGone(watcher, key, object);
      return;
    }
    // List items of built-in kinds come without apiVersion and kind.
    const typed = object as KubernetesObject & Record<string, unknown>;
    if (!typed.kind) typed.kind = watcher.kind;
    if (!typed.apiVersion) typed.apiVersion = watcher.apiVersion;
    slim(typed);
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
    this.trackAffected(watcher.kind, key, type, object);
    if (type === 'deleted') this.pendingDeletedFiles.add(`kube:${watcher.kind}/${key}`);
    this.changedSinceBatch = true;
    if (!this.initialDelivered) return; // the initial batch carries the whole state
    const id = `${watcher.kind}/${key}`;
    const previous = this.pending.get(id);
    const [namespace, name] = watcher.spec.namespaced ? splitKey(key) : ['', key];
    this.pending.set(id, {
      kind: watcher.kind,
      namespace,
      name,
      type: previous?.type === 'added' && type !== 'deleted' ? 'added' : type,
      seenAt: previous?.seenAt ?? this.clock.now(),
      resourceVersion: object.metadata?.resourceVersion,
    });
    if (this.synced()) this.coalescer.poke();
  }

  private trackAffected(kind: WatchedKind, key: string, type: ObjectChange['type'], object: any): void {
    switch (kind) {
      case 'Service':
        this.pendingServices.add(key);
        break;
      case 'EndpointSlice': {
        const before = this.sliceOwners.get(key);
        if (before) {
          this.pendingServices.add(before);
          this.slicesByService.get(before)?.delete(key);
          if (this.slicesByService.get(before)?.size === 0) this.slicesByService.delete(before);
        }
        const now = type === 'deleted' ? undefined : sliceService(object);
        if (now) {
          this.pendingServices.add(now);
          this.sliceOwners.set(key, now);
          const slices = this.slicesByService.get(now) ?? new Set<string>();
          slices.add(key);
          this.slicesByService.set(now, slices);
        } else {
          this.sliceOwners.delete(key);
        }
        break;
      }
      case 'HTTPRoute': {
        for (const parent of this.routes.get(key)?.parents ?? []) this.pendingServices.add(parent);
        if (type === 'deleted') {
          this.routes.delete(key);
        } else {
          const refs = routeRefs(object);
          this.routes.set(key, refs);
          for (const parent of refs.parents) this.pendingServices.add(parent);
        }
        break;
      }
      case 'Node':
        this.pendingAll = true;
        break;
      case 'Namespace':
        this.pendingNamespaces.add(key);
        this.pendingSkip = true;
        break;
      case 'Pod':
        this.pendingSkip = true;
        break;
    }
  }

  private cutBatch(): ChangeBatch {
    const initial = !this.initialDelivered;
    this.initialDelivered = true;
    let services = withRouteParents(this.pendingServices, this.routes.values());
    if (this.pendingNamespaces.size > 0) {
      for (const key of this.byKind.get('Service')!.docs.keys()) if (this.pendingNamespaces.has(splitKey(key)[0])) services.add(key);
    }
    const all = initial || this.pendingAll;
    if (all) services = new Set(this.byKind.get('Service')!.docs.keys());
    const batch: ChangeBatch = {
      initial,
      all,
      services,
      changes: [...this.pending.values()],
      skipChanged: initial || this.pendingSkip,
      model: !this.incremental ? this.model() : all ? this.incremental.full() : this.incremental.update(services, this.pendingDeletedFiles),
      stale: this.stale(),
      builtAt: this.clock.now(),
    };
    this.pending = new Map();
    this.pendingServices = new Set();
    this.pendingNamespaces = new Set();
    this.pendingAll = false;
    this.pendingSkip = false;
    this.pendingDeletedFiles = new Set();
    this.lastModel = batch.model;
    this.changedSinceBatch = false;
    return batch;
  }

  private hasPending(): boolean {
    return !this.initialDelivered || this.pending.size > 0 || this.pendingAll || this.pendingSkip || this.pendingServices.size > 0;
  }

  /**
   * A listener failed (a map write refused, …): its changes come again in a later batch, after a
   * backoff, marked as touching every Service, so the maps converge once the cause is gone.
   */
  private redeliver(batch: ChangeBatch): void {
    for (const change of batch.changes) {
      const id = `${change.kind}/${change.namespace ? `${change.namespace}/` : ''}${change.name}`;
      const newer = this.pending.get(id);
      this.pending.set(id, newer ? { ...newer, seenAt: Math.min(newer.seenAt, change.seenAt) } : change);
    }
    this.pendingAll = true;
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

function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}
