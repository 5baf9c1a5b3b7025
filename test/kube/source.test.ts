// KubeSource against the API server stand-in (a test double, test/apiserver/standin.ts), with the
// real @kubernetes/client-node informers: sync, propagation, dropped watches, 410 relists,
// outages, coalescing, HTTPRoute versions and meshc.io/skip.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { advanceUntil, endpointIPs, harness, type Harness, namespace, node, route, service, slice, waitFor } from './helpers.ts';
import type { ChangeBatch } from '../../src/kube/source.ts';

const sync = suite('KubeSource: initial sync');

sync('lists every resource, then delivers one initial batch with the whole model', async () => {
  const h = await harness({
    seed: (s) => {
      s.create(node('n1', 'zone-a'));
      s.create(service('default', 'web', '10.96.0.10'));
      s.create(slice('default', 'web', 'web-1', ['10.1.0.1', '10.1.0.2']));
      s.create(service('default', 'api', '10.96.0.11'));
      s.create(route('default', 'api-split', 'api', [{ name: 'web', port: 80 }]));
    },
  });
  try {
    await h.source.waitForSync(5000);
    await waitFor('initial batch', () => h.batches.length > 0);
    const batch = h.batches[0]!;
    assert.ok(batch.initial);
    assert.ok(batch.all);
    assert.equal(batch.changes, []);
    assert.equal([...batch.services].sort(), ['default/api', 'default/web']);
    assert.equal(endpointIPs(batch.model, 'default/web/80'), ['10.1.0.1', '10.1.0.2']);
    assert.equal(batch.model.nodes.get('n1')?.zone, 'zone-a');
    assert.equal(batch.model.routes.map((r) => `${r.meta.name} ${r.apiVersion}`), ['api-split gateway.networking.k8s.io/v1']);
    assert.equal(batch.model.diagnostics.filter((d) => d.severity === 'error'), []);
    const status = h.source.status();
    assert.ok(status.synced);
    assert.not.ok(status.stale);
    assert.equal(status.resources.find((r) => r.kind === 'HTTPRoute')?.apiVersion, 'gateway.networking.k8s.io/v1');
    // Objects are named after their origin in diagnostics.
    assert.ok(batch.model.services.get('default/web')!.meta.source.file === 'kube:Service/default/web');
  } finally {
    await h.close();
  }
});

