// Server slots: each pool's HAProxy backend has a fixed number of `server` lines, so an endpoint
// that comes, goes or changes state is a runtime API command (set server addr / state), never a
// reload. Ready endpoints use the primary slots, serving-terminating ones the backup slots (the
// backup flag cannot change at run time). An endpoint keeps its slot while it stays; a new one
// takes the lowest free slot; a pool that outgrows its slots doubles them (a reload).

import type { PlannedPool } from './plan.ts';

export interface SlotEndpoint {
  ip: string;
  port: number;
  /** `namespace/name` of the pod, for the configuration's comment. */
  pod?: string;
}

export interface PoolSlots {
  primary: (SlotEndpoint | null)[];
  backup: (SlotEndpoint | null)[];
}

/** Slots by pool (HAProxy backend) name. */
export type SlotTable = Map<string, PoolSlots>;

export const MIN_SLOTS = 8;

const key = (e: SlotEndpoint) => `${e.ip}|${e.port}`;

function capacity(needed: number, previous: number | undefined): number {
  let n = Math.max(previous ?? MIN_SLOTS, MIN_SLOTS);
  while (n < needed) n *= 2;
  return n;
}

function place(wanted: SlotEndpoint[], previous: (SlotEndpoint | null)[] | undefined): (SlotEndpoint | null)[] {
  const slots: (SlotEndpoint | null)[] = new Array(capacity(wanted.length, previous?.length)).fill(null);
  const byKey = new Map(wanted.map((e) => [key(e), e]));
  const placed = new Set<string>();
  previous?.forEach((e, i) => {
    if (!e || i >= slots.length) return;
    const now = byKey.get(key(e));
    if (now) {
      slots[i] = now;
      placed.add(key(e));
    }
  });
  let free = 0;
  for (const e of wanted) {
    if (placed.has(key(e))) continue;
    while (slots[free] !== null) free++;
    slots[free] = e;
  }
  return slots;
}

/** The slots of every planned pool, keeping each endpoint where `previous` had it. */
export function assignSlots(pools: ReadonlyMap<string, PlannedPool>, previous: SlotTable = new Map()): SlotTable {
  const table: SlotTable = new Map();
  for (const [name, { pool }] of pools) {
    const endpoint = (b: (typeof pool.slots)[number]): SlotEndpoint => ({ ip: b.ip, port: b.port, ...(b.pod ? { pod: `${b.pod.namespace}/${b.pod.name}` } : {}) });
    const before = previous.get(name);
    table.set(name, {
      primary: place(pool.slots.filter((b) => b.state === 'ready').map(endpoint), before?.primary),
      backup: place(pool.slots.filter((b) => b.state !== 'ready').map(endpoint), before?.backup),
    });
  }
  return table;
}

/** The HAProxy server name of a slot: `s1`... for primary slots, `b1`... for backup slots. */
export function slotName(backup: boolean, index: number): string {
  return `${backup ? 'b' : 's'}${index + 1}`;
}

/** Same pools with the same slot counts: the change from `a` to `b` needs no reload. */
export function sameShape(a: SlotTable, b: SlotTable): boolean {
  if (a.size !== b.size) return false;
  for (const [name, slots] of a) {
    const other = b.get(name);
    if (!other || other.primary.length !== slots.primary.length || other.backup.length !== slots.backup.length) return false;
  }
  return true;
}

/**
 * Runtime API commands that turn the running slots `from` into `to` (same shape): a slot that
 * empties goes to maintenance, one that fills gets its address and then becomes ready.
 */
export function slotCommands(from: SlotTable, to: SlotTable): string[] {
  const commands: string[] = [];
  for (const [pool, next] of to) {
    const prev = from.get(pool)!;
    for (const backup of [false, true]) {
      const a = backup ? prev.backup : prev.primary;
      const b = backup ? next.backup : next.primary;
      b.forEach((e, i) => {
        const was = a[i] ?? null;
        const server = `${pool}/${slotName(backup, i)}`;
        if (was && e && key(was) === key(e)) return;
        if (!e) {
          if (was) commands.push(`set server ${server} state maint`);
          return;
        }
        if (was) commands.push(`set server ${server} state maint`);
        commands.push(`set server ${server} addr ${e.ip} port ${e.port}`, `set server ${server} state ready`);
      });
    }
  }
  return commands;
}
