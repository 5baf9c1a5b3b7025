// What the agent runs for observability: the flow hub with its metrics, the directory of names,
// the node proxy's request log socket and the ring buffer reader (on while someone watches, or
// always with `always`).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { Model } from '../model/types.ts';
import type { CompiledTables } from '../tables/compile.ts';
import { FlowMetrics } from '../metrics/flows.ts';
import { AccessLogSocket } from './access-log.ts';
import { FlowDirectory } from './directory.ts';
import { FlowHub } from './hub.ts';
import { RingFlows } from './ring.ts';

export interface ObserverOptions {
  registry: Registry;
  pin: string;
  cgroupRoot: string;
  /** Read the ring buffer always (metrics of every connection), not only while someone watches. */
  always?: boolean;
  log: (line: string) => void;
}

export class Observer {
  readonly directory = new FlowDirectory();
  readonly hub: FlowHub;
  readonly accessLog: AccessLogSocket;
  private readonly ring: RingFlows;
  private readonly dir = mkdtempSync(join(tmpdir(), 'meshc-flows-'));
  private pinned = false;

  constructor(private readonly options: ObserverOptions) {
    this.hub = new FlowHub({
      metrics: new FlowMetrics(options.registry),
      onSubscribers: (count) => {
        if (options.always || !this.pinned) return;
        if (count > 0) this.startRing();
        else this.ring.stop();
      },
    });
    this.ring = new RingFlows(options.pin, options.cgroupRoot, this.hub, this.directory);
    this.accessLog = new AccessLogSocket(join(this.dir, 'requests.sock'), this.hub, this.directory, (line) => options.log(`agent: node proxy says: ${line}`));
    this.accessLog.open();
    this.hub.start();
    options.log(`agent: flows: the node proxy logs requests to ${this.accessLog.path}`);
  }

  /** After each sync: the names flows are given; the ring is readable once the agent pinned its maps. */
  update(model: Model, tables: CompiledTables): void {
    this.directory.update(model, tables);
    if (!this.pinned) {
      this.pinned = true;
      if (this.options.always || this.hub.subscriberCount > 0) this.startRing();
    }
  }

  private startRing(): void {
    try {
      this.ring.start();
    } catch (error) {
      this.options.log(`agent: flows: cannot read the ring buffer: ${(error as Error).message}; L4 flows are not shown`);
    }
  }

  stop(): void {
    this.ring.stop();
    this.hub.stop();
    this.accessLog.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
