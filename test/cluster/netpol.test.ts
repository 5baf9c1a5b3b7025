// Network policy through a real API server: NetworkPolicies applied with the API reach every
// node's agent, and pods' connect() to a denied pod fails with EPERM while an allowed one goes
// through; deleting the policy lets it through again. Then the same for a CiliumNetworkPolicy,
// after applying a CRD for cilium.io/v2 (test/cluster/crds/cilium, written for these tests) while
// the agents run: they find it without a restart.
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import type { TestCluster } from './cluster.ts';
import { untilEveryNode, waitFor } from './objects.ts';
import { clusterSuite } from './suite.ts';

const CILIUM_CRD = fileURLToPath(new URL('./crds/cilium', import.meta.url));
const NP = 'networking.k8s.io/v1';
const CNP = 'cilium.io/v2';

interface Pods {
  web: string;
  db: string;
}

/** Client pods on both nodes: `client` (app=client) and `other` (app=other) on each. */
const CLIENTS = ['client-1', 'client-2'];
const OTHERS = ['other-1', 'other-2'];

let pods: Promise<Pods> | undefined;

function setUp(cluster: TestCluster): Promise<Pods> {
  return (pods ??= (async () => {
    const [web, db] = await Promise.all([
      cluster.runPod('default', 'web-1', { node: 'node-2', labels: { app: 'web' } }),
      cluster.runPod('default', 'db-1', { node: 'node-1', labels: { app: 'db' } }),
      ...CLIENTS.map((name, i) => cluster.runPod('default', name, { node: `node-${i + 1}`, labels: { app: 'client' } })),
      ...OTHERS.map((name, i) => cluster.runPod('default', name, { node: `node-${i + 1}`, labels: { app: 'other' } })),
    ]);
    return { web: web.status.podIP, db: db.status.podIP };
  })());
}

/** Waits until every client in `clients` gets `expected` (a pod name, or `error:EPERM`) from ip:8080; returns how long it took. */
async function until(cluster: TestCluster, clients: string[], ip: string, expected: string, what: string): Promise<number> {
  const started = performance.now();
  await untilEveryNode(cluster, clients, ip, 8080, [expected], what, 20000);
  return performance.now() - started;
}

/**
 * other-2 (on web's node) connects to web in a loop; once it has, the clock starts (call the API then). settle()
 * stops it and returns how long after the start the first connection with the new outcome began, checking the loop saw `from` up to then
 * and `to` only after it (a verdict changes once, and stays changed).
 */
/** Client loops still running: a failed test leaves none behind. */
const loops = new Set<ReturnType<TestCluster['client']>>();

async function watchChange(cluster: TestCluster, web: string) {
  // On web's node: one agent's sync changes its connect() check and web's ingress check together.
  // From the other node, a SYN can be dropped by web's ingress check (node-2 has the policy)
  // before node-1 refuses the connect() (it has not yet): a hang, then EPERM, not one change.
  const loop = cluster.client('default', 'other-2', web, 8080, 0);
  loops.add(loop);
  await waitFor('other-2 connecting in a loop', async () => loop.records.length > 0, 10000);
  const start = process.hrtime.bigint();
  return {
    async settle(from: string, to: string): Promise<number> {
      // Refused connects fail at once, so the client's loop never yields to see its stdin close: stop it.
      loop.child.stdin!.end();
      loop.child.kill('SIGTERM');
      const records = await loop.done;
      loops.delete(loop);
      const outcome = (r: { backend?: string; error?: string }) => (r.error ? `error:${r.error}` : r.backend!);
      const first = records.findIndex((r) => outcome(r) === to);
      assert.ok(first > 0, `other-2 saw ${JSON.stringify(from)} and then ${JSON.stringify(to)}: ${JSON.stringify([...new Set(records.map(outcome))])}`);
      assert.equal([...new Set(records.slice(0, first).map(outcome))], [from], 'before the change');
      assert.equal([...new Set(records.slice(first).map(outcome))], [to], 'after the change');
      return Number(BigInt(records[first]!.t0) - start) / 1e6;
    },
  };
}

