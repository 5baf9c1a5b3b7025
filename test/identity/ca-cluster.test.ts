// `meshc ca` against the real control plane (test/cluster: etcd, kube-apiserver, the controller
// manager; the harness plays kubelet). The CA runs as deploy/ca/'s ServiceAccount under the RBAC
// authorizer; agents present TokenRequest tokens bound to agent pods on their nodes, as a
// DaemonSet's projected tokens are. Checked: it signs for a ServiceAccount with a pod on the
// agent's node (and writes the SAN itself), refuses one without, refuses tokens that are not the
// agent's, finds the node from the agent's pod when the token review names none; the agent's
// identity manager renews at half-life and drops identities whose pods are gone; `meshc agent
// --ca-url` holds them and `meshc inspect` lists them.
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { IdentityManager, postJson, watchNodeServiceAccounts } from '../../src/agent/identity.ts';
import { apiClusterView } from '../../src/ca/cluster.ts';
import { CaServer } from '../../src/ca/server.ts';
import { NODE_NAME_EXTRA, POD_NAME_EXTRA, Signer } from '../../src/ca/signer.ts';
import { loadKube } from '../../src/identity/kube-api.ts';
import { readIdentityStatus } from '../../src/identity/status.ts';
import { IdentityStore } from '../../src/identity/store.ts';
import { buildCsr, createRootCa, generateNodeKey, verifySvid, type RootCa } from '../../src/identity/x509.ts';
import { ApiError } from '../cluster/api.ts';
import type { TestCluster } from '../cluster/cluster.ts';
import { clusterSuite } from '../cluster/suite.ts';
import { makePinDir, removePinDir } from '../kernel/env.ts';
import { kustomize, patchedDaemonSet } from './deploy-render.ts';
import { runMeshc, spawnMeshc } from '../helpers/meshc.ts';

const TD = 'cluster.test';
/** SVID lifetime of the renewal test, in seconds (MESHC_IDENTITY_LIFETIME=120 runs the 2-minute case). */
const LIFETIME = Number(process.env['MESHC_IDENTITY_LIFETIME'] ?? 6);
const AGENT_SA = 'meshc-system/meshc-agent';

interface Fixture {
  cluster: TestCluster;
  root: RootCa;
  caKubeconfig: string;
  /** Tokens bound to the agent pods on node-1 and node-2. */
  agentToken: Record<string, string>;
  /** Kubeconfigs with those tokens (the agent's own API access). */
  agentKubeconfig: Record<string, string>;
  webToken: string;
  ca: CaServer;
  url: string;
}

function podSpec(namespace: string, name: string, serviceAccount: string, node: string, hostNetwork = false) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: { nodeName: node, serviceAccountName: serviceAccount, hostNetwork, terminationGracePeriodSeconds: 1, containers: [{ name: 'server', image: 'meshc.test/pod-server', ports: [{ containerPort: 8080, protocol: 'TCP' }] }] },
  };
}

