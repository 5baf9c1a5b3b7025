import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { backendRefProblem, decideRule, expectedShares, pickBackend, type BackendContext, type ReferenceGrant } from '../../src/l7/select.ts';
import type { Service } from '../../src/model/types.ts';
import { backend, match, rule } from './fixtures.ts';

function service(namespace: string, name: string, ports = [80]): Service {
  return {
    meta: { namespace, name, labels: {}, annotations: {}, source: { file: 'test', doc: 0 } },
    type: 'ClusterIP', clusterIPs: ['10.0.0.1'], headless: false,
    ports: ports.map((port) => ({ name: '', port, protocol: 'TCP' as const, targetPort: port })),
    sessionAffinity: 'None', affinityTimeoutSeconds: 10800, internalTrafficPolicy: 'Cluster', preferSameZone: false, algorithm: 'random',
  };
}

const services = new Map([service('default', 'a'), service('default', 'b'), service('other', 'x')].map((s) => [`${s.meta.namespace}/${s.meta.name}`, s]));
const grant: ReferenceGrant = {
  namespace: 'other', name: 'g',
  from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'default' }],
  to: [{ group: '', kind: 'Service', name: 'x' }],
};
function ctx(profile: 'mesh' | 'gateway', referenceGrants: ReferenceGrant[] = []): BackendContext {
  return { profile, service: (ns, n) => services.get(`${ns}/${n}`), referenceGrants };
}

const problems = suite('l7 select: backendRef problems');
const problemCases: { what: string; ref: ReturnType<typeof backend>; ctx: BackendContext; problem: RegExp | undefined }[] = [
  { what: 'valid same-namespace Service', ref: backend('a'), ctx: ctx('gateway'), problem: undefined },
  { what: 'marked invalid by the model', ref: backend('a', { invalid: 'BackendNotFound' }), ctx: ctx('mesh'), problem: /BackendNotFound/ },
  { what: 'unknown kind', ref: backend('a', { group: 'example.com', kind: 'Thing' }), ctx: ctx('mesh'), problem: /InvalidKind.*Thing\.example\.com/ },
  { what: 'missing Service', ref: backend('nope'), ctx: ctx('mesh'), problem: /BackendNotFound.*default\/nope/ },
  { what: 'missing port', ref: backend('a', { port: 8080 }), ctx: ctx('mesh'), problem: /no port 8080/ },
  { what: 'no port at all', ref: backend('a', { port: undefined }), ctx: ctx('mesh'), problem: /has no port/ },
  { what: 'cross-namespace, mesh: no grant needed', ref: backend('x', { namespace: 'other' }), ctx: ctx('mesh'), problem: undefined },
  { what: 'cross-namespace, gateway, no grant', ref: backend('x', { namespace: 'other' }), ctx: ctx('gateway'), problem: /RefNotPermitted/ },
  { what: 'cross-namespace, gateway, grant', ref: backend('x', { namespace: 'other' }), ctx: ctx('gateway', [grant]), problem: undefined },
  { what: 'grant in the wrong namespace', ref: backend('x', { namespace: 'other' }), ctx: ctx('gateway', [{ ...grant, namespace: 'default' }]), problem: /RefNotPermitted/ },
  { what: 'grant for another name', ref: backend('x', { namespace: 'other' }), ctx: ctx('gateway', [{ ...grant, to: [{ group: '', kind: 'Service', name: 'y' }] }]), problem: /RefNotPermitted/ },
  { what: 'grant for all Services', ref: backend('x', { namespace: 'other' }), ctx: ctx('gateway', [{ ...grant, to: [{ group: '', kind: 'Service' }] }]), problem: undefined },
  { what: 'grant from another kind', ref: backend('x', { namespace: 'other' }), ctx: ctx('gateway', [{ ...grant, from: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'default' }] }]), problem: /RefNotPermitted/ },
  { what: 'grant to another kind', ref: backend('x', { namespace: 'other' }), ctx: ctx('gateway', [{ ...grant, to: [{ group: '', kind: 'Secret', name: 'x' }] }]), problem: /RefNotPermitted/ },
];
for (const c of problemCases) {
  problems(c.what, () => {
    const p = backendRefProblem('default', c.ref, c.ctx);
    if (c.problem === undefined) assert.is(p, undefined);
    else assert.match(p ?? '', c.problem);
  });
}
problems.run();

const decisions = suite('l7 select: rule decisions and weighted picks');
decisions('no backendRefs: 500', () => {
  const d = decideRule(rule([match()], []), 'default', ctx('mesh'));
  assert.is(d.kind, 'error');
  assert.equal([...expectedShares(d)], [['500', 1]]);
  assert.is(pickBackend(d, 12345).status, 500);
});
decisions('all weights 0: 500 (spec silent, fact 24)', () => {
  const d = decideRule(rule([match()], [backend('a', { weight: 0 }), backend('b', { weight: 0 })]), 'default', ctx('mesh'));
  assert.is(d.kind, 'error');
  assert.match(d.kind === 'error' ? d.reason : '', /weight 0/);
});
decisions('shares are weight / sum, invalid shares are 500, weight 0 gets nothing', () => {
  const d = decideRule(rule([match()], [backend('a', { weight: 70 }), backend('nope', { weight: 20 }), backend('b', { weight: 10 }), backend('b', { weight: 0 })]), 'default', ctx('mesh'));
  const shares = expectedShares(d);
  assert.ok(Math.abs(shares.get('default/a')! - 0.7) < 1e-12);
  assert.ok(Math.abs(shares.get('default/b')! - 0.1) < 1e-12);
  assert.ok(Math.abs(shares.get('500')! - 0.2) < 1e-12);
});
decisions('pick walks cumulative weights on r % total', () => {
  const d = decideRule(rule([match()], [backend('a', { weight: 3 }), backend('b', { weight: 0 }), backend('nope', { weight: 2 })]), 'default', ctx('mesh'));
  const picks = [0, 1, 2, 3, 4, 5, 0xffffffff].map((r) => {
    const p = pickBackend(d, r);
    return p.status === 200 ? p.backend.name : '500';
  });
  // total 5: 0..2 -> a, 3..4 -> nope (500); 5 % 5 = 0 -> a; 0xffffffff % 5 = 0 -> a
  assert.equal(picks, ['a', 'a', 'a', '500', '500', 'a', 'a']);
});
decisions('uniform randoms reproduce the weights', () => {
  const d = decideRule(rule([match()], [backend('a', { weight: 1 }), backend('b', { weight: 3 })]), 'default', ctx('mesh'));
  let b = 0;
  const n = 40_000;
  let s = 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const p = pickBackend(d, s);
    if (p.status === 200 && p.backend.name === 'b') b++;
  }
  assert.ok(Math.abs(b / n - 0.75) < 0.01, `b got ${b / n}`);
});
decisions.run();
