// Stable ids for services, backends, backend tables and group sets across compiles, so that an
// update rewrites only what changed. Tables and group sets are content-addressed: new content
// gets a new id, which is what lets a service switch to a new backend set in one map write.

export class IdSpace {
  private readonly ids = new Map<string, number>();
  /** Released ids, reused oldest first. */
  private readonly free = new Set<number>();
  private next: number;

  constructor(
    private readonly what: string,
    first: number,
    private readonly limit: number,
    /** Ids of released keys are reused (array-indexed ids) or never reused (revisions). */
    private readonly reuse: boolean,
  ) {
    this.next = first;
  }

  get(key: string): number | undefined {
    return this.ids.get(key);
  }

  /** Ids no key may be given while reserved (see reserve()). */
  private reserved = new Set<number>();

  /**
   * Ids that rows the agent keeps in the maps use without a key of this compile (a source that
   * has not read everything yet keeps stale rows): none of them is given to a new key until the
   * next reserve() lets it go. Replaces the previous reservation.
   */
  reserve(ids: Iterable<number>): void {
    this.reserved = new Set(ids);
  }

  assign(key: string): number {
    const known = this.ids.get(key);
    if (known !== undefined) return known;
    let id: number | undefined;
    if (this.reuse) {
      for (const free of this.free) {
        if (this.reserved.has(free)) continue;
        id = free;
        this.free.delete(free);
        break;
      }
    }
    if (id === undefined) {
      while (this.reserved.has(this.next)) this.next++;
      id = this.next++;
    }
    if (id >= this.limit) throw new Error(`out of ${this.what} ids (limit ${this.limit})`);
    this.ids.set(key, id);
    return id;
  }

  /**
   * Adopts an id found in pinned state (an agent restart), or one whose rows an apply could not
   * remove yet: it is taken until released again.
   */
  adopt(key: string, id: number): void {
    const known = this.ids.get(key);
    // A key with a newer id: the old id stays taken under a placeholder that the next retain() frees.
    this.ids.set(known !== undefined && known !== id ? `held-${id}` : key, id);
    this.free.delete(id);
    if (id >= this.next) this.next = id + 1;
  }

  /** Forgets every key not in `live`; their ids become free once their rows are gone. */
  retain(live: Set<string>): void {
    for (const [key, id] of this.ids) {
      if (live.has(key)) continue;
      this.ids.delete(key);
      if (this.reuse) this.free.add(id);
    }
  }

  entries(): IterableIterator<[string, number]> {
    return this.ids.entries();
  }
}

export class TableIds {
  readonly services = new IdSpace('service', 1, 262144, true);
  readonly backends = new IdSpace('backend', 1, 262144, true);
  readonly tables = new IdSpace('table', 1, 0xffffffff, false);
  readonly groupSets = new IdSpace('group set', 1, 0xffffffff, false);
}
