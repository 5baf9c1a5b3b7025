// KubeSource and network policy, against the API server stand-in (a test double): NetworkPolicies,
// CiliumNetworkPolicies and every Pod reach the model, compile to the same tables as the same
// objects in a manifest file, a bad policy is a located diagnostic that takes no other down, and a
// cluster without Cilium's CRD says so once, keeps NetworkPolicies, and picks the CRD up later.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { advanceUntil, harness, namespace, waitFor } from './helpers.ts';
import { buildModel } from '../../src/model/build.ts';
import { compileNetpol } from '../../src/netpol/tables.ts';
import { hex } from '../../src/tables/codec.ts';
import type { Model } from '../../src/model/types.ts';

function pod(ns: string, name: string, ip: string, labels: Record<string, string>, nodeName = 'n1') {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, uid: `00000000-0000-0000-0000-${ip.split('.')[3]!.padStart(12, '0')}`, labels },
    spec: { nodeName, containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

function networkPolicy(ns: string, name: string, spec: Record<string, unknown>) {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec };
}

function ciliumPolicy(ns: string, name: string, spec: Record<string, unknown>) {
  return { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name, namespace: ns }, spec };
}

const allowWebFromClient = networkPolicy('default', 'web-from-client', {
  podSelector: { matchLabels: { app: 'web' } },
  policyTypes: ['Ingress'],
  ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'http' }] }],
});

const seed = [
  namespace('shop'),
  pod('default', 'client-1', '10.244.1.11', { app: 'client' }),
  pod('default', 'web-1', '10.244.2.12', { app: 'web' }, 'n2'),
  pod('shop', 'db-1', '10.244.2.13', { app: 'db' }, 'n2'),
  allowWebFromClient,
];

/** Every row of the compiled network policy tables, as hex, by map. */
function tableRows(model: Model): Record<string, string[]> {
  const tables = compileNetpol(model);
  return Object.fromEntries([...tables.rows].map(([name, rows]) => [name, [...rows.values()].map((r) => `${hex(r.key)}=${hex(r.value)}`).sort()]));
}

/** The model the manifests source builds from the same objects (with the Namespaces the server has). */
function manifestModel(objects: unknown[]): Model {
  const docs = [namespace('default'), namespace('kube-system'), ...objects].map((object, doc) => ({ file: 'same.yaml', doc, object: JSON.parse(JSON.stringify(object)) }));
  return buildModel(docs, { synthesize: false });
}

const read = suite('KubeSource: network policy');

read('NetworkPolicies, CiliumNetworkPolicies and every Pod reach the model, and compile to the tables the same manifest gives', async () => {
  const cilium = ciliumPolicy('shop', 'db-from-web', {
    endpointSelector: { matchLabels: { app: 'db' } },
    ingress: [{ fromEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'default', app: 'web' } }], toPorts: [{ ports: [{ port: '5432', protocol: 'TCP' }] }] }],
  });
  const h = await harness({ source: { nodeName: 'n1' }, seed: (s) => [...seed, cilium].forEach((o) => s.create(o)) });
  try {
    await h.source.waitForSync(5000);
    await waitFor('initial batch', () => h.batches.length === 1);
    const model = h.batches[0]!.model;
    assert.equal((model.networkPolicies ?? []).map((p) => `${p.kind} ${p.meta.namespace}/${p.meta.name}`), ['CiliumNetworkPolicy shop/db-from-web', 'NetworkPolicy default/web-from-client']);
    assert.equal([...model.pods.keys()], ['default/client-1', 'default/web-1', 'shop/db-1']);
    assert.equal(model.diagnostics.filter((d) => d.severity === 'error'), []);
    const live = tableRows(model);
    assert.ok(live['mc_np_rules']!.length > 0, 'the policies compile to rule rows');
    assert.equal(live, tableRows(manifestModel([...seed, cilium])), 'the same rows as the manifests source');
    assert.equal(h.source.status().resources.find((r) => r.kind === 'CiliumNetworkPolicy')?.apiVersion, 'cilium.io/v2');
  } finally {
    await h.close();
  }
});

