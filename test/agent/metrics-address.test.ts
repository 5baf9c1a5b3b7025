// Where the agent's metrics server listens: loopback unless --metrics-address says otherwise
// (the DaemonSet passes the pod's address, which with hostNetwork is the node's). Checked in the
// kernel's socket table, not just in the log line.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { MetricsServer } from '../../src/metrics/server.ts';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { Lab, serviceManifest } from './live/lab.ts';
import { callMeshc } from '../helpers/meshc.ts';

/** Local addresses (IPv4, dotted) of the TCP sockets listening on `port`, from /proc/net/tcp. */
function listeners(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[3] === '0A' && f[1]?.endsWith(`:${hexPort}`))
    .map((f) => {
      const hex = f[1]!.split(':')[0]!;
      return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
    });
}

const server = suite('MetricsServer: listen address');

server('loopback by default, the given address otherwise', async () => {
  for (const [host, expected] of [[undefined, '127.0.0.1'], ['127.0.0.2', '127.0.0.2']] as const) {
    const http = new MetricsServer({ registry: new Registry(), readiness: () => ({ ready: true }), host });
    await http.start();
    try {
      assert.is(http.address, `${expected}:${http.port}`);
      assert.equal(listeners(http.port), [expected]);
      assert.is((await fetch(`http://${expected}:${http.port}/healthz`)).status, 200);
    } finally {
      await http.stop();
    }
  }
});

server.run();

kernelSuite('meshc agent --metrics-address', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  test('a bad address or port is a usage error naming the option', async () => {
    const cases: [string[], RegExp][] = [
      [['--metrics-port', '9966', '--metrics-address', 'localhost'], /--metrics-address must be an IP address .*got "localhost"/],
      [['--metrics-port', '9966', '--metrics-address', '10.0.0.300'], /--metrics-address must be an IP address .*got "10.0.0.300"/],
      [['--metrics-address', '127.0.0.1'], /--metrics-address needs --metrics-port/],
      [['--metrics-port', '70000'], /--metrics-port must be a port \(0 to 65535\), got "70000"/],
    ];
    for (const [args, message] of cases) {
      const r = await callMeshc('agent', '--manifests', '/nonexistent-but-not-reached', '--cgroup', 'x', ...args);
      assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  test('the agent listens on loopback only unless told otherwise', async () => {
    const lab = new Lab(['10.244.9.1'], ['10.96.9.1']);
    try {
      lab.write('web.yaml', serviceManifest('web', '10.96.9.1', [{ ip: '10.244.9.1' }]));
      for (const [extra, expected] of [[['--metrics-port', '0'], '127.0.0.1'], [['--metrics-port', '0', '--metrics-address', '127.0.0.3'], '127.0.0.3']] as const) {
        const agent = await lab.startAgent(undefined, { extra: [...extra] });
        const line = (agent as unknown as { log: string[] }).log.find((l) => /metrics on /.test(l))!;
        const port = Number(/metrics on ([\d.]+):(\d+) /.exec(line)![2]);
        assert.is(/metrics on ([\d.]+):/.exec(line)![1], expected);
        assert.equal(listeners(port), [expected]);
        assert.is((await fetch(`http://${expected}:${port}/readyz`)).status, 200);
        agent.kill('SIGTERM');
        await new Promise((r) => agent.once('exit', r));
      }
    } finally {
      lab.dispose();
    }
  });
});
