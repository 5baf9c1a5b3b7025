// meshc agent on every node of a real control plane (etcd, kube-apiserver, kube-controller-manager
// from test/cluster/components), as deploy/'s ServiceAccount under the RBAC authorizer: objects
// created, changed and deleted through the API reach every node's maps, and connections from
// pods on every node follow them. EndpointSlices are the real controller's, from pods that run.
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { WATCHED_RESOURCES } from '../../src/kube/kinds.ts';
import { NodeAgent } from './agent.ts';
import type { ConnectionRecord, TestCluster } from './cluster.ts';
import { GATEWAY_CRDS } from './components.ts';
import { removeCgroup } from './kubelet.ts';
import { deployment, inEveryNodesMaps, onEveryNode, reached, route, service, sleep, untilEveryNode, untilEveryNodesMaps, waitFor } from './objects.ts';
import { clusterSuite } from './suite.ts';

const CLIENTS = ['client-1', 'client-2', 'client-3'];

async function clients(cluster: TestCluster): Promise<void> {
  await Promise.all(CLIENTS.map((name, i) => cluster.runPod('default', name, { node: `node-${i + 1}`, labels: { app: 'client' } })));
}

const OUTAGE_MS = Number(process.env.MESHC_OUTAGE_MS ?? 30000);
/** A terminating pod serves this long; long enough to see which endpoints meshc picks meanwhile. */
const DRAIN_MS = 4000;

/** Pod names of the Pods matching `selector` in default that are not terminating. */
async function livePods(cluster: TestCluster, selector: string): Promise<string[]> {
  const list = await cluster.controlPlane.admin.get(`/api/v1/namespaces/default/pods?labelSelector=${encodeURIComponent(selector)}`);
  return list.items.filter((p: any) => !p.metadata.deletionTimestamp).map((p: any) => p.metadata.name).sort();
}

/** Loops connections from every client pod to host:port until stop(); returns every record. */
function loop(cluster: TestCluster, host: string, port = 80) {
  const clients = CLIENTS.map((c) => cluster.client('default', c, host, port, 0));
  return {
    records: () => clients.flatMap((c) => c.records),
    stop: async (): Promise<ConnectionRecord[]> => (await Promise.all(clients.map((c) => c.stop()))).flat(),
  };
}

