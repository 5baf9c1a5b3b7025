// The names and cgroup paths a reader of live events needs: names re-read from the agent's
// mc_names map when an id is unknown (the agent syncs while one watches), at most every 200 ms.
import { readNames } from '../glue/names.ts';
import type { BpfMap } from '../loader/index.ts';
import { CgroupPaths } from './cgroups.ts';
import type { EventContext } from './events.ts';

export function liveEventContext(namesMap: BpfMap | undefined, cgroupRoot: string, monotonicToUnixNs: bigint): EventContext {
  let names = namesMap ? readNames(namesMap) : new Map<string, string>();
  let namesReadAt = performance.now();
  const cgroups = new CgroupPaths(cgroupRoot);
  return {
    name(kind, id) {
      const key = `${kind}:${id}`;
      if (!names.has(key) && namesMap && performance.now() - namesReadAt > 200) {
        names = readNames(namesMap);
        namesReadAt = performance.now();
      }
      return names.get(key) ?? null;
    },
    cgroupPath: (id) => cgroups.resolve(id),
    monotonicToUnixNs,
  };
}
