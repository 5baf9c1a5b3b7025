// What `meshc inspect` shows of the identities an agent holds: their SPIFFE IDs, serials and
// validity, never a key. The agent keeps SVIDs in memory; it writes this summary to a file beside
// its state (bpffs, where the pins are, takes no regular files), named after its pin directory so
// two agents on one machine (tests) do not share one.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { HeldIdentity } from './store.ts';

export interface IdentityStatus {
  trustDomain: string;
  caUrl: string;
  /** When the agent wrote this (ISO time). */
  updated: string;
  identities: { spiffeId: string; serial: string; notBefore: string; notAfter: string; renewAt: string }[];
  /** The last refusal or failure per ServiceAccount (`namespace/name`), with its reason. */
  problems: { serviceAccount: string; error: string }[];
}

/** The status file of the agent pinned at `pin`. */
export function identityStatusPath(pin: string): string {
  return path.join(process.env['MESHC_RUN_DIR'] ?? path.join(tmpdir(), 'meshc'), `identities${path.resolve(pin).replace(/\//g, '_')}.json`);
}

export function writeIdentityStatus(pin: string, status: Omit<IdentityStatus, 'identities' | 'updated'>, held: HeldIdentity[], now = new Date()): void {
  const file = identityStatusPath(pin);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const body: IdentityStatus = {
    ...status,
    updated: now.toISOString(),
    identities: held.map((h) => ({ spiffeId: h.spiffeId, serial: h.serial, notBefore: h.notBefore.toISOString(), notAfter: h.notAfter.toISOString(), renewAt: h.renewAt.toISOString() })),
  };
  writeFileSync(`${file}.tmp`, `${JSON.stringify(body, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** The status an agent wrote, or undefined when it holds no identities (not opted in). */
export function readIdentityStatus(pin: string): IdentityStatus | undefined {
  try {
    return JSON.parse(readFileSync(identityStatusPath(pin), 'utf8')) as IdentityStatus;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${identityStatusPath(pin)}: ${(error as Error).message}`);
  }
}

/** An agent that stops holds nothing: its status goes with it. */
export function removeIdentityStatus(pin: string): void {
  rmSync(identityStatusPath(pin), { force: true });
}
