// Backend pods of the agent's end-to-end tests, run inside the test's network namespace: for each
// address given, a TCP server on 8080 and a UDP server on 5353 that answer with that address.
import net from 'node:net';
import dgram from 'node:dgram';

// Addresses after "--vips" get a listener on port 80 that answers "untranslated": what a process
// outside the routed cgroup reaches when it dials a ClusterIP.
const args = process.argv.slice(2);
const split = args.indexOf('--vips');
const addresses = split < 0 ? args : args.slice(0, split);
const vips = split < 0 ? [] : args.slice(split + 1);
let pending = addresses.length * 2 + vips.length;
const ready = () => {
  if (--pending === 0) process.stdout.write('ready\n');
};
for (const ip of addresses) {
  net
    .createServer((socket) => {
      socket.on('error', () => {});
      socket.end(`${ip}\n`);
    })
    .listen(8080, ip, ready);
  const udp = dgram.createSocket('udp4');
  udp.on('message', (_msg, rinfo) => udp.send(ip, rinfo.port, rinfo.address));
  udp.bind(5353, ip, ready);
}
for (const vip of vips) {
  net
    .createServer((socket) => {
      socket.on('error', () => {});
      socket.end('untranslated\n');
    })
    .listen(80, vip, ready);
}
