// The agent's HTTP endpoint: /metrics (Prometheus text), /healthz (the process answers),
// /readyz (200 only once the source has synced: the DaemonSet's readiness probe).
import http from 'node:http';
import type { Registry } from 'prom-client';

export interface Readiness {
  ready: boolean;
  /** Why not, shown in the 503 body. */
  reason?: string;
}

export interface MetricsServerOptions {
  registry: Registry;
  /** Asked on every /readyz. */
  readiness: () => Readiness;
  port?: number;
  /**
   * The address to listen on (default 127.0.0.1). The DaemonSet passes the pod's address (the
   * node's, with hostNetwork), where the kubelet's probes and Prometheus come from.
   */
  host?: string;
  /** More paths (the agent's flows and page): true when it answered. */
  handle?: (path: string, req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export const DEFAULT_METRICS_HOST = '127.0.0.1';

export class MetricsServer {
  private server?: http.Server;

  constructor(private readonly options: MetricsServerOptions) {}

  get port(): number {
    const address = this.server?.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  /** Where it listens, as host:port (an IPv6 host in brackets). */
  get address(): string {
    const host = this.options.host ?? DEFAULT_METRICS_HOST;
    return `${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => void this.handle(req, res));
    const host = this.options.host ?? DEFAULT_METRICS_HOST;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new Error(`metrics server: listen ${host}:${this.options.port ?? 0}: ${error.message}`)));
      server.listen(this.options.port ?? 0, host, () => resolve());
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://agent').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    try {
      if (this.options.handle?.(path, req, res)) return;
      switch (path) {
        case '/metrics':
          return send(res, 200, this.options.registry.contentType, await this.options.registry.metrics());
        case '/healthz':
          return send(res, 200, 'text/plain', 'ok\n');
        case '/readyz': {
          const { ready, reason } = this.options.readiness();
          return ready ? send(res, 200, 'text/plain', 'ok\n') : send(res, 503, 'text/plain', `not ready: ${reason ?? 'not synced yet'}\n`);
        }
        default:
          return send(res, 404, 'text/plain', 'not found: try /metrics, /healthz, /readyz\n');
      }
    } catch (error) {
      return send(res, 500, 'text/plain', `${(error as Error).message}\n`);
    }
  }
}

function send(res: http.ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** Readiness from a source's status: ready once synced; the reason names what is not listed yet. */
export function sourceReadiness(source: { status(): { synced: boolean; resources: { kind: string; listed: boolean; lastError?: string }[] } }): () => Readiness {
  return () => {
    const status = source.status();
    if (status.synced) return { ready: true };
    const waiting = status.resources.filter((r) => !r.listed).map((r) => `${r.kind}${r.lastError ? ` (${r.lastError})` : ''}`);
    return { ready: false, reason: `waiting for the first full list of ${waiting.join(', ')}` };
  };
}
