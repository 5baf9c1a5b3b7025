// `meshc ca`'s HTTPS endpoint. Its serving certificate is issued at start by the root it signs
// with, so agents verify it with the same trust bundle they verify peers with.
//   POST /v1/svids   Authorization: Bearer <agent's ServiceAccount token>
//                    {"namespace", "serviceAccount", "csr"} -> 200 SignResult | 4xx/503 {reason, error}
//   GET  /v1/bundle  the trust bundle (PEM), no authentication (roots are public)
//   GET  /healthz    200 "ok"
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { issueServingCertificate, type RootCa } from '../identity/x509.ts';
import { Refusal, type Signer } from './signer.ts';

const MAX_BODY = 64 * 1024;

export interface CaServerOptions {
  root: RootCa;
  signer: Signer;
  /** DNS names and IPs agents reach the CA by (its serving certificate's SANs). */
  serverNames: string[];
  port?: number;
  host?: string;
  log: (line: string) => void;
}

export class CaServer {
  private server?: https.Server;

  constructor(private readonly options: CaServerOptions) {}

  get port(): number {
    const address = this.server?.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  async start(): Promise<void> {
    const serving = await issueServingCertificate(this.options.root, this.options.serverNames);
    const server = https.createServer({ key: serving.keyPem, cert: serving.certPem, minVersion: 'TLSv1.3' }, (req, res) => void this.handle(req, res));
    const host = this.options.host ?? '0.0.0.0';
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new Error(`meshc ca: listen ${host}:${this.options.port ?? 0}: ${error.message}`)));
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

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type });
      res.end(typeof body === 'string' ? body : `${JSON.stringify(body)}\n`);
    };
    const url = new URL(req.url ?? '/', 'https://ca');
    if (req.method === 'GET' && url.pathname === '/healthz') return reply(200, 'ok\n', 'text/plain');
    if (req.method === 'GET' && url.pathname === '/v1/bundle') return reply(200, this.options.signer.trustBundle, 'application/x-pem-file');
    if (url.pathname !== '/v1/svids') return reply(404, { reason: 'not-found', error: `no ${url.pathname}: POST /v1/svids, GET /v1/bundle, GET /healthz` });
    if (req.method !== 'POST') return reply(405, { reason: 'method', error: 'POST /v1/svids' });
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    let request: any;
    try {
      request = JSON.parse(await readBody(req));
    } catch (error) {
      return reply(400, { reason: 'bad-request', error: `the body is not JSON: ${(error as Error).message}` });
    }
    const who = `${request?.namespace}/${request?.serviceAccount}`;
    try {
      const result = await this.options.signer.sign(token, request);
      this.options.log(`ca: signed ${result.spiffeId} for the agent on ${result.node} (serial ${result.serial}, until ${result.notAfter})`);
      reply(200, result);
    } catch (error) {
      if (error instanceof Refusal) {
        this.options.log(`ca: refused ${who}: ${error.reason}: ${error.message}`);
        return reply(error.status, { reason: error.reason, error: error.message });
      }
      this.options.log(`ca: failed ${who}: ${(error as Error).stack ?? error}`);
      reply(500, { reason: 'internal', error: (error as Error).message });
    }
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error(`longer than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
