// What changed in the source's cache since the last batch: one entry per changed object, the
// Services those changes can alter (through EndpointSlice owners and HTTPRoute parents, kept in
// an index across batches), and whether a change can touch every Service or the skip list.
import { routeRefs, sliceService, withRouteParents, type RouteRefs } from './affected.ts';
import { splitKey, type WatchedKind } from './kinds.ts';

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

/** What one batch carries, taken out of PendingChanges. */
export interface TakenChanges {
  all: boolean;
  services: Set<string>;
  changes: ObjectChange[];
  skipChanged: boolean;
  /** Documents (`kube:Kind/key`) deleted since the last batch. */
  deletedFiles: Set<string>;
}

export class PendingChanges {
  private readonly routes = new Map<string, RouteRefs>();
  private readonly sliceOwners = new Map<string, string>();
  private readonly slicesByService = new Map<string, Set<string>>();
  private changes = new Map<string, ObjectChange>();
  private services = new Set<string>();
  private namespaces = new Set<string>();
  private all = false;
  private skip = false;
  private deletedFiles = new Set<string>();

  /** Keys of the EndpointSlices of a Service. */
  slicesOf(service: string): Iterable<string> {
    return this.slicesByService.get(service) ?? [];
  }

  /** Services named by any HTTPRoute (parents and backends). */
  routeServices(): string[] {
    return [...this.routes.values()].flatMap((r) => [...r.parents, ...r.backends]);
  }

  /** Changed objects waiting for a batch. */
  get size(): number {
    return this.changes.size;
  }

  /** Whether anything waits for a batch. */
  any(): boolean {
    return this.changes.size > 0 || this.all || this.skip || this.services.size > 0;
  }

  /**
   * An object of the cache changed: note what it can alter. `seenAt` undefined notes only that
   * (before the initial batch, which carries the whole state, no per-object change is kept).
   */
  note(kind: WatchedKind, namespaced: boolean, key: string, type: ObjectChange['type'], object: any, seenAt?: number): void {
    this.trackAffected(kind, key, type, object);
    if (type === 'deleted') this.deletedFiles.add(`kube:${kind}/${key}`);
    if (seenAt === undefined) return;
    const id = `${kind}/${key}`;
    const previous = this.changes.get(id);
    const [namespace, name] = namespaced ? splitKey(key) : ['', key];
    this.changes.set(id, {
      kind,
      namespace,
      name,
      type: previous?.type === 'added' && type !== 'deleted' ? 'added' : type,
      seenAt: previous?.seenAt ?? seenAt,
      resourceVersion: object.metadata?.resourceVersion,
    });
  }

  /** The changes of a batch that failed come again, merged with newer ones, touching every Service. */
  requeue(changes: readonly ObjectChange[]): void {
    for (const change of changes) {
      const id = `${change.kind}/${change.namespace ? `${change.namespace}/` : ''}${change.name}`;
      const newer = this.changes.get(id);
      this.changes.set(id, newer ? { ...newer, seenAt: Math.min(newer.seenAt, change.seenAt) } : change);
    }
    this.all = true;
  }

  /** Takes what the next batch carries and starts afresh. `serviceKeys`: every cached Service. */
  take(serviceKeys: () => Iterable<string>, initial: boolean): TakenChanges {
    let services = withRouteParents(this.services, this.routes.values());
    if (this.namespaces.size > 0) {
      for (const key of serviceKeys()) if (this.namespaces.has(splitKey(key)[0])) services.add(key);
    }
    const all = initial || this.all;
    if (all) services = new Set(serviceKeys());
    const taken: TakenChanges = { all, services, changes: [...this.changes.values()], skipChanged: initial || this.skip, deletedFiles: this.deletedFiles };
    this.changes = new Map();
    this.services = new Set();
    this.namespaces = new Set();
    this.all = false;
    this.skip = false;
    this.deletedFiles = new Set();
    return taken;
  }

  private trackAffected(kind: WatchedKind, key: string, type: ObjectChange['type'], object: any): void {
    switch (kind) {
      case 'Service':
        this.services.add(key);
        break;
      case 'EndpointSlice': {
        const before = this.sliceOwners.get(key);
        if (before) {
          this.services.add(before);
          this.slicesByService.get(before)?.delete(key);
          if (this.slicesByService.get(before)?.size === 0) this.slicesByService.delete(before);
        }
        const now = type === 'deleted' ? undefined : sliceService(object);
        if (now) {
          this.services.add(now);
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
        for (const parent of this.routes.get(key)?.parents ?? []) this.services.add(parent);
        if (type === 'deleted') {
          this.routes.delete(key);
        } else {
          const refs = routeRefs(object);
          this.routes.set(key, refs);
          for (const parent of refs.parents) this.services.add(parent);
        }
        break;
      }
      case 'Node':
        this.all = true;
        break;
      case 'Namespace':
        this.namespaces.add(key);
        this.skip = true;
        break;
      case 'Pod':
        this.skip = true;
        break;
    }
  }
}
