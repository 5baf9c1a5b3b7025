// The shared policy-test logic (src/policy-tests): reading the file format, judging results, and
// moving manifests in and out of a file.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseTestFile, type Expectation } from '../../src/policy-tests/format.ts';
import { checkExpectation, runPolicyTests, summarize } from '../../src/policy-tests/evaluate.ts';
import { embedManifests, extractManifests } from '../../src/policy-tests/embed.ts';
import { inlineManifestDocs, runTestFile } from '../../src/policy-tests/run.ts';
import { buildModel } from '../../src/model/build.ts';
import { loadManifests } from '../../src/model/load-files.ts';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import type { SimulateResult } from '../../src/sim/simulate.ts';

const Format = suite('policy-tests format');

const HEAD = 'defaults:\n  to: product-api:80\ntests:\n';

Format('reads requests and expectations with defaults applied', () => {
  const { suite: file, problems } = parseTestFile(
    `manifests: ../product-api\ndefaults:\n  to: web.shop:http\n  connections: 50\n  tolerance: 2%\ntests:\n` +
      `- name: one\n  request:\n    path: /a?x=1&x=2&y\n    headers: {X-A: yes, X-N: 3}\n    from: shop/client\n  expect:\n    distribution: {v1: 70%, other/v2: 0.3}\n` +
      `- request: {to: api:8080, seed: 9, method: POST}\n  expect: {refused: true, reason: no-endpoints, route: none}\n`,
    't.yaml',
  );
  assert.equal(problems, []);
  assert.equal(file!.manifests, { paths: ['../product-api'], line: 1 });
  const [one, two] = file!.tests;
  assert.equal(one!.request, {
    to: { name: 'web', namespace: 'shop', port: 'http' }, from: 'shop/client', method: 'GET', path: '/a',
    headers: { 'X-A': 'yes', 'X-N': '3' }, query: { x: ['1', '2'], y: [''] }, connections: 50, seed: 1,
  });
  assert.equal(one!.expect, { tolerance: 0.02, distribution: { 'shop/v1': 0.7, 'other/v2': 0.3 } });
  assert.is(one!.line, 7);
  assert.is(two!.name, 'test 2', 'an unnamed case is named by its position');
  assert.equal(two!.request.to, { name: 'api', namespace: 'default', port: 8080 });
  assert.is(two!.request.seed, 9);
  assert.is(two!.request.method, 'POST');
  assert.equal(two!.expect, { tolerance: 0.02, refused: true, reason: 'no-endpoints', route: null });
});

