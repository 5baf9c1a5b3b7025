// `meshc monitor`'s core: flow events (decoded by src/glue/events.ts) named and printed. Pure
// apart from the clock offset it is given.
import { EVENT_TYPES, type EventType, type RawEvent } from '../glue/events.ts';
import { MC_NAME } from '../generated/glue.ts';
import type { NameKind } from '../glue/names.ts';
import * as L from '../tables/layouts.ts';

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
  name(kind: NameKind, id: number): string | null;
  cgroupPath(id: bigint): string | null;
  /** Nanoseconds to add to a CLOCK_MONOTONIC timestamp to get Unix time in nanoseconds. */
  monotonicToUnixNs: bigint;
}

export function describeEvent(raw: RawEvent, context: EventContext): MonitorEvent {
  const event = EVENT_TYPES.get(raw.type) ?? (`type-${raw.type}` as const);
  const unixMs = Number((raw.timestamp + context.monotonicToUnixNs) / 1_000_000n);
  return {
    time: new Date(unixMs).toISOString(),
    event,
    ...(event === 'refused' ? { reason: L.reasonName(raw.reason) } : {}),
    protocol: L.protocolName(raw.proto),
    family: raw.family === 6 ? 6 : 4,
    cookie: raw.cookie.toString(),
    cgroup: { id: raw.cgroupId.toString(), path: raw.cgroupId === 0n ? null : context.cgroupPath(raw.cgroupId) },
    service: { id: raw.svcId, name: raw.svcId === 0 ? null : context.name(MC_NAME.service, raw.svcId) },
    backend: raw.backendId === 0 ? null : { id: raw.backendId, name: context.name(MC_NAME.backend, raw.backendId) },
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
