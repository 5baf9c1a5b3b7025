// BPF objects: open an object file, set its globals, load it (creating or adopting pinned maps),
// and hand out its programs and maps.
import { mkdirSync } from 'node:fs';
import { native } from './addon.ts';
import { BpfMap, type RawMap } from './map.ts';
import { BpfProgram, type RawProgram } from './program.ts';

/** The addon's object handle (native/src/object.cc). */
export interface RawObject {
  globals(): GlobalSpec[];
  setGlobal(name: string, value: Uint8Array): void;
  load(): void;
  programs(): ProgramSpec[];
  maps(): MapSpec[];
  program(name: string): RawProgram;
  map(name: string): RawMap;
  close(): void;
}

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
