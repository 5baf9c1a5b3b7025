// Issue 12 item 6: what simulate says about the manifests: --quiet, --verbose (ignored kinds),
// --json with the diagnostics, the forms --to accepts, and the candidates of a --from not found.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { callMeshc } from '../helpers/meshc.ts';
import { parseServiceAddress } from '../../src/sim/service-address.ts';

const meshc = callMeshc;

const manifests = `apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
---
apiVersion: v1
kind: Secret
metadata: {name: token, namespace: shop}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec: {replicas: 2, selector: {matchLabels: {app: api}}, template: {metadata: {labels: {app: api}}}}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {clusterIP: 10.96.7.7, selector: {app: api}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: broken, namespace: shop}
spec: {ports: [{port: 70000}]}
`;

let dir = '';
let file = '';
const cli = suite('simulate: what it says about the manifests');
cli.before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'meshc-reporting-'));
  file = path.join(dir, 'm.yaml');
  writeFileSync(file, manifests);
});
cli.after(() => rmSync(dir, { recursive: true, force: true }));

cli('known-ignored kinds are silent; an unknown cluster-scoped-looking kind is named without a namespace', async () => {
  const r = await meshc('simulate', file, '--to', 'api.shop:80', '--connections', '10');
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stderr, /ConfigMap|Secret|ClusterRole/);
  assert.match(r.stderr, /\(doc 4\) warning: Widget w: unknown kind, ignored/);
  assert.match(r.stderr, /\(doc 7\) Service shop\/broken: spec\.ports\[0\]\.port: 70000 is not a valid port/);
});

cli('--verbose counts the ignored objects once, by kind', async () => {
  const r = await meshc('simulate', file, '--to', 'api.shop:80', '--connections', '10', '--verbose');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /^ignored, not needed by meshc: 1 ClusterRole, 1 ConfigMap, 1 Secret$/m);
});

cli('--quiet prints the errors only', async () => {
  const r = await meshc('simulate', file, '--to', 'api.shop:80', '--connections', '10', '--quiet');
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stderr, /warning/);
  assert.match(r.stderr, /70000 is not a valid port/);
});

cli('--json carries every diagnostic with all its keys', async () => {
  const r = await meshc('simulate', file, '--to', 'api.shop:80', '--connections', '10', '--json');
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.diagnostics, [
    { file, document: 4, line: 13, kind: 'Widget', namespace: null, name: 'w', field: null, message: 'unknown kind, ignored (apiVersion example.com/v1)', severity: 'warning' },
    { file, document: 7, line: 30, kind: 'Service', namespace: 'shop', name: 'broken', field: 'spec.ports[0].port', message: '70000 is not a valid port (1-65535)', severity: 'error' },
  ]);
  assert.equal(out.warnings, []);
});

/** [--to, resolves to] */
const targets: [string, string][] = [
  ['api.shop:80', 'shop/api'],
  ['api.shop:http', 'shop/api'],
  ['api.shop.svc:80', 'shop/api'],
  ['api.shop.svc.cluster.local:80', 'shop/api'],
  ['api.shop.svc.cluster.local.:80', 'shop/api'],
  ['shop/api:80', 'shop/api'],
  ['10.96.7.7:80', 'shop/api'],
];
for (const [to, service] of targets) {
  cli(`--to ${to}`, async () => {
    const r = await meshc('simulate', file, '--to', to, '--connections', '10', '--json');
    assert.is(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.is(`${out.service.namespace}/${out.service.name}`, service);
    assert.is(out.service.port, 80);
  });
}

cli('--to a ClusterIP no Service has, or a form it is not', async () => {
  const none = await meshc('simulate', file, '--to', '10.96.7.8:80');
  assert.is(none.status, 1);
  assert.match(none.stderr, /no Service has the ClusterIP 10\.96\.7\.8/);
  const bad = await meshc('simulate', file, '--to', 'shop/api/x:80');
  assert.is(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /is not NAME\[\.NAMESPACE\]:PORT, NAME\.NAMESPACE\.svc/);
});

cli('a --from pod that is not found lists the candidates, the closest first', async () => {
  const r = await meshc('simulate', file, '--to', 'api.shop:80', '--from', 'shop/ap');
  assert.is(r.status, 1);
  assert.match(r.stderr, /pod shop\/ap \(--from\) not found; pods: shop\/api-[a-z0-9]+-[a-z0-9]+, shop\/api-[a-z0-9]+-[a-z0-9]+$/m);
});

const parse = suite('parseServiceAddress');
/** [text, parsed] */
const forms: [string, object | undefined][] = [
  ['api:80', { name: 'api', namespace: 'default', port: 80 }],
  ['api.ns.svc:grpc', { name: 'api', namespace: 'ns', port: 'grpc' }],
  ['ns/api:8080', { name: 'api', namespace: 'ns', port: 8080 }],
  ['[FD00::10]:53', { clusterIP: 'fd00::10', port: 53 }],
  ['fd00::10:53', undefined],
  ['[10.0.0.1]:80', undefined],
  ['API.ns.svc:80', undefined],
  ['api.ns.svc.other.local:80', undefined],
  ['api', undefined],
];
for (const [text, expected] of forms) parse(JSON.stringify(text), () => assert.equal(parseServiceAddress(text), expected));

const dualStack = `apiVersion: v1
kind: Service
metadata: {name: dual}
spec: {ipFamilyPolicy: RequireDualStack, ipFamilies: [IPv6, IPv4], clusterIPs: ["fd00:10:96::7", 10.96.8.8], selector: {app: d}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Pod
metadata: {name: d, labels: {app: d}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 10.244.0.5, podIPs: [{ip: 10.244.0.5}, {ip: "fd00:10:244::5"}]}
`;

/** [--to, the ClusterIP dialled, the endpoint reached] */
const families: [string, string, string][] = [
  ['dual:80', 'fd00:10:96::7', 'fd00:10:244::5'],
  ['[fd00:10:96::7]:80', 'fd00:10:96::7', 'fd00:10:244::5'],
  ['10.96.8.8:80', '10.96.8.8', '10.244.0.5'],
];
for (const [to, clusterIP, endpoint] of families) {
  cli(`dual stack: --to ${to} dials ${clusterIP}, its family's endpoint answers`, async () => {
    const dual = path.join(dir, 'dual.yaml');
    writeFileSync(dual, dualStack);
    const r = await meshc('simulate', dual, '--to', to, '--connections', '10', '--json');
    assert.is(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.is(out.service.clusterIP, clusterIP);
    assert.equal(out.backends.map((b: { ip: string; port: number; count: number }) => [b.ip, b.port, b.count]), [[endpoint, 80, 10]]);
  });
}

cli.run();
parse.run();
