// The API server stand-in (a test double) against the documented protocol, over raw HTTP: list
// bodies and resourceVersions, paging, selectors, watch streams, 410 Gone, writes, discovery,
// restart on the same port.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { ApiServerStandin } from './standin.ts';

const svc = (name: string, ns = 'default', labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns, labels },
  spec: { ports: [{ port: 80 }] },
});

async function get(server: ApiServerStandin, path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(server.url + path);
  return { status: response.status, body: await response.json() };
}

async function send(server: ApiServerStandin, method: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(server.url + path, { method, body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  return { status: response.status, body: await response.json() };
}

interface Stream {
  events: { type: string; object: any }[];
  status: number;
  ended: Promise<'end' | 'error'>;
  close(): void;
}

/** Opens a watch and collects its events. */
function watch(server: ApiServerStandin, path: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const request = http.get(server.url + path, (res) => {
      const stream: Stream = {
        events: [],
        status: res.statusCode ?? 0,
        ended: new Promise((done) => {
          res.on('end', () => done('end'));
          res.on('error', () => done('error'));
          res.on('aborted', () => done('error'));
        }),
        close: () => request.destroy(),
      };
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let newline;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          stream.events.push(JSON.parse(buffer.slice(0, newline)));
          buffer = buffer.slice(newline + 1);
        }
      });
      resolve(stream);
    });
    request.on('error', reject);
  });
}

const until = async (what: string, predicate: () => boolean, ms = 2000) => {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

async function withServer(options: ConstructorParameters<typeof ApiServerStandin>[0], body: (s: ApiServerStandin) => Promise<void>): Promise<void> {
  const server = new ApiServerStandin(options);
  await server.start();
  try {
    await body(server);
  } finally {
    await server.stop();
  }
}

const list = suite('stand-in: list');

list('typed list body with the current resourceVersion; built-in items without apiVersion/kind', () =>
  withServer({}, async (s) => {
    s.create(svc('b'));
    s.create(svc('a'));
    const { status, body } = await get(s, '/api/v1/services');
    assert.is(status, 200);
    assert.is(body.kind, 'ServiceList');
    assert.is(body.apiVersion, 'v1');
    assert.is(body.metadata.resourceVersion, s.resourceVersion);
    assert.equal(body.items.map((i: any) => i.metadata.name), ['a', 'b']);
    assert.is(body.items[0].kind, undefined);
    assert.is(body.items[0].apiVersion, undefined);
    assert.ok(body.items[0].metadata.uid);
    assert.ok(Number(body.items[1].metadata.resourceVersion) < Number(body.items[0].metadata.resourceVersion));
  }));

list('custom resources keep apiVersion/kind, in the version asked for', () =>
  withServer({}, async (s) => {
    s.create({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'default' }, spec: {} });
    const v1beta1 = await get(s, '/apis/gateway.networking.k8s.io/v1beta1/namespaces/default/httproutes');
    assert.is(v1beta1.body.kind, 'HTTPRouteList');
    assert.is(v1beta1.body.items[0].apiVersion, 'gateway.networking.k8s.io/v1beta1');
    assert.is(v1beta1.body.items[0].kind, 'HTTPRoute');
    assert.is((await get(s, '/apis/gateway.networking.k8s.io/v1alpha2/httproutes')).status, 404);
  }));

list('namespace, label and field selectors; a bad selector is a 400 Status', () =>
  withServer({}, async (s) => {
    s.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });
    s.create(svc('a', 'default', { app: 'web', tier: 'front' }));
    s.create(svc('b', 'default', { app: 'db' }));
    s.create(svc('c', 'other', { app: 'web' }));
    const names = async (path: string) => (await get(s, path)).body.items.map((i: any) => `${i.metadata.namespace}/${i.metadata.name}`);
    assert.equal(await names('/api/v1/namespaces/default/services'), ['default/a', 'default/b']);
    assert.equal(await names('/api/v1/services?labelSelector=app%3Dweb'), ['default/a', 'other/c']);
    assert.equal(await names('/api/v1/services?labelSelector=app%20in%20(web,db),!tier'), ['default/b', 'other/c']);
    assert.equal(await names('/api/v1/services?fieldSelector=metadata.namespace!%3Ddefault'), ['other/c']);
    const bad = await get(s, '/api/v1/services?fieldSelector=spec.nodeName%3Dn1');
    assert.is(bad.status, 400);
    assert.is(bad.body.kind, 'Status');
    assert.match(bad.body.message, /field label not supported: spec.nodeName/);
  }));

