// `meshc test` and `meshc playground` as a user runs them: exit status, output, errors.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callMeshc as meshc, ROOT, startMeshc } from '../helpers/meshc.ts';

const SAMPLE = join(ROOT, 'fixtures/tests/product-api.tests.yaml');

let dir: string;
const Test = suite('meshc test');
Test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshc-test-cli-'));
});
Test.after(() => rmSync(dir, { recursive: true, force: true }));

Test('the sample file passes', async () => {
  const r = await meshc('test', 'fixtures/tests/product-api.tests.yaml');
  assert.is(r.status, 0, r.stdout + r.stderr);
  const cases = [...r.stdout.matchAll(/^ {2}PASS {2}(.+)$/gm)].map((m) => m[1]);
  const names = [...readFileSync(SAMPLE, 'utf8').matchAll(/^- name: (.+)$/gm)].map((m) => m[1]);
  assert.ok(names.length >= 4, 'the sample has cases');
  assert.equal(cases, names, 'every case of the sample is reported as passing, in order');
  assert.match(r.stdout, new RegExp(`PASS: ${names.length}/${names.length}\\n`));
});

Test('a wrong expectation fails with the reason and exit 1', async () => {
  const text = readFileSync(SAMPLE, 'utf8')
    .replace('manifests: ../product-api', `manifests: ${join(ROOT, 'fixtures/product-api')}`)
    .replace(/(- name: a canary user goes to v2[\s\S]*?backend: )product-api-v2/, '$1product-api-v1');
  const file = join(dir, 'wrong.tests.yaml');
  writeFileSync(file, text);
  const r = await meshc('test', file);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL {2}a canary user goes to v2 \(.*wrong\.tests\.yaml:\d+\)/);
  assert.match(r.stdout, /expected every connection to reach default\/product-api-v1, got default\/product-api-v2 100\.0% \(1000 of 1000\)/);
  assert.match(r.stdout, /got: route default\/product-api-routing#0/);
  assert.match(r.stdout, /FAIL: 1\/\d+/);
  assert.match(r.stdout, /PASS {2}a plain request goes to v1/, 'the other cases still pass');
});

Test('--json gives the verdicts; --run filters cases', async () => {
  const r = await meshc('test', SAMPLE, '--json', '--run', 'canary');
  assert.is(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.is(report.ok, true);
  assert.ok(report.verdicts.length >= 2);
  for (const v of report.verdicts) {
    assert.match(v.name, /canary/);
    assert.is(v.status, 'pass');
  }
});

Test('--quiet leaves out the manifests\' warnings, not their errors', async () => {
  const file = join(dir, 'quiet.tests.yaml');
  writeFileSync(file, [
    'manifests:',
    '  inline: |',
    '    apiVersion: example.com/v1',
    '    kind: Widget',
    '    metadata: {name: w}',
    '    ---',
    '    apiVersion: v1',
    '    kind: Service',
    '    metadata: {name: broken}',
    '    spec: {ports: [{port: 70000}]}',
    '    ---',
    '    apiVersion: v1',
    '    kind: Service',
    '    metadata: {name: api}',
    '    spec: {clusterIP: 10.96.7.7, ports: [{port: 80}]}',
    'defaults: {to: api:80}',
    'tests:',
    '- name: no endpoints',
    '  expect: {refused: true}',
    '',
  ].join('\n'));
  const loud = await meshc('test', file);
  assert.match(loud.stdout, /warning: Widget w: unknown kind/);
  assert.match(loud.stdout, /70000 is not a valid port/);
  const quiet = await meshc('test', file, '--quiet');
  assert.not.match(quiet.stdout, /warning/);
  assert.match(quiet.stdout, /70000 is not a valid port/);
  assert.is(loud.status, 1, 'the manifests have an error');
  assert.is(quiet.status, 1);
  assert.match(quiet.stdout, /PASS {2}no endpoints/);
});

Test('paths are relative to the test file, and a missing one is named', async () => {
  const file = join(dir, 'missing.tests.yaml');
  writeFileSync(file, 'manifests: ./nowhere\ndefaults: {to: a:80}\ntests:\n- expect: {backend: b}\n');
  const r = await meshc('test', file);
  assert.is(r.status, 1);
  assert.match(r.stdout, /missing\.tests\.yaml:1: manifests: no such file or directory \(relative to .*\): \.\/nowhere/);
});

Test('problems in the file name the field and line, exit 1', async () => {
  const file = join(dir, 'bad.tests.yaml');
  writeFileSync(file, `manifests: ${join(ROOT, 'fixtures/product-api')}\ntests:\n- name: x\n  request: {to: product-api:80}\n  expect:\n    backend: product-api-v1\n    refusd: true\n`);
  const r = await meshc('test', file);
  assert.is(r.status, 1);
  assert.match(r.stdout, /bad\.tests\.yaml:7: tests\[0\]\.expect\.refusd: unknown field/);
});

Test('--manifests overrides the file\'s manifests', async () => {
  const r = await meshc('test', SAMPLE, '--manifests', 'fixtures/weights');
  assert.is(r.status, 1);
  assert.match(r.stdout, /ERROR a plain request goes to v1/);
  assert.match(r.stdout, /Service default\/product-api not found/);
});

Test('bad usage exits 2 with a hint', async () => {
  let r = await meshc('test');
  assert.is(r.status, 2);
  assert.match(r.stderr, /give at least one test FILE/);
  r = await meshc('test', SAMPLE, '--bogus');
  assert.is(r.status, 2);
  assert.match(r.stderr, /--bogus/);
  r = await meshc('test', SAMPLE, '--run', '(');
  assert.is(r.status, 2);
  r = await meshc('test', '--help');
  assert.is(r.status, 0);
  assert.match(r.stdout, /docs\/policy-tests\.md/);
});

Test.run();

const Serve = suite('meshc playground');

Serve('serves the site on the port asked for and prints the URL', async () => {
  const outdir = mkdtempSync(join(tmpdir(), 'meshc-pg-site-'));
  writeFileSync(join(outdir, 'index.html'), '<!doctype html><title>x</title>');
  const playground = startMeshc(['playground', '--port', '0', '--dir', outdir]);
  try {
    const url = (await playground.waitFor(/http:\/\/127\.0\.0\.1:\d+\//))[0];
    const page = await fetch(url);
    assert.is(page.status, 200);
    assert.match(await page.text(), /<title>x<\/title>/);
    assert.is((await fetch(`${url}nothing.js`)).status, 404);
  } finally {
    assert.is((await playground.stop()).status, 0);
    rmSync(outdir, { recursive: true, force: true });
  }
});

Serve('bad usage exits 2', async () => {
  assert.is((await meshc('playground', '--port', 'x')).status, 2);
  assert.is((await meshc('playground', 'extra')).status, 2);
  const help = await meshc('playground', '--help');
  assert.is(help.status, 0);
  assert.match(help.stdout, /--port P/);
});

Serve.run();