sync('no batch and synced=false while one resource cannot be listed; the batch follows the list', async () => {
  const h = await harness({
    seed: (s) => {
      s.create(service('default', 'web', '10.96.0.10'));
      s.failRequests((r) => (r.path.endsWith('/endpointslices') && !r.watch ? 503 : undefined));
    },
    manual: true,
  });
  const clock = h.clock!;
  try {
    await waitFor('the other resources to be listed', () => h.source.status().resources.filter((r) => r.listed).length === h.source.status().resources.length - 1);
    // Ten seconds of retries at the capped backoff (150 ms), each refused: still no batch.
    const lists = () => h.server.requests.filter((r) => !r.watch && r.path.endsWith('/endpointslices')).length;
    const before = lists();
    await advanceUntil(clock, 'ten seconds of list retries', () => clock.now() >= 10_000 && lists() > before + 10, 150, 20_000);
    assert.not.ok(h.source.synced());
    assert.equal(h.batches.length, 0, 'nothing may be programmed before every resource is listed');
    const slices = h.source.status().resources.find((r) => r.kind === 'EndpointSlice')!;
    assert.ok(slices.failing);
    assert.match(slices.lastError ?? '', /503/);
    const timedOut = await h.source.waitForSync(50).then(() => undefined, (error: Error) => error);
    assert.match(timedOut?.message ?? 'resolved', /no full list yet of EndpointSlice \(.*503/);
    h.server.failRequests(undefined);
    await advanceUntil(clock, 'the initial batch after the list', () => h.batches.length === 1, 50);
    assert.ok(h.source.synced());
    assert.ok(h.batches[0]!.initial);
    assert.not.ok(h.source.stale());
  } finally {
    await h.close();
  }
});

const propagate = suite('KubeSource: changes propagate');

propagate('create, modify and delete of Services, EndpointSlices and HTTPRoutes reach the model', async () => {
  const h = await harness();
  try {
    await h.source.waitForSync(5000);
    await waitFor('initial batch', () => h.batches.length === 1);
    const last = () => h.batches[h.batches.length - 1]!;
    const after = async (what: string, change: () => void, check: (b: ChangeBatch) => boolean) => {
      const count = h.batches.length;
      change();
      await waitFor(what, () => h.batches.length > count && check(last()));
    };

    await after('service added', () => h.server.create(service('default', 'web', '10.96.0.10')), (b) => b.model.services.has('default/web'));
    assert.equal([...last().services], ['default/web']);
    assert.equal(last().changes.map((c) => `${c.type} ${c.kind} ${c.namespace}/${c.name}`), ['added Service default/web']);

    await after('slice added', () => h.server.create(slice('default', 'web', 'web-1', ['10.1.0.1'])), (b) => endpointIPs(b.model, 'default/web/80').length === 1);
    assert.equal([...last().services], ['default/web']);

    const stored = h.server.get('discovery.k8s.io/v1', 'EndpointSlice', 'default', 'web-1')!;
    await after(
      'slice modified',
      () => h.server.update({ ...stored, endpoints: [...stored.endpoints, { addresses: ['10.1.0.2'] }] }),
      (b) => endpointIPs(b.model, 'default/web/80').length === 2,
    );
    assert.equal(last().changes[0]!.type, 'modified');
    assert.equal(last().changes[0]!.resourceVersion, h.server.resourceVersion);

    await after('route added', () => {
      h.server.create(service('default', 'front', '10.96.0.20'));
      h.server.create(route('default', 'split', 'front', [{ name: 'web', port: 80 }]));
    }, (b) => b.model.routes.length === 1);
    assert.ok(last().services.has('default/front'), 'the route changes its parent Service');

    // A backend's endpoints change the parent's rows too (its route sends there).
    const current = h.server.get('discovery.k8s.io/v1', 'EndpointSlice', 'default', 'web-1')!;
    await after('slice shrunk', () => h.server.update({ ...current, endpoints: [current.endpoints[0]] }), (b) => endpointIPs(b.model, 'default/web/80').length === 1);
    assert.equal([...last().services].sort(), ['default/front', 'default/web']);

    await after('route deleted', () => h.server.delete('gateway.networking.k8s.io/v1', 'HTTPRoute', 'default', 'split'), (b) => b.model.routes.length === 0);
    assert.ok(last().services.has('default/front'));

    await after('service deleted', () => h.server.delete('v1', 'Service', 'default', 'web'), (b) => !b.model.services.has('default/web'));
    assert.equal(last().changes.map((c) => c.type), ['deleted']);

    await after('node zone', () => h.server.create(node('n1', 'zone-b')), (b) => b.model.nodes.get('n1')?.zone === 'zone-b');
    assert.ok(last().all, 'a Node change can alter any Service (zones)');
    for (const batch of h.batches.slice(1)) for (const change of batch.changes) assert.ok(change.seenAt <= batch.builtAt);
  } finally {
    await h.close();
  }
});

propagate('managedFields and kubectl\'s last-applied copy are not kept', async () => {
  const h = await harness({
    seed: (s) => {
      const body = service('default', 'web', '10.96.0.10', undefined, { 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(4096), keep: 'me' });
      s.create({ ...body, metadata: { ...body.metadata, managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }] } });
    },
  });
  try {
    await h.source.waitForSync(5000);
    await waitFor('initial batch', () => h.batches.length === 1);
    assert.equal(h.batches[0]!.model.services.get('default/web')!.meta.annotations, { keep: 'me' });
    const raw = h.server.get('v1', 'Service', 'default', 'web')!;
    assert.ok(raw.metadata.managedFields, 'the server still has them (only the agent\'s copy is slimmed)');
  } finally {
    await h.close();
  }
});

