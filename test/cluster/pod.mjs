// The one container of a test cluster pod, run by the harness's kubelet in the pod's network
// namespace and cgroup: on each TCP port given, a server that answers with the pod's name.
//   node pod.mjs NAME PORT...
import net from 'node:net';

const [name, ...ports] = process.argv.slice(2);
let pending = ports.length;
for (const port of ports) {
  net
    .createServer((socket) => {
      socket.on('error', () => {});
      socket.end(`${name}\n`);
    })
    .listen(Number(port), '0.0.0.0', () => {
      if (--pending === 0) process.stdout.write('ready\n');
    });
}
if (pending === 0) process.stdout.write('ready\n');