list('limit and continue page over one snapshot; an expired continue token is 410', () =>
  withServer({}, async (s) => {
    for (const n of ['a', 'b', 'c', 'd', 'e']) s.create(svc(n));
    const first = await get(s, '/api/v1/services?limit=2');
    assert.equal(first.body.items.map((i: any) => i.metadata.name), ['a', 'b']);
    assert.is(first.body.metadata.remainingItemCount, 3);
    s.create(svc('aa')); // not in the snapshot
    s.delete('v1', 'Service', 'default', 'e');
    const second = await get(s, `/api/v1/services?limit=2&continue=${first.body.metadata.continue}`);
    const third = await get(s, `/api/v1/services?limit=2&continue=${second.body.metadata.continue}`);
    assert.equal([...second.body.items, ...third.body.items].map((i: any) => i.metadata.name), ['c', 'd', 'e']);
    assert.is(third.body.metadata.continue, undefined);
    assert.is(third.body.metadata.resourceVersion, first.body.metadata.resourceVersion);
    const again = await get(s, '/api/v1/services?limit=2');
    s.compact();
    s.create(svc('later'));
    s.compact();
    const expired = await get(s, `/api/v1/services?limit=2&continue=${again.body.metadata.continue}`);
    assert.is(expired.status, 410);
    assert.is(expired.body.reason, 'Expired');
  }));

const watching = suite('stand-in: watch');