propagate('read(): the batch\'s model right after a batch, a fresh one once something changed', async () => {
  const h = await harness({ seed: (s) => s.create(service('default', 'web', '10.96.0.10')), start: false });
  const same: boolean[] = [];
  h.source.onBatch(async (batch) => {
    const snapshot = await h.source.read();
    same.push(snapshot.model === batch.model && snapshot.synced);
  });
  try {
    await h.source.start();
    await h.source.waitForSync(5000);
    await waitFor('initial batch', () => same.length === 1);
    assert.equal(same, [true]);
    h.server.create(service('default', 'api', '10.96.0.11'));
    await waitFor('cache updated', () => h.source.status().resources.find((r) => r.kind === 'Service')!.objects === 2);
    // Before (or after) the batch is cut, read() never returns a model without the change.
    assert.ok((await h.source.read()).model.services.has('default/api'));
    await waitFor('second batch', () => same.length === 2);
    assert.equal(same, [true, true]);
  } finally {
    await h.close();
  }
});

const resilience = suite('KubeSource: dropped watches, 410 Gone, outages');

resilience('a watch cut mid-stream is re-established and later changes still arrive', async () => {
  const h = await harness({ seed: (s) => s.create(service('default', 'web', '10.96.0.10')) });
  try {
    await h.source.waitForSync(5000);
    await waitFor('watches open', () => h.server.openWatches === h.source.status().resources.length);
    const watchRequests = h.server.requests.filter((r) => r.watch).length;
    const watchers = h.source.status().resources.length;
    assert.equal(h.server.dropWatches(), watchers);
    await waitFor('watches re-opened', () => h.server.openWatches === watchers && h.source.status().resources.every((r) => r.watchRestarts >= 1));
    assert.ok(h.server.requests.filter((r) => r.watch).length >= watchRequests + watchers);
    // Resumed from the last resourceVersion, not relisted.
    assert.equal(h.source.status().resources.filter((r) => r.relists > 0).map((r) => r.kind), []);
    const resumed = h.server.requests.filter((r) => r.watch && r.path === '/api/v1/services').pop()!;
    assert.ok(Number(resumed.query['resourceVersion']) > 0);
    h.server.create(slice('default', 'web', 'web-1', ['10.1.0.7']));
    await waitFor('slice after reconnect', () => endpointIPs(h.batches[h.batches.length - 1]!.model, 'default/web/80')[0] === '10.1.0.7');
    await waitFor('not stale', () => !h.source.stale());
  } finally {
    await h.close();
  }
});

for (const goneMode of ['event', 'status'] as const) {
  resilience(`410 Gone (${goneMode === 'event' ? 'ERROR event in the stream' : 'HTTP 410 on the watch'}) relists and converges, no live object ever missing`, async () => {
    const h = await harness({
      standin: { goneMode },
      seed: (s) => {
        s.create(service('default', 'live', '10.96.0.10'));
        s.create(slice('default', 'live', 'live-1', ['10.1.0.1', '10.1.0.2']));
        s.create(service('default', 'doomed', '10.96.0.11'));
        s.create(slice('default', 'doomed', 'doomed-1', ['10.2.0.1']));
      },
    });
    try {
      await h.source.waitForSync(5000);
      await waitFor('initial batch', () => h.batches.length === 1);
      // Watch the cache continuously: the live service must never lose its endpoints.
      let samples = 0;
      let missing = 0;
      let watching = true;
      const probe = () => {
        if (!watching) return;
        const model = h.source.model();
        samples++;
        if (endpointIPs(model, 'default/live/80').length !== 2) missing++;
        setImmediate(probe);
      };
      probe();
      // Cut the watches, change state while no watch is open, and forget the history: the
      // resumed watches get 410 and must relist.
      h.server.dropWatches();
      h.server.delete('v1', 'Service', 'default', 'doomed');
      h.server.delete('discovery.k8s.io/v1', 'EndpointSlice', 'default', 'doomed-1');
      h.server.create(service('default', 'fresh', '10.96.0.12'));
      h.server.compact();
      await waitFor('relist of every resource', () => h.source.status().resources.every((r) => r.relists >= 1));
      // Every resource relists on its own: converged once both deletions have come in a batch.
      const deletions = () => h.batches.flatMap((b) => b.changes).filter((c) => c.type === 'deleted');
      await waitFor('converged', () => {
        const model = h.batches[h.batches.length - 1]!.model;
        return !model.services.has('default/doomed') && model.services.has('default/fresh') && deletions().length >= 2;
      });
      watching = false;
      assert.ok(samples > 10, `sampled the cache ${samples} times`);
      assert.equal(missing, 0, 'a live backend was missing from the model during the relist');
      for (const batch of h.batches) assert.equal(endpointIPs(batch.model, 'default/live/80'), ['10.1.0.1', '10.1.0.2']);
      const deleted = deletions().map((c) => `${c.kind} ${c.name}`).sort();
      assert.equal(deleted, ['EndpointSlice doomed-1', 'Service doomed']);
      assert.ok(h.logs.some((l) => /410|expired/i.test(l)), 'the 410 is logged');
    } finally {
      await h.close();
    }
  });
}

