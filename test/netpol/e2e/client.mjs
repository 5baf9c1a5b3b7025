// The client pod of the network policy end-to-end test, run in the test's cgroup and network
// namespace: for each line `tcp|udp host port` on stdin, one connect() (or one sendto()), and a
// JSON line with what happened: the greeting or reply, or the error code, and how long it took.
// Optional after the port: a timeout in ms (default 2000) and the local address to send from.
import net from 'node:net';
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';

function tcp(host, port, timeout, localAddress) {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - start) / 1e6;
    const socket = net.connect({ host, port, localAddress });
    let data = '';
    socket.setTimeout(timeout, () => { socket.destroy(); resolve({ error: 'TIMEOUT', ms: ms() }); });
    socket.on('data', (d) => (data += d));
    socket.on('end', () => resolve({ greeting: data.trim(), ms: ms() }));
    socket.on('error', (err) => resolve({ error: err.code, ms: ms() }));
  });
}

function udp(host, port, timeout, localAddress) {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - start) / 1e6;
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => { socket.close(); resolve({ error: 'TIMEOUT', ms: ms() }); }, timeout);
    if (localAddress) socket.bind(0, localAddress);
    socket.on('message', (msg) => { clearTimeout(timer); socket.close(); resolve({ reply: String(msg), ms: ms() }); });
    socket.send('ping', port, host, (err) => {
      if (err) { clearTimeout(timer); socket.close(); resolve({ error: err.code, ms: ms() }); }
    });
  });
}

process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  const [kind, host, port, timeout, localAddress] = line.trim().split(' ');
  const wait = timeout ? Number(timeout) : 2000;
  const result = kind === 'udp' ? await udp(host, Number(port), wait, localAddress) : await tcp(host, Number(port), wait, localAddress);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
