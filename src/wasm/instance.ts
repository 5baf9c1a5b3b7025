// Instantiates policy.wasm from bytes. Shared by Node and the browser: no file access here.

export interface PolicyExports {
  memory: WebAssembly.Memory;
  [name: string]: unknown;
}

export interface PolicyInstance {
  exports: PolicyExports;
  /** A fresh view of linear memory (memory may grow, which detaches old views). */
  bytes(): Uint8Array;
  view(): DataView;
}

export async function instantiatePolicy(wasm: BufferSource): Promise<PolicyInstance> {
  const { instance } = await WebAssembly.instantiate(wasm, {
    env: {
      abort(msgPtr: number, filePtr: number, line: number, col: number): never {
        throw new Error(`policy.wasm aborted at ${readAsString(instance, filePtr)}:${line}:${col}: ${readAsString(instance, msgPtr)}`);
      },
    },
  });
  const exports = instance.exports as unknown as PolicyExports;
  return {
    exports,
    bytes: () => new Uint8Array(exports.memory.buffer),
    view: () => new DataView(exports.memory.buffer),
  };
}

/** Reads an AssemblyScript string (UTF-16, length in bytes stored 4 bytes before the pointer). */
function readAsString(instance: WebAssembly.Instance, ptr: number): string {
  if (!ptr) return '';
  const memory = (instance.exports as unknown as PolicyExports).memory;
  const len = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, len >>> 1));
}
