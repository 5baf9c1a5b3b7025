// The playground in a real browser (Debian's Chromium through playwright-core): the seed scenario's
// routing, a weight edit moving the chart, an inline YAML error, policy tests whose verdicts match
// the CLI's and the shared evaluator's, the generated-C view and a share link. Screenshots go to
// test-artifacts/playground/.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { buildPlayground, sampleTests, scenarioText } from '../../src/playground/build.ts';
import { servePlayground, type PlaygroundServer } from '../../src/playground/server.ts';
import { decodeState } from '../../src/playground/share.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { buildModel } from '../../src/model/build.ts';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import { parseTestFile } from '../../src/policy-tests/format.ts';
import { inlineManifestDocs, runTestFile } from '../../src/policy-tests/run.ts';
import { launchChromium, type Browser } from './chromium.ts';
import { callMeshc } from '../helpers/meshc.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = join(ROOT, 'test-artifacts/playground');

interface DomVerdict {
  name: string;
  status: string;
  reason: string | null;
}

let outdir: string;
let built: Awaited<ReturnType<typeof buildPlayground>>;
let server: PlaygroundServer;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

function generation(): Promise<number> {
  return page.$eval('#result', (el) => Number((el as HTMLElement).dataset.generation ?? 0));
}

/** Waits for the result to be rendered again after `before`. */
async function nextResult(before: number): Promise<void> {
  await page.waitForFunction((g) => Number(document.getElementById('result')!.dataset.generation ?? 0) > g, before, { timeout: 10_000 });
}

/** Share of all connections per backend Service in the chart. */
function serviceShares(): Promise<Record<string, number>> {
  return page.$$eval('#chart tr.service', (rows) =>
    Object.fromEntries(rows.map((r) => [(r as HTMLElement).dataset.service!, Number((r as HTMLElement).dataset.share)])),
  );
}

function domVerdicts(): Promise<DomVerdict[]> {
  return page.$$eval('#test-results li', (items) => items.map((li) => ({
    name: (li as HTMLElement).dataset.name!,
    status: (li as HTMLElement).dataset.status!,
    reason: li.querySelector('.reason')?.textContent ?? null,
  })));
}

async function openTab(id: string): Promise<void> {
  await page.click(`#${id}`);
  await page.waitForSelector(`#${id}[aria-selected="true"]`);
}

const Page = suite('playground page (Chromium)');

/** Set when the browser or the site could not start: every test then fails with it. */
let setupError: Error | undefined;

Page.before(async () => {
  try {
    mkdirSync(ARTIFACTS, { recursive: true });
    outdir = mkdtempSync(join(tmpdir(), 'meshc-pg-page-'));
    built = await buildPlayground({ outdir });
    server = await servePlayground(outdir);
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(server.url);
    await page.waitForSelector('#result[data-generation]', { timeout: 15_000 });
  } catch (error) {
    setupError = error as Error;
  }
});

Page.before.each(() => {
  if (setupError) throw new Error(`playground page test setup failed: ${setupError.message}`);
});

