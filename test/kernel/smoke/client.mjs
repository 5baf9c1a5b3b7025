// The application of the connect() smoke test, run inside the test's cgroup and network
// namespace: it dials ClusterIPs and reports what it saw as one JSON line per step. It holds its
// first connection open until the test writes a line on stdin, so the test can look at mc_conns.
import net from 'node:net';
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';

const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));
const say = (step, data) => process.stdout.write(`${JSON.stringify({ step, ...data })}\n`);
const timeout = (ms) => new Promise((_, reject) => setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })), ms));

/** Connects, reads the greeting, reports getpeername(); `hold` waits for stdin before closing. */
async function tcp(host, port, hold = false) {
  const socket = net.connect({ host, port });
  try {
    const greeting = await Promise.race([
      new Promise((resolve, reject) => {
        socket.once('data', (d) => resolve(String(d).trim()));
        socket.once('error', reject);
      }),
      timeout(3000),
    ]);
    const peer = { address: socket.remoteAddress, port: socket.remotePort };
    if (hold) {
      say('holding', { peer });
      await nextLine();
    }
    return { greeting, peer };
  } catch (err) {
    return { error: err.code ?? err.message };
  } finally {
    socket.destroy();
  }
}

async function udp(host, port, connected) {
  const socket = dgram.createSocket('udp4');
  try {
    const reply = new Promise((resolve, reject) => {
      socket.once('message', (msg, rinfo) => resolve({ reply: String(msg), from: { address: rinfo.address, port: rinfo.port } }));
      socket.once('error', reject);
    });
    if (connected) {
      await new Promise((resolve, reject) => {
        socket.once('error', reject);
        socket.connect(port, host, resolve);
      });
      const peer = socket.remoteAddress();
      await new Promise((resolve, reject) => socket.send('ping', (err) => (err ? reject(err) : resolve())));
      return { ...(await Promise.race([reply, timeout(3000)])), peer: { address: peer.address, port: peer.port } };
    }
    await new Promise((resolve, reject) => socket.send('ping', port, host, (err) => (err ? reject(err) : resolve())));
    return await Promise.race([reply, timeout(3000)]);
  } catch (err) {
    return { error: err.code ?? err.message };
  } finally {
    socket.close();
  }
}

const [svc4, svc6, empty4, dns4, pod4] = process.argv.slice(2);
const results = {};
results.tcp4 = await tcp(svc4, 80, true);
results.refused = await tcp(empty4, 80);
results.udpUnconnected = await udp(dns4, 53, false);
results.udpConnected = await udp(dns4, 53, true);
results.udpRefused = await udp(empty4, 53, false);
results.tcp6 = await tcp(svc6, 80);
results.mapped = await tcp(`::ffff:${svc4}`, 80);
results.direct = await tcp(pod4, 8080);
say('done', { results });
lines.close();
