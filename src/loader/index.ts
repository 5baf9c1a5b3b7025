// Typed API over the meshc native addon (native/, libbpf underneath): open and load BPF objects,
// adopt pinned maps, attach programs to cgroups as pinned links, read and write maps, run
// programs with BPF_PROG_TEST_RUN and consume ring buffers.
//
// Ownership: every handle (BpfMap, BpfProgram, BpfLink, RingBuffer) owns its own file
// descriptor, closed by close() or, failing that, when the handle is garbage-collected. Closing
// a BpfObject also closes the map and program handles it handed out. A BpfLink that is neither
// pinned nor referenced detaches when collected: keep it, or pin it.
//
// Errors: kernel and libbpf failures throw BpfError ("map mc_services: update: E2BIG") with
// errno, code, op and object; a verifier rejection throws VerifierError with the full log.
// Expected conditions are values, not errors: lookup() of a missing key returns undefined,
// delete() returns false. Wrong argument types and sizes throw TypeError / RangeError.

import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const NATIVE_ADDON_MISSING =
  'meshc native addon not built: run `npm run build:native` (needs libbpf-dev, clang-19 and a C++ compiler: apt-get install -y libbpf-dev clang-19 g++ make python3)';

/** Fields the addon attaches to every kernel or libbpf failure. */
interface ErrorFields {
  kind: 'bpf' | 'verifier';
  errno: number;
  code: string;
  op: string;
  object: string;
  processed?: number;
  libbpfLog?: string;
  program?: string;
  verifierLog?: string;
  truncated?: boolean;
}

// The addon is one per process, but this module can be loaded twice (once through require, once
// through import, as test runners do), and the addon's error factory is the copy loaded last.
// Brands under Symbol.for make instanceof work across copies.
const BPF_ERROR = Symbol.for('meshc.BpfError');
const VERIFIER_ERROR = Symbol.for('meshc.VerifierError');

function branded(value: unknown, brand: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/** A kernel or libbpf failure, with the object and operation it concerns. */
export class BpfError extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return branded(value, BPF_ERROR);
  }

  /** Positive errno, e.g. 2. */
  readonly errno: number;
  /** Errno name, e.g. 'ENOENT', 'E2BIG', 'ENOTSUPP' (the kernel-internal 524). */
  readonly code: string;
  /** Operation: 'open', 'load', 'lookup', 'update', 'delete', 'update batch', 'pin', 'attach', ... */
  readonly op: string;
  /** What it was done to: 'map mc_services', 'program mc_sock4_connect', 'object path', 'cgroup path', ... */
  readonly object: string;
  /** For batch operations: how many elements the kernel processed before failing. */
  readonly processed?: number;
  /** libbpf's own messages during the operation (object open/load), when any. */
  readonly libbpfLog?: string;

  constructor(message: string, fields: ErrorFields) {
    super(message);
    Object.defineProperty(this, BPF_ERROR, { value: true });
    this.name = 'BpfError';
    this.errno = fields.errno;
    this.code = fields.code;
    this.op = fields.op;
    this.object = fields.object;
    if (fields.processed !== undefined) this.processed = fields.processed;
    if (fields.libbpfLog) this.libbpfLog = fields.libbpfLog;
  }
}

/**
 * The verifier refused a program. The message is
 * `program NAME: verifier rejected: <last one or two log lines> (N lines omitted)`.
 */
export class VerifierError extends BpfError {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return branded(value, VERIFIER_ERROR);
  }

  readonly program: string;
  /** The complete verifier log of the failing program. */
  readonly verifierLog: string;
  /** The log did not fit in the buffer (OpenOptions.logSize); its head is lost. */
  readonly truncated: boolean;

  constructor(message: string, fields: ErrorFields) {
    super(message, fields);
    Object.defineProperty(this, VERIFIER_ERROR, { value: true });
    this.name = 'VerifierError';
    this.program = fields.program ?? '';
    this.verifierLog = fields.verifierLog ?? '';
    this.truncated = fields.truncated ?? false;
  }
}

