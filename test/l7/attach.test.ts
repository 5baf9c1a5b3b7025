import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parentRefSelects, routesForFrontend, routeRole, type ServiceFrontend } from '../../src/l7/attach.ts';
import type { ParentRef } from '../../src/model/types.ts';
import { match, route, rule } from './fixtures.ts';

const frontend: ServiceFrontend = { namespace: 'mesh', name: 'echo', port: 80, portName: 'http' };
const svcRef = (extra: Partial<ParentRef> = {}): ParentRef => ({ group: '', kind: 'Service', namespace: 'mesh', name: 'echo', ...extra });

const parent = suite('l7 attach: parentRef selects a Service frontend');
const parentCases: { what: string; ref: ParentRef; selects: boolean }[] = [
  { what: 'no port: every port', ref: svcRef(), selects: true },
  { what: 'same port', ref: svcRef({ port: 80 }), selects: true },
  { what: 'other port', ref: svcRef({ port: 8080 }), selects: false },
  { what: 'sectionName is the port name', ref: svcRef({ sectionName: 'http' }), selects: true },
  { what: 'other sectionName', ref: svcRef({ sectionName: 'http-alt' }), selects: false },
  { what: 'port and sectionName both must hold', ref: svcRef({ port: 80, sectionName: 'http-alt' }), selects: false },
  { what: 'other name', ref: svcRef({ name: 'echo-v1' }), selects: false },
  { what: 'other namespace', ref: svcRef({ namespace: 'elsewhere' }), selects: false },
  { what: 'Gateway parent', ref: svcRef({ group: 'gateway.networking.k8s.io', kind: 'Gateway' }), selects: false },
  { what: 'Service kind in another group', ref: svcRef({ group: 'example.com' }), selects: false },
];
for (const c of parentCases) {
  parent(c.what, () => assert.is(parentRefSelects(c.ref, frontend), c.selects));
}
parent.run();

const roles = suite('l7 attach: producer and consumer routes');
const producer = route('producer', [rule([match()])], { namespace: 'mesh', parentRefs: [svcRef()] });
const producer2 = route('producer2', [rule([match({ prefix: '/x' })])], { namespace: 'mesh', parentRefs: [svcRef({ port: 80 })] });
const otherPort = route('other-port', [rule([match()])], { namespace: 'mesh', parentRefs: [svcRef({ port: 8080 })] });
const consumer = route('consumer', [rule([match()])], { namespace: 'client-ns', parentRefs: [svcRef()] });
const foreign = route('foreign', [rule([match()])], { namespace: 'third', parentRefs: [svcRef()] });
const all = [producer, producer2, otherPort, consumer, foreign];
const names = (rs: { meta: { name: string } }[]) => rs.map((r) => r.meta.name).sort();

roles('role follows the route namespace', () => {
  assert.is(routeRole(producer, frontend), 'producer');
  assert.is(routeRole(consumer, frontend), 'consumer');
});
roles('clients in the Service namespace get the producer routes of that port', () => {
  assert.equal(names(routesForFrontend(all, frontend, 'mesh')), ['producer', 'producer2']);
});
roles('clients in a namespace with consumer routes get only those', () => {
  assert.equal(names(routesForFrontend(all, frontend, 'client-ns')), ['consumer']);
});
roles('clients elsewhere get the producer routes, never another namespace\'s consumer routes', () => {
  assert.equal(names(routesForFrontend(all, frontend, 'unrelated')), ['producer', 'producer2']);
});
roles('the other port sees only its own routes', () => {
  assert.equal(names(routesForFrontend(all, { ...frontend, port: 8080, portName: 'http-alt' }, 'mesh')), ['other-port', 'producer']);
});
roles('no attached route: empty (plain Service behaviour)', () => {
  assert.equal(routesForFrontend(all, { ...frontend, name: 'none' }, 'mesh'), []);
});
roles.run();
