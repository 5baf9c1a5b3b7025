// The agent owns its links and pins. Before it attaches, it makes sure no other meshc already
// routes the cgroup (or a cgroup above it); while it runs, it checks every second that its links
// are still attached and its pins still its own, and puts back what someone removed or replaced
// (`meshc agent --detach` from elsewhere, an unlinked pin). See docs/agent.md.
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { openPinnedLink, openPinnedMap, queryCgroup, type BpfLink } from '../loader/index.ts';

/** A meshc hook program attached to a cgroup by someone else. */
export interface ForeignHook {
  cgroup: string;
  attachType: string;
  program: string;
  id: number;
}

/** Kernel program names of meshc's hooks start with this (names are cut at 15 characters). */
const MESHC_PROGRAM = /^mc_/;

/**
 * meshc hooks attached to `cgroup` or to a cgroup above it (up to `root`, the hierarchy's mount)
 * whose program is none of `ours`: another meshc routes these processes.
 */
export function foreignHooks(cgroup: string, root: string, attachTypes: string[], ours: Set<number>): ForeignHook[] {
  const found: ForeignHook[] = [];
  const top = resolve(root);
  for (let dir = resolve(cgroup); ; dir = dirname(dir)) {
    for (const attachType of new Set(attachTypes)) {
      let programs: { id: number; name?: string }[] = [];
      try {
        programs = queryCgroup(dir, attachType);
      } catch {
        continue; // a hook type this kernel cannot query
      }
      for (const p of programs) {
        if (!ours.has(p.id) && MESHC_PROGRAM.test(p.name ?? '')) found.push({ cgroup: dir, attachType, program: p.name!, id: p.id });
      }
    }
    if (dir === top || dir === dirname(dir) || !dir.startsWith(top)) break;
  }
  return found;
}

/** The id of the link or map pinned at `path`, or undefined when nothing is pinned there. */
export function pinnedLinkId(path: string): number | undefined {
  if (!existsSync(path)) return undefined;
  const link = openPinnedLink(path);
  try {
    return link.info.id;
  } finally {
    link.close();
  }
}

export function pinnedMapId(path: string): number | undefined {
  if (!existsSync(path)) return undefined;
  const map = openPinnedMap(path);
  try {
    return map.info.id;
  } finally {
    map.close();
  }
}

/** Whether `link` still attaches its program to `cgroup`. */
export function stillAttached(link: BpfLink, cgroup: string): boolean {
  const info = link.info;
  if (info.progId === 0) return false;
  return info.cgroupId === undefined || BigInt(info.cgroupId) === statSync(cgroup, { bigint: true }).ino;
}

/** Removes whatever is pinned at `path` (a link that took our place is detached first). */
export function clearPin(path: string, kind: 'link' | 'map'): void {
  if (!existsSync(path)) return;
  if (kind === 'link') openPinnedLink(path).detach();
  else unlinkSync(path);
}
