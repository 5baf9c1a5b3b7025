// Denials in meshc monitor: the records of mc_np_events (struct mc_np_event, bpf/meshc_netpol.h)
// decoded and named with mc_np_names.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openPinnedMap, openRingBuffer } from '../loader/index.ts';
import { readNames } from '../glue/names.ts';
import { McNpEvent } from '../generated/glue.ts';
import { decode, netPort, wordsAddress } from '../tables/codec.ts';
import { protocolName } from '../tables/layouts.ts';
import * as L from '../tables/layouts.ts';
import { NP_REASON_NAMES } from './wasm.ts';
import { NP_NAME } from './names.ts';

export interface Denial {
  time: string;
  event: 'denied';
  reason: string;
  cgroup: { id: string; path: string | null };
  client: { identity: number; name: string | null };
  destination: { address: string; port: number; protocol: string; pod: number; cidr: number; name: string | null };
  policy: { id: number; name: string | null };
}

export interface DenialContext {
  names: Map<string, string>;
  cgroupPath(id: bigint): string | null;
  monotonicToUnixNs: bigint;
}

/** struct mc_np_event (its generated layout); address and port in network order. */
export function decodeDenial(record: Uint8Array, context: DenialContext): Denial {
  if (record.length < McNpEvent.size) throw new Error(`mc_np_events: a record of ${record.length} bytes, struct mc_np_event has ${McNpEvent.size}`);
  const e = decode(McNpEvent, record);
  const name = (kind: number, id: number) => context.names.get(`${kind}:${id}`) ?? null;
  const ns = e.timestamp + context.monotonicToUnixNs;
  const pod = e.peer_pod;
  const cidr = e.peer_cidr;
  return {
    time: new Date(Number(ns / 1_000_000n)).toISOString(),
    event: 'denied',
    reason: NP_REASON_NAMES[e.reason] ?? `reason-${e.reason}`,
    cgroup: { id: e.cgroup_id.toString(), path: context.cgroupPath(e.cgroup_id) },
    client: { identity: e.client, name: e.client === 0 ? 'no pod' : name(NP_NAME.identity, e.client) },
    destination: {
      address: wordsAddress({ addr: [...e.addr] }, e.family === 6 ? 6 : 4), port: netPort(e.port), protocol: protocolName(e.proto),
      pod, cidr, name: name(NP_NAME.identity, pod !== 0 ? pod : cidr) ?? (cidr === L.NP_ID_WORLD && pod === 0 ? 'world' : null),
    },
    policy: { id: e.policy, name: name(NP_NAME.policy, e.policy) },
  };
}

export function formatDenial(d: Denial): string {
  const client = `${d.client.name ?? `identity ${d.client.identity}`} (cgroup ${d.cgroup.path ?? d.cgroup.id})`;
  const dest = `${d.destination.address.includes(':') ? `[${d.destination.address}]` : d.destination.address}:${d.destination.port}/${d.destination.protocol}`;
  return `${d.time} denied (${d.reason}) ${client} -> ${dest} ${d.destination.name ?? ''} by ${d.policy.name ?? `policy ${d.policy.id}`}: EPERM`.replace('  by', ' by');
}

/**
 * Opens the pinned mc_np_events under `pin` (undefined when the agent's object predates network
 * policy) and calls `onDenial` for each record from now on (buffered ones are skipped unless
 * `backlog`). Names come from mc_np_names, re-read when an id is unknown.
 */
export function openDenials(
  pin: string, backlog: boolean, cgroupPath: (id: bigint) => string | null, monotonicToUnixNs: bigint,
  onDenial: (denial: Denial) => void,
): { start(): void; close(): void } | undefined {
  const path = join(pin, 'maps', 'mc_np_events');
  if (!existsSync(path)) return undefined;
  const events = openPinnedMap(path);
  const namesMap = existsSync(join(pin, 'maps', 'mc_np_names')) ? openPinnedMap(join(pin, 'maps', 'mc_np_names')) : undefined;
  const context: DenialContext = { names: namesMap ? readNames(namesMap) : new Map(), cgroupPath, monotonicToUnixNs };
  let skipping = !backlog;
  const reader = openRingBuffer(events, (record) => {
    if (skipping) return;
    let denial = decodeDenial(record, context);
    if (namesMap && (denial.policy.name === null || denial.client.name === null)) {
      context.names = readNames(namesMap);
      denial = decodeDenial(record, context);
    }
    onDenial(denial);
  }, { start: false });
  reader.consume();
  skipping = false;
  return {
    start: () => reader.start(),
    close: () => {
      reader.close();
      events.close();
      namesMap?.close();
    },
  };
}
