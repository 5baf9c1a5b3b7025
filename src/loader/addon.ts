// Loads the native addon (native/, libbpf underneath) once per process and describes its raw
// surface; the handle files wrap what it returns.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { BpfError, NativeAddonMissingError, VerifierError, type ErrorFields } from './errors.ts';
import type { AttachedProgram } from './cgroup.ts';
import type { RawLink } from './link.ts';
import type { RawMap } from './map.ts';
import type { RawObject } from './object.ts';
import type { RawProgram } from './program.ts';
import type { RawRingBuffer } from './ring-buffer.ts';

interface NativeAddon {
  ObjectHandle: new (path: string, opts: { pinRoot?: string; logSize?: number }) => RawObject;
  RingBufferHandle: new (mapFd: number, name: string, cb: (records: Buffer) => void, batch?: boolean) => RawRingBuffer;
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

/** The addon, loaded on first use; throws NativeAddonMissingError when its binary is absent. */
export function native(): NativeAddon {
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
