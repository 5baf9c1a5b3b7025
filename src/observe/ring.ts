// L4 flows: the agent reads the kernel's ring buffer (mc_events) while someone watches the flows
// (or always, with `meshc agent --flows`), and turns the hooks' events on in mc_config only for
// that time, as `meshc monitor` does. The kernel's `events lost` counter (mc_metrics: no ring space
// when an event was written) is read every second and told as lost flows.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MC_EV, MC_METRIC, McEvent } from '../generated/glue.ts';
import { addEvents, decodeEvent, EVENT_BYTES, switchEvents } from '../glue/events.ts';
import { sumPerCpu } from '../glue/counters.ts';
import { fieldBytes, fieldOffset } from '../tables/codec.ts';
import { openRingBuffer, type BpfMap, type RingBuffer } from '../loader/index.ts';
import { describeEvent, type EventContext } from '../inspect/events.ts';
import { liveEventContext } from '../inspect/live-context.ts';
import { openMeshcMap } from '../inspect/read.ts';
import type { FlowDirectory } from './directory.ts';
import { deniedFlow, l4Flow, type Flow } from './flow.ts';
import { openDenials } from '../netpol/monitor.ts';
import type { FlowHub, FlowMemo } from './hub.ts';

/**
 * The event types flows are made of (bits 1 << type of mc_config.events): a connection's
 * translation or refusal. Its establishment and close are not asked for (a connection counts
 * once); the bits are added to what another reader (meshc monitor) switched on, never removed
 * while the agent reads.
 */
export const FLOW_EVENTS = (1 << MC_EV.translate) | (1 << MC_EV.refuse);

/**
 * The byte ranges of struct mc_event that say what kind of event a record is: everything but the
 * socket cookie, the time and the padding (from the generated layout). Records of one kind are
 * the same flow but for the time, so the flow is named once per kind.
 */
const KIND_RANGES: [number, number][] = [];
for (const f of McEvent.fields) {
  if (f.name === 'cookie' || f.name === 'timestamp' || f.name === 'pad') continue;
  const end = f.offset + fieldBytes(f);
  const last = KIND_RANGES.at(-1);
  if (last && last[1] === f.offset) last[1] = end;
  else KIND_RANGES.push([f.offset, end]);
}
const TIMESTAMP = fieldOffset(McEvent, 'timestamp');
/** Kinds of event remembered at most (a few per client cgroup, Service and backend); past it all are forgotten. */
const MAX_KINDS = 8192;

interface EventKind {
  flow: Omit<Flow, 'time'>;
  memo: FlowMemo;
}

export class RingFlows {
  private maps: BpfMap[] = [];
  private reader: RingBuffer | undefined;
  private denials: { start(): void; close(): void } | undefined;
  private config: BpfMap | undefined;
  private metrics: BpfMap | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lostBefore = 0n;
  private kinds = new Map<string, EventKind>();
  private context: EventContext | undefined;
  /** monotonicToUnixNs as whole ms and the ns left over, so times are computed exactly in doubles. */
  private unixOffsetMs = 0;
  private unixOffsetNs = 0;
  private lastMs = -1;
  private lastTime = '';

  constructor(
    private readonly pin: string,
    private readonly cgroupRoot: string,
    private readonly hub: FlowHub,
    private readonly directory: FlowDirectory,
  ) {}

  get running(): boolean {
    return this.reader !== undefined;
  }

  start(): void {
    if (this.reader) return;
    const open = (name: string) => {
      const map = openMeshcMap(this.pin, name);
      this.maps.push(map);
      return map;
    };
    const has = (name: string) => existsSync(join(this.pin, 'maps', name));
    const events = open('mc_events');
    const namesMap = has('mc_names') ? open('mc_names') : undefined;
    this.config = has('mc_config') ? open('mc_config') : undefined;
    this.metrics = has('mc_metrics') ? open('mc_metrics') : undefined;
    const context = liveEventContext(namesMap, this.cgroupRoot, BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint());
    this.use(context);
    this.lostBefore = this.lostCount();
    const reader = openRingBuffer(events, (record) => this.record(record), { start: false, pollMs: 100, batch: true });
    reader.consume(); // what was buffered before anyone watched is not shown
    this.reader = reader;
    this.switchEvents(FLOW_EVENTS);
    reader.start();
    // Network policy denials (mc_np_events, when the object has them) are flows too.
    this.denials = openDenials(this.pin, false, (id) => context.cgroupPath(id), context.monotonicToUnixNs, (denial) => this.hub.publish(deniedFlow(denial, this.directory)));
    this.denials?.start();
    // Another reader (meshc monitor) may have switched the events off when it stopped.
    this.timer = setInterval(() => {
      this.switchEvents(FLOW_EVENTS);
      const lost = this.lostCount();
      if (lost > this.lostBefore) this.hub.lost(Number(lost - this.lostBefore), 'the kernel found the ring buffer full (mc_metrics events-lost)', 'ring');
      this.lostBefore = lost;
    }, 1000);
  }

  stop(): void {
    if (!this.reader) return;
    clearInterval(this.timer);
    try {
      this.switchEvents(0);
    } finally {
      this.reader.close();
      this.reader = undefined;
      this.denials?.close();
      this.denials = undefined;
      for (const map of this.maps) map.close();
      this.maps = [];
      this.config = undefined;
      this.metrics = undefined;
    }
  }

  /** The names and clock the records are read with (start(); tests give their own). */
  use(context: EventContext): void {
    this.context = context;
    this.unixOffsetMs = Number(context.monotonicToUnixNs / 1_000_000n);
    this.unixOffsetNs = Number(context.monotonicToUnixNs % 1_000_000n);
    this.lastMs = -1;
    this.forget();
  }

  /** Names change with the tables: the kinds of event are named again from the next record on. */
  forget(): void {
    this.kinds.clear();
  }

  /**
   * One ring record: named in full (decode, describe, l4Flow) the first time its kind is seen, then
   * only its time is new. Equal to `l4Flow(describeEvent(decodeEvent(record)))` (test/observe).
   */
  record(record: Buffer): void {
    if (record.length < EVENT_BYTES) decodeEvent(record); // throws, naming the sizes
    let key = '';
    for (const [from, to] of KIND_RANGES) key += record.toString('latin1', from, to);
    let kind = this.kinds.get(key);
    if (!kind) {
      const { time: _, ...flow } = l4Flow(describeEvent(decodeEvent(record), this.context!), this.directory);
      if (this.kinds.size >= MAX_KINDS) this.kinds.clear();
      this.kinds.set(key, (kind = { flow, memo: {} }));
    }
    // Below 2^53 ns (104 days of uptime) the sum is exact, and so is the floor of its division.
    const ns = record.readUInt32LE(TIMESTAMP) + record.readUInt32LE(TIMESTAMP + 4) * 4294967296 + this.unixOffsetNs;
    const ms = this.unixOffsetMs + Math.floor(ns / 1e6);
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastTime = new Date(ms).toISOString();
    }
    this.hub.publish({ time: this.lastTime, ...kind.flow }, kind.memo);
  }

  private lostCount(): bigint {
    return this.metrics ? (sumPerCpu(this.metrics)[MC_METRIC['events-lost']] ?? 0n) : 0n;
  }

  /** Adds `mask`'s bits to mc_config.events (0: all off, when the agent stops reading). */
  private switchEvents(mask: number): void {
    if (!this.config) return;
    if (mask === 0) switchEvents(this.config, 0);
    else addEvents(this.config, mask);
  }
}
