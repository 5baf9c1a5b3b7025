// Node shell: finds build/policy.wasm and instantiates it.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { instantiatePolicy, type PolicyInstance } from '../wasm/instance.ts';

export const POLICY_WASM_PATH = fileURLToPath(new URL('../../build/policy.wasm', import.meta.url));

export async function loadPolicyWasm(path = POLICY_WASM_PATH): Promise<PolicyInstance> {
  if (!existsSync(path)) {
    throw new Error(`policy.wasm not found at ${path}: run \`npm run build:wasm\` first`);
  }
  return instantiatePolicy(await readFile(path));
}
