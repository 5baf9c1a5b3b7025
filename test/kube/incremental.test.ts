// The incremental model (src/kube/incremental-model.ts) must equal a full build of the same
// objects after every batch: random creates, updates and deletes of Services, EndpointSlices
// (including slices moving to another Service), HTTPRoutes, Nodes and Namespaces, with invalid
// objects among them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Model } from '../../src/model/types.ts';
import { harness, namespace, node, route, service, slice, waitFor } from './helpers.ts';

function canonical(model: Model): Record<string, unknown> {
  const sorted = <T>(entries: Iterable<[string, T]>) => [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    services: sorted(model.services),
    endpoints: sorted(model.endpoints),
    routes: model.routes,
    nodes: sorted(model.nodes),
    namespaces: sorted(model.namespaces),
    diagnostics: model.diagnostics.map((d) => JSON.stringify(d)).sort(),
  };
}

function* random(seed: number): Generator<number> {
  let x = seed >>> 0;
  for (;;) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    yield (x >>> 0) / 2 ** 32;
  }
}

const incremental = suite('incremental model');

incremental('equals a full build after every batch of random changes', async () => {
  const h = await harness({ source: { quietMs: 5, maxDelayMs: 20 }, start: false, manual: true });
  const clock = h.clock!;
  const mismatches: string[] = [];
  let compared = 0;
  h.source.onBatch((batch) => {
    compared++;
    const full = canonical(h.source.model());
    const got = canonical(batch.model);
    for (const key of Object.keys(full)) {
      if (JSON.stringify(full[key]) !== JSON.stringify(got[key])) mismatches.push(`batch ${compared} (${batch.all ? 'all' : [...batch.services].join(' ')}): ${key} differs`);
    }
  });
  const rng = random(20240611);
  const pick = <T>(list: T[]) => list[Math.floor(rng.next().value * list.length)]!;
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  const namespaces = ['default', 'shop'];
  // The resourceVersion of the last change made to each kind, and whether the source has seen it:
  // the clock moves only once it has, so the batches are cut at the same places on every run.
  const lastChange = new Map<string, number>();
  const changed = (kind: string) => lastChange.set(kind, Number(h.server.resourceVersion));
  const seen = (kind: string) => Number(h.source.status().resources.find((r) => r.kind === kind)?.resourceVersion ?? 0);
  const caughtUp = () => [...lastChange].every(([kind, rv]) => seen(kind) >= rv);
  try {
    h.server.create(namespace('shop'));
    await h.source.start();
    await h.source.waitForSync(5000);
    for (let step = 0; step < 250; step++) {
      const ns = pick(namespaces);
      const name = pick(names);
      const op = pick(['service', 'service', 'slice', 'slice', 'slice', 'route', 'delete', 'delete', 'node', 'namespace']);
      const ip = `10.96.${namespaces.indexOf(ns)}.${names.indexOf(name) + 1}`;
      const upsert = (object: any) => {
        const kind = object.kind;
        const existing = h.server.get(object.apiVersion, kind, object.metadata.namespace ?? '', object.metadata.name);
        if (existing) h.server.update({ ...object, metadata: { ...object.metadata } });
        else h.server.create(object);
        changed(kind);
      };
      if (op === 'service') {
        const ports = pick([[{ name: 'http', port: 80, targetPort: 8080 }], [{ name: 'http', port: 80 }, { name: 'grpc', port: 9090 }], [{ port: 81, targetPort: 8081 }]]);
        upsert(service(ns, name, ip, ports));
      } else if (op === 'slice') {
        const owner = pick(names);
        const slot = pick(['1', '2']);
        const addresses = Array.from({ length: 1 + Math.floor(rng.next().value * 3) }, (_, i) => (rng.next().value < 0.05 ? '999.0.0.1' : `10.${names.indexOf(owner) + 1}.${slot}.${i + 1}`));
        upsert(slice(ns, owner, `${name}-${slot}`, addresses, 8080, pick(['http', '', 'grpc'])));
      } else if (op === 'route') {
        upsert(route(ns, `r-${name}`, pick(names), [{ name: pick(names), port: pick([80, 9090]), weight: 1 + Math.floor(rng.next().value * 5) }, { name: pick(names), port: 80 }]));
      } else if (op === 'delete') {
        const victims = [
          ['v1', 'Service', `${name}`],
          ['discovery.k8s.io/v1', 'EndpointSlice', `${name}-1`],
          ['discovery.k8s.io/v1', 'EndpointSlice', `${name}-2`],
          ['gateway.networking.k8s.io/v1', 'HTTPRoute', `r-${name}`],
        ] as const;
        const [apiVersion, kind, victim] = pick([...victims]);
        if (h.server.get(apiVersion, kind, ns, victim)) {
          h.server.delete(apiVersion, kind, ns, victim);
          changed(kind);
        }
      } else if (op === 'node') {
        upsert(node(`n${names.indexOf(name) % 3}`, pick(['zone-a', 'zone-b'])));
      } else {
        const existing = h.server.get('v1', 'Namespace', '', 'shop')!;
        h.server.update({ ...existing, metadata: { ...existing.metadata, annotations: rng.next().value < 0.5 ? { 'meshc.io/skip': 'true' } : {} } });
        changed('Namespace');
      }
      if (step % 3 === 0) {
        await waitFor(`step ${step} seen`, caughtUp);
        clock.advance(rng.next().value * 15);
      }
    }
    await waitFor('the last change seen', caughtUp);
    clock.advance(1000);
    await waitFor('the last batch', () => h.batches.length > 0 && !h.source.status().resources.some((r) => r.failing));
    assert.ok(compared >= 20, `${compared} batches compared`);
    assert.ok(h.batches.some((b) => !b.all), 'some batches were incremental');
    assert.equal(mismatches, []);
    // The final state too.
    assert.equal(canonical(h.batches[h.batches.length - 1]!.model), canonical(h.source.model()));
  } finally {
    await h.close();
  }
});

incremental.run();
