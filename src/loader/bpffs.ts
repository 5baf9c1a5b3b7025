// The bpf filesystem: whether a path is on it, mounting it, removing a pin.
import { unlinkSync } from 'node:fs';
import { native } from './addon.ts';

/** Removes a pin; false when there was none. */
export function unpin(path: string): boolean {
  try {
    // unlink(2) on a bpffs pin drops the pin's reference; the object lives on if used elsewhere.
    unlinkSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Whether path is on a bpf filesystem. */
export function isBpffs(path: string): boolean {
  return native().isBpffs(path);
}

/** Mounts bpffs at dir unless one is there already; true when it mounted. Needs CAP_SYS_ADMIN. */
export function mountBpffs(dir: string): boolean {
  return native().mountBpffs(dir);
}
