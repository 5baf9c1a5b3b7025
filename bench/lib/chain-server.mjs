// One service of the five-service chain: for every request, calls the next service (if any) over
// a keep-alive connection pool, reads its whole answer, then answers with its own body.
// Usage: node chain-server.mjs LISTEN_IP:PORT NEXT_IP:PORT|- BODY_BYTES
import http from 'node:http';

const [listen, next, bytes] = process.argv.slice(2);
const split = (text) => ({ host: text.slice(0, text.lastIndexOf(':')), port: Number(text.slice(text.lastIndexOf(':') + 1)) });
const body = Buffer.alloc(Number(bytes), 'x');
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const upstream = next === '-' ? undefined : split(next);

function answer(res) {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body);
}

const server = http.createServer((req, res) => {
  req.resume();
  if (!upstream) return answer(res);
  const call = http.get({ ...upstream, path: '/', agent }, (up) => {
    up.resume();
    up.on('end', () => answer(res));
  });
  call.on('error', (err) => {
    res.writeHead(502, { 'Content-Length': 0 });
    res.end();
    process.stderr.write(`chain ${listen}: upstream ${next}: ${err.message}\n`);
  });
});
server.keepAliveTimeout = 300_000;
const { host, port } = split(listen);
server.listen(port, host, () => process.stdout.write('ready\n'));
