// One agent per pin directory. bpffs holds no regular files (and no dots in names), so the lock is
// a directory in the pin directory named after its owner: `agent-lock-<pid>-<start>`, where
// <start> is the process's start time (field 22 of /proc/<pid>/stat), so a pid reused by another
// process after a kill -9 does not look like the agent. A lock whose owner is gone is stale and
// taken over. mkdir is atomic; two agents that start at the same moment may both see the other's
// lock and both refuse, never both run.
import { mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

const LOCK = /^agent-lock-(\d+)-(\d+)$/;

export interface LockOwner {
  pid: number;
  start: string;
  dir: string;
}

/** A process's start time in clock ticks since boot, or undefined when it is not running. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Agents that hold `pin` now (their lock's process runs, with the same start time). */
export function lockOwners(pin: string): { live: LockOwner[]; stale: LockOwner[] } {
  const live: LockOwner[] = [];
  const stale: LockOwner[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(pin);
  } catch {
    return { live, stale };
  }
  for (const name of names) {
    const match = LOCK.exec(name);
    if (!match) continue;
    const owner = { pid: Number(match[1]), start: match[2]!, dir: join(pin, name) };
    (processStart(owner.pid) === owner.start ? live : stale).push(owner);
  }
  return { live, stale };
}

export class PinLockedError extends Error {
  constructor(readonly pin: string, readonly owner: LockOwner) {
    super(
      `${pin} is in use by another meshc agent (pid ${owner.pid}): one agent per pin directory. ` +
        `Stop that one first (SIGTERM keeps routing pinned), or give this one another --pin`,
    );
  }
}

/** Takes the pin directory for this process; throws PinLockedError when another agent holds it. */
export function acquirePinLock(pin: string, log: (line: string) => void = () => {}): { release(): void; ensure(): void } {
  const pid = process.pid;
  const start = processStart(pid)!;
  const mine = join(pin, `agent-lock-${pid}-${start}`);
  const { live, stale } = lockOwners(pin);
  const other = live.find((o) => o.pid !== pid);
  if (other) throw new PinLockedError(pin, other);
  for (const owner of stale) {
    try {
      rmdirSync(owner.dir);
      log(`agent: took over ${pin} from pid ${owner.pid}, which is gone (a stale lock)`);
    } catch {
      // another agent removed it first
    }
  }
  mkdirSync(mine, { recursive: true });
  const rival = lockOwners(pin).live.find((o) => o.pid !== pid);
  if (rival) {
    rmdirSync(mine);
    throw new PinLockedError(pin, rival);
  }
  return {
    /** Puts the lock back if someone removed it (with the pin directory, say). */
    ensure() {
      mkdirSync(mine, { recursive: true });
    },
    release() {
      try {
        rmdirSync(mine);
      } catch {
        // already gone (the pin directory was removed)
      }
    },
  };
}
