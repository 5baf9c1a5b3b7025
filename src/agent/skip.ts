// meshc.io/skip: pods (or whole namespaces) annotated `meshc.io/skip: "true"` are left alone, so
// meshc can share a node with a sidecar mesh. The hooks check the caller's cgroup id in mc_skip;
// the agent finds each skipped pod's cgroup below the routed cgroup by the pod UID in its name
// (kubepods-besteffort-pod<uid with _>.slice with the systemd driver, pod<uid> with cgroupfs)
// and writes it and every cgroup below it (the containers').
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Model } from '../model/types.ts';

const POD_DIR = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/;
const MAX_DEPTH = 8;

/** UIDs of the pods that opted out, themselves or through their namespace. */
export function skippedPodUids(model: Model): Set<string> {
  const uids = new Set<string>();
  for (const pod of model.pods.values()) {
    const namespaceSkips = model.namespaces.get(pod.meta.namespace)?.skip === true;
    if ((pod.meta.skip || namespaceSkips) && pod.meta.uid) uids.add(pod.meta.uid.toLowerCase());
  }
  return uids;
}

/** Cgroup ids (the directories' inode numbers) of the skipped pods' cgroups and everything below. */
export function skippedCgroupIds(root: string, uids: Set<string>): Set<bigint> {
  const ids = new Set<bigint>();
  if (uids.size === 0) return ids;
  const addTree = (dir: string, depth: number) => {
    ids.add(statSync(dir, { bigint: true }).ino);
    if (depth < MAX_DEPTH) for (const child of subdirs(dir)) addTree(join(dir, child), depth + 1);
  };
  const search = (dir: string, depth: number) => {
    for (const child of subdirs(dir)) {
      const match = POD_DIR.exec(child);
      if (match && uids.has(match[1]!.replaceAll('_', '-'))) addTree(join(dir, child), depth + 1);
      else if (depth < MAX_DEPTH) search(join(dir, child), depth + 1);
    }
  };
  search(root, 0);
  return ids;
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return []; // a cgroup that went away while we looked
  }
}

export function cgroupKey(id: bigint): Uint8Array {
  const key = new Uint8Array(8);
  new DataView(key.buffer).setBigUint64(0, id, true);
  return key;
}
