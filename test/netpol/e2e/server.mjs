// Pods of the network policy end-to-end test, run inside the test's network namespace: a TCP
// server per address (host:port arguments) that greets with its own address, and one UDP echo.
import net from 'node:net';
import dgram from 'node:dgram';

const addresses = process.argv.slice(2);
let pending = addresses.length + 1;
const ready = () => {
  if (--pending === 0) process.stdout.write('ready\n');
};
for (const text of addresses) {
  const cut = text.lastIndexOf(':'); // host:port, the host maybe IPv6
  const [host, port] = [text.slice(0, cut), text.slice(cut + 1)];
  net.createServer((socket) => {
    socket.end(`hello from ${socket.localAddress}\n`);
    socket.on('error', () => {});
  }).listen(Number(port), host, ready);
}
const udp = dgram.createSocket('udp4');
udp.on('message', (msg, rinfo) => udp.send(`echo:${msg}`, rinfo.port, rinfo.address));
udp.bind(5353, addresses[0].split(':')[0], ready);
