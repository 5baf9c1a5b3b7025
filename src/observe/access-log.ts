// The node proxy's request log: HAProxy sends one datagram per request to a unix datagram socket
// the agent owns (never a file that grows). Each is parsed, named and published to the hub; a
// datagram that is not a request line is counted as lost when it looks like one, and HAProxy's
// own notices (start, reload) are passed to `notice`.
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FlowDirectory } from './directory.ts';
import { l7Flow, parseAccessLog } from './flow.ts';
import type { FlowHub } from './hub.ts';

interface DgramSocket {
  bind(path: string): void;
  close(): void;
  on(event: 'error', listener: (error: Error) => void): void;
}

const require = createRequire(import.meta.url);

export class AccessLogSocket {
  private socket: DgramSocket | undefined;
  /** Datagrams read, and those that were not request lines. */
  readonly counts = { lines: 0, notices: 0, bad: 0 };

  constructor(
    readonly path: string,
    private readonly hub: FlowHub,
    private readonly directory: FlowDirectory,
    private readonly notice: (line: string) => void = () => undefined,
  ) {}

  open(): void {
    const unix = require('unix-dgram') as { createSocket(type: 'unix_dgram', onMessage: (message: Buffer) => void): DgramSocket };
    rmSync(this.path, { force: true });
    const socket = unix.createSocket('unix_dgram', (message) => this.receive(message.toString('utf8')));
    socket.on('error', (error) => this.notice(`request log socket ${this.path}: ${error.message}`));
    socket.bind(this.path);
    this.socket = socket;
  }

  receive(text: string): void {
    this.counts.lines++;
    const entry = parseAccessLog(text);
    if (typeof entry === 'string') {
      if (text.startsWith('meshc1 ')) {
        this.counts.bad++;
        this.hub.lost(1, entry, 'log');
      } else {
        this.counts.notices++;
        this.notice(text.trimEnd());
      }
      return;
    }
    this.hub.publish(l7Flow(entry, this.directory));
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
    rmSync(this.path, { force: true });
  }
}
