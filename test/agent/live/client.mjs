// A client of the agent's end-to-end tests, run in the test's cgroup and network namespace.
// Prints one JSON line per connection: {t0, t1 (monotonic ns), backend | error, peer}.
//   tcp HOST PORT COUNT         COUNT connections, one after another (COUNT 0: until stdin closes)
//   udp HOST PORT COUNT         COUNT requests over one unconnected UDP socket
import net from 'node:net';
import dgram from 'node:dgram';

const [mode, host, portText, countText] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
let stop = false;
process.stdin.on('close', () => (stop = true));
process.stdin.resume();
const now = () => process.hrtime.bigint().toString();
const emit = (record) => process.stdout.write(`${JSON.stringify(record)}\n`);

function tcpOnce() {
  return new Promise((done) => {
    const t0 = now();
    const socket = net.connect(port, host);
    let data = '';
    let peer;
    socket.on('connect', () => (peer = `${socket.remoteAddress}:${socket.remotePort}`));
    socket.on('data', (d) => (data += d));
    socket.on('end', () => {
      emit({ t0, t1: now(), backend: data.trim(), peer });
      done();
    });
    socket.on('error', (error) => {
      emit({ t0, t1: now(), error: error.code ?? String(error) });
      done();
    });
  });
}

async function udpAll() {
  const socket = dgram.createSocket('udp4');
  await new Promise((r) => socket.bind(0, r));
  for (let i = 0; i < count; i++) {
    const t0 = now();
    const reply = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ error: 'timeout' }), 2000);
      socket.once('message', (msg, rinfo) => {
        clearTimeout(timer);
        resolve({ backend: String(msg), peer: `${rinfo.address}:${rinfo.port}` });
      });
      socket.send(`ping ${i}`, port, host, (error) => error && resolve({ error: error.code }));
    });
    emit({ t0, t1: now(), ...reply });
  }
  socket.close();
}

if (mode === 'udp') await udpAll();
else for (let i = 0; count === 0 ? !stop : i < count; i++) await tcpOnce();
process.exit(0);
