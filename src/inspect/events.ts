// `meshc monitor`'s core: struct mc_event (bpf/meshc_structs.h) decoded, named and printed. Pure
// apart from the clock offset it is given.
import * as L from '../tables/layouts.ts';
import { reasonName } from './decode.ts';

/** sizeof(struct mc_event), checked by a _Static_assert in bpf/meshc_structs.h. */
export const EVENT_BYTES = 40;

/** mc_event.type (MC_EV_*) and what monitor calls it. */
export const EVENT_TYPES = { 1: 'translated', 2: 'refused', 3: 'established', 4: 'closed' } as const;
export type EventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];
export const EVENT_TYPE_NAMES = Object.values(EVENT_TYPES) as EventType[];

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
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  return {
    cookie: view.getBigUint64(0, true),
    cgroupId: view.getBigUint64(8, true),
    timestamp: view.getBigUint64(16, true),
    svcId: view.getUint32(24, true),
    backendId: view.getUint32(28, true),
    type: view.getUint8(32),
    verdict: view.getUint8(33),
    reason: view.getUint8(34),
    family: view.getUint8(35),
    proto: view.getUint8(36),
  };
}

/** The inverse of decodeEvent, for tests. */
export function encodeEvent(e: RawEvent): Uint8Array {
  const bytes = new Uint8Array(EVENT_BYTES);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, e.cookie, true);
  view.setBigUint64(8, e.cgroupId, true);
  view.setBigUint64(16, e.timestamp, true);
  view.setUint32(24, e.svcId, true);
  view.setUint32(28, e.backendId, true);
  view.setUint8(32, e.type);
  view.setUint8(33, e.verdict);
  view.setUint8(34, e.reason);
  view.setUint8(35, e.family);
  view.setUint8(36, e.proto);
  return bytes;
}

export interface MonitorEvent {
  /** Wall-clock time, ISO 8601 with milliseconds. */
  time: string;
  event: EventType | `type-${number}`;
  /** Why a connect() was refused (refused events only). */
  reason?: string;
  protocol: string;
  family: 4 | 6;
  cookie: string;
  cgroup: { id: string; path: string | null };
  service: { id: number; name: string | null };
  backend: { id: number; name: string | null } | null;
}

/** What monitor knows besides the event: names by `kind:id`, cgroup paths by id. */
export interface EventContext {
  name(kind: 1 | 2, id: number): string | null;
  cgroupPath(id: bigint): string | null;
  /** Nanoseconds to add to a CLOCK_MONOTONIC timestamp to get Unix time in nanoseconds. */
  monotonicToUnixNs: bigint;
}

const PROTOCOL_NAMES = new Map<number, string>(Object.entries(L.IPPROTO).map(([name, n]) => [n, name]));

export function describeEvent(raw: RawEvent, context: EventContext): MonitorEvent {
  const event = EVENT_TYPES[raw.type as keyof typeof EVENT_TYPES] ?? (`type-${raw.type}` as const);
  const unixMs = Number((raw.timestamp + context.monotonicToUnixNs) / 1_000_000n);
  return {
    time: new Date(unixMs).toISOString(),
    event,
    ...(event === 'refused' ? { reason: reasonName(raw.reason) } : {}),
    protocol: PROTOCOL_NAMES.get(raw.proto) ?? `proto-${raw.proto}`,
    family: raw.family === 6 ? 6 : 4,
    cookie: raw.cookie.toString(),
    cgroup: { id: raw.cgroupId.toString(), path: raw.cgroupId === 0n ? null : context.cgroupPath(raw.cgroupId) },
    service: { id: raw.svcId, name: raw.svcId === 0 ? null : context.name(1, raw.svcId) },
    backend: raw.backendId === 0 ? null : { id: raw.backendId, name: context.name(2, raw.backendId) },
  };
}

/** One line: time, client cgroup, service, backend, verdict, protocol. */
export function formatEvent(e: MonitorEvent): string {
  const time = e.time.slice(11, 23);
  const cgroup = `cgroup ${e.cgroup.id}${e.cgroup.path ? ` ${e.cgroup.path}` : ''}`;
  const service = e.service.name ?? (e.service.id ? `service ${e.service.id}` : '(unknown service)');
  const backend = e.backend ? `-> ${e.backend.name ?? `backend ${e.backend.id}`}` : '-> (none)';
  const verdict = e.reason ? `${e.event} (${e.reason})` : e.event;
  return [time, cgroup, service, backend, verdict, `${e.protocol}/IPv${e.family}`].map(safe).join('  ');
}

/** Names come from a map anyone with CAP_BPF can write: no control characters reach the terminal. */
function safe(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, '?');
}
