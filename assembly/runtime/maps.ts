// Wasm backing of the map declarations in maps.ts. This file is never translated to C: in the
// kernel the same declarations become BPF maps. Keys and values are raw bytes of @unmanaged
// classes, so the host can write exactly the bytes it writes into the kernel's maps.

const EMPTY: u32 = 0;
const FULL: u32 = 1;
const TOMBSTONE: u32 = 2;
const HEADER: usize = 8; // per entry: state (u32) and hash (u32)

/** Every declared map, by id, so the host can address them. */
export const registry = new Array<MapBase>(32);

export abstract class MapBase {
  constructor(
    readonly id: i32,
    readonly keySize: usize,
    readonly valueSize: usize,
    readonly maxEntries: u32,
  ) {
    registry[id] = this;
  }
  abstract lookupRaw(key: usize): usize;
  abstract updateRaw(key: usize, value: usize): i32;
  abstract deleteRaw(key: usize): bool;
  abstract clear(): void;
  abstract count(): u32;
}

@inline function hashBytes(ptr: usize, size: usize): u32 {
  let h: u32 = 0x811c9dc5;
  for (let i: usize = 0; i < size; i += 4) {
    h = (h ^ load<u32>(ptr + i)) * 0x9e3779b1;
    h ^= h >>> 15;
  }
  return h;
}

/** Open addressing with linear probing; keys are compared byte for byte. */
export class HashMap<K, V> extends MapBase {
  private table: usize = 0;
  private capacity: u32 = 0;
  private used: u32 = 0; // full + tombstones
  private live: u32 = 0;
  private readonly entrySize: usize;

  constructor(id: i32, maxEntries: u32) {
    super(id, offsetof<K>(), offsetof<V>(), maxEntries);
    this.entrySize = (HEADER + offsetof<K>() + offsetof<V>() + 7) & ~7;
  }

  @inline lookup(key: K): V | null {
    return changetype<V | null>(this.lookupRaw(changetype<usize>(key)));
  }

  @inline update(key: K, value: V): i32 {
    return this.updateRaw(changetype<usize>(key), changetype<usize>(value));
  }

  @inline delete(key: K): bool {
    return this.deleteRaw(changetype<usize>(key));
  }

  lookupRaw(key: usize): usize {
    if (this.capacity == 0) return 0;
    const h = hashBytes(key, this.keySize);
    const mask = this.capacity - 1;
    let i = h & mask;
    while (true) {
      const e = this.table + <usize>i * this.entrySize;
      const state = load<u32>(e);
      if (state == EMPTY) return 0;
      if (state == FULL && load<u32>(e, 4) == h && memory.compare(e + HEADER, key, this.keySize) == 0) {
        return e + HEADER + this.keySize;
      }
      i = (i + 1) & mask;
    }
  }

  updateRaw(key: usize, value: usize): i32 {
    const found = this.lookupRaw(key);
    if (found) {
      memory.copy(found, value, this.valueSize);
      return 0;
    }
    if (this.live >= this.maxEntries) return this.evict(key, value);
    if ((this.used + 1) * 2 > this.capacity) this.grow();
    this.insert(key, value, hashBytes(key, this.keySize));
    this.live++;
    return 0;
  }

  /** A plain hash map is full (-E2BIG, as the kernel says); the LRU variant overrides this. */
  protected evict(key: usize, value: usize): i32 {
    return -7;
  }

  deleteRaw(key: usize): bool {
    const found = this.lookupRaw(key);
    if (!found) return false;
    store<u32>(found - this.keySize - HEADER, TOMBSTONE);
    this.live--;
    return true;
  }

  clear(): void {
    if (this.table) memory.fill(this.table, 0, <usize>this.capacity * this.entrySize);
    this.used = 0;
    this.live = 0;
  }

  count(): u32 {
    return this.live;
  }

  private insert(key: usize, value: usize, h: u32): void {
    const mask = this.capacity - 1;
    let i = h & mask;
    while (true) {
      const e = this.table + <usize>i * this.entrySize;
      const state = load<u32>(e);
      if (state != FULL) {
        if (state == EMPTY) this.used++;
        store<u32>(e, FULL);
        store<u32>(e, h, 4);
        memory.copy(e + HEADER, key, this.keySize);
        memory.copy(e + HEADER + this.keySize, value, this.valueSize);
        return;
      }
      i = (i + 1) & mask;
    }
  }

  private grow(): void {
    const oldTable = this.table;
    const oldCapacity = this.capacity;
    // Rehash at a size that leaves the table at most a third full; tombstones are dropped.
    let capacity: u32 = oldCapacity ? oldCapacity : 64;
    while ((this.live + 1) * 3 > capacity) capacity <<= 1;
    const bytes = <usize>capacity * this.entrySize;
    this.table = heap.alloc(bytes);
    memory.fill(this.table, 0, bytes);
    this.capacity = capacity;
    this.used = 0;
    for (let i: u32 = 0; i < oldCapacity; i++) {
      const e = oldTable + <usize>i * this.entrySize;
      if (load<u32>(e) == FULL) this.insert(e + HEADER, e + HEADER + this.keySize, load<u32>(e, 4));
    }
    if (oldTable) heap.free(oldTable);
  }
}

/**
 * Stands in for BPF_MAP_TYPE_LRU_HASH. When full it forgets everything, which is cruder than
 * the kernel's LRU but only matters past max_entries clients, far beyond any simulation.
 */
export class LruHashMap<K, V> extends HashMap<K, V> {
  protected evict(key: usize, value: usize): i32 {
    this.clear();
    return this.updateRaw(key, value);
  }
}

/** Stands in for BPF_MAP_TYPE_ARRAY: every index below max_entries exists and starts zeroed. */
export class ArrayMap<V> extends MapBase {
  private data: usize = 0;

  constructor(id: i32, maxEntries: u32) {
    super(id, 4, offsetof<V>(), maxEntries);
  }

  @inline lookup(index: u32): V | null {
    if (index >= this.maxEntries) return changetype<V | null>(0);
    return changetype<V | null>(this.storage() + <usize>index * this.valueSize);
  }

  @inline update(index: u32, value: V): i32 {
    if (index >= this.maxEntries) return -7;
    memory.copy(this.storage() + <usize>index * this.valueSize, changetype<usize>(value), this.valueSize);
    return 0;
  }

  lookupRaw(key: usize): usize {
    const index = load<u32>(key);
    if (index >= this.maxEntries) return 0;
    return this.storage() + <usize>index * this.valueSize;
  }

  updateRaw(key: usize, value: usize): i32 {
    const index = load<u32>(key);
    if (index >= this.maxEntries) return -7;
    memory.copy(this.storage() + <usize>index * this.valueSize, value, this.valueSize);
    return 0;
  }

  /** Arrays cannot delete (EINVAL in the kernel); the host zeroes an entry instead. */
  deleteRaw(key: usize): bool {
    return false;
  }

  clear(): void {
    if (this.data) memory.fill(this.data, 0, <usize>this.maxEntries * this.valueSize);
  }

  count(): u32 {
    return this.maxEntries;
  }

  @inline private storage(): usize {
    if (!this.data) {
      const bytes = <usize>this.maxEntries * this.valueSize;
      this.data = heap.alloc(bytes);
      memory.fill(this.data, 0, bytes);
    }
    return this.data;
  }
}
