// Instantiates policy.wasm from bytes. Shared by Node and the browser: no file access here.
import { POLICY_FUNCTIONS, type PolicyExports } from '../generated/policy-exports.ts';

export type { PolicyExports } from '../generated/policy-exports.ts';

export interface PolicyInstance {
  exports: PolicyExports;
  /** A fresh view of linear memory (memory may grow, which detaches old views). */
  bytes(): Uint8Array;
  view(): DataView;
}

export async function instantiatePolicy(wasm: BufferSource): Promise<PolicyInstance> {
  let memory: WebAssembly.Memory | undefined;
  const { instance } = await WebAssembly.instantiate(wasm, {
    env: {
      abort(msgPtr: number, filePtr: number, line: number, col: number): never {
        throw new Error(`policy.wasm aborted at ${readAsString(memory, filePtr)}:${line}:${col}: ${readAsString(memory, msgPtr)}`);
      },
    },
  });
  const exports = instance.exports;
  if (!isPolicyExports(exports)) {
    const missing = ['memory', ...POLICY_FUNCTIONS].filter((name) => !(name in exports));
    throw new Error(`policy.wasm lacks the exports ${missing.join(', ')} of assembly/index.ts: rebuild it (\`npm run build:wasm\`)`);
  }
  memory = exports.memory;
  return {
    exports,
    bytes: () => new Uint8Array(exports.memory.buffer),
    view: () => new DataView(exports.memory.buffer),
  };
}

/** Whether a module's exports have the memory and every function that assembly/index.ts exports. */
function isPolicyExports(exports: WebAssembly.Exports): exports is WebAssembly.Exports & PolicyExports {
  return exports.memory instanceof WebAssembly.Memory && POLICY_FUNCTIONS.every((name) => typeof exports[name] === 'function');
}

/** Reads an AssemblyScript string (UTF-16, length in bytes stored 4 bytes before the pointer). */
function readAsString(memory: WebAssembly.Memory | undefined, ptr: number): string {
  if (!ptr || !memory) return '';
  const len = new Uint32Array(memory.buffer, ptr - 4, 1)[0]!;
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, len >>> 1));
}
