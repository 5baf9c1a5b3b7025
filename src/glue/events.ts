// mc_events (bpf/meshc_maps.h): the flow records the hooks write to the ring buffer, struct
// mc_event, decoded for `meshc monitor` (src/inspect/events.ts describes and prints them).
import { MC_EV, McConfig, McEvent } from '../generated/glue.ts';
import type { BpfMap } from '../loader/index.ts';
import { decode, encode } from '../tables/codec.ts';

export const EVENT_BYTES = McEvent.size;

/** What monitor calls each MC_EV_* type (its `--type` values). */
const EVENT_LABELS = { translate: 'translated', refuse: 'refused', established: 'established', close: 'closed' } as const satisfies Record<keyof typeof MC_EV, string>;
export type EventType = (typeof EVENT_LABELS)[keyof typeof EVENT_LABELS];

/** mc_event.type and its label. */
export const EVENT_TYPES: ReadonlyMap<number, EventType> = new Map(
  (Object.entries(MC_EV) as [keyof typeof MC_EV, number][]).map(([name, type]) => [type, EVENT_LABELS[name]]),
);
export const EVENT_TYPE_NAMES: EventType[] = [...EVENT_TYPES.values()];

export interface RawEvent {
  cookie: bigint;
  cgroupId: bigint;
  /** bpf_ktime_get_ns(): CLOCK_MONOTONIC nanoseconds. */
  timestamp: bigint;
  svcId: number;
  backendId: number;
  type: number;
  verdict: number;
  reason: number;
  family: number;
  proto: number;
}

export function decodeEvent(record: Uint8Array): RawEvent {
  if (record.length < EVENT_BYTES) throw new Error(`mc_events: a record of ${record.length} bytes, struct mc_event has ${EVENT_BYTES}`);
  const e = decode(McEvent, record);
  return {
    cookie: e.cookie,
    cgroupId: e.cgroup_id,
    timestamp: e.timestamp,
    svcId: e.svc_id,
    backendId: e.backend_id,
    type: e.type,
    verdict: e.verdict,
    reason: e.reason,
    family: e.family,
    proto: e.proto,
  };
}

/** The inverse of decodeEvent, for tests. */
export function encodeEvent(e: RawEvent): Uint8Array {
  return encode(McEvent, {
    cookie: e.cookie,
    cgroup_id: e.cgroupId,
    timestamp: e.timestamp,
    svc_id: e.svcId,
    backend_id: e.backendId,
    type: e.type,
    verdict: e.verdict,
    reason: e.reason,
    family: e.family,
    proto: e.proto,
  });
}

/** Every event type's bit of mc_config.events (bit 1 << MC_EV_*). */
export const ALL_EVENTS = Object.values(MC_EV).reduce((mask, type) => mask | (1 << type), 0);

/**
 * Sets mc_config.events (struct mc_config at index 0: the hooks write an event only when its bit
 * is set) to `mask`, keeping the other fields; false when it already was.
 */
export function switchEvents(config: BpfMap, mask: number): boolean {
  const key = new Uint8Array(4);
  const current = config.lookup(key);
  const value = current ? decode(McConfig, current) : decode(McConfig, new Uint8Array(McConfig.size));
  if (current && value.events === mask >>> 0) return false;
  config.update(key, encode(McConfig, { ...value, events: mask >>> 0 }));
  return true;
}

/** Adds `mask`'s bits to mc_config.events: what another reader switched on stays on. */
export function addEvents(config: BpfMap, mask: number): boolean {
  const current = config.lookup(new Uint8Array(4));
  const now = current ? decode(McConfig, current).events : 0;
  return switchEvents(config, (now | mask) >>> 0);
}

/** The bits of mc_config.events (1 << type) of the event types named (monitor's labels): the hooks write no others. */
export function eventMask(labels: Iterable<string>): number {
  const wanted = new Set(labels);
  let mask = 0;
  for (const [type, label] of EVENT_TYPES) if (wanted.has(label)) mask |= 1 << type;
  return mask;
}