clusterSuite('network policy from the API server, two nodes', { nodes: 2 }, (test, started) => {
  test.after.each(() => {
    for (const loop of loops) loop.child.kill('SIGKILL');
    loops.clear();
  });

  test('a NetworkPolicy applied through the API server: denied connect() gets EPERM, allowed ones go through, deleting it lets them through again', async () => {
    const cluster = await started();
    const cp = cluster.controlPlane;
    // Cilium's CRD now, while the agents run; the next test needs them to have found it.
    await cp.applyCrds(CILIUM_CRD);
    const { web, db } = await setUp(cluster);
    await until(cluster, [...CLIENTS, ...OTHERS], web, 'web-1', 'no policy: everyone reaches web');
    await until(cluster, [...CLIENTS, ...OTHERS], db, 'db-1', 'no policy: everyone reaches db');

    // web takes connections from client pods only (ingress); client pods may only reach web (egress).
    // other-2 connects to web in a loop meanwhile: when its first refusal comes after the API call.
    const before = await watchChange(cluster, web);
    await cp.create({
      apiVersion: NP,
      kind: 'NetworkPolicy',
      metadata: { name: 'web-from-clients', namespace: 'default' },
      spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 8080 }] }] },
    });
    const denied = await until(cluster, OTHERS, web, 'error:EPERM', 'ingress: other pods refused by web');
    const toDenied = await before.settle('web-1', 'error:EPERM');
    await until(cluster, CLIENTS, web, 'web-1', 'ingress: client pods still reach web');
    await cp.create({
      apiVersion: NP,
      kind: 'NetworkPolicy',
      metadata: { name: 'clients-to-web-only', namespace: 'default' },
      spec: { podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { app: 'web' } } }] }] },
    });
    await until(cluster, CLIENTS, db, 'error:EPERM', 'egress: client pods may not reach db');
    await until(cluster, CLIENTS, web, 'web-1', 'egress: client pods reach web');
    await until(cluster, OTHERS, db, 'db-1', 'other pods are not isolated for egress and db not for ingress');
    for (const [node, agent] of cluster.agents) {
      assert.ok(agent.log.some((l) => /network policy: 2 policies/.test(l)), `agent ${node} applied both policies; log:\n${agent.log.slice(-20).join('\n')}`);
    }

    const after = await watchChange(cluster, web);
    await cp.remove(NP, 'NetworkPolicy', 'default', 'web-from-clients');
    const allowed = await until(cluster, OTHERS, web, 'web-1', 'ingress policy deleted: other pods reach web again');
    const toAllowed = await after.settle('error:EPERM', 'web-1');
    await cp.remove(NP, 'NetworkPolicy', 'default', 'clients-to-web-only');
    await until(cluster, CLIENTS, db, 'db-1', 'egress policy deleted: client pods reach db again');
    console.log(`  API call returned -> other-2's first connect() with the new verdict: EPERM after ${toDenied.toFixed(0)} ms, allowed again after ${toAllowed.toFixed(0)} ms; every other client too (polled): ${denied.toFixed(0)} ms, ${allowed.toFixed(0)} ms`);
  });

  test('a CiliumNetworkPolicy (after its CRD was applied): the agents find cilium.io/v2 without a restart, EPERM for what it does not allow, a bad one is a located error and takes no other down', async () => {
    const cluster = await started();
    const cp = cluster.controlPlane;
    const { db } = await setUp(cluster);
    // The agents looked once at start, said cilium.io is not served, and look again every 60 s.
    for (const [node, agent] of cluster.agents) {
      const absent = agent.log.filter((l) => /^CiliumNetworkPolicy: cilium\.io is not served/.test(l));
      assert.is(absent.length, 1, `agent ${node} says once that cilium.io is not served`);
      await agent.waitForLog(/^CiliumNetworkPolicy: watching cilium\.io\/v2/, 0, 75000);
    }
    await cp.create({
      apiVersion: CNP,
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'db-from-clients', namespace: 'default' },
      spec: {
        endpointSelector: { matchLabels: { app: 'db' } },
        ingress: [{ fromEndpoints: [{ matchLabels: { app: 'client' } }], toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }], authentication: { mode: 'required' } }],
      },
    });
    // The CRD validates nothing in spec: this one reaches meshc, which refuses it, located.
    await cp.create({ apiVersion: CNP, kind: 'CiliumNetworkPolicy', metadata: { name: 'no-selector', namespace: 'default' }, spec: { ingress: [{}] } });
    await until(cluster, OTHERS, db, 'error:EPERM', 'other pods refused by db');
    await until(cluster, CLIENTS, db, 'db-1', 'client pods reach db');
    for (const [node, agent] of cluster.agents) {
      const bad = await agent.waitForLog(/kube:CiliumNetworkPolicy\/default\/no-selector/, 0, 10000);
      assert.match(bad, /spec\.endpointSelector: is required/, `agent ${node}: the bad policy, located`);
      const unauthenticated = await agent.waitForLog(/kube:CiliumNetworkPolicy\/default\/db-from-clients.*authentication/, 0, 10000);
      assert.match(unauthenticated, /warning/, `agent ${node}: authentication.mode required is reported as not enforced`);
    }
    await cp.remove(CNP, 'CiliumNetworkPolicy', 'default', 'db-from-clients');
    await until(cluster, OTHERS, db, 'db-1', 'CiliumNetworkPolicy deleted: other pods reach db again');
    await cp.remove(CNP, 'CiliumNetworkPolicy', 'default', 'no-selector');
  });
});
