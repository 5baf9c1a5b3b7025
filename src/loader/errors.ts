// The loader's errors: BpfError (a kernel or libbpf failure, with the object and operation it
// concerns), VerifierError (a rejected program, with the full log) and NativeAddonMissingError.
// The addon creates BpfError and VerifierError itself, through the factory addon.ts installs.

export const NATIVE_ADDON_MISSING =
  'meshc native addon not built: run `npm run build:native` (needs libbpf-dev, clang-19 and a C++ compiler: apt-get install -y libbpf-dev clang-19 g++ make python3)';

/** Fields the addon attaches to every kernel or libbpf failure. */
export interface ErrorFields {
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