resilience('an expired live watch (410 ERROR event) relists', async () => {
  const h = await harness({ seed: (s) => s.create(service('default', 'web', '10.96.0.10')) });
  try {
    await h.source.waitForSync(5000);
    await waitFor('watches open', () => h.server.openWatches === h.source.status().resources.length);
    const lists = h.server.requests.filter((r) => !r.watch && r.path === '/api/v1/services').length;
    h.server.compact();
    assert.equal(h.server.expireWatches(), h.source.status().resources.length);
    await waitFor('relisted', () => h.server.requests.filter((r) => !r.watch && r.path === '/api/v1/services').length === lists + 1);
    await waitFor('watching again', () => h.server.openWatches === h.source.status().resources.length);
    assert.equal(h.source.status().resources.find((r) => r.kind === 'Service')!.relists, 1);
    h.server.create(service('default', 'after', '10.96.0.11'));
    await waitFor('change after relist', () => h.batches.some((b) => b.model.services.has('default/after')));
  } finally {
    await h.close();
  }
});

resilience('API server down: last state stays, stale is set, changes made meanwhile arrive after it returns', async () => {
  const h = await harness({
    seed: (s) => {
      s.create(service('default', 'web', '10.96.0.10'));
      s.create(slice('default', 'web', 'web-1', ['10.1.0.1']));
      s.create(service('default', 'old', '10.96.0.11'));
    },
    manual: true,
  });
  const clock = h.clock!;
  const statuses: boolean[] = [];
  h.source.onStatus((s) => statuses.push(s.stale));
  try {
    await h.source.waitForSync(5000);
    await waitFor('initial batch', () => h.batches.length === 1);
    await h.server.stop();
    await advanceUntil(clock, 'stale', () => h.source.stale(), 20);
    const staleAt = clock.now();
    await advanceUntil(clock, 'several retries at the capped backoff', () => clock.now() - staleAt >= 400, 50);
    const status = h.source.status();
    assert.is(status.staleForMs, clock.now() - staleAt);
    assert.ok(status.synced, 'still synced: the cache is the last known state');
    assert.equal(endpointIPs(h.source.model(), 'default/web/80'), ['10.1.0.1'], 'last known state kept');
    const batchesWhileDown = h.batches.length;
    // Changes while the server is away, including history it forgets.
    h.server.delete('v1', 'Service', 'default', 'old');
    h.server.create(service('default', 'new', '10.96.0.12'));
    const stored = h.server.get('discovery.k8s.io/v1', 'EndpointSlice', 'default', 'web-1')!;
    h.server.update({ ...stored, endpoints: [{ addresses: ['10.1.0.9'] }] });
    assert.equal(h.batches.length, batchesWhileDown);
    await h.server.start();
    await advanceUntil(clock, 'fresh again', () => !h.source.stale(), 50);
    await advanceUntil(clock, 'changes applied', () => {
      const model = h.batches[h.batches.length - 1]!.model;
      return model.services.has('default/new') && !model.services.has('default/old') && endpointIPs(model, 'default/web/80')[0] === '10.1.0.9';
    }, 50);
    assert.equal(statuses, [true, false]);
    assert.equal(h.source.status().staleForMs, 0);
    // The resumed watches replayed the missed events (no relist needed: history was kept).
    assert.equal(h.source.status().resources.filter((r) => r.relists > 0).map((r) => r.kind), []);
  } finally {
    await h.close();
  }
});

