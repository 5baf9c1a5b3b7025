// Cgroup v2 ids back to paths. A cgroup's id (bpf_get_current_cgroup_id()) is the inode number of
// its directory in the cgroup2 mount, so walking the mount and stat-ing each directory finds it.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export class CgroupPaths {
  private paths = new Map<bigint, string>();
  private scannedAt = -Infinity;

  constructor(
    private readonly root: string,
    /** Least time between two walks of the tree when an id is not found (ms). */
    private readonly rescanMs = 1000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The path of cgroup `id` relative to the mount ("/" for its root), or null if not found. */
  resolve(id: bigint): string | null {
    const known = this.paths.get(id);
    if (known !== undefined) return known;
    if (this.now() - this.scannedAt < this.rescanMs) return null;
    this.scan();
    return this.paths.get(id) ?? null;
  }

  private scan(): void {
    this.scannedAt = this.now();
    const paths = new Map<bigint, string>();
    const walk = (dir: string, relative: string) => {
      let ino: bigint;
      try {
        ino = statSync(dir, { bigint: true }).ino;
      } catch {
        return; // removed while walking
      }
      paths.set(ino, relative);
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        if (entry.isDirectory()) walk(join(dir, entry.name), relative === '/' ? `/${entry.name}` : `${relative}/${entry.name}`);
      }
    };
    walk(this.root, '/');
    this.paths = paths;
  }
}