const badCases: { what: string; text: string; line: number | undefined; field: string | undefined; message: RegExp }[] = [
  { what: 'YAML syntax', text: 'tests:\n- name: a: b\n', line: 2, field: undefined, message: /YAML syntax error/ },
  { what: 'no tests', text: 'defaults: {}\n', line: 1, field: undefined, message: /no `tests` list/ },
  { what: 'unknown top key', text: `${HEAD}- expect: {backend: a}\nextra: 1\n`, line: 5, field: 'extra', message: /unknown field \(known: manifests, defaults, tests\)/ },
  { what: 'misspelt expectation', text: `${HEAD}- name: a\n  expect:\n    backnd: v1\n`, line: 6, field: 'tests[0].expect.backnd', message: /unknown field/ },
  { what: 'nothing to check', text: `${HEAD}- name: a\n  expect: {tolerance: 1%}\n`, line: 5, field: 'tests[0].expect', message: /says nothing to check/ },
  { what: 'tolerance without distribution', text: `${HEAD}- expect: {backend: a, tolerance: 1%}\n`, line: 4, field: 'tests[0].expect.tolerance', message: /only means something with `distribution`/ },
  { what: 'bad target', text: `tests:\n- request: {to: "Product_API:80"}\n  expect: {backend: a}\n`, line: 2, field: 'tests[0].request.to', message: /is not NAME\[.NAMESPACE\]:PORT/ },
  { what: 'no target', text: `tests:\n- expect: {backend: a}\n`, line: 2, field: 'tests[0].request', message: /no `to`/ },
  { what: 'bad share', text: `${HEAD}- expect: {distribution: {a: 120%}}\n`, line: 4, field: 'tests[0].expect.distribution.a', message: /fraction from 0 to 1 or a percentage/ },
  { what: 'bad connections', text: `${HEAD}- request: {connections: 0}\n  expect: {backend: a}\n`, line: 4, field: 'tests[0].request.connections', message: /integer from 1 to 1000000, got 0/ },
  { what: 'contradiction', text: `${HEAD}- expect: {backend: a, refused: true}\n`, line: 4, field: 'tests[0].expect', message: /contradict/ },
  { what: 'duplicate name', text: `${HEAD}- {name: x, expect: {backend: a}}\n- {name: x, expect: {backend: b}}\n`, line: 5, field: 'tests[1].name', message: /duplicate test name "x"/ },
  { what: 'path without slash', text: `${HEAD}- request: {path: api}\n  expect: {backend: a}\n`, line: 4, field: 'tests[0].request.path', message: /must start with "\/"/ },
  { what: 'bad route ref', text: `${HEAD}- expect: {route: "R#x"}\n`, line: 4, field: 'tests[0].expect.route', message: /is not NAME, NAME#RULE/ },
  { what: 'manifests neither path nor inline', text: `manifests: {inline: 3}\n${HEAD}- expect: {backend: a}\n`, line: 1, field: 'manifests', message: /a path, a list of paths, or \{inline/ },
];

for (const c of badCases) {
  Format(`rejects: ${c.what}`, () => {
    const { problems } = parseTestFile(c.text, 'bad.yaml');
    assert.ok(problems.length > 0, 'a problem is reported');
    const p = problems.find((x) => c.message.test(x.message));
    assert.ok(p, `a problem matches ${c.message}; got ${JSON.stringify(problems)}`);
    assert.is(p!.line, c.line, 'line');
    assert.is(p!.field, c.field, 'field');
    assert.is(p!.file, 'bad.yaml');
  });
}

Format.run();

const Check = suite('policy-tests checkExpectation');

function result(parts: Partial<SimulateResult> & { counts?: Record<string, number> }): SimulateResult {
  const backends = Object.entries(parts.counts ?? {}).map(([service, count], i) => ({ service, pod: `default/p${i}`, ip: `10.0.0.${i}`, port: 80, count }));
  return {
    service: { namespace: 'default', name: 'api', port: 80, clusterIP: '10.96.0.1' },
    route: null, connections: 100, refused: 0, refusedReasons: {}, backends, warnings: [], served: { layer: 'L4', why: 'no HTTPRoute' }, ...parts,
  };
}

const expect = (e: Partial<Expectation>): Expectation => ({ tolerance: 0.05, ...e });

const checkCases: { what: string; result: SimulateResult; expect: Expectation; failure: RegExp | null }[] = [
  { what: 'backend: all to it', result: result({ counts: { 'default/v1': 100 } }), expect: expect({ backend: 'default/v1' }), failure: null },
  { what: 'backend: some elsewhere', result: result({ counts: { 'default/v1': 60, 'default/v2': 40 } }), expect: expect({ backend: 'default/v1' }), failure: /expected every connection to reach default\/v1, got default\/v1 60.0% \(60 of 100\), default\/v2 40.0% \(40 of 100\)/ },
  { what: 'backend: a pod with no connections does not count', result: result({ counts: { 'default/v1': 100, 'default/v2': 0 } }), expect: expect({ backend: 'default/v1' }), failure: null },
  { what: 'backend: refusals fail it', result: result({ counts: { 'default/v1': 90 }, refused: 10, refusedReasons: { 'no-endpoints': 10 } }), expect: expect({ backend: 'default/v1' }), failure: /refused 10.0% \(10 of 100\)/ },
  { what: 'refused: all refused', result: result({ refused: 100, refusedReasons: { 'no-endpoints': 100 } }), expect: expect({ refused: true, reason: 'no-endpoints' }), failure: null },
  { what: 'refused: wrong reason', result: result({ refused: 100, refusedReasons: { 'no-route-match': 100 } }), expect: expect({ refused: true, reason: 'no-endpoints' }), failure: /expected refusals for reason no-endpoints, got no-route-match 100/ },
  { what: 'refused: some connected', result: result({ counts: { 'default/v1': 1 }, refused: 99, refusedReasons: { 'no-endpoints': 99 } }), expect: expect({ refused: true }), failure: /1 of 100 connected \(default\/v1 1\)/ },
  { what: 'refused false: one refusal', result: result({ counts: { 'default/v1': 99 }, refused: 1, refusedReasons: { 'table-miss': 1 } }), expect: expect({ refused: false }), failure: /expected no refusal, got 1 of 100 refused \(table-miss 1\)/ },
  { what: 'route: matches rule', result: result({ route: { namespace: 'default', name: 'r', rule: 1 }, counts: { 'default/v1': 100 } }), expect: expect({ route: { namespace: 'default', name: 'r', rule: 1 } }), failure: null },
  { what: 'route: any rule', result: result({ route: { namespace: 'default', name: 'r', rule: 3 } }), expect: expect({ route: { namespace: 'default', name: 'r' } }), failure: null },
  { what: 'route: other rule', result: result({ route: { namespace: 'default', name: 'r', rule: 0 } }), expect: expect({ route: { namespace: 'default', name: 'r', rule: 1 } }), failure: /expected HTTPRoute default\/r#1 to decide, got default\/r#0/ },
  { what: 'route: 404', result: result({ status: 404, refused: 100, refusedReasons: { 'no-route-match': 100 } }), expect: expect({ route: { namespace: 'default', name: 'r' } }), failure: /no rule matched \(404\)/ },
  { what: 'route none: a route decided', result: result({ route: { namespace: 'default', name: 'r', rule: 0 } }), expect: expect({ route: null }), failure: /expected no HTTPRoute to apply, but rule default\/r#0 decided/ },
  { what: 'distribution within tolerance', result: result({ counts: { 'default/v1': 68, 'default/v2': 32 } }), expect: expect({ distribution: { 'default/v1': 0.7, 'default/v2': 0.3 } }), failure: null },
  { what: 'distribution outside tolerance', result: result({ counts: { 'default/v1': 50, 'default/v2': 50 } }), expect: expect({ distribution: { 'default/v1': 0.7, 'default/v2': 0.3 } }), failure: /off by more than 5.0 points: default\/v1 50.0% \(expected 70.0%\), default\/v2 50.0% \(expected 30.0%\)/ },
  { what: 'distribution: an unlisted Service counts as expected 0', result: result({ counts: { 'default/v1': 90, 'default/v3': 10 } }), expect: expect({ distribution: { 'default/v1': 0.9 } }), failure: /default\/v3 10.0% \(expected 0.0%\)/ },
  { what: 'distribution: exactly at the tolerance passes', result: result({ counts: { 'default/v1': 75, 'default/v2': 25 } }), expect: expect({ distribution: { 'default/v1': 0.7, 'default/v2': 0.3 } }), failure: null },
];

for (const c of checkCases) {
  Check(c.what, () => {
    const failures = checkExpectation(c.result, c.expect);
    if (c.failure === null) assert.equal(failures, []);
    else {
      assert.is(failures.length, 1, JSON.stringify(failures));
      assert.match(failures[0]!, c.failure);
    }
  });
}

Check.run();

const Run = suite('policy-tests run against the seed scenario');

Run('the sample cases pass, and a wrong expectation fails with its reason', async () => {
  const instance = await loadPolicyWasm();
  const model = await loadManifests(['fixtures/product-api']);
  const { suite: file } = parseTestFile(
    `${HEAD}- name: plain\n  expect: {backend: product-api-v1}\n- name: wrong\n  request: {headers: {X-Canary-User: "true"}}\n  expect: {backend: product-api-v1}\n- name: missing service\n  request: {to: nope:80}\n  expect: {refused: true}\n`,
    't.yaml',
  );
  const verdicts = runPolicyTests(model, instance, file!.tests);
  assert.equal(verdicts.map((v) => v.status), ['pass', 'fail', 'error']);
  assert.match(verdicts[1]!.reason!, /expected every connection to reach default\/product-api-v1, got default\/product-api-v2 100.0% \(1000 of 1000\)/);
  assert.match(verdicts[1]!.actual!, /^route default\/product-api-routing#0; 1000 connections: default\/product-api-v2 100.0%$/);
  assert.match(verdicts[2]!.reason!, /Service default\/nope not found/);
  assert.equal(summarize(verdicts), { total: 3, passed: 1, failed: 1, errors: 1 });
});

Run('a manifest error fails the run even when every case passes, with the line in the test file', async () => {
  const instance = await loadPolicyWasm();
  const text = embedManifests(`${HEAD}- expect: {refused: true}\n`, 'apiVersion: v1\nkind: Service\nmetadata:\n  name: product-api\nspec:\n  ports:\n  - port: 70000\n');
  const parsed = parseTestFile(text, 'inline.yaml');
  assert.equal(parsed.problems, []);
  const source = parsed.suite!.manifests!;
  assert.ok('inline' in source);
  const model = buildModel(inlineManifestDocs(source, 'inline.yaml'));
  const run = runTestFile(parsed, model, instance);
  assert.is(run.ok, false);
  assert.is(run.manifestErrors.length, 1);
  const lines = text.split('\n');
  const line = run.manifestErrors[0]!.line!;
  assert.match(lines[line - 1]!, /port: 70000/, `diagnostic line ${line} is the port's line in the test file`);
});

Run.run();

const Embed = suite('policy-tests embed');

Embed('embedding puts the manifests first as a block literal; extracting gives them back', () => {
  const tests = '# My tests\ndefaults:\n  to: a:80\ntests:\n  - expect: {backend: b}\n';
  const manifests = 'apiVersion: v1\nkind: Service\n---\n# second\nkind: Pod\n';
  const file = embedManifests(tests, manifests);
  assert.match(file, /^# My tests\nmanifests:\n  inline: \|\n    apiVersion: v1\n/);
  const back = extractManifests(file);
  assert.is(back.manifests, manifests);
  assert.match(back.tests, /^# My tests\ndefaults:/);
  assert.equal(parseTestFile(back.tests, 't').suite!.tests, parseTestFile(tests, 't').suite!.tests);
});

Embed('embedding replaces manifests named by path; extracting reports the reference', () => {
  const file = embedManifests('manifests: ../x\ntests: []\n', 'kind: Service\n');
  assert.not.match(file, /\.\.\/x/);
  const back = extractManifests('manifests: [../x]\ntests: []\n');
  assert.is(back.referenced, true);
  assert.is(back.manifests, undefined);
  assert.not.match(back.tests, /manifests/);
});

Embed('embedding refuses tests that are not YAML', () => {
  assert.throws(() => embedManifests('tests: [a\n', 'kind: Service\n'), /not valid YAML/);
});

Embed.run();
