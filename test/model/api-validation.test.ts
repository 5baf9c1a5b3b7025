// Issue 12 item 7: what the API server would refuse is refused here too, located: endpoints and
// ClusterIPs no connect() can use, control characters in names and namespaces, CR/LF/NUL in header
// values of routes, of test files and of simulate --header.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildModel } from '../../src/model/build.ts';
import { formatDiagnostic } from '../../src/model/diagnostics.ts';
import { parseAddress, specialAddressProblem } from '../../src/model/ip.ts';
import { parseTestFile } from '../../src/policy-tests/format.ts';
import type { Model } from '../../src/model/types.ts';

type Obj = Record<string, unknown>;

function build(objects: Obj[]): Model {
  return buildModel(objects.map((object, doc) => ({ file: 'm.yaml', doc, object })), { synthesize: false });
}

const slice = (address: string, addressType = address.includes(':') ? 'IPv6' : 'IPv4'): Obj => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
  metadata: { name: 'api-1', labels: { 'kubernetes.io/service-name': 'api' } },
  addressType, ports: [{ port: 8080 }], endpoints: [{ addresses: [address] }],
});
const service = (spec: Obj = {}): Obj => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'api' }, spec: { ports: [{ port: 80, targetPort: 8080 }], ...spec } });

const addresses = suite('addresses no connect() can use are refused');

/** [address, what the message says] */
const special: [string, RegExp][] = [
  ['0.0.0.0', /unspecified/],
  ['::', /unspecified/],
  ['127.0.0.1', /loopback range/],
  ['127.255.0.9', /loopback range/],
  ['::1', /loopback/],
  ['169.254.169.254', /link-local range \(169\.254/],
  ['fe80::1', /link-local range \(fe80/],
  ['febf::1', /link-local range \(fe80/],
  ['224.0.0.251', /link-local multicast/],
  ['ff02::fb', /link-local multicast/],
  ['ff12::1', /link-local multicast/],
  ['255.255.255.255', /broadcast/],
  ['::ffff:10.0.0.1', /IPv4-mapped/],
];
for (const [text, message] of special) {
  addresses(`an EndpointSlice endpoint at ${text}: the slice is refused at the address`, () => {
    const model = build([service(), slice(text)]);
    const errors = model.diagnostics.filter((d) => d.severity === 'error');
    assert.equal(errors.map((d) => [d.kind, d.name, d.field]), [['EndpointSlice', 'api-1', 'endpoints[0].addresses[0]']]);
    assert.match(errors[0]!.message, message);
    assert.equal(model.endpoints.get('default/api/80') ?? [], []);
  });
}
addresses('a pod at a loopback address gets no endpoint, the pod stays', () => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { app: 'api' } }, status: { podIP: '127.0.0.5' } };
  const model = build([service({ selector: { app: 'api' } }), pod]);
  assert.equal(model.diagnostics.map((d) => [d.severity, d.kind, d.field]), [['error', 'Pod', 'status.podIP']]);
  assert.match(model.diagnostics[0]!.message, /loopback range/);
  assert.ok(model.pods.has('default/p'));
  assert.equal(model.endpoints.get('default/api/80'), []);
});
for (const clusterIP of ['::ffff:10.96.0.10', '127.0.0.1', '0.0.0.0']) {
  addresses(`a ClusterIP ${clusterIP}: the Service is refused`, () => {
    const model = build([service({ clusterIP })]);
    assert.equal(model.diagnostics.map((d) => [d.kind, d.field]), [['Service', 'spec.clusterIP']]);
    assert.match(model.diagnostics[0]!.message, /not a valid ClusterIP/);
    assert.is(model.services.size, 0);
  });
}
addresses('ordinary addresses pass', () => {
  for (const text of ['10.244.1.2', '192.168.0.255', '172.16.0.1', 'fd00::10', '2001:db8::1', '::ffff:0:0:1', '169.253.255.255', '126.255.255.255', 'ff05::1', 'ff03::1']) {
    assert.is(specialAddressProblem(parseAddress(text)!), undefined, text);
  }
  const model = build([service(), slice('10.244.1.2')]);
  assert.equal(model.diagnostics, []);
  assert.is(model.endpoints.get('default/api/80')!.length, 1);
});

const names = suite('names and namespaces: control characters and bad namespaces are refused, and printed escaped');

