// A small HTTPS client for the test cluster's API server: requests as a user (client certificate
// or bearer token) with JSON bodies, and watches as a stream of events. The harness uses it for
// bootstrap and as its kubelet; the agent under test uses @kubernetes/client-node, never this.
import https from 'node:https';
import { readFileSync } from 'node:fs';

export interface Credentials {
  ca: string;
  cert?: string;
  key?: string;
  token?: string;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: any,
  ) {
    super(message);
  }
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: any;
}

export class ApiClient {
  private readonly agent: https.Agent;

  constructor(
    readonly server: string,
    private readonly credentials: Credentials,
  ) {
    this.agent = new https.Agent({
      keepAlive: true,
      ca: readFileSync(credentials.ca),
      cert: credentials.cert ? readFileSync(credentials.cert) : undefined,
      key: credentials.key ? readFileSync(credentials.key) : undefined,
    });
  }

  private open(method: string, path: string, headers: Record<string, string>, timeoutMs: number | undefined, respond: (res: import('node:http').IncomingMessage) => void, fail: (error: Error) => void) {
    const url = new URL(path, this.server);
    const auth = this.credentials.token ? { authorization: `Bearer ${this.credentials.token}` } : {};
    const req = https.request(url, { method, agent: this.agent, headers: { accept: 'application/json', ...auth, ...headers } }, respond);
    req.on('error', fail);
    if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
    return req;
  }

  /** One request; a status outside 2xx throws an ApiError with the Status message. */
  request(method: string, path: string, body?: unknown, contentType = 'application/json', timeoutMs = 30000): Promise<any> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const headers: Record<string, string> = payload === undefined ? {} : { 'content-type': contentType, 'content-length': String(Buffer.byteLength(payload)) };
      const req = this.open(method, path, headers, timeoutMs, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: any = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON (/readyz, /metrics): keep the text
          }
          if (res.statusCode! >= 200 && res.statusCode! < 300) resolve(parsed);
          else reject(new ApiError(`${method} ${path}: ${res.statusCode} ${parsed?.message ?? text}`.trim(), res.statusCode!, parsed));
        });
      }, (error) => reject(new Error(`${method} ${path}: ${error.message}`)));
      req.end(payload);
    });
  }

  get = (path: string) => this.request('GET', path);
  create = (path: string, body: unknown) => this.request('POST', path, body);
  remove = (path: string, body?: unknown) => this.request('DELETE', path, body);
  mergePatch = (path: string, body: unknown) => this.request('PATCH', path, body, 'application/merge-patch+json');

  /**
   * Watches `path` (a collection, with its query) from `resourceVersion`; `onEvent` gets each
   * event, `onEnd` the reason the stream ended. Returns a function that ends it.
   */
  watch(path: string, resourceVersion: string, onEvent: (event: WatchEvent) => void, onEnd: (error?: Error) => void): () => void {
    const sep = path.includes('?') ? '&' : '?';
    let buffered = '';
    let ended = false;
    const end = (error?: Error) => {
      if (!ended) (ended = true), onEnd(error);
    };
    const req = this.open('GET', `${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${resourceVersion}`, {}, undefined, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        end(new ApiError(`watch ${path}: ${res.statusCode}`, res.statusCode!, undefined));
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let newline;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line.trim()) onEvent(JSON.parse(line));
        }
      });
      res.on('end', () => end());
      res.on('error', (error) => end(error));
    }, (error) => end(error));
    req.end();
    return () => {
      ended = true;
      req.destroy();
    };
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Where the API keeps a kind: the collection path of `kind` in `namespace` (or cluster-wide). */
export function collectionPath(apiVersion: string, resource: string, namespace?: string): string {
  const prefix = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespace ? `${prefix}/namespaces/${namespace}/${resource}` : `${prefix}/${resource}`;
}