watching('from a resourceVersion: only later events, in order, with their resourceVersions', () =>
  withServer({}, async (s) => {
    s.create(svc('before'));
    const from = s.resourceVersion;
    s.create(svc('a'));
    const stream = await watch(s, `/api/v1/services?watch=true&resourceVersion=${from}`);
    const a = s.get('v1', 'Service', 'default', 'a')!;
    s.update({ ...a, spec: { ports: [{ port: 81 }] } });
    s.delete('v1', 'Service', 'default', 'a');
    await until('3 events', () => stream.events.length === 3);
    assert.equal(stream.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED a', 'MODIFIED a', 'DELETED a']);
    const rvs = stream.events.map((e) => Number(e.object.metadata.resourceVersion));
    assert.ok(rvs[0]! < rvs[1]! && rvs[1]! < rvs[2]!);
    assert.is(String(rvs[2]), s.resourceVersion, 'a DELETED event carries the deletion resourceVersion');
    assert.is(stream.events[0]!.object.kind, 'Service');
    assert.is(stream.events[0]!.object.apiVersion, 'v1');
    stream.close();
  }));

watching('without a resourceVersion: ADDED for every object first', () =>
  withServer({}, async (s) => {
    s.create(svc('x'));
    s.create(svc('y'));
    const stream = await watch(s, '/api/v1/namespaces/default/services?watch=true');
    await until('2 events', () => stream.events.length === 2);
    assert.equal(stream.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED x', 'ADDED y']);
    stream.close();
  }));

watching('an object leaving or entering the label selector is DELETED / ADDED', () =>
  withServer({}, async (s) => {
    s.create(svc('x', 'default', { app: 'web' }));
    const stream = await watch(s, `/api/v1/services?watch=true&resourceVersion=${s.resourceVersion}&labelSelector=app%3Dweb`);
    const x = s.get('v1', 'Service', 'default', 'x')!;
    const moved = s.update({ ...x, metadata: { ...x.metadata, labels: { app: 'db' } } });
    s.update({ ...moved, metadata: { ...moved.metadata, labels: { app: 'web' } } });
    await until('2 events', () => stream.events.length === 2);
    assert.equal(stream.events.map((e) => e.type), ['DELETED', 'ADDED']);
    stream.close();
  }));

watching('bookmarks when allowed; timeoutSeconds ends the stream cleanly', () =>
  withServer({ bookmarkIntervalMs: 20 }, async (s) => {
    const stream = await watch(s, `/api/v1/services?watch=true&resourceVersion=${s.resourceVersion}&allowWatchBookmarks=true&timeoutSeconds=1`);
    await until('a bookmark', () => stream.events.some((e) => e.type === 'BOOKMARK'));
    const bookmark = stream.events.find((e) => e.type === 'BOOKMARK')!;
    assert.is(bookmark.object.kind, 'Service');
    assert.is(bookmark.object.metadata.resourceVersion, s.resourceVersion);
    assert.is(await stream.ended, 'end');
    assert.is(s.openWatches, 0);
  }));

watching('410 Gone: ERROR event with an Expired Status, or an HTTP 410 in status mode', async () => {
  await withServer({}, async (s) => {
    const old = s.resourceVersion;
    s.create(svc('a'));
    s.compact();
    const stream = await watch(s, `/api/v1/services?watch=true&resourceVersion=${old}`);
    assert.is(stream.status, 200);
    assert.is(await stream.ended, 'end');
    assert.equal(stream.events.length, 1);
    assert.is(stream.events[0]!.type, 'ERROR');
    assert.equal({ ...stream.events[0]!.object, message: undefined }, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: undefined, reason: 'Expired', code: 410 });
    assert.match(stream.events[0]!.object.message, /too old resource version/);
    // The current resourceVersion is still good.
    const ok = await watch(s, `/api/v1/services?watch=true&resourceVersion=${s.resourceVersion}`);
    s.create(svc('b'));
    await until('event', () => ok.events.length === 1);
    ok.close();
  });
  await withServer({ goneMode: 'status' }, async (s) => {
    const old = s.resourceVersion;
    s.create(svc('a'));
    s.compact();
    const { status, body } = await get(s, `/api/v1/services?watch=true&resourceVersion=${old}`);
    assert.is(status, 410);
    assert.is(body.reason, 'Expired');
  });
});

watching('history beyond historyLimit is compacted', () =>
  withServer({ historyLimit: 3 }, async (s) => {
    const old = s.resourceVersion;
    for (const n of ['a', 'b', 'c', 'd', 'e']) s.create(svc(n));
    const stream = await watch(s, `/api/v1/services?watch=true&resourceVersion=${old}`);
    await stream.ended;
    assert.is(stream.events[0]!.object.code, 410);
  }));

watching('dropWatches cuts the connection; expireWatches sends 410 to open watches', () =>
  withServer({}, async (s) => {
    const one = await watch(s, `/api/v1/services?watch=true&resourceVersion=${s.resourceVersion}`);
    await until('registered', () => s.openWatches === 1);
    assert.is(s.dropWatches(), 1);
    assert.is(await one.ended, 'error');
    const two = await watch(s, `/api/v1/services?watch=true&resourceVersion=${s.resourceVersion}`);
    await until('registered', () => s.openWatches === 1);
    assert.is(s.expireWatches(), 1);
    assert.is(await two.ended, 'end');
    assert.is(two.events[0]!.object.code, 410);
  }));

const writes = suite('stand-in: writes, discovery, restart');

writes('POST, GET, PUT with conflict detection, DELETE, as Status errors', () =>
  withServer({}, async (s) => {
    const created = await send(s, 'POST', '/api/v1/namespaces/default/services', svc('web'));
    assert.is(created.status, 201);
    assert.is(created.body.metadata.resourceVersion, s.resourceVersion);
    assert.is((await send(s, 'POST', '/api/v1/namespaces/default/services', svc('web'))).body.reason, 'AlreadyExists');
    const missingNs = await send(s, 'POST', '/api/v1/namespaces/nope/services', svc('web', 'nope'));
    assert.is(missingNs.status, 404);
    assert.match(missingNs.body.message, /namespaces "nope" not found/);
    const wrongVersion = await send(s, 'POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', { ...svc('x'), kind: 'EndpointSlice' });
    assert.is(wrongVersion.status, 400);
    const stale = await send(s, 'PUT', '/api/v1/namespaces/default/services/web', { ...created.body, metadata: { ...created.body.metadata, resourceVersion: '1' } });
    assert.is(stale.status, 409);
    const updated = await send(s, 'PUT', '/api/v1/namespaces/default/services/web', { ...created.body, spec: { ports: [{ port: 81 }] } });
    assert.is(updated.status, 200);
    assert.is(updated.body.metadata.uid, created.body.metadata.uid);
    assert.is((await get(s, '/api/v1/namespaces/default/services/web')).body.spec.ports[0].port, 81);
    assert.is((await fetch(`${s.url}/api/v1/namespaces/default/services/web`, { method: 'DELETE' })).status, 200);
    assert.is((await get(s, '/api/v1/namespaces/default/services/web')).status, 404);
  }));

writes('required fields of the deploy kinds are validated (422 naming the field)', () =>
  withServer({}, async (s) => {
    const ds = {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent', namespace: 'kube-system' },
      spec: { selector: { matchLabels: { app: 'a' } }, template: { metadata: { labels: { app: 'b' } }, spec: { containers: [{ name: 'c' }] } } },
    };
    const { status, body } = await send(s, 'POST', '/apis/apps/v1/namespaces/kube-system/daemonsets', ds);
    assert.is(status, 422);
    assert.match(body.message, /spec.template.metadata.labels/);
    assert.match(body.message, /containers\[0\].image: Required value/);
  }));

writes('discovery: groups, versions, resources; the Gateway API only when served', async () => {
  await withServer({ gatewayVersions: ['v1beta1'] }, async (s) => {
    const groups = (await get(s, '/apis')).body;
    assert.is(groups.kind, 'APIGroupList');
    const gateway = groups.groups.find((g: any) => g.name === 'gateway.networking.k8s.io');
    assert.equal(gateway.versions.map((v: any) => v.version), ['v1beta1']);
    const resources = (await get(s, '/apis/gateway.networking.k8s.io/v1beta1')).body;
    assert.equal(resources.resources.map((r: any) => r.name), ['httproutes']);
    assert.ok((await get(s, '/api/v1')).body.resources.some((r: any) => r.name === 'services' && r.namespaced));
    assert.is((await get(s, '/apis/gateway.networking.k8s.io/v1')).status, 404);
  });
  await withServer({ gatewayVersions: [] }, async (s) => {
    assert.is((await get(s, '/apis/gateway.networking.k8s.io')).status, 404);
  });
});

writes('stop and start again on the same port, keeping state; requests fail while stopped', () =>
  withServer({}, async (s) => {
    s.create(svc('kept'));
    const port = s.port;
    await s.stop();
    const failed = await fetch(`${s.url}/api/v1/services`).then(() => false, () => true);
    assert.ok(failed);
    await s.start();
    assert.is(s.port, port);
    assert.equal((await get(s, '/api/v1/services')).body.items.map((i: any) => i.metadata.name), ['kept']);
  }));

writes('failRequests injects errors for chosen requests', () =>
  withServer({}, async (s) => {
    s.failRequests((r) => (r.path.endsWith('/services') ? 503 : undefined));
    assert.is((await get(s, '/api/v1/services')).status, 503);
    assert.is((await get(s, '/api/v1/nodes')).status, 200);
    s.failRequests(undefined);
    assert.is((await get(s, '/api/v1/services')).status, 200);
  }));

list.run();
watching.run();
writes.run();