/** Thrown by every entry point when native/build/Release/meshc_native.node does not exist. */
export class NativeAddonMissingError extends Error {
  constructor(readonly path: string) {
    super(NATIVE_ADDON_MISSING);
    this.name = 'NativeAddonMissingError';
  }
}

/** True when err is a BpfError, and has the given errno name if one is passed. */
export function isBpfError(err: unknown, code?: string): err is BpfError {
  return err instanceof BpfError && (code === undefined || err.code === code);
}

// ---- the addon's raw surface (native/src/*.cc) ----

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

interface RawMap {
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

interface RawProgram {
  info(): ProgramInfo;
  fd(): number;
  testRun(opts: TestRunOptions): TestRunResult;
  pin(path: string): void;
  attachCgroup(path: string, attachType?: string): RawLink;
  close(): void;
}

interface RawLink {
  info(): LinkInfo;
  fd(): number;
  pin(path: string): void;
  detach(): void;
  close(): void;
}

interface RawObject {
  globals(): GlobalSpec[];
  setGlobal(name: string, value: Uint8Array): void;
  load(): void;
  programs(): ProgramSpec[];
  maps(): MapSpec[];
  program(name: string): RawProgram;
  map(name: string): RawMap;
  close(): void;
}

interface RawRingBuffer {
  start(): void;
  consume(): number;
  ref(): void;
  unref(): void;
  close(): void;
}

interface NativeAddon {
  ObjectHandle: new (path: string, opts: { pinRoot?: string; logSize?: number }) => RawObject;
  RingBufferHandle: new (mapFd: number, name: string, cb: (record: Buffer) => void) => RawRingBuffer;
  setErrorFactory(factory: (message: string, fields: ErrorFields) => Error): void;
  openPinnedMap(path: string): RawMap;
  openPinnedProgram(path: string): RawProgram;
  openPinnedLink(path: string): RawLink;
  queryCgroup(path: string, attachType: string): AttachedProgram[];
  isBpffs(path: string): boolean;
  mountBpffs(path: string): boolean;
  libbpfVersion(): string;
  possibleCpus(): number;
}

/** Where the addon is loaded from: $MESHC_NATIVE_ADDON, else native/build/Release/meshc_native.node. */
export function nativeAddonPath(): string {
  return (
    process.env.MESHC_NATIVE_ADDON ??
    fileURLToPath(new URL('../../native/build/Release/meshc_native.node', import.meta.url))
  );
}

let addon: NativeAddon | undefined;

function native(): NativeAddon {
  if (addon) return addon;
  const path = nativeAddonPath();
  if (!existsSync(path)) throw new NativeAddonMissingError(path);
  let loaded: NativeAddon;
  try {
    loaded = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (err) {
    throw new Error(`meshc native addon ${path}: load failed: ${(err as Error).message}`, { cause: err });
  }
  loaded.setErrorFactory((message, fields) =>
    fields.kind === 'verifier' ? new VerifierError(message, fields) : new BpfError(message, fields),
  );
  addon = loaded;
  return addon;
}

/** Whether the addon binary exists and loads (for tools that can do without the kernel). */
export function isNativeAvailable(): boolean {
  try {
    native();
    return true;
  } catch {
    return false;
  }
}

/** libbpf's version string, e.g. 'v1.1'. */
export function libbpfVersion(): string {
  return native().libbpfVersion();
}

/** Number of possible CPUs: per-CPU map values hold this many slots. */
export function possibleCpus(): number {
  return native().possibleCpus();
}

// ---- objects ----

export interface OpenOptions {
  /**
   * Directory in bpffs where the object's maps are pinned, one file per map name. At load, a map
   * whose pin exists is adopted (its entries survive an agent restart) after checking that its
   * type, key/value size, max_entries and flags match; missing pins are created. Internal maps
   * (.rodata, .data, .bss) are never pinned. The directory is created if missing.
   */
  pinRoot?: string;
  /** Bytes of verifier log kept per program when a load fails (default 16 MiB). */
  logSize?: number;
  /** Initial values of global variables (`const volatile` knobs), set before load. */
  globals?: Record<string, Uint8Array>;
}

/** A program as declared in the object. */
export interface ProgramSpec {
  name: string;
  /** ELF section, e.g. 'cgroup/connect4', 'syscall'. */
  section: string;
  /** libbpf's program type name, e.g. 'cgroup_sock_addr', 'syscall'. */
  type: string;
  /** libbpf's attach type name, e.g. 'cgroup_inet4_connect'; absent for types that take none (syscall). */
  attachType?: string;
  autoload: boolean;
  /** The object's own fd for it, or -1 before load. */
  fd: number;
}

/** A map as declared in the object. */
export interface MapSpec {
  name: string;
  /** libbpf's map type name, e.g. 'hash', 'array', 'ringbuf'. */
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  /** .rodata/.data/.bss/.kconfig: global variables, not a declared map. */
  internal: boolean;
  /** The object's own fd for it, or -1 before load. */
  fd: number;
  pinPath?: string;
  /** After load: pinned at pinPath (adopted or newly pinned). */
  pinned: boolean;
  /** Loaded by adopting the map already pinned at pinPath (entries kept) rather than creating it. */
  adopted: boolean;
}

/** A global variable of the object, settable before load. */
export interface GlobalSpec {
  name: string;
  /** '.rodata', '.data', '.bss'. */
  section: string;
  offset: number;
  size: number;
}

/** An opened (and, after load(), loaded) BPF object file. */
export class BpfObject {
  readonly #raw: RawObject;
  readonly #programs = new Map<string, BpfProgram>();
  readonly #maps = new Map<string, BpfMap>();
  #loaded = false;
  #closed = false;

  private constructor(
    readonly path: string,
    raw: RawObject,
  ) {
    this.#raw = raw;
  }

  /** Parses the object file; nothing reaches the kernel until load(). */
  static open(path: string, opts: OpenOptions = {}): BpfObject {
    const n = native();
    if (opts.pinRoot !== undefined && opts.pinRoot !== '') mkdirSync(opts.pinRoot, { recursive: true });
    const raw = new n.ObjectHandle(path, { pinRoot: opts.pinRoot, logSize: opts.logSize });
    const obj = new BpfObject(path, raw);
    try {
      for (const [name, value] of Object.entries(opts.globals ?? {})) obj.setGlobal(name, value);
    } catch (err) {
      obj.close();
      throw err;
    }
    return obj;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Global variables with BTF, for setGlobal(). */
  globals(): GlobalSpec[] {
    return this.#raw.globals();
  }

  /** Sets a global's initial bytes before load; value must be exactly its size. */
  setGlobal(name: string, value: Uint8Array): void {
    this.#raw.setGlobal(name, value);
  }

  /**
   * Creates (or adopts pinned) maps and loads every program. Throws VerifierError when the
   * verifier rejects a program, BpfError otherwise. An object is loaded at most once.
   */
  load(): this {
    this.#raw.load();
    this.#loaded = true;
    return this;
  }

  programs(): ProgramSpec[] {
    return this.#raw.programs();
  }

  maps(): MapSpec[] {
    return this.#raw.maps();
  }

  /** The loaded program `name`; one handle per name, closed with the object. */
  program(name: string): BpfProgram {
    let prog = this.#programs.get(name);
    if (!prog || prog.closed) {
      prog = new BpfProgram(this.#raw.program(name));
      this.#programs.set(name, prog);
    }
    return prog;
  }

  /** The loaded map `name`; one handle per name, closed with the object. */
  map(name: string): BpfMap {
    let map = this.#maps.get(name);
    if (!map || map.closed) {
      map = new BpfMap(this.#raw.map(name));
      this.#maps.set(name, map);
    }
    return map;
  }

  /**
   * Closes the object and the handles from program()/map(). Maps stay alive in the kernel while
   * pinned or used by an attached program; links are independent and stay attached.
   */
  close(): void {
    for (const prog of this.#programs.values()) prog.close();
    for (const map of this.#maps.values()) map.close();
    this.#programs.clear();
    this.#maps.clear();
    this.#raw.close();
    this.#closed = true;
  }
}

/** open() + load(); the object is closed again if loading fails. */
export function loadObject(path: string, opts: OpenOptions = {}): BpfObject {
  const obj = BpfObject.open(path, opts);
  try {
    return obj.load();
  } catch (err) {
    obj.close();
    throw err;
  }
}

// ---- maps ----

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

// ---- programs ----

export interface ProgramInfo {
  /** The object's program name, or the kernel's (at most 15 characters) for one opened from a pin. */
  name: string;
  /** ELF section; '' for a program opened from a pin. */
  section: string;
  /** libbpf's program type name, e.g. 'cgroup_sock_addr', 'syscall'. */
  type: string;
  typeId: number;
  /** Expected attach type; absent for a program opened from a pin (the kernel does not say). */
  attachType?: string;
  /** Kernel program id. */
  id: number;
  /** Kernel program tag (hex). */
  tag: string;
}

export interface TestRunOptions {
  /**
   * Context bytes. For SEC("syscall") programs this is the program's argument struct; the
   * program's writes to it come back as ctxOut. Never modified.
   */
  ctx?: Uint8Array;
  /** Packet data, for program types that take one (not syscall programs). */
  data?: Uint8Array;
  /** Runs (default 1). */
  repeat?: number;
  /** Room for ctxOut (default: ctx's length). Ignored for syscall programs. */
  ctxOutSize?: number;
  /** Room for dataOut (default: data's length + 256). */
  dataOutSize?: number;
}

export interface TestRunResult {
  /** The program's return value. */
  retval: number;
  /**
   * Mean nanoseconds per run: the kernel's measure, or, for syscall programs (which the kernel
   * neither repeats nor times), wall time per call measured in user space, syscall included.
   */
  duration: number;
  /** The context after the run (for syscall programs: the struct as the program left it). */
  ctxOut?: Buffer;
  dataOut?: Buffer;
}

/** A loaded BPF program. */
export class BpfProgram {
  readonly #raw: RawProgram;
  readonly info: ProgramInfo;
  #closed = false;

  /** @internal Created by BpfObject.program() and openPinnedProgram(). */
  constructor(raw: RawProgram) {
    this.#raw = raw;
    this.info = raw.info();
  }

  get name(): string {
    return this.info.name;
  }
  get type(): string {
    return this.info.type;
  }
  get fd(): number {
    return this.#raw.fd();
  }
  get closed(): boolean {
    return this.#closed;
  }

  /** BPF_PROG_TEST_RUN. */
  testRun(opts: TestRunOptions = {}): TestRunResult {
    return this.#raw.testRun(opts);
  }

  /**
   * Attaches to the cgroup directory as a bpf_link (attachType defaults to the program's
   * expected attach type; required for a program opened from a pin, e.g. 'cgroup_inet4_connect').
   * Pin the link to keep it across a restart.
   */
  attachCgroup(cgroupPath: string, attachType?: string): BpfLink {
    return new BpfLink(this.#raw.attachCgroup(cgroupPath, attachType));
  }

  pin(path: string): void {
    this.#raw.pin(path);
  }

  close(): void {
    this.#raw.close();
    this.#closed = true;
  }
}

/** Opens a pinned program. */
export function openPinnedProgram(path: string): BpfProgram {
  return new BpfProgram(native().openPinnedProgram(path));
}

// ---- links ----

export interface LinkInfo {
  /** Kernel link id. */
  id: number;
  /** libbpf's link type name, e.g. 'cgroup'. */
  type: string;
  /** Attached program's id; 0 once the link was detached. */
  progId: number;
  cgroupId?: number;
  attachType?: string;
}

/** A bpf_link: an attachment that lasts while an fd or a pin refers to it. */
export class BpfLink {
  readonly #raw: RawLink;
  #pinnedPath: string | undefined;
  #closed = false;

  /** @internal Created by BpfProgram.attachCgroup() and openPinnedLink(). */
  constructor(raw: RawLink, pinnedPath?: string) {
    this.#raw = raw;
    this.#pinnedPath = pinnedPath;
  }

  /** Read from the kernel on each access. */
  get info(): LinkInfo {
    return this.#raw.info();
  }
  get fd(): number {
    return this.#raw.fd();
  }
  /** Where this handle pinned the link, or the pin it was opened from. */
  get pinnedPath(): string | undefined {
    return this.#pinnedPath;
  }
  get closed(): boolean {
    return this.#closed;
  }

  /** Pins the link so it outlives this process. */
  pin(path: string): void {
    this.#raw.pin(path);
    this.#pinnedPath = path;
  }

  /** Removes the pin (the link stays attached while this handle is open). */
  unpin(): void {
    if (this.#pinnedPath === undefined) return;
    unpin(this.#pinnedPath);
    this.#pinnedPath = undefined;
  }

  /** Detaches the program now: removes the pin, detaches, closes this handle. */
  detach(): void {
    this.unpin();
    this.#raw.detach();
    this.#closed = true;
  }

  /** Releases this handle; the program stays attached only if the link is pinned. */
  close(): void {
    this.#raw.close();
    this.#closed = true;
  }
}

/** Opens a pinned link (e.g. the agent's attachments after a restart). */
export function openPinnedLink(path: string): BpfLink {
  return new BpfLink(native().openPinnedLink(path), path);
}

// ---- cgroups and bpffs ----

export interface AttachedProgram {
  id: number;
  /** Kernel program name (at most 15 characters); absent if the program went away meanwhile. */
  name?: string;
  type?: string;
}

/** Programs attached directly to this cgroup for attachType (e.g. 'cgroup_inet4_connect'). */
export function queryCgroup(cgroupPath: string, attachType: string): AttachedProgram[] {
  return native().queryCgroup(cgroupPath, attachType);
}

/** Removes a pin; false when there was none. */
export function unpin(path: string): boolean {
  try {
    // unlink(2) on a bpffs pin drops the pin's reference; the object lives on if used elsewhere.
    unlinkSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Whether path is on a bpf filesystem. */
export function isBpffs(path: string): boolean {
  return native().isBpffs(path);
}

/** Mounts bpffs at dir unless one is there already; true when it mounted. Needs CAP_SYS_ADMIN. */
export function mountBpffs(dir: string): boolean {
  return native().mountBpffs(dir);
}

// ---- ring buffers ----

export interface RingBufferOptions {
  /** Deliver records from the event loop right away (default true); else call consume(). */
  start?: boolean;
  /** Whether a started reader keeps the process alive (default true), as in Timer.ref(). */
  ref?: boolean;
}

/**
 * Reads a BPF_MAP_TYPE_RINGBUF map. Records reach the callback on the event-loop thread, one
 * Buffer each (a copy), in commit order; the loop is never blocked waiting for them. A callback
 * that throws raises an uncaught exception (started mode) or rethrows from consume().
 */
export class RingBuffer {
  readonly #raw: RawRingBuffer;
  #closed = false;

  /** @internal Created by openRingBuffer(). */
  constructor(raw: RawRingBuffer) {
    this.#raw = raw;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts delivery from the event loop (idempotent). */
  start(): void {
    this.#raw.start();
  }

  /** Delivers the records available now, synchronously; returns how many. */
  consume(): number {
    return this.#raw.consume();
  }

  ref(): void {
    this.#raw.ref();
  }

  unref(): void {
    this.#raw.unref();
  }

  /** Stops delivery and frees the reader; safe to call from inside the callback. */
  close(): void {
    this.#raw.close();
    this.#closed = true;
  }
}

export function openRingBuffer(map: BpfMap, onRecord: (record: Buffer) => void, opts: RingBufferOptions = {}): RingBuffer {
  if (map.closed) throw new TypeError(`map ${map.name}: ring buffer: the map handle is closed`);
  if (typeof onRecord !== 'function') throw new TypeError(`map ${map.name}: ring buffer: onRecord must be a function`);
  const raw = new (native().RingBufferHandle)(map.fd, map.name, onRecord);
  const reader = new RingBuffer(raw);
  if (opts.ref === false) reader.unref();
  if (opts.start !== false) reader.start();
  return reader;
}
