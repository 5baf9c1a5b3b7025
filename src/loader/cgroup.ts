// What is attached to a cgroup, as the kernel reports it (BPF_PROG_QUERY).
import { native } from './addon.ts';

export interface AttachedProgram {
  id: number;
  /** Kernel program name (at most 15 characters); absent if the program went away meanwhile. */
  name?: string;
  type?: string;
}

/** Programs attached directly to this cgroup for attachType (e.g. 'cgroup_inet4_connect'). */
export function queryCgroup(cgroupPath: string, attachType: string): AttachedProgram[] {
  return native().queryCgroup(cgroupPath, attachType);
}
