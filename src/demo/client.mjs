// The demo's client, run inside the demo's cgroup (so its connect() calls are routed) and network
// namespace: N HTTP requests to URL, each on a new connection, a few at a time, with the header
// HEADER ("Name: value") when given. Prints one JSON
// line: {pods: {NAME: count}, peers: {ADDRESS: count}, failed, errors: {CODE: count}}, where
// peers is what getpeername() said (the ClusterIP, when meshc translated the connection).
import http from 'node:http';

const [url, countText, parallelText = '4', header] = process.argv.slice(2);
const headers = header ? { [header.slice(0, header.indexOf(':'))]: header.slice(header.indexOf(':') + 1).trim() } : {};
const total = Number(countText);
const result = { pods: {}, peers: {}, failed: 0, errors: {} };
const bump = (table, key) => (table[key] = (table[key] ?? 0) + 1);

function request() {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 5000, headers }, (res) => {
      const peer = `${res.socket.remoteAddress}:${res.socket.remotePort}`;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => {
        bump(result.pods, body.trim());
        bump(result.peers, peer);
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => {
      result.failed++;
      bump(result.errors, err.code ?? err.message);
      resolve();
    });
  });
}

let next = 0;
async function worker() {
  while (next < total) {
    next++;
    await request();
  }
}
await Promise.all(Array.from({ length: Math.max(1, Math.min(Number(parallelText), total)) }, worker));
process.stdout.write(`${JSON.stringify(result)}\n`);
