// Echo backends for the proxy tests: HTTP servers that answer with what they received (their own
// address, the method, the request target and the raw headers) as JSON.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Echoed {
  address: string;
  port: number;
  method: string;
  url: string;
  /** Raw header lines, name and value, in the order received. */
  headers: [string, string][];
}

/** Headers every echo response carries (ResponseHeaderModifier edits them). */
export const ECHO_RESPONSE_HEADERS: readonly [string, string][] = [['x-r1', 'one'], ['x-r2', 'two'], ['x-r2', 'three']];

export interface EchoServers {
  close(): Promise<void>;
}

export async function startEchoServers(addresses: readonly { ip: string; port: number }[]): Promise<EchoServers> {
  const servers = await Promise.all(addresses.map(({ ip, port }) => new Promise<http.Server>((resolve, reject) => {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const local = req.socket.address() as AddressInfo;
        const headers: [string, string][] = [];
        for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
        const body: Echoed = { address: local.address, port: local.port, method: req.method ?? '', url: req.url ?? '', headers };
        res.setHeader('content-type', 'application/json');
        for (const [name, value] of ECHO_RESPONSE_HEADERS) res.appendHeader(name, value);
        res.end(JSON.stringify(body));
      });
    });
    server.keepAliveTimeout = 60_000;
    server.once('error', reject);
    server.listen(port, ip, () => resolve(server));
  })));
  return {
    close: () => Promise.all(servers.map((s) => new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); }))).then(() => undefined),
  };
}
