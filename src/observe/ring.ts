// L4 flows: the agent reads the kernel's ring buffer (mc_events) while someone watches the flows
// (or always, with `meshc agent --flows`), and turns the hooks' events on in mc_config only for
// that time, as `meshc monitor` does. The kernel's `events lost` counter (mc_metrics: no ring space
// when an event was written) is read every second and told as lost flows.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MC_METRIC } from '../generated/glue.ts';
import { ALL_EVENTS, decodeEvent, switchEvents } from '../glue/events.ts';
import { sumPerCpu } from '../glue/counters.ts';
import { openRingBuffer, type BpfMap, type RingBuffer } from '../loader/index.ts';
import { describeEvent } from '../inspect/events.ts';
import { liveEventContext } from '../inspect/live-context.ts';
import { openMeshcMap } from '../inspect/read.ts';
import type { FlowDirectory } from './directory.ts';
import { deniedFlow, l4Flow } from './flow.ts';
import { openDenials } from '../netpol/monitor.ts';
import type { FlowHub } from './hub.ts';


export class RingFlows {
  private maps: BpfMap[] = [];
  private reader: RingBuffer | undefined;
  private denials: { start(): void; close(): void } | undefined;
  private config: BpfMap | undefined;
  private metrics: BpfMap | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lostBefore = 0n;

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
    this.lostBefore = this.lostCount();
    const reader = openRingBuffer(events, (record) => this.hub.publish(l4Flow(describeEvent(decodeEvent(record), context), this.directory)), { start: false, pollMs: 100 });
    reader.consume(); // what was buffered before anyone watched is not shown
    this.reader = reader;
    this.switchEvents(ALL_EVENTS);
    reader.start();
    // Network policy denials (mc_np_events, when the object has them) are flows too.
    this.denials = openDenials(this.pin, false, (id) => context.cgroupPath(id), context.monotonicToUnixNs, (denial) => this.hub.publish(deniedFlow(denial, this.directory)));
    this.denials?.start();
    // Another reader (meshc monitor) may have switched the events off when it stopped.
    this.timer = setInterval(() => {
      this.switchEvents(ALL_EVENTS);
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

  private lostCount(): bigint {
    return this.metrics ? (sumPerCpu(this.metrics)[MC_METRIC['events-lost']] ?? 0n) : 0n;
  }

  private switchEvents(mask: number): void {
    if (this.config) switchEvents(this.config, mask);
  }
}