resilience('backoff is capped: while the server is down, each watcher retries once per cap, never sooner', async () => {
  const h = await harness({ seed: (s) => s.create(service('default', 'web', '10.96.0.10')), source: { backoff: { initialMs: 10, maxMs: 80, jitter: 0.2 } }, manual: true });
  const clock = h.clock!;
  try {
    await h.source.waitForSync(5000);
    const port = h.server.port;
    await h.server.stop();
    // Count connection attempts with a bare listener on the port, which hangs up at once.
    const net = await import('node:net');
    let attempts = 0;
    const listener = net.createServer((socket) => {
      attempts++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(port, '127.0.0.1', () => resolve()));
    const watchers = h.source.status().resources.length;
    // Every watcher has failed and waits in its backoff: the clock holds one timer per watcher.
    const waiting = () => clock.pending === watchers && h.source.status().resources.every((r) => r.failing);
    // 10, 20, 40, 80: past the cap after 150 ms of clock time (the fixed random makes each delay
    // nominal). Round by round: the clock moves only while every watcher waits, and only up to the
    // moment their timers fire (they leave the clock as they do), so all of them stay in step.
    await waitFor('every watcher waiting in its backoff', waiting);
    let before = attempts;
    while (clock.now() < 300) {
      before = attempts;
      while (clock.pending === watchers) clock.advance(1);
      await waitFor('every watcher retried and waits again', () => attempts >= before + watchers && waiting());
    }
    // From here the retries are exactly 80 ms apart: none at 79 ms, one per watcher at 80 ms.
    for (let round = 0; round < 5; round++) {
      before = attempts;
      clock.advance(79);
      assert.is(clock.pending, watchers, `round ${round}: no retry before the cap`);
      clock.advance(1);
      assert.is(clock.pending, 0, `round ${round}: every watcher retries at the cap`);
      await waitFor(`round ${round}: the retries`, () => attempts >= before + watchers && waiting());
      assert.is(attempts, before + watchers, `round ${round}: one attempt per watcher, not a busy loop`);
    }
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  } finally {
    await h.close();
  }
});

const coalescing = suite('KubeSource: coalescing');

/** What the source's cache holds of a kind: the resourceVersion it has seen, its object count. */
function resourceVersion(h: Harness, kind: string): string | undefined {
  return h.source.status().resources.find((r) => r.kind === kind)?.resourceVersion;
}
function objects(h: Harness, kind: string): number | undefined {
  return h.source.status().resources.find((r) => r.kind === kind)?.objects;
}

coalescing('1,000 EndpointSlice updates inside the quiet period make one batch, one change per slice', async () => {
  const services = 10;
  const h = await harness({
    seed: (s) => {
      for (let i = 0; i < services; i++) {
        s.create(service('default', `svc${i}`, `10.96.1.${i + 1}`));
        s.create(slice('default', `svc${i}`, `svc${i}-1`, [`10.3.${i}.1`]));
      }
    },
    source: { quietMs: 50, maxDelayMs: 500 },
    manual: true,
  });
  const clock = h.clock!;
  try {
    await h.source.waitForSync(5000);
    await waitFor('initial batch', () => h.batches.length === 1);
    let last = '';
    for (let n = 0; n < 1000; n++) {
      const i = n % services;
      const stored = h.server.get('discovery.k8s.io/v1', 'EndpointSlice', 'default', `svc${i}-1`)!;
      h.server.update({ ...stored, endpoints: [{ addresses: [`10.3.${i}.${(n % 200) + 1}`] }] });
      last = h.server.get('discovery.k8s.io/v1', 'EndpointSlice', 'default', `svc${i}-1`)!.metadata!.resourceVersion!;
    }
    await waitFor('every update seen', () => resourceVersion(h, 'EndpointSlice') === last);
    assert.is(h.batches.length, 1, 'nothing before the quiet period has passed');
    clock.advance(49);
    assert.is(h.batches.length, 1, 'nothing 49 ms on');
    clock.advance(1);
    await waitFor('the batch', () => h.batches.length === 2);
    clock.advance(1000);
    assert.is(h.batches.length, 2, 'one batch for 1,000 updates');
    const batch = h.batches[1]!;
    assert.is(batch.changes.length, services, 'one change per slice');
    assert.equal(new Set(batch.services).size, services);
    for (let i = 0; i < services; i++) {
      const lastValue = (990 + i) % 200 + 1;
      assert.equal(endpointIPs(batch.model, `default/svc${i}/80`), [`10.3.${i}.${lastValue}`]);
    }
  } finally {
    await h.close();
  }
});

coalescing('a constant stream still gets batches at least every maxDelay', async () => {
  const h = await harness({ seed: (s) => s.create(slice('default', 'web', 'web-1', ['10.1.0.1'])), source: { quietMs: 40, maxDelayMs: 120 }, manual: true });
  const clock = h.clock!;
  try {
    await h.source.waitForSync(5000);
    await waitFor('initial batch', () => h.batches.length === 1);
    // An update every 10 ms of clock time for 700 ms, faster than the quiet period: without
    // maxDelay nothing would flush.
    for (let n = 0; n < 70; n++) {
      const stored = h.server.get('discovery.k8s.io/v1', 'EndpointSlice', 'default', 'web-1')!;
      h.server.update({ ...stored, endpoints: [{ addresses: [`10.1.0.${(n % 200) + 1}`] }] });
      const rv = h.server.get('discovery.k8s.io/v1', 'EndpointSlice', 'default', 'web-1')!.metadata!.resourceVersion!;
      await waitFor(`update ${n} seen`, () => resourceVersion(h, 'EndpointSlice') === rv);
      clock.advance(10);
    }
    const during = h.batches.slice(1);
    assert.is(during.length, 5, `${during.length} batches during a 700 ms stream`);
    for (const batch of during) {
      const waited = batch.builtAt - Math.min(...batch.changes.map((c) => c.seenAt));
      assert.ok(waited <= 120, `a change waited ${waited} ms for its batch`);
    }
  } finally {
    await h.close();
  }
});

coalescing('a slow listener is never re-entered; changes made meanwhile come in the next batch', async () => {
  const h = await harness({ seed: (s) => s.create(service('default', 'web', '10.96.0.10')), start: false, manual: true });
  const clock = h.clock!;
  let active = 0;
  let maxActive = 0;
  const seen: number[] = [];
  // The listener finishes only when the test lets it.
  const gates: (() => void)[] = [];
  h.source.onBatch(async (batch) => {
    active++;
    maxActive = Math.max(maxActive, active);
    seen.push(batch.model.services.size);
    await new Promise<void>((resolve) => gates.push(resolve));
    active--;
  });
  const release = () => gates.shift()?.();
  try {
    await h.source.start();
    await h.source.waitForSync(5000);
    await waitFor('initial batch', () => seen.length === 1);
    release();
    for (let i = 0; i < 5; i++) {
      h.server.create(service('default', `s${i}`, `10.96.2.${i + 1}`));
      await waitFor(`s${i} seen`, () => objects(h, 'Service') === i + 2);
      clock.advance(50); // past the quiet period: a batch is due while the listener still runs
    }
    assert.equal(seen, [1, 2], 'one batch in the listener; the others wait for it');
    release();
    await waitFor('the changes made meanwhile', () => seen.length === 3);
    release();
    assert.equal(seen, [1, 2, 6], 'everything made meanwhile in the next batch');
    assert.equal(maxActive, 1);
  } finally {
    release();
    await h.close();
  }
});

coalescing('a failing listener gets the changes again after a backoff, until it succeeds', async () => {
  const h = await harness({ seed: (s) => s.create(service('default', 'web', '10.96.0.10')), start: false, source: { backoff: { initialMs: 30, maxMs: 60 } }, manual: true });
  const clock = h.clock!;
  let failures = 2;
  const delivered: ChangeBatch[] = [];
  h.source.onBatch((batch) => {
    delivered.push(batch);
    if (!batch.initial && failures-- > 0) throw new Error('map mc_services: update: E2BIG (injected)');
  });
  try {
    await h.source.start();
    await h.source.waitForSync(5000);
    await waitFor('initial batch', () => delivered.length === 1);
    h.server.create(slice('default', 'web', 'web-1', ['10.1.0.1']));
    await waitFor('the slice seen', () => objects(h, 'EndpointSlice') === 1);
    await advanceUntil(clock, 'three deliveries', () => delivered.length === 4, 10);
    const [first, second, third] = delivered.slice(1) as [ChangeBatch, ChangeBatch, ChangeBatch];
    for (const batch of [first, second, third]) {
      assert.equal(batch.changes.map((c) => `${c.kind} ${c.name}`), ['EndpointSlice web-1']);
      assert.is(batch.changes[0]!.seenAt, first.changes[0]!.seenAt, 'latency is counted from the first sighting');
      assert.equal(endpointIPs(batch.model, 'default/web/80'), ['10.1.0.1']);
    }
    assert.ok(second.all && third.all);
    // Backoff 30 ms, then 60 ms (the cap), each followed by the quiet period (20 ms).
    assert.is(second.builtAt - first.builtAt, 30 + 20, 'retried after the backoff, not at once');
    assert.is(third.builtAt - second.builtAt, 60 + 20, 'the backoff grew');
    clock.advance(10_000);
    assert.is(delivered.length, 4, 'no more deliveries once it succeeded');
    assert.ok(h.logs.some((l) => /batch listener failed: .*E2BIG/.test(l)));
  } finally {
    await h.close();
  }
});

const versions = suite('KubeSource: HTTPRoute versions');

versions('falls back to v1beta1 when v1 is not served', async () => {
  const h = await harness({ standin: { gatewayVersions: ['v1beta1'] }, seed: (s) => {
    s.create(service('default', 'web', '10.96.0.10'));
    s.create(route('default', 'r', 'web', [{ name: 'web', port: 80 }], 'v1beta1'));
  } });
  try {
    await h.source.waitForSync(5000);
    await waitFor('initial batch', () => h.batches.length === 1);
    assert.equal(h.source.status().resources.find((r) => r.kind === 'HTTPRoute')!.apiVersion, 'gateway.networking.k8s.io/v1beta1');
    assert.equal(h.batches[0]!.model.routes.map((r) => r.apiVersion), ['gateway.networking.k8s.io/v1beta1']);
    assert.ok(h.server.requests.some((r) => r.path === '/apis/gateway.networking.k8s.io/v1beta1/httproutes' && r.watch));
    assert.not.ok(h.server.requests.some((r) => r.path.startsWith('/apis/gateway.networking.k8s.io/v1/')));
  } finally {
    await h.close();
  }
});

versions('without the Gateway API the source syncs with no routes', async () => {
  const h = await harness({ standin: { gatewayVersions: [] }, seed: (s) => s.create(service('default', 'web', '10.96.0.10')) });
  try {
    await h.source.waitForSync(5000);
    const routes = h.source.status().resources.find((r) => r.kind === 'HTTPRoute')!;
    assert.ok(routes.absent);
    assert.ok(routes.listed);
    assert.not.ok(h.source.stale());
    assert.ok(h.logs.some((l) => /gateway\.networking\.k8s\.io is not served/.test(l)));
  } finally {
    await h.close();
  }
});

versions('the Gateway API installed later is found; removed, its routes go and the source stays synced', async () => {
  const h = await harness({ standin: { gatewayVersions: [] }, source: { rediscoverMs: 50 }, seed: (s) => s.create(service('default', 'web', '10.96.0.10')) });
  try {
    await h.source.waitForSync(5000);
    const routes = () => h.source.status().resources.find((r) => r.kind === 'HTTPRoute')!;
    assert.ok(routes().absent);
    h.server.serveGatewayVersions(['v1beta1']);
    h.server.create(route('default', 'r', 'web', [{ name: 'web', port: 80 }], 'v1beta1'));
    await waitFor('route found', () => h.batches.some((b) => b.model.routes.length === 1));
    assert.is(routes().apiVersion, 'gateway.networking.k8s.io/v1beta1');
    assert.not.ok(routes().absent);
    h.server.serveGatewayVersions([]);
    await waitFor('routes gone', () => routes().absent && h.batches[h.batches.length - 1]!.model.routes.length === 0);
    assert.ok(h.source.synced());
    await waitFor('not stale', () => !h.source.stale());
    assert.ok(h.batches.flatMap((b) => b.changes).some((c) => c.kind === 'HTTPRoute' && c.type === 'deleted'));
  } finally {
    await h.close();
  }
});

const skip = suite('KubeSource: meshc.io/skip');

const skippingPod = (ns: string, name: string, nodeName: string, annotations: Record<string, string> = {}, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, annotations, labels },
  spec: { nodeName, containers: [{ name: 'c', image: 'x', env: [{ name: 'BIG', value: 'x'.repeat(1000) }] }] },
  status: { podIP: '10.9.0.1', podIPs: [{ ip: '10.9.0.1' }] },
});

