// BPF maps: single and batch reads and writes (batches fall back to one call per entry where the
// kernel has none for the map type), iteration, pinning.
import { native } from './addon.ts';
import { isBpfError } from './errors.ts';

interface RawMapInfo {
  name: string;
  type: string;
  typeId: number;
  keySize: number;
  valueSize: number;
  valueBufferSize: number;
  maxEntries: number;
  flags: number;
  id: number;
}

interface RawBatch {
  keys: Buffer;
  values: Buffer;
  count: number;
  token: Buffer;
  done: boolean;
}

/** The addon's map handle (native/src/map.cc). */
export interface RawMap {
  info(): RawMapInfo;
  fd(): number;
  lookup(key: Uint8Array): Buffer | undefined;
  update(key: Uint8Array, value: Uint8Array, flags: number): void;
  delete(key: Uint8Array): boolean;
  nextKey(key: Uint8Array | null): Buffer | undefined;
  lookupBatch(token: Buffer | null, maxCount: number): RawBatch;
  updateBatch(keys: Buffer, values: Buffer, count: number, flags: number): number;
  deleteBatch(keys: Buffer, count: number): number;
  pin(path: string): void;
  close(): void;
}

export interface MapInfo {
  /** The object's map name, or the kernel's (at most 15 characters) for a map opened from a pin. */
  name: string;
  /** libbpf's map type name: 'hash', 'array', 'lru_hash', 'percpu_array', 'ringbuf', ... */
  type: string;
  typeId: number;
  keySize: number;
  valueSize: number;
  /** Bytes of a value Buffer: valueSize, or round_up(valueSize, 8) * possibleCpus() for per-CPU maps. */
  valueBufferSize: number;
  maxEntries: number;
  flags: number;
  /** Kernel map id. */
  id: number;
}

/** How update() treats an existing or missing key: BPF_ANY, BPF_NOEXIST (EEXIST), BPF_EXIST (ENOENT). */
export type UpdateFlag = 'any' | 'noexist' | 'exist';

const UPDATE_FLAGS: Record<UpdateFlag, number> = { any: 0, noexist: 1, exist: 2 };

function updateFlag(map: string, flag: UpdateFlag): number {
  const value = UPDATE_FLAGS[flag];
  if (value === undefined) throw new TypeError(`map ${map}: update: flag must be 'any', 'noexist' or 'exist', got ${String(flag)}`);
  return value;
}

// Errors by which the kernel says a batch operation does not exist for this map type.
function isBatchUnsupported(err: unknown): boolean {
  return isBpfError(err) && (err.code === 'EINVAL' || err.code === 'ENOTSUPP' || err.code === 'EOPNOTSUPP');
}

/** Which batch operations the kernel accepted (true), refused (false), or were not tried yet. */
export interface BatchSupport {
  lookup?: boolean;
  update?: boolean;
  delete?: boolean;
}

/** A BPF map. Keys and values are Buffers of exactly keySize / valueBufferSize bytes. */
export class BpfMap {
  readonly #raw: RawMap;
  readonly info: MapInfo;
  readonly #batch: BatchSupport = {};
  #closed = false;

  /** @internal Created by BpfObject.map() and openPinnedMap(). */
  constructor(raw: RawMap) {
    this.#raw = raw;
    this.info = raw.info();
  }

