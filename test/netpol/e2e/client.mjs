// The client pod of the network policy end-to-end test, run in the test's cgroup and network
// namespace: for each line `tcp|udp host port` on stdin, one connect() (or one sendto()), and a
// JSON line with what happened: the greeting or reply, or the error code, and how long it took.
import net from 'node:net';
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';

function tcp(host, port) {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - start) / 1e6;
    const socket = net.connect({ host, port });
    let data = '';
    socket.setTimeout(2000, () => { socket.destroy(); resolve({ error: 'TIMEOUT', ms: ms() }); });
    socket.on('data', (d) => (data += d));
    socket.on('end', () => resolve({ greeting: data.trim(), ms: ms() }));
    socket.on('error', (err) => resolve({ error: err.code, ms: ms() }));
  });
}

function udp(host, port) {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - start) / 1e6;
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => { socket.close(); resolve({ error: 'TIMEOUT', ms: ms() }); }, 2000);
    socket.on('message', (msg) => { clearTimeout(timer); socket.close(); resolve({ reply: String(msg), ms: ms() }); });
    socket.send('ping', port, host, (err) => {
      if (err) { clearTimeout(timer); socket.close(); resolve({ error: err.code, ms: ms() }); }
    });
  });
}

process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  const [kind, host, port] = line.trim().split(' ');
  const result = kind === 'udp' ? await udp(host, Number(port)) : await tcp(host, Number(port));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