const seedSkip = (s: Harness['server']) => {
  s.create(namespace('istio-apps', { 'meshc.io/skip': 'true' }));
  s.create(skippingPod('default', 'mine-skipped', 'n1', { 'meshc.io/skip': 'true' }));
  s.create(skippingPod('default', 'mine-routed', 'n1', {}, { app: 'web' }));
  s.create(skippingPod('default', 'other-node', 'n2', { 'meshc.io/skip': 'true' }));
  s.create(skippingPod('istio-apps', 'sidecar-app', 'n1'));
  // A Service selecting a Pod, with no EndpointSlice (yet): Pods never make endpoints here.
  s.create({ ...service('default', 'web', '10.96.0.10'), spec: { ...service('default', 'web', '10.96.0.10').spec, selector: { app: 'web' } } });
};

skip('pods of this node only; skipped by their own or their namespace\'s annotation; every Pod in the model for network policy, none as an endpoint', async () => {
  const h = await harness({ source: { nodeName: 'n1' }, seed: seedSkip });
  try {
    await h.source.waitForSync(5000);
    await waitFor('initial batch', () => h.batches.length === 1);
    const skipped = h.source.skipped();
    assert.equal(skipped.namespaces, ['istio-apps']);
    assert.equal(skipped.pods.map((p) => `${p.namespace}/${p.name} ${p.reason}`).sort(), ['default/mine-skipped pod', 'istio-apps/sidecar-app namespace']);
    assert.ok(skipped.pods.every((p) => p.uid.length > 0));
    // Network policy's identities are every Pod's: listed without a node selector.
    assert.ok(h.server.requests.some((r) => r.path === '/api/v1/pods' && r.query['fieldSelector'] === undefined));
    const model = h.batches[0]!.model;
    assert.equal([...model.pods.keys()], ['default/mine-routed', 'default/mine-skipped', 'default/other-node', 'istio-apps/sidecar-app']);
    assert.equal(model.pods.get('default/mine-routed')!.meta.labels, { app: 'web' });
    assert.equal(endpointIPs(model, 'default/web/80'), [], 'pods never make endpoints here: EndpointSlices do');
    const stored = h.server.get('v1', 'Pod', 'default', 'mine-routed')!;
    h.server.update({ ...stored, metadata: { ...stored.metadata, annotations: { 'meshc.io/skip': 'true' } } });
    await waitFor('skip batch', () => h.batches.length > 1 && h.batches[h.batches.length - 1]!.skipChanged);
    assert.equal(h.source.skipped().pods.length, 3);
  } finally {
    await h.close();
  }
});

skip('without network policy: this node\'s Pods only (fieldSelector spec.nodeName), none in the model', async () => {
  const h = await harness({ source: { nodeName: 'n1', networkPolicy: false }, seed: seedSkip });
  try {
    await h.source.waitForSync(5000);
    await waitFor('initial batch', () => h.batches.length === 1);
    assert.equal(h.source.skipped().pods.map((p) => `${p.namespace}/${p.name} ${p.reason}`).sort(), ['default/mine-skipped pod', 'istio-apps/sidecar-app namespace']);
    assert.ok(h.server.requests.some((r) => r.path === '/api/v1/pods' && r.query['fieldSelector'] === 'spec.nodeName=n1'));
    assert.not.ok(h.server.requests.some((r) => r.path.includes('networkpolicies')), 'no policy is listed');
    assert.equal(h.batches[0]!.model.pods.size, 0);
    assert.equal(h.source.status().resources.map((r) => r.kind).sort(), ['EndpointSlice', 'HTTPRoute', 'Namespace', 'Node', 'Pod', 'Service']);
  } finally {
    await h.close();
  }
});

sync.run();
propagate.run();
resilience.run();
coalescing.run();
versions.run();
skip.run();
