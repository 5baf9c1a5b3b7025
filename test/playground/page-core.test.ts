// The page's pure modules, run in Node: share links, the request form, lint ranges, the static
// server and the site build.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gunzipSync } from 'node:zlib';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeState, encodeState, fromBase64url, base64url, type PlaygroundState } from '../../src/playground/share.ts';
import { DEFAULT_REQUEST, parseHeaderLines, simulateInput } from '../../src/playground/request.ts';
import { diagnosticRanges, lineRanges } from '../../src/playground/lint.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { buildModel } from '../../src/model/build.ts';
import { servePlayground } from '../../src/playground/server.ts';
import { buildPlayground, scenarios, sampleTests } from '../../src/playground/build.ts';

const Share = suite('playground share link');

const state: PlaygroundState = {
  fixture: null,
  manifests: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: é-ünïcode ✓\n'.repeat(20),
  request: { ...DEFAULT_REQUEST, to: 'a:80', headers: 'X-Canary-User: true' },
  tests: 'tests: []\n',
};

Share('round-trips compressed and plain, and compression makes it shorter', async () => {
  const z = await encodeState(state, true);
  const p = await encodeState(state, false);
  assert.match(z, /^#z=[A-Za-z0-9_-]+$/);
  assert.match(p, /^#p=[A-Za-z0-9_-]+$/);
  assert.ok(z.length < p.length / 2, `compressed ${z.length} vs plain ${p.length}`);
  assert.equal(await decodeState(z), state);
  assert.equal(await decodeState(p), state);
});

Share('rejects damaged or foreign fragments', async () => {
  const z = await encodeState(state, true);
  assert.is(await decodeState(`${z.slice(0, -8)}`), undefined);
  assert.is(await decodeState('#x=abc'), undefined);
  assert.is(await decodeState(''), undefined);
  const wrongShape = `#p=${base64url(new TextEncoder().encode(JSON.stringify({ manifests: 1 })))}`;
  assert.is(await decodeState(wrongShape), undefined);
});

Share('base64url round-trips every byte value', () => {
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  const text = base64url(bytes);
  assert.not.match(text, /[+/=]/);
  assert.equal([...fromBase64url(text)], [...bytes]);
});

Share.run();

const Request = suite('playground request form');

Request('headers are "Name: value" lines; blank lines are skipped', () => {
  assert.equal(parseHeaderLines('X-A: 1\n\n  X-B:two: three  \n'), { headers: { 'X-A': '1', 'X-B': 'two: three' }, problems: [] });
  assert.equal(parseHeaderLines('no colon here').problems, ['header line 1: "no colon here" is not "Name: value"']);
});

Request('the form becomes a simulator input, or the first problem', () => {
  const ok = simulateInput({ ...DEFAULT_REQUEST, to: 'web.shop:8080', from: 'shop/c', path: '/a?b=1', headers: 'X-A: 1', connections: 10, seed: 3 });
  assert.equal(ok, {
    input: {
      to: { name: 'web', namespace: 'shop', port: 8080 }, from: 'shop/c',
      request: { method: 'GET', path: '/a', headers: { 'X-A': '1' }, query: { b: ['1'] } }, connections: 10, seed: 3,
    },
  });
  const problems: [Partial<typeof DEFAULT_REQUEST>, RegExp][] = [
    [{ to: '' }, /no Service to send to/],
    [{ to: 'a:80', path: 'x' }, /path must start with "\/"/],
    [{ to: 'a:80', connections: 0 }, /connections must be an integer from 1/],
    [{ to: 'a:80', connections: 1.5 }, /connections/],
    [{ to: 'a:80', seed: -1 }, /seed/],
    [{ to: 'a:80', headers: ': x' }, /header line 1/],
  ];
  for (const [change, message] of problems) {
    const r = simulateInput({ ...DEFAULT_REQUEST, ...change });
    assert.ok('problem' in r, JSON.stringify(change));
    assert.match((r as { problem: string }).problem, message);
  }
});

Request.run();

const Lint = suite('playground lint ranges');

Lint('a diagnostic underlines its line without the indentation', () => {
  const text = 'apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n  - port: 70000\n';
  const model = buildModel(parseManifests(text, 'm.yaml'));
  const ranges = diagnosticRanges(text, model.diagnostics);
  const error = ranges.find((r) => r.severity === 'error');
  assert.ok(error, JSON.stringify(model.diagnostics));
  assert.is(error!.line, 7);
  assert.is(text.slice(error!.from, error!.to), '- port: 70000');
  assert.match(error!.message, /^Service default\/a: spec\.ports\[0\]\.port: /);
});

Lint('a YAML syntax error lands on its line; out-of-range lines are clamped', () => {
  const text = 'kind: Service\nmetadata: a: b\n';
  const model = buildModel(parseManifests(text, 'm.yaml'));
  const [range] = diagnosticRanges(text, model.diagnostics);
  assert.is(range!.line, 2);
  const clamped = lineRanges('a\nb', [{ line: 99, severity: 'error', message: 'x' }, { severity: 'warning', message: 'y' }]);
  assert.equal(clamped.map((r) => [r.line, r.from, r.to]), [[2, 2, 3], [1, 0, 1]]);
});

Lint.run();

const Site = suite('playground site build and server');

let outdir: string;
let result: Awaited<ReturnType<typeof buildPlayground>>;
Site.before(async () => {
  outdir = mkdtempSync(join(tmpdir(), 'meshc-pg-build-'));
  result = await buildPlayground({ outdir });
});
Site.after(() => rmSync(outdir, { recursive: true, force: true }));

Site('the build writes the page, the bundle, policy.wasm and the C view files', () => {
  for (const f of ['index.html', 'playground.css', 'main.js', 'policy.wasm', 'generated/policy.c', 'generated/about.json']) {
    assert.ok(existsSync(join(outdir, f)), f);
  }
  const html = readFileSync(join(outdir, 'index.html'), 'utf8');
  assert.not.match(html, /https?:\/\//, 'no external resources');
  const site = result.files.filter((f) => f.path.endsWith('.js')).map((f) => readFileSync(join(outdir, f.path), 'utf8')).join('\n');
  assert.ok(site.includes('# Cilium needs Services for backends'), 'the seed scenario is embedded');
  const main = readFileSync(join(outdir, 'main.js'), 'utf8');
  const firstView = [...main.matchAll(/from\s*"\.\/(chunks\/[^"]+)"/g)].map((m) => readFileSync(join(outdir, m[1]!), 'utf8')).join('\n') + main;
  assert.not.match(firstView, /PreprocDirective/, 'the C language is not in the first view');
  assert.match(site, /PreprocDirective/, 'the C language is in a lazy chunk');
});

Site('scenarios: the seed first, each joined in file order; sample tests without manifests', () => {
  const list = scenarios();
  assert.is(list[0]!.name, 'product-api');
  assert.ok(list.some((s) => s.name === 'weights'));
  assert.not.ok(list.some((s) => s.name === 'tests'));
  const seed = list[0]!.manifests;
  assert.ok(seed.indexOf('product-api-httproute.yaml') < seed.indexOf('product-api-v2-svc.yaml'));
  assert.is(parseManifests(seed, 'x').length, 6, 'six documents, one per file');
  assert.not.match(sampleTests(), /^manifests:/m);
});

Site('the server serves files, gzips text, refuses escapes', async () => {
  const server = await servePlayground(outdir);
  try {
    const index = await fetch(server.url);
    assert.is(index.status, 200);
    assert.match(index.headers.get('content-type')!, /text\/html/);
    const wasm = await fetch(`${server.url}policy.wasm`);
    assert.is(wasm.headers.get('content-type'), 'application/wasm');
    assert.equal(new Uint8Array(await wasm.arrayBuffer()), new Uint8Array(readFileSync(join(outdir, 'policy.wasm'))));
    const raw = await new Promise<{ encoding?: string; body: Buffer }>((resolve, reject) => {
      import('node:http').then(({ get }) => get(`${server.url}main.js`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
      }).on('error', reject));
    });
    assert.is(raw.encoding, 'gzip');
    assert.equal(gunzipSync(raw.body), readFileSync(join(outdir, 'main.js')));
    assert.is((await fetch(`${server.url}..%2f..%2f..%2fetc/passwd`)).status, 403);
    assert.is((await fetch(`${server.url}missing`)).status, 404);
    assert.is((await fetch(server.url, { method: 'POST' })).status, 405);
  } finally {
    await server.close();
  }
});

Site.run();