Page.after(async () => {
  await browser?.close();
  await server?.close();
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

Page('the seed scenario sends a plain request to product-api-v1', async () => {
  assert.is(await page.$eval('#fixture', (s) => (s as HTMLSelectElement).value), 'product-api');
  assert.is(await page.$eval('#request [name="to"]', (s) => (s as HTMLSelectElement).value), 'product-api:80');
  assert.equal(await serviceShares(), { 'default/product-api-v1': 1 });
  assert.is(await page.textContent('#route-name'), 'default/product-api-routing');
  assert.is(await page.textContent('#route-rule'), '1');
  assert.is(await page.$$eval('#chart tr.pod', (rows) => rows.length), 3, 'three v1 pods');
  assert.match(await page.textContent('#load-status') ?? '', /no problems/);
  await shot('01-seed-plain');
});

Page('header X-Canary-User: true goes to product-api-v2', async () => {
  const before = await generation();
  await page.fill('#request [name="headers"]', 'X-Canary-User: true');
  await nextResult(before);
  assert.equal(await serviceShares(), { 'default/product-api-v2': 1 });
  assert.is(await page.textContent('#route-rule'), '0');
  await shot('02-seed-canary');
  const again = await generation();
  await page.fill('#request [name="headers"]', '');
  await nextResult(again);
  assert.equal(await serviceShares(), { 'default/product-api-v1': 1 });
});

Page('the services view shows the VIP, algorithm, slots and weighted groups', async () => {
  await openTab('tab-services');
  const text = await page.textContent('#services') ?? '';
  assert.match(text, /default\/product-api 10\.\d+\.\d+\.\d+:80\/TCP/);
  assert.match(text, /Algorithmrandom/);
  assert.match(text, /default\/product-api-v2:80 weight 100 \(100\.0%\)/);
  assert.is(await page.$$eval('#services article[data-service="default/product-api-v1"] table.slots tbody tr', (r) => r.length), 3);
  await shot('03-services');
});

let sampleVerdicts: DomVerdict[];
let exported: { file: string; verdicts: DomVerdict[] };

Page('the sample policy tests pass, with the same verdicts as the CLI', async () => {
  await openTab('tab-tests');
  await page.click('#run-tests');
  await page.waitForSelector('#test-results li');
  sampleVerdicts = await domVerdicts();
  assert.ok(sampleVerdicts.length >= 4);
  assert.ok(sampleVerdicts.every((v) => v.status === 'pass'), JSON.stringify(sampleVerdicts));
  assert.is(await page.$eval('#tests-summary', (el) => (el as HTMLElement).dataset.ok), 'true');

  // The shared evaluator in Node, on the page's text (the seed scenario joined, the sample tests).
  const model = buildModel(parseManifests(scenarioText(join(ROOT, 'fixtures/product-api')), 'manifests.yaml'));
  const node = runTestFile(parseTestFile(sampleTests(), 'tests.yaml'), model, await loadPolicyWasm());
  assert.equal(sampleVerdicts, node.verdicts.map((v) => ({ name: v.name, status: v.status, reason: v.reason ?? null })));

  // The CLI on the sample file, which reads the scenario directory by path.
  const cli = await callMeshc('test', 'fixtures/tests/product-api.tests.yaml', '--json');
  assert.is(cli.status, 0, cli.stderr);
  const report = JSON.parse(cli.stdout) as { verdicts: { name: string; status: string; reason?: string }[] };
  assert.equal(sampleVerdicts, report.verdicts.map((v) => ({ name: v.name, status: v.status, reason: v.reason ?? null })));
  await shot('04-tests-pass');
});

Page('a wrong expectation fails with its reason; the exported file gives the CLI the same verdicts', async () => {
  const item = /^( *)- name:/m.exec(sampleTests())!;
  const indent = item[1]!;
  await page.click('#tests-editor .cm-content');
  await page.keyboard.press('Control+End');
  await page.keyboard.insertText(
    `${indent}- name: deliberately wrong\n${indent}  request:\n${indent}    headers:\n${indent}      X-Canary-User: "true"\n${indent}  expect:\n${indent}    backend: product-api-v1\n`,
  );
  await page.click('#run-tests');
  await page.waitForFunction(() => document.querySelector('#test-results li[data-name="deliberately wrong"]') !== null);
  const verdicts = await domVerdicts();
  const wrong = verdicts.find((v) => v.name === 'deliberately wrong')!;
  assert.is(wrong.status, 'fail');
  assert.match(wrong.reason!, /expected every connection to reach default\/product-api-v1, got default\/product-api-v2 100\.0%/);
  assert.equal(verdicts.filter((v) => v.name !== 'deliberately wrong'), sampleVerdicts, 'the passing cases still pass');
  assert.is(await page.$eval('#tests-summary', (el) => (el as HTMLElement).dataset.ok), 'false');
  assert.match(await page.textContent('#tests-summary') ?? '', /FAIL: 1\//);
  await shot('05-tests-fail');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-tests')]);
  const file = join(outdir, 'exported.tests.yaml');
  exported = { file, verdicts };
  await download.saveAs(file);
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^manifests:\n {2}inline: \|/m);

  const cli = await callMeshc('test', file, '--json');
  assert.is(cli.status, 1, 'the CLI fails the exported file too');
  const report = JSON.parse(cli.stdout) as { verdicts: { name: string; status: string; reason?: string }[] };
  assert.equal(report.verdicts.map((v) => ({ name: v.name, status: v.status, reason: v.reason ?? null })), verdicts);

  const parsed = parseTestFile(text, file);
  const source = parsed.suite!.manifests!;
  assert.ok('inline' in source);
  const node = runTestFile(parsed, buildModel(inlineManifestDocs(source, file)), await loadPolicyWasm());
  assert.equal(node.verdicts.map((v) => ({ name: v.name, status: v.status, reason: v.reason ?? null })), verdicts);
});

Page('a problem in the tests is marked at its line; importing the exported file restores tests and manifests', async () => {
  const indent = /^( *)- name:/m.exec(sampleTests())![1]!;
  await page.click('#tests-editor .cm-content');
  await page.keyboard.press('Control+End');
  const line = await page.evaluate(() => document.querySelectorAll('#tests-editor .cm-line').length);
  await page.keyboard.insertText(`${indent}- name: typo\n${indent}  expect:\n${indent}    backnd: x\n`);
  await page.click('#run-tests');
  await page.waitForSelector('#test-problems li');
  const problem = await page.textContent('#test-problems li') ?? '';
  assert.match(problem, new RegExp(`^tests\\.yaml:${line + 2}: tests\\[\\d+\\]\\.expect\\.backnd: unknown field`));
  await page.waitForSelector('#tests-editor .cm-lint-marker-error');
  assert.match(await page.textContent('#test-problems') ?? '', /says nothing to check/);
  assert.match(await page.textContent('#tests-summary') ?? '', /2 problem\(s\) in the test file/);
  await shot('06-tests-problem');

  await page.setInputFiles('#import-tests', exported.file);
  await page.waitForFunction(() => /Imported exported\.tests\.yaml with its manifests/.test(document.getElementById('tests-summary')!.textContent ?? ''));
  assert.is(await page.$eval('#fixture', (s) => (s as HTMLSelectElement).value), '', 'imported manifests count as edited');
  await page.click('#run-tests');
  await page.waitForFunction(() => document.querySelectorAll('#test-problems li').length === 0 && document.querySelector('#test-results li[data-name="deliberately wrong"]') !== null);
  assert.equal(await domVerdicts(), exported.verdicts);
});

Page('editing a weight in the weights scenario moves the chart', async () => {
  await openTab('tab-request');
  let before = await generation();
  await page.selectOption('#fixture', 'weights');
  await nextResult(before);
  assert.is(await page.$eval('#request [name="to"]', (s) => (s as HTMLSelectElement).value), 'checkout:80');
  const initial = await serviceShares();
  assert.ok(Math.abs(initial['default/checkout-v1']! - 0.7) < 0.05, JSON.stringify(initial));
  assert.ok(Math.abs(initial['default/checkout-v2']! - 0.3) < 0.05, JSON.stringify(initial));
  await shot('07-weights-before');

  // The file ends with checkout-v2's `weight: 30`: make it 90 (70:90).
  await page.click('#manifests-editor .cm-content');
  await page.keyboard.press('Control+End');
  const lastLine = await page.evaluate(() => {
    const lines = document.querySelectorAll('#manifests-editor .cm-line');
    return Array.from(lines).map((l) => l.textContent).filter((t) => t && t.trim() !== '').pop();
  });
  assert.match(lastLine ?? '', /weight: 30$/);
  before = await generation();
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('End');
  await page.keyboard.press('Backspace');
  await page.keyboard.press('Backspace');
  await page.keyboard.type('90');
  await page.waitForFunction(() => {
    const row = document.querySelector('#chart tr.service[data-service="default/checkout-v2"]') as HTMLElement | null;
    return row !== null && Number(row.dataset.share) > 0.45;
  }, undefined, { timeout: 10_000 });
  const after = await serviceShares();
  assert.ok(Math.abs(after['default/checkout-v2']! - 90 / 160) < 0.05, JSON.stringify(after));
  assert.ok(Math.abs(after['default/checkout-v1']! - 70 / 160) < 0.05, JSON.stringify(after));
  assert.is(await page.$eval('#fixture', (s) => (s as HTMLSelectElement).value), '', 'the scenario shows as edited');
  assert.ok((await generation()) > before);
  await shot('08-weights-after');
});

Page('broken YAML shows an inline error at its line', async () => {
  await page.click('#manifests-editor .cm-content');
  await page.keyboard.press('Control+Home');
  await page.keyboard.insertText('metadata: a: b\n');
  await page.waitForSelector('#diagnostics li.error', { timeout: 10_000 });
  const line = await page.$eval('#diagnostics li.error', (li) => (li as HTMLElement).dataset.line);
  assert.is(line, '1');
  assert.match(await page.textContent('#diagnostics li.error') ?? '', /YAML syntax error/);
  await page.waitForSelector('#manifests-editor .cm-lint-marker-error');
  const markerLine = await page.evaluate(() => {
    const marker = document.querySelector('#manifests-editor .cm-lint-marker-error')!;
    const gutter = marker.closest('.cm-gutterElement') as HTMLElement;
    const top = gutter.getBoundingClientRect().top;
    const numbers = Array.from(document.querySelectorAll('#manifests-editor .cm-lineNumbers .cm-gutterElement')) as HTMLElement[];
    return numbers.find((n) => Math.abs(n.getBoundingClientRect().top - top) < 2)?.textContent;
  });
  assert.is(markerLine, '1', 'the gutter marker is on line 1');
  assert.ok(await page.$('#manifests-editor .cm-lintRange-error'), 'the line is underlined');
  assert.match(await page.textContent('#load-status') ?? '', /[1-9]\d* error\(s\)/);
  await shot('09-yaml-error');
});

Page('the share link restores manifests, request and tests in a new page', async () => {
  await page.click('#share');
  await page.waitForSelector('#share-output:not([hidden])');
  const url = await page.$eval('#share-url', (i) => (i as HTMLInputElement).value);
  assert.match(url, /#[zp]=[A-Za-z0-9_-]+$/);
  const state = await decodeState(new URL(url).hash);
  assert.ok(state, 'the fragment decodes in Node');
  assert.match(state!.manifests, /^metadata: a: b\n/);
  assert.match(state!.manifests, /weight: 90/);
  assert.match(state!.tests, /deliberately wrong/);
  const other = await browser.context.newPage();
  try {
    await other.goto(url);
    await other.waitForSelector('#result[data-generation]');
    assert.is(await other.$eval('#diagnostics li.error', (li) => (li as HTMLElement).dataset.line), '1');
    const shares = await other.$$eval('#chart tr.service', (rows) => Object.fromEntries(rows.map((r) => [(r as HTMLElement).dataset.service!, Number((r as HTMLElement).dataset.share)])));
    assert.equal(shares, await serviceShares());
  } finally {
    await other.close();
  }
});

Page('an unresolved alias is one located error of its document; the other documents load (issue 12 item 9)', async () => {
  await page.click('#manifests-editor .cm-content');
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText([
    'apiVersion: v1', 'kind: Service', 'metadata:', '  name: broken', '  labels:', '    <<: *nowhere', 'spec: {ports: [{port: 80}]}',
    '---',
    'apiVersion: v1', 'kind: Service', 'metadata: {name: kept}', 'spec: {ports: [{port: 80}]}',
  ].join('\n'));
  await page.waitForFunction(() => /alias \*nowhere/.test(document.querySelector('#diagnostics li.error')?.textContent ?? ''), undefined, { timeout: 10_000 });
  assert.is(await page.$eval('#diagnostics li.error', (li) => (li as HTMLElement).dataset.line), '6');
  assert.is(await page.$$eval('#diagnostics li', (items) => items.length), 1);
  const status = await page.textContent('#load-status') ?? '';
  assert.match(status, /^1 Service\(s\), 0 pod\(s\), 0 HTTPRoute\(s\); 1 error\(s\), 0 warning\(s\)/);
  assert.not.match(status, /could not load/);
  assert.equal(pageErrors, [], 'no uncaught errors in the page');
});

Page('the generated-C view loads on demand, marked prebuilt', async () => {
  await openTab('tab-c');
  await page.waitForFunction(() => !/Loading/.test(document.getElementById('c-status')!.textContent ?? ''));
  assert.match(await page.textContent('#c-status') ?? '', /Prebuilt/);
  assert.ok(await page.$('#c-editor .cm-content[contenteditable="false"]'), 'read only');
  const firstLine = await page.textContent('#c-editor .cm-line');
  if (built.generatedC === 'generateC') assert.match(firstLine ?? '', /DO NOT EDIT: generated by meshc's policy generator/);
  else assert.match(firstLine ?? '', /^\/\* /, 'a comment says why there is no C');
  await shot('10-generated-c');
  assert.equal(pageErrors, [], 'no uncaught errors in the page');
});

Page.run();
