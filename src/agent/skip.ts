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
  return new Set([...podCgroups(root, uids).values()].flat());
}

/**
 * Cgroup ids of each pod's cgroup and everything below it (the containers'), by pod UID: the
 * pods are found below `root` by the UID in the directory's name, as kubelet names it. `dirs`,
 * when given, receives each pod's own cgroup directory by UID.
 */
export function podCgroups(root: string, uids: ReadonlySet<string>, dirs?: Map<string, string>): Map<string, bigint[]> {
  const found = new Map<string, bigint[]>();
  if (uids.size === 0) return found;
  const addTree = (dir: string, depth: number, into: bigint[]) => {
    try {
      into.push(statSync(dir, { bigint: true }).ino);
    } catch {
      return; // gone while we looked
    }
    if (depth < MAX_DEPTH) for (const child of subdirs(dir)) addTree(join(dir, child), depth + 1, into);
  };
  const search = (dir: string, depth: number) => {
    for (const child of subdirs(dir)) {
      const uid = POD_DIR.exec(child)?.[1]?.replaceAll('_', '-');
      if (uid && uids.has(uid)) {
        const ids = found.get(uid) ?? [];
        addTree(join(dir, child), depth + 1, ids);
        found.set(uid, ids);
        dirs?.set(uid, join(dir, child));
      } else if (depth < MAX_DEPTH) search(join(dir, child), depth + 1);
    }
  };
  search(root, 0);
  return found;
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
