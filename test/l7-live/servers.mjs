// Echo backends of the live L7 test, run in the pod network namespace: one HTTP server per
// ADDRESS:PORT argument, answering with what it received (its own address, the peer's address,
// method, target, raw headers) as JSON. Prints "ready" once every server listens.
import http from 'node:http';

const servers = process.argv.slice(2).map((arg) => {
  const [ip, port] = arg.split(':');
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const headers = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ address: req.socket.localAddress, remote: req.socket.remoteAddress, method: req.method, url: req.url, headers }));
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(port), ip, resolve);
  });
});
await Promise.all(servers);
process.stdout.write('ready\n');
process.stdin.resume();
process.stdin.on('close', () => process.exit(0));
