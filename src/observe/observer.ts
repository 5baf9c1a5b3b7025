// What the agent runs for observability: the flow hub with its metrics, the directory of names,
// the node proxy's request log socket and the ring buffer reader (on while someone watches, or
// always with `always`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { Model } from '../model/types.ts';
import type { CompiledTables } from '../tables/compile.ts';
import { FlowMetrics } from '../metrics/flows.ts';
import { AccessLogSocket } from './access-log.ts';
import { FlowDirectory } from './directory.ts';
import { FlowHub } from './hub.ts';
import { RingFlows } from './ring.ts';
import { cliCommand } from '../proxy/runtime-api.ts';
import type { TunnelEvent } from '../tunnel/tunnel.ts';
import { tunnelFlow } from './flow.ts';

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
  private accessLog: AccessLogSocket | undefined;
  private readonly ring: RingFlows;
  private pinned = false;
  private droppedTimer: NodeJS.Timeout | undefined;
  private dropped = 0;

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
    this.hub.start();
  }

  /**
   * Opens the request log socket in `dir` (the node proxy's directory, removed with it, so a killed
   * agent leaves nothing the proxy's would not) and returns its path; undefined when it cannot be
   * opened: then the proxy logs no requests and L7 flows are not shown.
   */
  openAccessLog(dir: string): string | undefined {
    this.accessLog?.close();
    const socket = new AccessLogSocket(join(dir, 'requests.sock'), this.hub, this.directory, (line) => this.options.log(`agent: node proxy says: ${line}`));
    try {
      socket.open();
    } catch (error) {
      this.options.log(`agent: flows: cannot open the node proxy's request log socket (${(error as Error).message}): L7 requests are not shown as flows nor counted; L4 flows are`);
      this.accessLog = undefined;
      return undefined;
    }
    this.accessLog = socket;
    this.options.log(`agent: flows: the node proxy logs requests to ${socket.path}`);
    // HAProxy sends each line without blocking: past the socket's queue it drops the line and
    // counts it (DroppedLogs), and the queue of a unix datagram socket is net.unix.max_dgram_qlen.
    const queue = queueLength();
    if (queue !== undefined && queue < 256) this.options.log(`agent: flows: net.unix.max_dgram_qlen is ${queue} here: request log lines the agent has not read when ${queue} wait are dropped by HAProxy and reported as lost flows (raise it, e.g. to 1024, to lose fewer)`);
    return socket.path;
  }

  /** After each sync: the names flows are given; the ring is readable once the agent pinned its maps. */
  update(model: Model, tables: CompiledTables): void {
    this.directory.update(model, tables);
    this.ring.forget();
    if (!this.pinned) {
      this.pinned = true;
      if (this.options.always || this.hub.subscriberCount > 0) this.startRing();
    }
  }

  /**
   * Every second, HAProxy's count of request log lines it could not send (show info DroppedLogs,
   * per worker: a reload starts it again) is told as lost flows.
   */
  watchDroppedLogs(statsSocket: () => string | undefined): void {
    let worker = '';
    this.droppedTimer = setInterval(() => {
      const socket = statsSocket();
      if (!socket) return;
      cliCommand(socket, 'show info', 2000).then((info) => {
        const pid = /^Pid: (\d+)/m.exec(info)?.[1] ?? '';
        const dropped = Number(/^DroppedLogs: (\d+)/m.exec(info)?.[1] ?? 0);
        const delta = pid === worker ? dropped - this.dropped : dropped;
        worker = pid;
        this.dropped = dropped;
        if (delta > 0) this.hub.lost(delta, 'the node proxy dropped request log lines: its socket queue was full', 'log');
      }, () => undefined);
    }, 1000);
    this.droppedTimer.unref();
  }

  /** A connection event of the node tunnel (its supervisor's stdout), as a flow. */
  tunnel(event: TunnelEvent): void {
    const flow = tunnelFlow(event, this.directory);
    if (flow) this.hub.publish(flow);
  }

  private startRing(): void {
    try {
      this.ring.start();
    } catch (error) {
      this.options.log(`agent: flows: cannot read the ring buffer: ${(error as Error).message}; L4 flows are not shown`);
    }
  }

  stop(): void {
    clearInterval(this.droppedTimer);
    this.ring.stop();
    this.hub.stop();
    this.accessLog?.close();
    this.accessLog = undefined;
  }
}

/** net.unix.max_dgram_qlen of this network namespace, when readable. */
function queueLength(): number | undefined {
  try {
    return Number(readFileSync('/proc/sys/net/unix/max_dgram_qlen', 'utf8').trim());
  } catch {
    return undefined;
  }
}