/** [description, object, field] */
const badNames: [string, Obj, string][] = [
  ['NUL in a Service name', { ...service(), metadata: { name: 'api\u0000' } }, 'metadata.name'],
  ['a newline in a namespace', { ...service(), metadata: { name: 'api', namespace: 'shop\nx' } }, 'metadata.namespace'],
  ['an upper-case namespace', { ...service(), metadata: { name: 'api', namespace: 'Shop' } }, 'metadata.namespace'],
  ['a 64-character namespace', { ...service(), metadata: { name: 'api', namespace: 'n'.repeat(64) } }, 'metadata.namespace'],
  ['a Namespace named with a dot (a DNS label, not a subdomain)', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop.eu' } }, 'metadata.name'],
  ['a Namespace named with a control character', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop\u0007' } }, 'metadata.name'],
  [
    'a control character in a backendRef name',
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r' }, spec: { parentRefs: [{ group: '', kind: 'Service', name: 'api' }], rules: [{ backendRefs: [{ name: 'v1\u001b[2J', port: 80 }] }] } },
    'spec.rules[0].backendRefs[0].name',
  ],
  [
    'a bad backendRef namespace',
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r' }, spec: { parentRefs: [{ group: '', kind: 'Service', name: 'api' }], rules: [{ backendRefs: [{ name: 'v1', namespace: 'a\u0000b', port: 80 }] }] } },
    'spec.rules[0].backendRefs[0].namespace',
  ],
  [
    'a bad parentRef namespace',
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r' }, spec: { parentRefs: [{ group: '', kind: 'Service', name: 'api', namespace: 'x y' }] } },
    'spec.parentRefs[0].namespace',
  ],
];
for (const [description, object, field] of badNames) {
  names(description, () => {
    const model = build([object]);
    const errors = model.diagnostics.filter((d) => d.severity === 'error');
    assert.equal(errors.map((d) => d.field), [field]);
    assert.is(model.services.size + model.routes.length + model.namespaces.size, 0, 'the object is left out');
    // No raw control character reaches the printed line outside the quoted value.
    assert.not.match(formatDiagnostic(errors[0]!).replace(/"[^"]*"/g, ''), /[\u0000-\u001f]/);
  });
}
names('an unknown kind with a NUL in its name is printed escaped', () => {
  const model = build([{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w\u0000\u001b' } }]);
  assert.match(formatDiagnostic(model.diagnostics[0]!), /Widget w\\u0000\\u001b:/);
});

const headers = suite('CR, LF and NUL in header values are refused');

for (const value of ['a\r\nX-Injected: 1', 'a\nb', 'a\u0000']) {
  headers(`a route header match value ${JSON.stringify(value)}`, () => {
    const route = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r' }, spec: { parentRefs: [{ group: '', kind: 'Service', name: 'api' }], rules: [{ matches: [{ headers: [{ name: 'x', value }] }], backendRefs: [{ name: 'api', port: 80 }] }] } };
    const model = build([service(), route]);
    assert.equal(model.diagnostics.map((d) => [d.severity, d.field]), [['error', 'spec.rules[0].matches[0].headers[0].value']]);
    assert.match(model.diagnostics[0]!.message, /contains CR, LF or NUL/);
    assert.is(model.routes.length, 0);
  });
  headers(`a test file request header value ${JSON.stringify(value)}`, () => {
    const text = `manifests: {inline: ""}\ntests:\n- name: t\n  request:\n    to: api:80\n    headers:\n      X-Test: ${JSON.stringify(value)}\n  expect: {refused: true}\n`;
    const parsed = parseTestFile(text, 't.yaml');
    assert.equal(parsed.problems.map((p) => [p.field, p.line]), [['tests[0].request.headers.X-Test', 7]]);
    assert.match(parsed.problems[0]!.message, /contains CR, LF or NUL/);
  });
}
/** [description, a rule's filter, the field refused] */
const filterValues: [string, object, string][] = [
  ['RequestHeaderModifier set', { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x', value: 'a\r\nX-Injected: 1' }] } }, 'spec.rules[0].filters[0].requestHeaderModifier.set[0].value'],
  ['RequestHeaderModifier add', { type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x', value: 'a\u0000' }] } }, 'spec.rules[0].filters[0].requestHeaderModifier.add[0].value'],
  ['ResponseHeaderModifier set', { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x', value: 'a\nb' }] } }, 'spec.rules[0].filters[0].responseHeaderModifier.set[0].value'],
  ['URLRewrite ReplaceFullPath', { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/a\r\nX-Injected: 1' } } }, 'spec.rules[0].filters[0].urlRewrite.path.replaceFullPath'],
  ['RequestRedirect ReplaceFullPath', { type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplaceFullPath', replaceFullPath: '/a\u0000' } } }, 'spec.rules[0].filters[0].requestRedirect.path.replaceFullPath'],
];
for (const [description, filter, field] of filterValues) {
  headers(`a route's ${description} value with a control character`, () => {
    const route = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r' }, spec: { parentRefs: [{ group: '', kind: 'Service', name: 'api' }], rules: [{ filters: [filter], backendRefs: [{ name: 'api', port: 80 }] }] } };
    const model = build([service(), route]);
    assert.equal(model.diagnostics.map((d) => [d.severity, d.field]), [['error', field]]);
    assert.match(model.diagnostics[0]!.message, /CR, LF|control character/);
  });
}
headers('a test file header name that is not a token', () => {
  const parsed = parseTestFile('manifests: {inline: ""}\ntests:\n- request: {to: "api:80", headers: {"X Bad": "1"}}\n  expect: {refused: true}\n', 't.yaml');
  assert.equal(parsed.problems.map((p) => p.field), ['tests[0].request.headers.X Bad']);
  assert.match(parsed.problems[0]!.message, /not a valid header name/);
});

addresses.run();
names.run();
headers.run();
