// The agent's identity manager against a real CaServer whose view of the cluster is a test double
// (the real API server is test/identity/ca-cluster.test.ts's): fail closed (a renewal that keeps
// failing keeps the SVID to its expiry, then drops it), recovery, refusals recorded with their
// reason, a CA whose TLS certificate is not of the trust bundle.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { IdentityManager, serviceAccountsOf } from '../../src/agent/identity.ts';
import { CaServer } from '../../src/ca/server.ts';
import { Signer, type ClusterView } from '../../src/ca/signer.ts';
import { IdentityStore } from '../../src/identity/store.ts';
import { createRootCa, verifySvid, type RootCa } from '../../src/identity/x509.ts';

const TD = 'cluster.test';

interface Lab {
  root: RootCa;
  server: CaServer;
  state: { down: boolean; pods: any[] };
  url: string;
}

async function lab(lifetimeSeconds: number): Promise<Lab> {
  const root = await createRootCa({ trustDomain: TD });
  const state = { down: false, pods: [pod('shop', 'api')] };
  const view: ClusterView = {
    async reviewToken(token) {
      if (state.down) throw new Error('connect ECONNREFUSED (the test took the API server away)');
      return token === 'agent-token' ? { authenticated: true, user: { username: 'system:serviceaccount:meshc-system:meshc-agent', extra: { 'authentication.kubernetes.io/node-name': ['node-1'] } } } : { authenticated: false, error: 'invalid token' };
    },
    getPod: async () => undefined,
    podsOnNode: async (node) => (node === 'node-1' ? state.pods : []),
  };
  const signer = new Signer(root, root.certPem, { trustDomain: TD, agentServiceAccount: 'meshc-system/meshc-agent', svidLifetimeSeconds: lifetimeSeconds }, view);
  const server = new CaServer({ root, signer, serverNames: ['127.0.0.1'], host: '127.0.0.1', port: 0, log: () => {} });
  await server.start();
  return { root, server, state, url: `https://127.0.0.1:${server.port}` };
}

function pod(namespace: string, serviceAccount: string, extra: any = {}) {
  return { metadata: { namespace, name: `${serviceAccount}-1`, uid: `${namespace}-${serviceAccount}` }, spec: { serviceAccountName: serviceAccount, ...extra.spec }, status: { phase: 'Running', ...extra.status } };
}

function manager(l: Lab, store: IdentityStore, log: string[], bundle: string | (() => string) = l.root.certPem) {
  return new IdentityManager({ caUrl: l.url, trustDomain: TD, trustBundle: typeof bundle === 'string' ? () => bundle : bundle, token: () => 'agent-token', store, log: (line) => log.push(line), retryMs: 300 });
}

async function until(what: string, probe: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!probe()) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now();
}

const test = suite('agent identity manager');

test('which ServiceAccounts: live pods only, not the host network\'s, default when the spec names none', () => {
  const pods = [pod('shop', 'api'), pod('shop', 'done', { status: { phase: 'Succeeded' } }), pod('meshc-system', 'meshc-agent', { spec: { hostNetwork: true } }), { metadata: { namespace: 'web' }, spec: {}, status: { phase: 'Pending' } }];
  assert.equal([...serviceAccountsOf(pods)].sort(), ['shop/api', 'web/default']);
});

test('fails closed: a renewal that keeps failing keeps the SVID until it expires, then drops it; it comes back with the CA', async () => {
  const l = await lab(3);
  const store = new IdentityStore(TD, l.root.certPem);
  const log: string[] = [];
  const m = manager(l, store, log);
  try {
    m.setServiceAccounts(new Set(['shop/api']));
    await until('held', () => store.get('shop', 'api') !== undefined, 5000);
    const first = store.get('shop', 'api')!;
    assert.is(verifySvid(first.certPem, l.root.certPem, { trustDomain: TD }).spiffeId, `spiffe://${TD}/ns/shop/sa/api`);
    l.state.down = true;
    await until('a failed renewal', () => m.problems.has('shop/api'), 5000);
    assert.match(m.problems.get('shop/api')!, /the CA refused \(503 api-unavailable\): TokenReview: connect ECONNREFUSED/);
    assert.is(store.get('shop', 'api')?.serial, first.serial, 'kept while valid');
    const dropped = await until('dropped at expiry', () => store.get('shop', 'api') === undefined, 5000);
    assert.ok(dropped >= first.notAfter.getTime(), `not before its expiry (${dropped - first.notAfter.getTime()} ms)`);
    assert.ok(dropped - first.notAfter.getTime() < 1000, `within a second of its expiry (${dropped - first.notAfter.getTime()} ms)`);
    assert.ok(log.some((line) => /dropped spiffe:\/\/cluster.test\/ns\/shop\/sa\/api: it expired at .* and no new SVID came/.test(line)), log.join('\n'));
    l.state.down = false;
    await until('held again', () => store.get('shop', 'api') !== undefined, 5000);
    assert.is.not(store.get('shop', 'api')!.serial, first.serial);
    assert.not.ok(m.problems.has('shop/api'));
  } finally {
    m.stop();
    await l.server.stop();
  }
});

test('a refusal is recorded with its reason and nothing is held; a CA outside the trust bundle is not asked', async () => {
  const l = await lab(60);
  const store = new IdentityStore(TD, l.root.certPem);
  const log: string[] = [];
  const m = manager(l, store, log);
  const foreign = await createRootCa({ trustDomain: TD });
  const fooled = manager(l, new IdentityStore(TD, foreign.certPem), [], foreign.certPem);
  try {
    m.setServiceAccounts(new Set(['shop/other']));
    await until('refused', () => m.problems.has('shop/other'), 5000);
    assert.match(m.problems.get('shop/other')!, /the CA refused \(403 no-pod-on-node\): no running pod of ServiceAccount shop\/other on node node-1/);
    assert.equal(store.list(), []);
    fooled.setServiceAccounts(new Set(['shop/api']));
    await until('TLS refused', () => fooled.problems.has('shop/api'), 5000);
    assert.match(fooled.problems.get('shop/api')!, /CA https:\/\/127.0.0.1:\d+: .*(certificate|self.signed|issuer)/i);
  } finally {
    m.stop();
    fooled.stop();
    await l.server.stop();
  }
});

test('the trust bundle is read for every request; the store tells the tunnel when it changes (a rotation\'s second root)', async () => {
  const l = await lab(2);
  const next = await createRootCa({ trustDomain: TD });
  let bundle = l.root.certPem;
  const store = new IdentityStore(TD, l.root.certPem);
  const seen: string[] = [];
  store.onTrustBundle((pem) => seen.push(pem));
  const m = manager(l, store, [], () => bundle);
  try {
    m.setServiceAccounts(new Set(['shop/api']));
    await until('held', () => store.get('shop', 'api') !== undefined, 5000);
    assert.equal(seen, [], 'the same bundle: no change');
    bundle = l.root.certPem + next.certPem;
    // The next request (the renewal at half-life, or a retry) reads it.
    await until('the new bundle reached the store', () => seen.length > 0, 5000);
    assert.equal(seen, [bundle]);
    assert.is(store.trustBundle(), bundle);
  } finally {
    m.stop();
    await l.server.stop();
  }
});

test.run();
