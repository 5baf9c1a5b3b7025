// The identity store (src/identity: the SVIDs the agent obtained from `meshc ca` for this node's
// ServiceAccounts, and the trust bundle) as the tunnel's Credentials: every held SVID with its key,
// the bundle; a renewal swaps the SVID (new handshakes present it, connections up stay up), a
// dropped identity (expired without renewal, or its last pod gone) is removed, a new bundle
// (root rotation) replaces the old one.
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { HeldIdentity, IdentitySource } from '../identity/store.ts';
import { serviceAccountSpiffeId } from '../identity/spiffe.ts';
import { Credentials, type Svid } from './credentials.ts';

function svidOf(identity: HeldIdentity): Svid {
  return { key: identity.keyPem, cert: identity.certPem };
}

/**
 * Credentials that follow `source`: filled with what it holds now, kept current by its change
 * events. `stop()` unsubscribes (the credentials keep what they had).
 */
export function followIdentities(source: IdentitySource): { credentials: Credentials; stop: () => void } {
  const credentials = new Credentials(source.trustBundle(), Object.fromEntries(source.list().map((held) => [held.spiffeId, svidOf(held)])));
  const offChange = source.onChange((key, held) => {
    if (held) {
      credentials.swap(held.spiffeId, svidOf(held));
      return;
    }
    const [namespace, serviceAccount] = key.split('/') as [string, string];
    credentials.remove(serviceAccountSpiffeId(source.trustDomain(), namespace, serviceAccount));
  });
  const offBundle = source.onTrustBundle((pem) => credentials.setBundle(pem));
  return {
    credentials,
    stop: () => {
      offChange();
      offBundle();
    },
  };
}

/** The `bundle` and `svids` fields of a tunnel configuration (file names relative to its directory). */
export interface CredentialFiles {
  bundle: string;
  svids: Record<string, { key: string; cert: string }>;
}

function writePrivate(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/**
 * Writes `credentials` as the PEM files the tunnel process reads (bin/meshc-tunnel.js: its
 * configuration names them), into `dir` (created 0700; files 0600): how the agent hands the SVIDs
 * it holds in memory to its child. Each file is named after its identity and replaced atomically
 * (rename), so a SIGHUP never reads half a file; files of identities no longer held are deleted.
 */
export function writeCredentialFiles(credentials: Credentials, dir: string): CredentialFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files: CredentialFiles = { bundle: 'bundle.pem', svids: {} };
  writePrivate(path.join(dir, files.bundle), credentials.ca);
  for (const id of credentials.identities().sort()) {
    const svid = credentials.svid(id)!;
    const base = id.replace(/^spiffe:\/\//, '').replace(/[^A-Za-z0-9.-]+/g, '_');
    writePrivate(path.join(dir, `${base}.key`), svid.key);
    writePrivate(path.join(dir, `${base}.pem`), svid.cert);
    files.svids[id] = { key: `${base}.key`, cert: `${base}.pem` };
  }
  const kept = new Set([files.bundle, ...Object.values(files.svids).flatMap((f) => [f.key, f.cert])]);
  for (const name of readdirSync(dir)) if (/\.(key|pem)$/.test(name) && !kept.has(name)) rmSync(path.join(dir, name), { force: true });
  return files;
}