/** `kubectl auth can-i --list` as `user`: "resource verbs" per resource row. */
function canI(cluster: TestCluster, user: string): string[] {
  const r = cluster.controlPlane.kubectl(['auth', 'can-i', '--list', `--as=${user}`]);
  if (r.status !== 0) throw new Error(`kubectl auth can-i --list --as=${user}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .slice(1)
    .filter((line) => line.trim() && !line.startsWith(' '))
    .map((line) => {
      const columns = line.trim().split(/\s{2,}/);
      return `${columns[0]} ${columns[columns.length - 1]}`;
    });
}

clusterSuite('meshc agent against a real API server, three nodes', { nodes: 3, drainMs: DRAIN_MS }, (test, started) => {
  test('Services, EndpointSlices and HTTPRoutes (v1 and v1beta1) created, changed and deleted reach every node, and connections follow', async () => {
    const cluster = await started();
    const cp = cluster.controlPlane;
    await clients(cluster);
    await Promise.all([
      cluster.runPod('default', 'web-1', { node: 'node-2', labels: { app: 'web' } }),
      cluster.runPod('default', 'web-2', { node: 'node-3', labels: { app: 'web' } }),
      cluster.runPod('default', 'canary-1', { node: 'node-1', labels: { app: 'web', track: 'canary' } }),
      cluster.runPod('default', 'other-1', { node: 'node-3', labels: { app: 'other' } }),
    ]);
    const web = (await cp.create(service('default', 'web', { app: 'web' }))).spec.clusterIP;
    await untilEveryNode(cluster, CLIENTS, web, 80, ['canary-1', 'web-1', 'web-2'], 'created Service, its EndpointSlice from the controller');
    const WEB = 'default/web:80/TCP';
    await untilEveryNodesMaps(cluster, WEB, { backends: ['canary-1', 'web-1', 'web-2'], routedTo: [] }, 'created: in every node\'s maps');

    await cp.replace(service('default', 'web', { app: 'web', track: 'canary' }));
    await untilEveryNode(cluster, CLIENTS, web, 80, ['canary-1'], 'changed Service selector');
    await cp.replace(service('default', 'web', { app: 'web' }));
    await untilEveryNode(cluster, CLIENTS, web, 80, ['canary-1', 'web-1', 'web-2'], 'selector back');

    await cp.remove('v1', 'Pod', 'default', 'canary-1');
    await untilEveryNode(cluster, CLIENTS, web, 80, ['web-1', 'web-2'], 'a deleted pod leaves the slice');
    await untilEveryNodesMaps(cluster, WEB, { backends: ['web-1', 'web-2'], routedTo: [] }, 'the slice changed: every node\'s maps');

    const other = (await cp.create(service('default', 'other', { app: 'other' }))).spec.clusterIP;
    await untilEveryNode(cluster, CLIENTS, other, 80, ['other-1'], 'second Service');
    // Created through v1beta1, read by meshc through v1; weight left to the CRD's default (1).
    await cp.create(route('default', 'to-other', 'web', [{ name: 'other', port: 80 }], 'v1beta1'));
    const stored = await cp.admin.get('/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/to-other');
    assert.is(stored.spec.rules[0].backendRefs[0].weight, 1, 'the CRD defaults the weight');
    assert.equal(stored.spec.rules[0].matches, [{ path: { type: 'PathPrefix', value: '/' } }], 'the CRD defaults the match');
    await untilEveryNode(cluster, CLIENTS, web, 80, ['other-1'], 'created HTTPRoute (v1beta1)');
    await untilEveryNodesMaps(cluster, WEB, { backends: ['web-1', 'web-2'], routedTo: [['default/other:80/TCP']] }, 'the route in every node\'s maps');
    await cp.replace(route('default', 'to-other', 'web', [{ name: 'web', port: 80, weight: 1 }]));
    await untilEveryNode(cluster, CLIENTS, web, 80, ['web-1', 'web-2'], 'changed HTTPRoute (v1)');
    await cp.replace(route('default', 'to-other', 'web', [{ name: 'other', port: 80 }]));
    await untilEveryNode(cluster, CLIENTS, web, 80, ['other-1'], 'changed HTTPRoute again');
    await cp.remove('gateway.networking.k8s.io/v1', 'HTTPRoute', 'default', 'to-other');
    await untilEveryNode(cluster, CLIENTS, web, 80, ['web-1', 'web-2'], 'deleted HTTPRoute');
    await untilEveryNodesMaps(cluster, WEB, { backends: ['web-1', 'web-2'], routedTo: [] }, 'the route gone from every node\'s maps');

    await cp.remove('v1', 'Service', 'default', 'other');
    await untilEveryNode(cluster, CLIENTS, other, 80, ['error:EHOSTUNREACH'], 'deleted Service: its ClusterIP is no longer translated');
    for (const agent of cluster.agents.values()) {
      const services = agent.inspect().services.map((s: any) => s.name);
      assert.ok(services.includes('default/web:80/TCP'), `${agent.node}: default/web in the maps`);
      assert.not.ok(services.some((s: string) => s.startsWith('default/other:')), `${agent.node}: default/other gone from the maps`);
    }
    assert.equal(cluster.kubelet.errors, []);
  });

  test('an HTTPRoute that the CRD\'s CEL rules reject never reaches meshc', async () => {
    const cluster = await started();
    const cp = cluster.controlPlane;
    const web = (await cp.admin.get('/api/v1/namespaces/default/services/web')).spec.clusterIP;
    // A backendRef to a Service without a port: the CRD's rule "Must have port for Service reference".
    const error = await cp.create(route('default', 'no-port', 'web', [{ name: 'web-1' }])).then(() => undefined, (e) => e);
    assert.ok(error, 'the API server accepted a route its CRD forbids');
    assert.is(error.status, 422);
    assert.match(error.message, /Must have port for Service reference/);
    // Nothing was stored: no watch can deliver it, and no node's maps route web anywhere.
    const stored = await cp.admin.get('/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/no-port').then(() => 'stored', (e) => e.status);
    assert.is(stored, 404, 'the rejected route is not stored');
    await sleep(1000);
    assert.equal(inEveryNodesMaps(cluster, 'default/web:80/TCP'), onEveryNode(cluster, { backends: ['web-1', 'web-2'], routedTo: [] }), 'no route in any node\'s maps');
    for (const [node, agent] of cluster.agents) assert.not.ok(agent.log.some((l) => l.includes('no-port')), `agent ${node} never heard of the route`);
    await untilEveryNode(cluster, CLIENTS, web, 80, ['web-1', 'web-2'], 'connections still reach web\'s pods');
  });

  test('a Deployment scaled from 3 to 1 under looping connections: none fails, and the terminating endpoints the controller publishes are not chosen beside a ready one; then to 0: the last, serving and terminating, is used until it stops', async () => {
    const cluster = await started();
    const cp = cluster.controlPlane;
    await cp.create(deployment('default', 'api', 3, { app: 'api' }));
    const vip = (await cp.create(service('default', 'api', { app: 'api' }))).spec.clusterIP;
    await waitFor('three ready replicas', async () => (await cp.admin.get('/apis/apps/v1/namespaces/default/deployments/api')).status?.readyReplicas === 3);
    await untilEveryNode(cluster, CLIENTS, vip, 80, (seen) => seen.length === 3 && seen.every((b) => b.startsWith('api-')), 'three replicas');
    const slices = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dapi';
    let terminatingSince: bigint | undefined;
    /** Each leaving pod's conditions, and when the slice first said it is terminating. */
    const terminating = new Map<string, { serving: boolean; ready: boolean }>();
    const terminatingAt = new Map<string, bigint>();
    const stopWatch = cp.admin.watch(slices, (await cp.admin.get(slices)).metadata.resourceVersion, (event) => {
      for (const endpoint of event.object?.endpoints ?? []) {
        if (!endpoint.conditions?.terminating) continue;
        const now = process.hrtime.bigint();
        terminatingSince ??= now;
        if (!terminatingAt.has(endpoint.targetRef.name)) terminatingAt.set(endpoint.targetRef.name, now);
        terminating.set(endpoint.targetRef.name, { serving: endpoint.conditions.serving, ready: endpoint.conditions.ready });
      }
    }, () => {});
    const traffic = loop(cluster, vip);
    await sleep(500);
    await cp.admin.mergePatch('/apis/apps/v1/namespaces/default/deployments/api', { spec: { replicas: 1 } });
    let survivors: string[] = [];
    const deadline = Date.now() + 20000;
    while ((survivors = await livePods(cluster, 'app=api')).length !== 1 && Date.now() < deadline) await sleep(100);
    assert.is(survivors.length, 1, `one replica left, not ${JSON.stringify(survivors)}`);
    await untilEveryNode(cluster, CLIENTS, vip, 80, survivors, 'scaled to 1');
    // Past the drain: the leaving pods have stopped and left the slice.
    while ((await cp.admin.get('/api/v1/namespaces/default/pods?labelSelector=app%3Dapi')).items.length > 1 && Date.now() < deadline + DRAIN_MS) await sleep(100);
    await sleep(500);
    const records = await traffic.stop();
    stopWatch();
    assert.ok(records.length > 100, `${records.length} connections`);
    assert.equal(records.filter((r) => r.error).slice(0, 3), [], 'no connection failed');
    assert.is(terminating.size, 2, 'the controller published both leaving pods as terminating');
    for (const [pod, conditions] of terminating) assert.equal(conditions, { serving: true, ready: false }, `${pod}: serving and terminating, not ready`);
    // After the slice said a pod is terminating (and a margin for it to reach the agents), that pod
    // is not chosen: only the ready endpoint. Per pod: the controller can publish the two leaving
    // pods in two updates seconds apart, and the second is still ready until its own.
    const late = records.filter((r) => terminatingAt.has(r.backend!) && BigInt(r.t0) > terminatingAt.get(r.backend!)! + 1_500_000_000n);
    const apart = Number([...terminatingAt.values()].reduce((a, b) => (a > b ? a : b)) - terminatingSince!) / 1e6;
    assert.ok(records.some((r) => BigInt(r.t0) > terminatingSince! + 1_500_000_000n && BigInt(r.t0) < terminatingSince! + BigInt(DRAIN_MS - 500) * 1_000_000n), 'connections made while the leaving pods were terminating');
    assert.equal(late.slice(0, 3), [], `no terminating endpoint chosen while a ready one exists (the slice said the leaving pods are terminating ${apart.toFixed(0)} ms apart)`);

    // 1 -> 0: no endpoint is ready; the last pod, serving and terminating, is used until it stops.
    const lastPod = survivors[0]!;
    let lastSince: bigint | undefined;
    const stopLastWatch = cp.admin.watch(slices, (await cp.admin.get(slices)).metadata.resourceVersion, (event) => {
      for (const e of event.object?.endpoints ?? []) if (e.targetRef?.name === lastPod && e.conditions?.terminating && e.conditions?.serving) lastSince ??= process.hrtime.bigint();
    }, () => {});
    const drainTraffic = CLIENTS.map((c) => cluster.client('default', c, vip, 80, 0));
    await sleep(300);
    await cp.admin.mergePatch('/apis/apps/v1/namespaces/default/deployments/api', { spec: { replicas: 0 } });
    await waitFor('the last pod gone', async () => (await cp.admin.get('/api/v1/namespaces/default/pods?labelSelector=app%3Dapi')).items.length === 0, 20000);
    const drained = await Promise.all(drainTraffic.map((c) => c.stop()));
    stopLastWatch();
    assert.ok(lastSince, 'the controller published the last pod as serving and terminating');
    for (const [i, records] of drained.entries()) {
      // Past a margin for the slice to reach the agent: the last pod until it stops, then nothing.
      const after = records.filter((r) => BigInt(r.t0) > lastSince! + 1_500_000_000n).sort((a, b) => (BigInt(a.t0) < BigInt(b.t0) ? -1 : 1));
      // The first connection that does not get the pod's answer (refused, or cut as the pod is killed) ends its life.
      const firstError = after.findIndex((r) => r.error || r.backend !== lastPod);
      const served = firstError < 0 ? after : after.slice(0, firstError);
      assert.ok(served.length >= 10, `${CLIENTS[i]}: ${served.length} connections to the serving, terminating pod before the first failure: it is used when no endpoint is ready`);
      const later = firstError < 0 ? [] : after.slice(firstError).filter((r) => r.backend === lastPod);
      assert.equal(later.slice(0, 3), [], `${CLIENTS[i]}: nothing reached the pod after it stopped`);
    }
    assert.equal(cluster.kubelet.errors, []);
  });

  test('RBAC: kubectl auth can-i --list: the agent\'s ServiceAccount may get, list and watch what the source reads, and nothing else', async () => {
    const cluster = await started();
    const plain = new Set(canI(cluster, 'system:serviceaccount:meshc-system:default'));
    const extra = canI(cluster, 'system:serviceaccount:meshc-system:meshc-agent').filter((row) => !plain.has(row)).sort();
    const expected = WATCHED_RESOURCES.map((r) => `${r.group ? `${r.resource}.${r.group}` : r.resource} [get list watch]`).sort();
    assert.equal(extra, expected);
    for (const verb of ['create services', 'delete endpointslices.discovery.k8s.io', 'patch httproutes.gateway.networking.k8s.io', 'get secrets', 'update nodes']) {
      const r = cluster.controlPlane.kubectl(['auth', 'can-i', ...verb.split(' '), '--as=system:serviceaccount:meshc-system:meshc-agent', '--all-namespaces']);
      assert.is(r.stdout.trim(), 'no', `the agent may not ${verb}`);
    }
  });

  test('every agent watches NetworkPolicies and programs the (empty) policy tables, and says once that CiliumNetworkPolicy is not served here (no Cilium CRD): live never differs from simulate in silence', async () => {
    const cluster = await started();
    for (const [node, agent] of cluster.agents) {
      const log = `log:\n${agent.log.slice(0, 25).join('\n')}`;
      assert.ok(agent.log.some((l) => /^synced: .*\d+ NetworkPolicy, \d+ CiliumNetworkPolicy \(absent\)/.test(l)), `agent ${node} listed NetworkPolicies, CiliumNetworkPolicy absent; ${log}`);
      assert.equal(agent.log.filter((l) => /^CiliumNetworkPolicy: cilium\.io is not served; CiliumNetworkPolicies are not read until it is/.test(l)).length, 1, `agent ${node} said once that cilium.io is not served; ${log}`);
      assert.ok(agent.log.some((l) => /^agent: network policy: 0 policies/.test(l)), `agent ${node} wrote the network policy tables; ${log}`);
      assert.not.ok(agent.log.some((l) => /not watched/.test(l)), `agent ${node}: nothing says policies are not watched`);
    }
  });

  test('kubectl (Debian\'s) works against the harness: nodes Ready, the pods the harness runs with their addresses, and deploy/ accepted whole by the real API server (server-side dry run)', async () => {
    const cluster = await started();
    const cp = cluster.controlPlane;
    const nodes = cp.kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']);
    assert.is(nodes.status, 0, nodes.stderr);
    assert.equal(nodes.stdout.trim().split('\n'), ['node-1 True', 'node-2 True', 'node-3 True']);
    const pods = cp.kubectl(['get', 'pods', '-n', 'default', '-o', 'json']);
    assert.is(pods.status, 0, pods.stderr);
    const listed = new Map(JSON.parse(pods.stdout).items.map((p: any) => [p.metadata.name, `${p.spec.nodeName} ${p.status.podIP}`]));
    for (const name of CLIENTS) {
      const running = cluster.kubelet.pod('default', name);
      assert.is(listed.get(name), `${running.node} ${running.address}`, `kubectl get pods: ${name}`);
    }
    const applied = cp.kubectl(['apply', '--dry-run=server', '-k', path.join(fileURLToPath(new URL('../..', import.meta.url)), 'deploy')]);
    assert.is(applied.status, 0, applied.stderr);
    for (const object of ['namespace/meshc-system', 'serviceaccount/meshc-agent', 'clusterrole.rbac.authorization.k8s.io/meshc-agent', 'clusterrolebinding.rbac.authorization.k8s.io/meshc-agent', 'daemonset.apps/meshc-agent']) {
      assert.match(applied.stdout, new RegExp(`^${object.replace(/\./g, '\\.')} \\w+ \\(server dry run\\)$`, 'm'), `${object} accepted`);
    }
  });

  test('meshc.io/skip: a Pod annotated so, and a Pod in a Namespace annotated so, are not routed by meshc (their connect() to a ClusterIP goes on untranslated) while the pods beside them are', async () => {
    const cluster = await started();
    const cp = cluster.controlPlane;
    const web = (await cp.admin.get('/api/v1/namespaces/default/services/web')).spec.clusterIP;
    await cp.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'quiet', annotations: { 'meshc.io/skip': 'true' } } });
    await waitFor('quiet\'s default ServiceAccount', () => cp.admin.get('/api/v1/namespaces/quiet/serviceaccounts/default').then(() => true, () => false));
    await Promise.all([
      cluster.runPod('default', 'skipped-1', { node: 'node-1', labels: { app: 'skipped' }, annotations: { 'meshc.io/skip': 'true' } }),
      cluster.runPod('quiet', 'quiet-1', { node: 'node-2', labels: { app: 'quiet' } }),
    ]);
    // Nothing routes a ClusterIP in the test cluster but meshc (no kube-proxy): untranslated, it has no route.
    await untilEveryNode(cluster, ['skipped-1'], web, 80, ['error:EHOSTUNREACH'], 'the annotated pod is not routed');
    await untilEveryNode(cluster, ['quiet-1'], web, 80, ['error:EHOSTUNREACH'], 'the pod of the annotated namespace is not routed', 20000, 'quiet');
    await untilEveryNode(cluster, CLIENTS, web, 80, ['web-1', 'web-2'], 'the pods beside them are');
    await cp.remove('v1', 'Pod', 'default', 'skipped-1');
    await cp.remove('v1', 'Namespace', undefined, 'quiet');
  });

  test('HTTPRoute\'s CRD removed while the agents run (the Gateway API\'s other CRDs stay): its routes go, every agent stays synced and says why; installed again serving only v1beta1 (as releases before v1.0 did): found without a restart and read through v1beta1', async () => {
    const cluster = await started();
    const cp = cluster.controlPlane;
    const WEB = 'default/web:80/TCP';
    const web = (await cp.admin.get('/api/v1/namespaces/default/services/web')).spec.clusterIP;
    await cp.create(service('default', 'alt', { app: 'other' }));
    await cp.create(route('default', 'to-alt', 'web', [{ name: 'alt', port: 80 }]));
    await untilEveryNode(cluster, CLIENTS, web, 80, ['other-1'], 'a route to alt');
    const marks = new Map([...cluster.agents].map(([node, agent]) => [node, agent.log.length]));
    const CRD = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/httproutes.gateway.networking.k8s.io';
    await cp.admin.remove(CRD);
    await waitFor('the HTTPRoute CRD gone', () => cp.admin.get(CRD).then(() => false, (e) => e.status === 404), 60000);
    assert.ok((await cp.admin.get('/apis/gateway.networking.k8s.io')).versions.length > 0, 'the group is still served (its other CRDs)');
    await untilEveryNode(cluster, CLIENTS, web, 80, ['web-1', 'web-2'], 'the CRD removed: its routes gone', 40000);
    for (const [node, agent] of cluster.agents) {
      await agent.waitForLog(/^HTTPRoute: gateway\.networking\.k8s\.io serves no httproutes \(versions [^)]+\); routes are off until it is/, marks.get(node), 30000);
      const { metrics, ready } = await agent.scrape();
      assert.match(metrics, /^meshc_kube_synced 1$/m, `${node}: still synced`);
      assert.is(ready, 200, `${node}: still ready`);
    }
    await untilEveryNodesMaps(cluster, WEB, { backends: ['web-1', 'web-2'], routedTo: [] }, 'no route in any node\'s maps');

    // The same CRD serving only v1beta1 (stored as it), as the Gateway API did before v1.0.
    const file = path.join(GATEWAY_CRDS, 'gateway.networking.k8s.io_httproutes.yaml');
    const crd = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS()).find((o) => o?.kind === 'CustomResourceDefinition');
    crd.spec.versions = crd.spec.versions.filter((v: any) => v.name === 'v1beta1').map((v: any) => ({ ...v, served: true, storage: true }));
    const dir = path.join(cluster.dir, 'httproute-v1beta1');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'crd.yaml'), stringify(crd));
    await cp.applyCrds(dir);
    const served = (await cp.admin.get('/apis/gateway.networking.k8s.io')).versions.map((v: any) => v.version);
    assert.is(await cp.admin.get('/apis/gateway.networking.k8s.io/v1/httproutes').then(() => 200, (e) => e.status), 404, 'v1 does not serve httproutes');
    await cp.create(route('default', 'to-alt', 'web', [{ name: 'alt', port: 80 }], 'v1beta1'));
    // The agents look again every 60 s while the kind is absent.
    await untilEveryNode(cluster, CLIENTS, web, 80, ['other-1'], 'the route read through v1beta1', 100000);
    for (const [node, agent] of cluster.agents) await agent.waitForLog(/^HTTPRoute: watching gateway\.networking\.k8s\.io\/v1beta1/, marks.get(node), 5000);
    await untilEveryNodesMaps(cluster, WEB, { backends: ['web-1', 'web-2'], routedTo: [['default/alt:80/TCP']] }, `the v1beta1 route in every node's maps (group versions served: ${served.join(', ')})`);
    await cp.remove('gateway.networking.k8s.io/v1beta1', 'HTTPRoute', 'default', 'to-alt');
    await untilEveryNode(cluster, CLIENTS, web, 80, ['web-1', 'web-2'], 'the v1beta1 route deleted');
    await cp.remove('v1', 'Service', 'default', 'alt');
  });

  test('RBAC: an agent whose role lacks watch on EndpointSlices says so, naming resource and verb, and reports stale state rather than hang', async () => {
    const cluster = await started();
    const cp = cluster.controlPlane;
    const role = await cp.admin.get('/apis/rbac.authorization.k8s.io/v1/clusterroles/meshc-agent');
    const rules = role.rules.map((rule: any) => (rule.resources.includes('endpointslices') ? { ...rule, verbs: rule.verbs.filter((v: string) => v !== 'watch') } : rule));
    await cp.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'meshc-agent-no-watch' }, rules });
    await cp.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'meshc-no-watch', namespace: 'meshc-system' } });
    await cp.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'meshc-agent-no-watch' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'meshc-agent-no-watch' },
      subjects: [{ kind: 'ServiceAccount', name: 'meshc-no-watch', namespace: 'meshc-system' }],
    });
    const cgroup = path.join(cluster.cgroup, 'rbac-probe');
    mkdirSync(cgroup);
    const agent = new NodeAgent('node-1', cgroup, await cp.serviceAccountKubeconfig('meshc-system', 'meshc-no-watch'));
    try {
      await agent.start({ ready: /metrics on [\d.]*:\d+/ });
      const line = await agent.waitForLog(/^EndpointSlice: .*403/, 0, 20000);
      assert.match(line, /watch \/apis\/discovery\.k8s\.io\/v1\/endpointslices.*: 403 Forbidden: RBAC does not allow this agent to watch endpointslices\.discovery\.k8s\.io/);
      const { metrics } = await agent.scrape();
      assert.match(metrics, /^meshc_kube_stale 1$/m, 'the agent reports its state as stale');
    } finally {
      await agent.dispose();
      removeCgroup(cgroup);
    }
  });

  test('410 Gone after etcd compaction: every agent relists, no connection fails, no moment without a live backend', async () => {
    const cluster = await started();
    const cp = cluster.controlPlane;
    await Promise.all([
      cluster.runPod('default', 'relist-1', { node: 'node-1', labels: { app: 'relist' } }),
      cluster.runPod('default', 'relist-2', { node: 'node-2', labels: { app: 'relist' } }),
    ]);
    const vip = (await cp.create(service('default', 'relist', { app: 'relist' }))).spec.clusterIP;
    const slices = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Drelist';
    const endpoints = async () => (await cp.admin.get(slices)).items.flatMap((s: any) => s.endpoints ?? []).length;
    await waitFor('the controller\'s EndpointSlice', async () => (await endpoints()) === 2);
    await untilEveryNode(cluster, CLIENTS, vip, 80, ['relist-1', 'relist-2'], 'before');
    const traffic = loop(cluster, vip);
    await sleep(300);
    // The agents are frozen while the cluster moves on and etcd forgets the history between.
    const marks = new Map([...cluster.agents].map(([node, agent]) => [node, agent.log.length]));
    for (const agent of cluster.agents.values()) agent.signal('SIGSTOP');
    try {
      await cluster.runPod('default', 'relist-3', { node: 'node-3', labels: { app: 'relist' } });
      await waitFor('the third endpoint in the slice', async () => (await endpoints()) === 3);
      // Writes after the slice's last change, so that the compacted revision is past the one after
      // it: a watch resumes from the revision after its resourceVersion, and one exactly at the
      // compacted revision would still be served (the first run of this test without them met that).
      await cp.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after-the-change', namespace: 'default' }, data: { a: '1' } });
      for (const a of ['2', '3']) await cp.admin.mergePatch('/api/v1/namespaces/default/configmaps/after-the-change', { data: { a } });
      await cp.compactEtcd();
      // A restarted API server's watch cache starts at the compacted revision: older watches get 410.
      await cp.stopApiServer();
      await cp.startApiServer();
    } finally {
      for (const agent of cluster.agents.values()) agent.signal('SIGCONT');
    }
    await untilEveryNode(cluster, CLIENTS, vip, 80, ['relist-1', 'relist-2', 'relist-3'], 'after the relist', 40000);
    for (const [node, agent] of cluster.agents) await agent.waitForLog(/410 Gone|watch expired/, marks.get(node), 5000);
    for (const [node, agent] of cluster.agents) assert.match((await agent.scrape()).metrics, /^meshc_kube_relists_total\{resource="EndpointSlice"\} [1-9]/m, `${node} relisted EndpointSlices; its log since:\n${agent.log.slice(marks.get(node)).join('\n')}`);
    const records = await traffic.stop();
    assert.equal(records.filter((r) => r.error).slice(0, 3), [], 'no connection failed');
    assert.equal(records.filter((r) => !['relist-1', 'relist-2', 'relist-3'].includes(r.backend!)).slice(0, 3), [], 'only live backends');
  });
  test(`the API server stopped for ${OUTAGE_MS / 1000} s: no failed connection, stale reported, the change made meanwhile (through a second API server) applied after`, async () => {
    const cluster = await started();
    const cp = cluster.controlPlane;
    const [one, two] = await Promise.all([
      cluster.runPod('default', 'static-1', { node: 'node-2', labels: { app: 'static' } }),
      cluster.runPod('default', 'static-2', { node: 'node-3', labels: { app: 'static' } }),
    ]);
    // No selector: the test writes the EndpointSlice itself, so the change needs no controller.
    const vip = (await cp.create(service('default', 'static', undefined))).spec.clusterIP;
    const slice = (pods: any[]) => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'static-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'static' } },
      addressType: 'IPv4',
      ports: [{ name: '', port: 8080, protocol: 'TCP' }],
      endpoints: pods.map((p) => ({ addresses: [p.status.podIP], conditions: { ready: true }, targetRef: { kind: 'Pod', namespace: 'default', name: p.metadata.name }, nodeName: p.spec.nodeName })),
    });
    await cp.create(slice([one, two]));
    await untilEveryNode(cluster, CLIENTS, vip, 80, ['static-1', 'static-2'], 'the Service before the outage');
    const second = await cluster.controlPlane.startSecondApiServer();
    const traffic = loop(cluster, vip);
    await sleep(300);
    for (const agent of cluster.agents.values()) assert.match((await agent.scrape()).metrics, /^meshc_kube_stale 0$/m);
    await cp.stopApiServer();
    const stoppedAt = process.hrtime.bigint();
    await sleep(OUTAGE_MS / 2);
    const away = await Promise.all([...cluster.agents.values()].map((a) => a.scrape()));
    const current = await second.admin.get('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/static-1');
    await second.admin.request('PUT', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/static-1', { ...slice([two]), metadata: { ...slice([two]).metadata, resourceVersion: current.metadata.resourceVersion } });
    await sleep(OUTAGE_MS / 2);
    const during = traffic.records().filter((r) => BigInt(r.t0) > stoppedAt);
    await cp.startApiServer();
    await second.daemon.stop();
    second.admin.close();
    // The source backs off up to 30 s (with jitter) between attempts: after a long outage its next try can be that far away.
    await untilEveryNode(cluster, CLIENTS, vip, 80, ['static-2'], 'the change made during the outage', 50000);
    const records = await traffic.stop();
    assert.ok(during.length > 100, `${during.length} connections during the outage`);
    assert.equal(records.filter((r) => r.error).slice(0, 3), [], 'no connection failed');
    assert.equal(reached(during), ['static-1', 'static-2'], 'the last known state kept serving');
    for (const [i, scrape] of away.entries()) assert.match(scrape.metrics, /^meshc_kube_stale 1$/m, `node-${i + 1}: stale while the API server is away`);

    // The EndpointSlice deleted through the API: every node's maps keep the Service with no
    // backend, and its connections are refused.
    await cp.remove('discovery.k8s.io/v1', 'EndpointSlice', 'default', 'static-1');
    await untilEveryNode(cluster, CLIENTS, vip, 80, (seen) => seen.length === 1 && seen[0]!.startsWith('error:'), 'a deleted EndpointSlice');
    assert.equal(reached(await cluster.connections('default', 'client-1', vip, 80, 3)), ['error:ECONNREFUSED'], 'refused: no endpoints');
    await untilEveryNodesMaps(cluster, 'default/static:80/TCP', { backends: [], routedTo: [] }, 'no backends in any node\'s maps');
  });
});
