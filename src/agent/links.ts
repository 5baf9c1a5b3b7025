// The agent owns its links and pins. Before it attaches, it makes sure no other meshc already
// routes the cgroup (or a cgroup above it); while it runs, it checks every second that its links
// are still attached and its pins still its own, and puts back what someone removed or replaced
// (`meshc agent --detach` from elsewhere, an unlinked pin). See docs/agent.md.
import { existsSync, readdirSync, statSync, unlinkSync, type Dirent } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { openPinnedLink, openPinnedMap, queryCgroup, type BpfLink } from '../loader/index.ts';

/** A hook program attached to a cgroup by someone else. */
export interface ForeignHook {
  cgroup: string;
  attachType: string;
  /** Its kernel name; undefined when it cannot be read (BPF_PROG_GET_FD_BY_ID needs CAP_SYS_ADMIN). */
  program?: string;
  id: number;
}

/** Kernel program names of meshc's hooks start with this (names are cut at 15 characters). */
const MESHC_PROGRAM = /^mc_/;

/**
 * Hooks of the given attach types attached to `cgroup` or to a cgroup above it (up to `root`, the
 * hierarchy's mount) whose program is none of `ours`. `meshc`: named meshc hooks (another meshc
 * routes these processes). `unnamed`: programs whose name this process cannot read (no
 * CAP_SYS_ADMIN, as in the DaemonSet), so they may be another meshc's; `here` says whether they
 * are on `cgroup` itself rather than above it.
 */
export function foreignHooks(cgroup: string, root: string, attachTypes: string[], ours: Set<number>): { meshc: ForeignHook[]; unnamed: (ForeignHook & { here: boolean })[] } {
  const meshc: ForeignHook[] = [];
  const unnamed: (ForeignHook & { here: boolean })[] = [];
  const top = resolve(root);
  const own = resolve(cgroup);
  for (let dir = own; ; dir = dirname(dir)) {
    for (const attachType of new Set(attachTypes)) {
      let programs: { id: number; name?: string }[] = [];
      try {
        programs = queryCgroup(dir, attachType);
      } catch {
        continue; // a hook type this kernel cannot query
      }
      for (const p of programs) {
        if (ours.has(p.id)) continue;
        if (p.name === undefined) unnamed.push({ cgroup: dir, attachType, id: p.id, here: dir === own });
        else if (MESHC_PROGRAM.test(p.name)) meshc.push({ cgroup: dir, attachType, program: p.name, id: p.id });
      }
    }
    if (dir === top || dir === dirname(dir) || !dir.startsWith(top)) break;
  }
  return { meshc, unnamed };
}

/** The program ids of every link pinned in `linksDir` and below (the hooks, the tunnel's, the pods'). */
export function pinnedProgramIds(linksDir: string): Set<number> {
  const ids = new Set<number>();
  let entries: Dirent[] = [];
  try {
    entries = readdirSync(linksDir, { withFileTypes: true });
  } catch {
    return ids;
  }
  for (const entry of entries) {
    const path = join(linksDir, entry.name);
    if (entry.isDirectory()) {
      for (const id of pinnedProgramIds(path)) ids.add(id);
      continue;
    }
    try {
      const link = openPinnedLink(path);
      try {
        if (link.info.progId !== 0) ids.add(link.info.progId);
      } finally {
        link.close();
      }
    } catch {
      // not a link (or gone meanwhile)
    }
  }
  return ids;
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
