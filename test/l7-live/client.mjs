// The client of the live L7 test, run in the pod network namespace and in the routed cgroup.
// Reads a JSON list of connections from stdin: [{host, port, fresh?, requests: [{method, path,
// headers}]}]; each entry's requests go one after another on one keep-alive connection (fresh:
// each on a new connection). Prints one JSON
// line per request: {conn, i, status, location, body (the echo's JSON, or null), local (the
// client's port: one per connection), peer (getpeername), error}.
import http from 'node:http';

let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const connections = JSON.parse(input);

function send(agent, host, port, request) {
  return new Promise((resolve) => {
    const req = http.request({ host, port, agent, method: request.method ?? 'GET', path: request.path ?? '/', headers: request.headers ?? {} }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => {
        let body = null;
        try {
          body = JSON.parse(data);
        } catch {
          body = null;
        }
        resolve({ status: res.statusCode, location: res.headers.location, body, local: res.socket?.localPort ?? req.socket?.localPort, peer: `${req.socket.remoteAddress}:${req.socket.remotePort}` });
      });
    });
    req.on('error', (error) => resolve({ error: error.code ?? String(error) }));
    req.end();
  });
}

await Promise.all(connections.map(async (c, conn) => {
  // fresh: a new connection per request (one after another), else one keep-alive connection.
  const agent = c.fresh ? false : new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (const [i, request] of c.requests.entries()) {
    const result = await send(agent, c.host, c.port, request);
    process.stdout.write(`${JSON.stringify({ conn, i, ...result })}\n`);
  }
  if (agent) agent.destroy();
}));