  get name(): string {
    return this.info.name;
  }
  get type(): string {
    return this.info.type;
  }
  get keySize(): number {
    return this.info.keySize;
  }
  get valueSize(): number {
    return this.info.valueSize;
  }
  get maxEntries(): number {
    return this.info.maxEntries;
  }
  /** This handle's fd (-1 once closed). */
  get fd(): number {
    return this.#raw.fd();
  }
  get closed(): boolean {
    return this.#closed;
  }
  /** What the batch operations did so far (they fall back to per-element calls when refused). */
  get batchSupport(): Readonly<BatchSupport> {
    return { ...this.#batch };
  }

  /** The value for key, or undefined when the key is absent. */
  lookup(key: Uint8Array): Buffer | undefined {
    return this.#raw.lookup(key);
  }

  /** Inserts or replaces; 'noexist' throws EEXIST on a present key, 'exist' ENOENT on a missing one. */
  update(key: Uint8Array, value: Uint8Array, flag: UpdateFlag = 'any'): void {
    this.#raw.update(key, value, updateFlag(this.name, flag));
  }

  /** Removes key; false when it was absent. */
  delete(key: Uint8Array): boolean {
    return this.#raw.delete(key);
  }

  /** The key after `key` (the first key without one), or undefined at the end. */
  nextKey(key?: Uint8Array): Buffer | undefined {
    return this.#raw.nextKey(key ?? null);
  }

  /** Iterates keys with get_next_key. Concurrent deletes may restart a hash map's iteration. */
  *keys(): Generator<Buffer> {
    let key = this.nextKey();
    while (key) {
      yield key;
      key = this.nextKey(key);
    }
  }

  /**
   * Every entry. Uses BPF_MAP_LOOKUP_BATCH (hash, array, lpm_trie, ...) and falls back to get_next_key +
   * lookup when the kernel refuses batching for this map type.
   */
  entries(opts: { batchSize?: number } = {}): Array<[Buffer, Buffer]> {
    if (this.#batch.lookup !== false) {
      try {
        const out = this.#lookupAllBatched(opts.batchSize ?? 256);
        this.#batch.lookup = true;
        return out;
      } catch (err) {
        if (this.#batch.lookup || !isBatchUnsupported(err)) throw err;
        this.#batch.lookup = false;
      }
    }
    const out: Array<[Buffer, Buffer]> = [];
    for (const key of this.keys()) {
      const value = this.lookup(key);
      if (value) out.push([key, value]);
    }
    return out;
  }

  #lookupAllBatched(batchSize: number): Array<[Buffer, Buffer]> {
    const { keySize, valueBufferSize, maxEntries } = this.info;
    const out: Array<[Buffer, Buffer]> = [];
    let chunk = Math.max(1, Math.min(batchSize, maxEntries || 1));
    let token: Buffer | null = null;
    for (;;) {
      let batch: RawBatch;
      try {
        batch = this.#raw.lookupBatch(token, chunk);
      } catch (err) {
        // A hash bucket larger than the chunk: retry the same position with room for it.
        if (isBpfError(err, 'ENOSPC') && err.processed === 0 && chunk < maxEntries) {
          chunk = Math.min(maxEntries, chunk * 2);
          continue;
        }
        throw err;
      }
      for (let i = 0; i < batch.count; i++) {
        out.push([
          batch.keys.subarray(i * keySize, (i + 1) * keySize),
          batch.values.subarray(i * valueBufferSize, (i + 1) * valueBufferSize),
        ]);
      }
      if (batch.done) return out;
      token = batch.token;
    }
  }

  /**
   * Writes entries with BPF_MAP_UPDATE_BATCH, or with update() per entry when the kernel refuses
   * batching for this map type or the flag is not 'any' (the kernel's batch update takes no
   * NOEXIST/EXIST). Returns how many were written; a failure part-way throws a BpfError (for the
   * batch path, its `processed` says how many were written before it).
   */
  updateBatch(entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>, flag: UpdateFlag = 'any'): number {
    const flags = updateFlag(this.name, flag);
    if (entries.length === 0) return 0;
    if (this.#batch.update !== false && flag === 'any') {
      const keys = this.#pack(entries.map((e) => e[0]), this.keySize, 'update batch', 'key');
      const values = this.#pack(entries.map((e) => e[1]), this.info.valueBufferSize, 'update batch', 'value');
      try {
        const n = this.#raw.updateBatch(keys, values, entries.length, flags);
        this.#batch.update = true;
        return n;
      } catch (err) {
        if (this.#batch.update || !isBatchUnsupported(err)) throw err;
        this.#batch.update = false;
      }
    }
    for (const [key, value] of entries) this.#raw.update(key, value, flags);
    return entries.length;
  }

  /**
   * Deletes keys with BPF_MAP_DELETE_BATCH (falls back to delete() per key when refused).
   * Missing keys are skipped; returns how many keys were deleted.
   */
  deleteBatch(keys: ReadonlyArray<Uint8Array>): number {
    if (keys.length === 0) return 0;
    if (this.#batch.delete !== false) {
      const packed = this.#pack(keys, this.keySize, 'delete batch', 'key');
      let deleted = 0;
      let start = 0;
      while (start < keys.length) {
        const rest = packed.subarray(start * this.keySize);
        try {
          deleted += this.#raw.deleteBatch(rest, keys.length - start);
          this.#batch.delete = true;
          return deleted;
        } catch (err) {
          if (isBpfError(err, 'ENOENT')) {
            // The key at `processed` is absent: count what went before it and skip it.
            deleted += err.processed ?? 0;
            start += (err.processed ?? 0) + 1;
            this.#batch.delete = true;
            continue;
          }
          // Refused before any work is done (`processed` then echoes the request, not progress).
          if (this.#batch.delete || start > 0 || !isBatchUnsupported(err)) throw err;
          this.#batch.delete = false;
          break;
        }
      }
      if (this.#batch.delete) return deleted;
    }
    let deleted = 0;
    for (const key of keys) if (this.#raw.delete(key)) deleted++;
    return deleted;
  }

  #pack(parts: ReadonlyArray<Uint8Array>, size: number, op: string, what: string): Buffer {
    const out = Buffer.alloc(parts.length * size);
    parts.forEach((part, i) => {
      if (!(part instanceof Uint8Array)) throw new TypeError(`map ${this.name}: ${op}: ${what} ${i} must be a Buffer`);
      if (part.length !== size)
        throw new RangeError(`map ${this.name}: ${op}: ${what} ${i} is ${part.length} bytes, want ${size}`);
      out.set(part, i * size);
    });
    return out;
  }

  /** Pins the map at path (in bpffs; the directory must exist). */
  pin(path: string): void {
    this.#raw.pin(path);
  }

  /** Releases this handle's fd; the map lives on while pinned or used by a loaded program. */
  close(): void {
    this.#raw.close();
    this.#closed = true;
  }
}

/** Opens a pinned map (bpf_obj_get), e.g. for `meshc inspect`. */
export function openPinnedMap(path: string): BpfMap {
  return new BpfMap(native().openPinnedMap(path));
}
