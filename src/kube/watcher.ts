// One watched resource: its informer (client-node's ListWatch over a TrackedWatch), the cache of
// documents it fills, its backoff and its health. A kind served by a CRD (HTTPRoute,
// CiliumNetworkPolicy) also finds its served version by discovery and looks again while its
// group is absent. What a watcher learns goes to its
// host (the KubeSource), which turns it into batches.
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { ListWatch } from '@kubernetes/client-node';
import type { ManifestDoc } from '../model/manifest-doc.ts';
import { Backoff, type BackoffOptions, type Clock, type TimerHandle } from './clock.ts';
import { KubeRequestError, TrackedWatch, listAll, servedVersions, versionsServing } from './client.ts';
import type { ObjectChange } from './changes.ts';
import { chooseVersion, objectKey, type KindSpec, type WatchedKind } from './kinds.ts';

export interface SourceMetrics {
  /** A watch was opened again after one ended: `closed` (clean end), `error`, `expired` (410). */
  watchRestarted(resource: WatchedKind, reason: 'closed' | 'error' | 'expired'): void;
  /** A full list after the first one (after a 410, or a restart without a resourceVersion). */
  relisted(resource: WatchedKind): void;
  /** An object event from a list or a watch. */
  objectEvent(resource: WatchedKind, type: ObjectChange['type']): void;
}

/** What a watcher reports to (the KubeSource). */
export interface WatcherHost {
  readonly metrics?: SourceMetrics;
  log(line: string): void;
  objectEvent(watcher: ResourceWatcher, type: ObjectChange['type'], object: KubernetesObject): void;
  objectGone(watcher: ResourceWatcher, key: string, object: KubernetesObject): void;
  /** This watcher has its first full list. */
  listedOne(): void;
  /** This watcher started or stopped failing. */
  healthChanged(): void;
}

export interface WatcherOptions {
  /** A watch that lived this long resets the backoff. */
  stableMs: number;
  /** Server-side watch timeout: each watch gets a random value in [t, 2t). */
  watchTimeoutSeconds: number;
  pageSize: number;
  /** How often to look again for a discovered kind's group (the Gateway API, cilium.io) when the server does not serve it. */
  rediscoverMs: number;
  fieldSelector?: string;
}

/** One resource: its informer, cache of documents, backoff and health. */
export class ResourceWatcher {
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
    private readonly host: WatcherHost,
    private readonly kc: KubeConfig,
    private readonly options: WatcherOptions,
    private readonly clock: Clock,
    private readonly random: () => number,
    backoff: BackoffOptions | undefined,
  ) {
    this.backoff = new Backoff(backoff, random);
    this.apiVersion = spec.apiVersion;
    this.path = spec.path;
    this.needDiscovery = spec.discovered !== undefined;
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
    const discovered = this.spec.discovered;
    if (this.needDiscovery && discovered) {
      let served: string[];
      let serving: string[];
      try {
        served = await servedVersions(this.kc, discovered.group);
        // Only the versions meshc reads are asked whether they serve the kind.
        serving = await versionsServing(this.kc, discovered.group, discovered.resource, served.filter((v) => discovered.versions.includes(v)));
      } catch (error) {
        this.failed(error);
        return;
      }
      if (this.stopped) return;
      this.needDiscovery = false;
      this.recover();
      const version = chooseVersion(discovered, serving);
      if (version === undefined) {
        this.becomeAbsent(served);
        return;
      }
      this.absent = false;
      if (version !== this.version()) {
        this.host.log(`${this.kind}: watching ${discovered.group}/${version}${served.length > 0 ? ` (served: ${served.join(', ')})` : ''}`);
        this.apiVersion = `${discovered.group}/${version}`;
        this.path = `/apis/${discovered.group}/${version}/${discovered.resource}`;
        await this.retireInformer();
      }
    }
    this.informer ??= this.makeInformer();
    await this.informer.start();
  }

  private version(): string | undefined {
    return this.apiVersion?.split('/')[1];
  }

  /** The kind's group is not served: no objects, counts as listed; look again later. Said once. */
  private becomeAbsent(served: string[]): void {
    const discovered = this.spec.discovered!;
    if (!this.absent) {
      const why = served.length === 0 ? 'is not served' : served.some((v) => discovered.versions.includes(v)) ? `serves no ${discovered.resource} (versions ${served.join(', ')})` : `serves only ${served.join(', ')}`;
      this.host.log(`${this.kind}: ${discovered.group} ${why}; ${discovered.off} (checking every ${this.options.rediscoverMs} ms)`);
    }
    this.absent = true;
    void this.retireInformer();
    this.apiVersion = undefined;
    this.path = undefined;
    for (const [key, doc] of [...this.docs]) this.host.objectGone(this, key, doc.object as KubernetesObject);
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
    informer.on('add', (object) => current() && this.host.objectEvent(this, 'added', object));
    informer.on('update', (object) => current() && this.host.objectEvent(this, 'modified', object));
    informer.on('delete', (object) => current() && this.host.objectEvent(this, 'deleted', object));
    informer.on('error', (error) => current() && this.informerError(error));
    this.freshInformer = true;
    return informer;
  }

  private async list(): Promise<{ metadata: { resourceVersion: string }; items: KubernetesObject[] }> {
    if (this.lists++ > 0) {
      this.relists++;
      this.host.metrics?.relisted(this.kind);
    }
    const list = await listAll(this.kc, this.path!, { pageSize: this.options.pageSize, fieldSelector: this.options.fieldSelector });
    // A new informer starts with an empty cache and cannot tell us what vanished since the
    // previous one (a version switch): compare with our documents.
    if (this.freshInformer) {
      this.freshInformer = false;
      const present = new Set(list.items.map((item) => objectKey(this.spec.namespaced, item)));
      for (const [key, doc] of [...this.docs]) if (!present.has(key)) this.host.objectGone(this, key, doc.object as KubernetesObject);
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
      this.host.metrics?.watchRestarted(this.kind, this.endReason);
    }
    this.establishedAt = this.clock.now();
    this.eventsThisWatch = 0;
    this.recover();
  }

  private watchEvent(type: string, object: any): void {
    this.eventsThisWatch++;
    if (type === 'ERROR' && object?.code === 410) {
      this.endReason = 'expired';
      this.host.log(`${this.kind}: watch expired (${object.message ?? '410 Gone'}); relisting`);
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
      this.host.log(`${this.kind}: watch answered 410 Gone; relisting`);
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
    // A 404 on a discovered kind: the served versions changed (its CRD removed or upgraded); look again.
    if ((error as { statusCode?: number })?.statusCode === 404 && this.spec.discovered) this.needDiscovery = true;
    this.failed(error);
  }

  private failed(error: unknown): void {
    const message = (error as Error)?.message ?? String(error);
    this.lastError = message;
    const delay = this.backoff.next();
    if (!this.failing) this.host.log(`${this.kind}: ${message}; retrying (backoff ${delay} ms)`);
    this.failing = true;
    this.host.healthChanged();
    this.schedule(delay);
  }

  private recover(): void {
    if (!this.failing) return;
    this.failing = false;
    this.lastError = undefined;
    this.host.log(`${this.kind}: reconnected`);
    this.host.healthChanged();
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
    this.host.listedOne();
  }
}

