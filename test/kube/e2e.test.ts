// The agent against the API server stand-in (test/apiserver, a test double of kube-apiserver),
// end to end: objects created, changed and deleted through the API show up in the kernel maps
// and real connections follow them; an API outage and a 410 relist never cost a connection.
import * as assert from 'uvu/assert';
import path from 'node:path';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { Lab, tally, type ConnectionRecord } from '../agent/live/lab.ts';
import { ApiServerStandin } from '../apiserver/standin.ts';
import { route, service, slice, sleep, waitFor } from './helpers.ts';

const PODS = ['10.244.3.1', '10.244.3.2', '10.244.3.3', '10.244.3.4', '10.244.3.5'];
const VIP = '10.96.3.1';
const VIP_A = '10.96.3.2';
const VIP_B = '10.96.3.3';
const OUTAGE_MS = Number(process.env.MESHC_OUTAGE_MS ?? 30000);

/** Connections until `predicate` holds for a batch of them (or the deadline passes). */
async function until(lab: Lab, host: string, predicate: (backends: string[]) => boolean, what: string, timeoutMs = 15000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = [...tally(await lab.connections(host, 80, 12)).keys()].sort();
    if (predicate(seen)) return seen;
    await sleep(100);
  }
  throw new Error(`${what}: still ${JSON.stringify(seen)} after ${timeoutMs} ms`);
}

/** Until every client has made `more` connections beyond those it had made. */
async function connectionsMade(clients: { records: ConnectionRecord[] }[], more: number, what: string): Promise<void> {
  const start = clients.map((c) => c.records.length);
  await waitFor(what, () => clients.every((c, i) => c.records.length >= start[i]! + more), 15000);
}

const same = (expected: string[]) => (seen: string[]) => JSON.stringify(seen) === JSON.stringify([...expected].sort());

/** The agent's /metrics text, /readyz status. */
async function scrape(port: number): Promise<{ metrics: string; ready: number }> {
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const ready = (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
  return { metrics, ready };
}

function metricsPort(agent: Awaited<ReturnType<Lab['startAgent']>>): number {
  const line = (agent as unknown as { log: string[] }).log.find((l) => /metrics on \S+:\d+ /.test(l));
  if (!line) throw new Error('the agent did not log its metrics port');
  return Number(/metrics on \S+:(\d+) /.exec(line)![1]);
}

async function withCluster(run: (lab: Lab, api: ApiServerStandin, agent: Awaited<ReturnType<Lab['startAgent']>>) => Promise<void>): Promise<void> {
  const lab = new Lab(PODS, [VIP, VIP_A, VIP_B]);
  const api = new ApiServerStandin();
  try {
    await lab.startPods();
    await api.start();
    const kubeconfig = api.writeKubeconfig(path.join(lab.dir, 'kubeconfig'));
    api.create(service('default', 'web', VIP));
    api.create(slice('default', 'web', 'web-1', PODS.slice(0, 2)));
    const agent = await lab.startAgent(['--kubeconfig', kubeconfig, '--metrics-port', '0']);
    await run(lab, api, agent);
  } finally {
    await api.stop().catch(() => {});
    lab.dispose();
  }
}

kernelSuite('meshc agent --kubeconfig: end to end against the API server stand-in', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  test('Services, EndpointSlices and HTTPRoutes created, changed and deleted reach the maps, and connections follow', async () => {
    await withCluster(async (lab, api) => {
      await until(lab, VIP, same(PODS.slice(0, 2)), 'initial EndpointSlice');
      api.update(slice('default', 'web', 'web-1', PODS.slice(1, 3)));
      await until(lab, VIP, same(PODS.slice(1, 3)), 'changed EndpointSlice');
      api.create(service('default', 'web-a', VIP_A));
      api.create(slice('default', 'web-a', 'web-a-1', [PODS[3]!]));
      api.create(service('default', 'web-b', VIP_B));
      api.create(slice('default', 'web-b', 'web-b-1', [PODS[4]!]));
      await until(lab, VIP_A, same([PODS[3]!]), 'created Service');
      api.create(route('default', 'split', 'web', [{ name: 'web-a', port: 80, weight: 1 }]));
      await until(lab, VIP, same([PODS[3]!]), 'created HTTPRoute');
      api.update(route('default', 'split', 'web', [{ name: 'web-b', port: 80, weight: 1 }]));
      await until(lab, VIP, same([PODS[4]!]), 'changed HTTPRoute');
      api.delete('gateway.networking.k8s.io/v1', 'HTTPRoute', 'default', 'split');
      await until(lab, VIP, same(PODS.slice(1, 3)), 'deleted HTTPRoute');
      api.delete('v1', 'Service', 'default', 'web-a');
      await until(lab, VIP_A, same(['untranslated']), 'deleted Service');
    });
  });

  test(`the API server away for ${OUTAGE_MS / 1000} s: no failed connection; changes made meanwhile apply when it returns`, async () => {
    await withCluster(async (lab, api, agent) => {
      await until(lab, VIP, same(PODS.slice(0, 2)), 'initial EndpointSlice');
      const clients = [0, 1].map(() => lab.client(['tcp', VIP, '80', '0']));
      await connectionsMade(clients, 10, 'connections before the outage');
      const port = metricsPort(agent);
      const before = await scrape(port);
      await api.stop();
      await sleep(OUTAGE_MS / 2);
      const away = await scrape(port);
      api.update(slice('default', 'web', 'web-1', [PODS[2]!]));
      await sleep(OUTAGE_MS / 2);
      const during: ConnectionRecord[] = clients.flatMap((c) => c.records);
      await api.start();
      // The source retries with capped exponential backoff (30 s at most, with jitter): after a
      // long outage its next attempt can be that far away.
      await until(lab, VIP, same([PODS[2]!]), 'change made during the outage', 45000);
      for (const c of clients) c.stdin!.end();
      const records = (await Promise.all(clients.map((c) => c.done))).flat();
      assert.ok(during.length > 50, `${during.length} connections during the outage`);
      assert.equal(records.filter((r) => r.error).slice(0, 3), [], 'no connection failed');
      assert.equal([...tally(during).keys()].sort(), PODS.slice(0, 2), 'the last known state kept serving');
      assert.is(before.ready, 200);
      assert.match(before.metrics, /^meshc_kube_stale 0$/m);
      assert.match(before.metrics, /^meshc_services 1$/m);
      assert.match(away.metrics, /^meshc_kube_stale 1$/m, 'the metric says the state is stale');
      assert.match(away.metrics, /meshc_network_programming_latency_seconds_count \d+/);
    });
  });

  test('410 Gone: the relist converges, with no moment where a live backend is missing', async () => {
    await withCluster(async (lab, api) => {
      await until(lab, VIP, same(PODS.slice(0, 2)), 'initial EndpointSlice');
      const clients = [0, 1].map(() => lab.client(['tcp', VIP, '80', '0']));
      await connectionsMade(clients, 10, 'connections before the relist');
      api.update(slice('default', 'web', 'web-1', PODS.slice(0, 3)));
      api.compact();
      api.expireWatches();
      await until(lab, VIP, same(PODS.slice(0, 3)), 'state after the relist');
      await connectionsMade(clients, 20, 'connections after the relist');
      for (const c of clients) c.stdin!.end();
      const records = (await Promise.all(clients.map((c) => c.done))).flat();
      assert.equal(records.filter((r) => r.error).slice(0, 3), [], 'no connection failed');
      const outside = records.filter((r) => !PODS.slice(0, 3).includes(r.backend!));
      assert.equal(outside.slice(0, 3), [], 'only live backends');
    });
  });
});
