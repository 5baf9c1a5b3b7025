// Backend pods of the connect() smoke test, run inside the test's network namespace (not in its
// cgroup): TCP servers that greet with their own address, and a UDP echo server.
import net from 'node:net';
import dgram from 'node:dgram';

const [tcp4, tcp6, udp4] = process.argv.slice(2);
const split = (text) => {
  const colon = text.lastIndexOf(':');
  return { host: text.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(text.slice(colon + 1)) };
};

let pending = 3;
const ready = () => {
  if (--pending === 0) process.stdout.write('ready\n');
};

for (const address of [tcp4, tcp6]) {
  const { host, port } = split(address);
  net
    .createServer((socket) => {
      socket.write(`hello from ${socket.localAddress}:${socket.localPort}\n`);
      socket.on('error', () => {});
      socket.on('data', () => {});
    })
    .listen(port, host, ready);
}

const { host, port } = split(udp4);
const udp = dgram.createSocket('udp4');
udp.on('message', (msg, rinfo) => udp.send(`echo:${msg}`, rinfo.port, rinfo.address));
udp.bind(port, host, ready);
