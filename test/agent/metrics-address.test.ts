// Where the agent's metrics server listens: loopback unless --metrics-address says otherwise
// (the DaemonSet passes the pod's address, which with hostNetwork is the node's). Checked in the
// kernel's socket table, not just in the log line.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { MetricsServer } from '../../src/metrics/server.ts';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { Lab, serviceManifest, tally } from './live/lab.ts';
import { callMeshc } from '../helpers/meshc.ts';

/** Local addresses (IPv4, dotted) of the TCP sockets listening on `port`, from /proc/net/tcp. */
function listeners(port: number, table = '/proc/net/tcp'): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync(table, 'utf8')
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
  test('as the DaemonSet runs it (a host network namespace of several addresses, --metrics-address the node\'s): only that address answers, routing undisturbed', async () => {
    // The lab's netns stands for the node's network (hostNetwork): 10.244.9.1 is the node address,
    // 10.244.9.2 another address of the node. The agent joins only that network namespace (nsenter:
    // bpffs and cgroup mounts stay the host's).
    const NODE = '10.244.9.1';
    const OTHER = '10.244.9.2';
    const VIP = '10.96.9.1';
    const lab = new Lab([NODE, OTHER], [VIP]);
    try {
      await lab.startPods();
      lab.write('web.yaml', serviceManifest('web', VIP, [{ ip: OTHER }]));
      const client = lab.client(['tcp', VIP, '80', '0']);
      const started = performance.now();
      const agent = await lab.startAgent(undefined, { prefix: ['nsenter', `--net=/run/netns/${lab.netns}`, '--'], extra: ['--metrics-port', '0', '--metrics-address', NODE] });
      const line = (agent as unknown as { log: string[] }).log.find((l) => /metrics on /.test(l))!;
      const port = Number(/metrics on [\d.]+:(\d+) /.exec(line)![1]);
      assert.equal(listeners(port, `/proc/${agent.pid}/net/tcp`), [NODE], 'one listener, on the node address');
      // Probes as the kubelet and Prometheus make them, from the node's network.
      const probe = (host: string, route: string) => {
        const script = `fetch('http://${host}:${port}${route}').then(async (r) => { const t = await r.text(); console.log(r.status + ' ' + (r.status === 200 ? t.length : t)); }, (e) => console.log(e.cause?.code ?? e.message))`;
        return spawnSync('ip', ['netns', 'exec', lab.netns, process.execPath, '-e', script], { encoding: 'utf8' }).stdout.trim();
      };
      const ready = probe(NODE, '/readyz');
      assert.match(ready, /^200 /, ready);
      const metrics = probe(NODE, '/metrics');
      assert.match(metrics, /^200 [1-9]/, metrics);
      assert.is(probe(OTHER, '/readyz'), 'ECONNREFUSED', 'not on another node address');
      assert.is(probe('127.0.0.1', '/readyz'), 'ECONNREFUSED', 'not on the node\'s loopback');
      const readyMs = performance.now() - started;
      await new Promise((r) => setTimeout(r, 200));
      client.stdin!.end();
      const records = await client.done;
      // Connects before the agent's first sync reach the ClusterIP's own listener (untranslated).
      const counts = tally(records);
      assert.ok((counts.get(OTHER) ?? 0) > 10, JSON.stringify([...counts]));
      assert.equal([...counts.keys()].filter((k) => k !== OTHER && k !== 'untranslated'), [], 'none failed or reached another pod');
      assert.ok(records.filter((r) => r.backend === 'untranslated').every((r) => BigInt(r.t1) < BigInt(records.find((x) => x.backend === OTHER)!.t0)), 'untranslated only before the agent routed');
      assert.ok(readyMs < 60_000, `ready and probed ${readyMs.toFixed(0)} ms after the start`);
      agent.kill('SIGTERM');
      await new Promise((r) => agent.once('exit', r));
    } finally {
      lab.dispose();
    }
  });
});