read('a policy created, changed and deleted comes in a batch of its own; a bad one is a located error and the others stay', async () => {
  const h = await harness({ source: { nodeName: 'n1' }, seed: (s) => seed.forEach((o) => s.create(o)) });
  try {
    await h.source.waitForSync(5000);
    await waitFor('initial batch', () => h.batches.length === 1);
    const last = () => h.batches[h.batches.length - 1]!;
    const names = () => (last().model.networkPolicies ?? []).map((p) => p.meta.name);

    h.server.create(networkPolicy('shop', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }));
    await waitFor('created policy', () => names().includes('deny-all'));
    assert.equal(last().changes.map((c) => `${c.kind} ${c.type} ${c.namespace}/${c.name}`), ['NetworkPolicy added shop/deny-all']);
    assert.equal(last().model.networkPolicies!.find((p) => p.meta.name === 'deny-all')!.egress, []);

    // ipBlock beside a podSelector in one peer: the API server's validation would refuse it, a
    // server that does not validate (or an older object) hands it over; meshc leaves it out.
    h.server.create(networkPolicy('default', 'bad', {
      podSelector: {},
      ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }],
    }));
    await waitFor('bad policy seen', () => last().changes.some((c) => c.name === 'bad'));
    const errors = last().model.diagnostics.filter((d) => d.severity === 'error');
    assert.equal(errors.map((d) => `${d.file} ${d.kind} ${d.namespace}/${d.name} ${d.field}`), ['kube:NetworkPolicy/default/bad NetworkPolicy default/bad spec.ingress[0].from[0].ipBlock']);
    assert.match(errors[0]!.message, /may not be combined with podSelector/);
    assert.equal(names(), ['web-from-client', 'deny-all'], 'the bad policy is left out, the others stay');

    const stored = h.server.get('networking.k8s.io/v1', 'NetworkPolicy', 'shop', 'deny-all')!;
    h.server.update({ ...stored, spec: { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'] } });
    await waitFor('changed policy', () => last().model.networkPolicies!.some((p) => p.meta.name === 'deny-all' && p.podSelector.matchLabels['app'] === 'db'));
    assert.equal(last().model.networkPolicies!.find((p) => p.meta.name === 'deny-all')!.egress, undefined);

    h.server.delete('networking.k8s.io/v1', 'NetworkPolicy', 'default', 'bad');
    await waitFor('bad policy deleted, its error gone', () => last().changes.some((c) => c.name === 'bad' && c.type === 'deleted') && last().model.diagnostics.every((d) => d.severity !== 'error'));
    h.server.delete('networking.k8s.io/v1', 'NetworkPolicy', 'shop', 'deny-all');
    await waitFor('deleted policy', () => !names().includes('deny-all'));
    assert.equal(names(), ['web-from-client']);
  } finally {
    await h.close();
  }
});

read('a Pod\'s labels change its identity: a new batch, and the rows follow', async () => {
  const h = await harness({ source: { nodeName: 'n1' }, seed: (s) => seed.forEach((o) => s.create(o)) });
  try {
    await h.source.waitForSync(5000);
    await waitFor('initial batch', () => h.batches.length === 1);
    const before = tableRows(h.batches[0]!.model);
    // web-1 stops being what the policy selects: it is no longer isolated for ingress.
    const stored = h.server.get('v1', 'Pod', 'default', 'web-1')!;
    h.server.update({ ...stored, metadata: { ...stored.metadata, labels: { app: 'client' } } });
    await waitFor('relabelled pod', () => h.batches[h.batches.length - 1]!.model.pods.get('default/web-1')?.meta.labels['app'] === 'client');
    const model = h.batches[h.batches.length - 1]!.model;
    assert.not.equal(tableRows(model), before);
    const live = [seed[0], seed[1], { ...stored, metadata: { ...stored.metadata, labels: { app: 'client' } } }, seed[3], allowWebFromClient];
    assert.equal(tableRows(model), tableRows(manifestModel(live)));
  } finally {
    await h.close();
  }
});

read('Cilium not installed: said once, NetworkPolicies still read, synced; the CRD installed later is picked up', async () => {
  const h = await harness({
    standin: { ciliumVersions: [] },
    source: { nodeName: 'n1', rediscoverMs: 100 },
    seed: (s) => seed.forEach((o) => s.create(o)),
    manual: true,
  });
  const clock = h.clock!;
  try {
    await h.source.waitForSync(5000);
    await advanceUntil(clock, 'initial batch', () => h.batches.length === 1, 20);
    assert.equal((h.batches[0]!.model.networkPolicies ?? []).map((p) => p.meta.name), ['web-from-client']);
    const status = h.source.status();
    assert.ok(status.synced);
    assert.not.ok(status.stale);
    assert.ok(status.resources.find((r) => r.kind === 'CiliumNetworkPolicy')!.absent);
    // Looked again every 100 ms of the source's clock: still said once.
    const looks = () => h.server.requests.filter((r) => r.path === '/apis/cilium.io').length;
    const firstLooks = looks();
    await advanceUntil(clock, 'four more looks at cilium.io', () => looks() >= firstLooks + 4, 100, 1000);
    const said = h.logs.filter((l) => l.startsWith('CiliumNetworkPolicy:'));
    assert.equal(said, ['CiliumNetworkPolicy: cilium.io is not served; CiliumNetworkPolicies are not read until it is (Cilium\'s CRD is not installed); NetworkPolicies are (checking every 100 ms)']);
    assert.not.ok(h.server.requests.some((r) => r.path.includes('ciliumnetworkpolicies')), 'no list of an absent resource');

    h.server.serveCiliumVersions(['v2']);
    h.server.create(ciliumPolicy('shop', 'db-locked', { endpointSelector: { matchLabels: { app: 'db' } }, ingress: [] }));
    await advanceUntil(clock, 'the CiliumNetworkPolicy', () => (h.batches[h.batches.length - 1]!.model.networkPolicies ?? []).some((p) => p.meta.name === 'db-locked'), 50);
    assert.ok(h.logs.includes('CiliumNetworkPolicy: watching cilium.io/v2 (served: v2)'));
    assert.not.ok(h.source.status().resources.find((r) => r.kind === 'CiliumNetworkPolicy')!.absent);
  } finally {
    await h.close();
  }
});

read.run();
