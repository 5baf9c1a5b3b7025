// What is attached to a cgroup, as the kernel reports it (BPF_PROG_QUERY).
import { readFileSync } from 'node:fs';
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

/** Where cgroup v2 hierarchies are mounted, from /proc/self/mounts (`mounts`: its text). */
export function cgroup2Mounts(mounts = readMounts()): string[] {
  return mounts
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[2] === 'cgroup2')
    .map((fields) => fields[1]!.replace(/\\040/g, ' '));
}

function readMounts(): string {
  try {
    return readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return '';
  }
}

/** This host's cgroup v2 mount: the first in /proc/self/mounts (/sys/fs/cgroup when none is). */
export const CGROUP2_ROOT = cgroup2Mounts()[0] ?? '/sys/fs/cgroup';
