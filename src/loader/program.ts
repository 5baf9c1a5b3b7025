// BPF programs: BPF_PROG_TEST_RUN, attaching to a cgroup as a link, pinning.
import { native } from './addon.ts';
import { BpfLink, type RawLink } from './link.ts';

/** The addon's program handle (native/src/program.cc). */
export interface RawProgram {
  info(): ProgramInfo;
  fd(): number;
  testRun(opts: TestRunOptions): TestRunResult;
  pin(path: string): void;
  attachCgroup(path: string, attachType?: string): RawLink;
  close(): void;
}

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
