// The demo's pods: one process inside the demo's network namespace that runs an HTTP server per
// pod, each on its pod address, answering every request with its pod name. Commands come on
// stdin, one per line, and are acknowledged on stdout:
//   start NAME IP PORT  ->  started NAME      stop NAME  ->  stopped NAME
import http from 'node:http';
import { createInterface } from 'node:readline';

const servers = new Map();
const say = (line) => process.stdout.write(`${line}\n`);

function start(name, ip, port) {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
    res.end(`${name}\n`);
  });
  server.on('error', (err) => say(`error ${name} ${err.code ?? err.message}`));
  server.listen(Number(port), ip, () => {
    servers.set(name, server);
    say(`started ${name}`);
  });
}

function stop(name) {
  const server = servers.get(name);
  if (!server) return say(`error ${name} not running`);
  servers.delete(name);
  server.close(() => say(`stopped ${name}`));
  server.closeAllConnections();
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, ...args] = line.trim().split(/\s+/);
  if (command === 'start' && args.length === 3) start(...args);
  else if (command === 'stop' && args.length === 1) stop(args[0]);
  else if (command) say(`error ? unknown command: ${line}`);
}).on('close', () => process.exit(0));