/** A TokenRequest token bound to `pod` (as the kubelet's projected ServiceAccount token is). */
async function boundToken(cluster: TestCluster, pod: any): Promise<string> {
  const request = await cluster.controlPlane.admin.create(`/api/v1/namespaces/${pod.metadata.namespace}/serviceaccounts/${pod.spec.serviceAccountName}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid } },
  });
  return request.status.token;
}

async function createIgnoringExists(cluster: TestCluster, object: any): Promise<any> {
  try {
    return await cluster.controlPlane.create(object);
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) return undefined;
    throw error;
  }
}

async function startCa(root: RootCa, caKubeconfig: string, lifetimeSeconds: number, log: string[] = []): Promise<CaServer> {
  const signer = new Signer(root, root.certPem, { trustDomain: TD, agentServiceAccount: AGENT_SA, svidLifetimeSeconds: lifetimeSeconds }, apiClusterView(loadKube(caKubeconfig)));
  const server = new CaServer({ root, signer, serverNames: ['127.0.0.1'], host: '127.0.0.1', port: 0, log: (line) => log.push(line) });
  await server.start();
  return server;
}

let fixture: Promise<Fixture> | undefined;

async function setUp(cluster: TestCluster): Promise<Fixture> {
  // deploy/ca/'s ServiceAccount and RBAC, as kustomize renders them.
  const rendered = kustomize('deploy/ca');
  assert.ok(rendered, 'kubectl kustomize deploy/ca (the cluster tests have kubectl)');
  for (const object of rendered) {
    if (['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(object?.kind)) await createIgnoringExists(cluster, object);
  }
  const caKubeconfig = await cluster.controlPlane.serviceAccountKubeconfig('meshc-system', 'meshc-ca');
  await createIgnoringExists(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  for (const sa of ['web', 'db']) await createIgnoringExists(cluster, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: 'shop' } });
  const agentToken: Record<string, string> = {};
  const agentKubeconfig: Record<string, string> = {};
  for (const node of ['node-1', 'node-2']) {
    // The DaemonSet's pods are on the host network: the identity manager holds none for them.
    const pod = await cluster.controlPlane.create(podSpec('meshc-system', `meshc-agent-${node}`, 'meshc-agent', node, true));
    agentToken[node] = await boundToken(cluster, pod);
    agentKubeconfig[node] = path.join(cluster.dir, `agent-${node}.kubeconfig`);
    cluster.controlPlane.writeKubeconfig(agentKubeconfig[node], `agent-${node}`, { token: agentToken[node] });
  }
  await cluster.controlPlane.create(podSpec('shop', 'web-1', 'web', 'node-1'));
  await cluster.controlPlane.create(podSpec('shop', 'db-1', 'db', 'node-2'));
  const web = await cluster.waitForPod('shop', 'web-1', (p) => p.status?.phase === 'Running', 'Running');
  await cluster.waitForPod('shop', 'db-1', (p) => p.status?.phase === 'Running', 'Running');
  const root = await createRootCa({ trustDomain: TD });
  const ca = await startCa(root, caKubeconfig, 3600);
  return { cluster, root, caKubeconfig, agentToken, agentKubeconfig, webToken: await boundToken(cluster, web), ca, url: `https://127.0.0.1:${ca.port}` };
}

async function sign(f: Fixture, token: string | undefined, serviceAccount: string, requested: string[] = [], url = f.url) {
  const csr = await buildCsr(await generateNodeKey(), requested);
  const [namespace, name] = serviceAccount.split('/');
  return postJson(new URL('/v1/svids', url), token ?? '', { namespace, serviceAccount: name, csr }, f.root.certPem);
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

clusterSuite('meshc ca on the real control plane', { nodes: 2, agents: false }, (test, cluster) => {
  const ready = async () => (fixture ??= cluster().then(setUp));
  test.after(async () => {
    await (await fixture?.catch(() => undefined))?.ca.stop();
  });

  test('what this Kubernetes returns for a pod-bound token: the node name in the TokenReview extra', async () => {
    const f = await ready();
    const review = await f.cluster.controlPlane.admin.create('/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: f.agentToken['node-1'] } });
    assert.ok(review.status.authenticated);
    assert.is(review.status.user.username, 'system:serviceaccount:meshc-system:meshc-agent');
    assert.equal(review.status.user.extra[NODE_NAME_EXTRA], ['node-1']);
    assert.equal(review.status.user.extra[POD_NAME_EXTRA], ['meshc-agent-node-1']);
  });

  test('signs for a ServiceAccount with a pod on the agent\'s node; the SAN is the CA\'s, requested SANs ignored', async () => {
    const f = await ready();
    const answer = await sign(f, f.agentToken['node-1'], 'shop/web', [`spiffe://${TD}/ns/shop/sa/db`, 'spiffe://evil.test/ns/x/sa/y']);
    assert.is(answer.status, 200, JSON.stringify(answer.body));
    assert.is(answer.body.node, 'node-1');
    const cert = new X509Certificate(answer.body.certificate);
    assert.is(cert.subjectAltName, `URI:spiffe://${TD}/ns/shop/sa/web`);
    assert.is(verifySvid(answer.body.certificate, answer.body.trustBundle, { trustDomain: TD }).spiffeId, `spiffe://${TD}/ns/shop/sa/web`);
    // node-2's agent for node-2's pod: the positive control of the refusal below.
    const db = await sign(f, f.agentToken['node-2'], 'shop/db');
    assert.is(db.status, 200, JSON.stringify(db.body));
    assert.is(new X509Certificate(db.body.certificate).subjectAltName, `URI:spiffe://${TD}/ns/shop/sa/db`);
  });

  test('refuses a ServiceAccount without pods on the agent\'s node', async () => {
    const f = await ready();
    const answer = await sign(f, f.agentToken['node-1'], 'shop/db');
    assert.is(answer.status, 403);
    assert.is(answer.body.reason, 'no-pod-on-node');
    assert.match(answer.body.error, /no running pod of ServiceAccount shop\/db on node node-1/);
    const none = await sign(f, f.agentToken['node-1'], 'shop/nobody');
    assert.is(none.body.reason, 'no-pod-on-node');
  });

  test('refuses tokens that are not the agent\'s: a workload\'s, a forged one, none, one bound to no pod', async () => {
    const f = await ready();
    const web = await sign(f, f.webToken, 'shop/web');
    assert.is(web.status, 403);
    assert.is(web.body.reason, 'not-the-agent');
    assert.match(web.body.error, /system:serviceaccount:shop:web's, not the meshc agent's ServiceAccount \(meshc-system\/meshc-agent\)/);
    const forged = await sign(f, `${f.agentToken['node-1']!.slice(0, -4)}AAAA`, 'shop/web');
    assert.is(forged.status, 401);
    assert.is(forged.body.reason, 'token-not-authenticated');
    const none = await sign(f, undefined, 'shop/web');
    assert.is(none.status, 401);
    assert.is(none.body.reason, 'no-token');
    const unbound = await sign(f, await f.cluster.controlPlane.tokenFor('meshc-system', 'meshc-agent'), 'shop/web');
    assert.is(unbound.status, 403);
    assert.is(unbound.body.reason, 'no-node');
    assert.match(unbound.body.error, /bound to no pod/);
  });

  test('a review without the node name: the node of the agent\'s pod, read back through the API', async () => {
    const f = await ready();
    const view = apiClusterView(loadKube(f.caKubeconfig));
    const withoutNode = {
      ...view,
      async reviewToken(token: string) {
        const status = await view.reviewToken(token);
        const extra = { ...status.user?.extra };
        delete extra[NODE_NAME_EXTRA];
        return { ...status, user: { ...status.user, extra } };
      },
    };
    const signer = new Signer(f.root, f.root.certPem, { trustDomain: TD, agentServiceAccount: AGENT_SA, svidLifetimeSeconds: 60 }, withoutNode);
    const csr = await buildCsr(await generateNodeKey());
    const result = await signer.sign(f.agentToken['node-1'], { namespace: 'shop', serviceAccount: 'web', csr });
    assert.is(result.node, 'node-1');
    await signer.sign(f.agentToken['node-1'], { namespace: 'shop', serviceAccount: 'db', csr }).then(() => assert.unreachable(), (e) => assert.is(e.reason, 'no-pod-on-node'));
  });

  test(`the agent renews at half-life (${LIFETIME} s SVIDs) and drops an identity when its pods are gone`, async () => {
    const f = await ready();
    const caLog: string[] = [];
    const shortCa = await startCa(f.root, f.caKubeconfig, LIFETIME, caLog);
    const store = new IdentityStore(TD, f.root.certPem);
    const log: string[] = [];
    const history: { serial: string; notBefore: number; renewAt: number; seenAt: number }[] = [];
    store.onChange((key, identity) => {
      if (key === 'shop/web' && identity) history.push({ serial: identity.serial, notBefore: identity.notBefore.getTime(), renewAt: identity.renewAt.getTime(), seenAt: Date.now() });
    });
    const kc = loadKube(f.agentKubeconfig['node-1']);
    const manager = new IdentityManager({ caUrl: `https://127.0.0.1:${shortCa.port}`, trustDomain: TD, trustBundle: () => f.root.certPem, token: () => f.agentToken['node-1']!, store, log: (l) => log.push(l), retryMs: 500 });
    const stop = await watchNodeServiceAccounts(kc, 'node-1', manager, (l) => log.push(l));
    try {
      await waitFor('three SVIDs for shop/web', () => (history.length >= 3 ? true : undefined), LIFETIME * 1000 + 15000);
      const [first, second, third] = history as [(typeof history)[0], (typeof history)[0], (typeof history)[0]];
      // X.509 times are whole seconds: a renewal asked at renewAt gets notBefore = renewAt, rounded down.
      for (const [before, after] of [[first, second], [second, third]] as const) {
        assert.is(before.renewAt - before.notBefore, LIFETIME * 500, 'half the lifetime');
        assert.ok(after.seenAt >= before.renewAt - 50, `renewed no earlier than half-life (${after.seenAt - before.renewAt} ms)`);
        assert.ok(after.seenAt - before.renewAt < 1500, `renewed within 1.5 s of half-life (${after.seenAt - before.renewAt} ms)`);
        assert.is.not(after.serial, before.serial);
      }
      console.log(`  renewals after half-life: ${second.seenAt - first.renewAt} ms, ${third.seenAt - second.renewAt} ms`);
      // Only the node's workload: the agent pod (host network) and node-2's db get none.
      assert.equal(store.list().map((i) => i.spiffeId), [`spiffe://${TD}/ns/shop/sa/web`]);
      assert.not.ok(caLog.some((l) => l.startsWith('ca: refused')), caLog.join('\n'));
      await f.cluster.controlPlane.admin.remove('/api/v1/namespaces/shop/pods/web-1', { gracePeriodSeconds: 0 });
      await waitFor('shop/web dropped', () => (store.get('shop', 'web') === undefined ? true : undefined), 15000);
      assert.ok(log.some((l) => /identity: dropped spiffe:\/\/cluster.test\/ns\/shop\/sa\/web: no pod of ServiceAccount shop\/web on this node/.test(l)), log.join('\n'));
      const count = history.length;
      await new Promise((r) => setTimeout(r, Math.min(LIFETIME, 10) * 500 + 500));
      assert.is(history.length, count, 'no renewal after the drop');
    } finally {
      stop();
      await shortCa.stop();
    }
  });

  test('meshc agent --ca-url holds the node\'s identities; meshc inspect lists them with their expiry', async () => {
    const f = await ready();
    await f.cluster.controlPlane.create(podSpec('shop', 'db-2', 'db', 'node-2'));
    const bundle = path.join(f.cluster.dir, 'bundle.pem');
    writeFileSync(bundle, f.root.certPem);
    const pin = makePinDir('identity-agent');
    const argv = ['agent', '--kubeconfig', f.agentKubeconfig['node-2']!, '--cgroup', f.cluster.nodeCgroups.get('node-2')!, '--pin', pin, '--node', 'node-2', '--audit-seconds', '0', '--ca-url', f.url, '--trust-domain', TD, '--trust-bundle', bundle];
    const child = spawnMeshc(argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    const lines: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (l) => lines.push(l));
    try {
      await waitFor('the agent holds shop/db', () => lines.find((l) => l.includes(`identity: holds spiffe://${TD}/ns/shop/sa/db`)) ?? (child.exitCode !== null ? (() => { throw new Error(lines.join('\n')); })() : undefined), 60000);
      assert.ok(readIdentityStatus(pin), 'the running agent\'s status file');
      const inspect = runMeshc(['inspect', '--pin', pin, '--json']);
      assert.is(inspect.status, 0, inspect.stderr);
      const status = JSON.parse(inspect.stdout).identities;
      assert.is(status.trustDomain, TD);
      assert.equal(status.identities.map((i: any) => i.spiffeId), [`spiffe://${TD}/ns/shop/sa/db`]);
      const [db] = status.identities;
      assert.is(new Date(db.notAfter).getTime() - new Date(db.notBefore).getTime(), 3600_000);
      const text = runMeshc(['inspect', '--pin', pin]);
      assert.match(text.stdout, new RegExp(`identities \\(trust domain ${TD.replace('.', '\\.')}`));
      assert.match(text.stdout, /spiffe:\/\/cluster\.test\/ns\/shop\/sa\/db\s+\S+\s+\(in (59|60)m\)/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
      runMeshc(['agent', '--detach', '--pin', pin]);
      removePinDir(pin);
    }
    assert.is(readIdentityStatus(pin), undefined, 'a stopped agent holds nothing: its status file is gone');
  });
  test('deploy/ca/ and the patched DaemonSet pass the API server (dry run); meshc ca serve with the Deployment\'s args signs', async () => {
    const f = await ready();
    const objects = kustomize('deploy/ca/')!;
    const patched = patchedDaemonSet();
    for (const object of [...objects.filter((o) => ['ConfigMap', 'Deployment', 'Service'].includes(o.kind)), patched]) {
      const created = await f.cluster.controlPlane.admin.create(`${await f.cluster.controlPlane.pathOf(object)}?dryRun=All`, object);
      assert.is(created.metadata.name, object.metadata.name, `${object.kind} ${object.metadata.name}`);
    }
    // The Deployment's own arguments, $(VAR)s from its ConfigMap, files from a root made by `meshc ca init`.
    const config = objects.find((o) => o.kind === 'ConfigMap').data;
    const deployment = objects.find((o) => o.kind === 'Deployment');
    const rootDir = path.join(f.cluster.dir, 'deployed-root');
    const init = runMeshc(['ca', 'init', '--trust-domain', config.MESHC_TRUST_DOMAIN, '--out', rootDir]);
    assert.is(init.status, 0, init.stderr);
    const files: Record<string, string> = { '/etc/meshc-ca/root/root.crt': path.join(rootDir, 'root.crt'), '/etc/meshc-ca/root/root.key': path.join(rootDir, 'root.key'), '/etc/meshc-ca/bundle/bundle.pem': path.join(rootDir, 'root.crt') };
    const args = deployment.spec.template.spec.containers[0].args.map((a: string) => files[a] ?? a.replace(/\$\((\w+)\)/g, (_: string, name: string) => config[name]));
    args[args.indexOf('--port') + 1] = '0';
    const child = spawnMeshc([...args, '--server-name', '127.0.0.1', '--address', '127.0.0.1', '--kubeconfig', f.caKubeconfig], { stdio: ['ignore', 'ignore', 'pipe'] });
    const lines: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (l) => lines.push(l));
    try {
      const serving = await waitFor('meshc ca serve listening', () => lines.map((l) => /ca: serving cluster\.local on https:\/\/127\.0\.0\.1:(\d+)/.exec(l)).find(Boolean) ?? (child.exitCode !== null ? (() => { throw new Error(lines.join('\n')); })() : undefined), 20000);
      assert.match(lines.join('\n'), /SVIDs for 86400 s; agents are meshc-system\/meshc-agent/);
      const bundle = readFileSync(path.join(rootDir, 'root.crt'), 'utf8');
      const csr = await buildCsr(await generateNodeKey());
      const answer = await postJson(new URL(`https://127.0.0.1:${serving[1]}/v1/svids`), f.agentToken['node-2']!, { namespace: 'shop', serviceAccount: 'db', csr }, bundle);
      assert.is(answer.status, 200, JSON.stringify(answer.body));
      assert.is(verifySvid(answer.body.certificate, bundle, { trustDomain: 'cluster.local' }).spiffeId, 'spiffe://cluster.local/ns/shop/sa/db');
      const refused = await postJson(new URL(`https://127.0.0.1:${serving[1]}/v1/svids`), f.agentToken['node-2']!, { namespace: 'shop', serviceAccount: 'web', csr }, bundle);
      assert.is(refused.body.reason, 'no-pod-on-node');
      await waitFor('the refusal logged', () => lines.find((l) => /ca: refused shop\/web: no-pod-on-node: no running pod of ServiceAccount shop\/web on node node-2/.test(l)), 5000);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    }
  });
});
