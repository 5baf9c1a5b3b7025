// `meshc ca` as a user runs it: --help, init (files and modes, never overwriting), verify, the
// rotation procedure of docs/identity.md step by step with the CLI, usage errors by name; and the
// agent's identity flags (all three or none, never with --manifests).
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildCsr, generateNodeKey, issueSvid, loadRootCa } from '../../src/identity/x509.ts';
import { callMeshc } from '../helpers/meshc.ts';

const TD = 'cluster.test';
const ca = suite('meshc ca');
let dir = '';
ca.before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'meshc-ca-cli-'));
});
ca.after(() => rmSync(dir, { recursive: true, force: true }));

/** An SVID for shop/api from the root in `rootDir`, written to a file; returns its path. */
async function svidFrom(rootDir: string, name: string): Promise<string> {
  const root = await loadRootCa(readFileSync(path.join(rootDir, 'root.crt'), 'utf8'), readFileSync(path.join(rootDir, 'root.key'), 'utf8'), TD);
  const issued = await issueSvid(root, { csrPem: await buildCsr(await generateNodeKey()), spiffeId: `spiffe://${TD}/ns/shop/sa/api` });
  const file = path.join(dir, name);
  writeFileSync(file, issued.certPem);
  return file;
}

ca('--help teaches the signing rules, the refusal reasons and the rotation', async () => {
  const r = await callMeshc('ca', '--help');
  assert.is(r.status, 0);
  for (const words of ['TokenReview', 'authentication.kubernetes.io/node-name', 'no-pod-on-node', 'not-the-agent', 'names a CSR asks for are ignored', 'Rotating the root', 'half the lifetime']) {
    assert.ok(r.stdout.includes(words), words);
  }
  const top = await callMeshc('--help');
  assert.match(top.stdout, /\n {2}ca {9}the workload identity CA/);
});

ca('init writes root.key (0600) and root.crt, and never overwrites them', async () => {
  const out = path.join(dir, 'old');
  const r = await callMeshc('ca', 'init', '--trust-domain', TD, '--out', out, '--json');
  assert.is(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.is(summary.trustDomain, TD);
  assert.is(statSync(path.join(out, 'root.key')).mode & 0o777, 0o600);
  assert.match(readFileSync(path.join(out, 'root.crt'), 'utf8'), /BEGIN CERTIFICATE/);
  const again = await callMeshc('ca', 'init', '--trust-domain', TD, '--out', out);
  assert.is(again.status, 1);
  assert.match(again.stderr, /root.key exists; a root is never overwritten/);
});

ca('rotation with the CLI: both roots in the bundle, then the old one removed', async () => {
  const old = path.join(dir, 'old');
  const fresh = path.join(dir, 'new');
  assert.is((await callMeshc('ca', 'init', '--trust-domain', TD, '--out', fresh)).status, 0);
  const before = await svidFrom(old, 'before.pem');
  const after = await svidFrom(fresh, 'after.pem');
  const both = path.join(dir, 'bundle-both.pem');
  writeFileSync(both, readFileSync(path.join(old, 'root.crt'), 'utf8') + readFileSync(path.join(fresh, 'root.crt'), 'utf8'));
  for (const svid of [before, after]) {
    const r = await callMeshc('ca', 'verify', '--trust-domain', TD, '--trust-bundle', both, svid, '--json');
    assert.is(r.status, 0, r.stdout);
    assert.is(JSON.parse(r.stdout).spiffeId, `spiffe://${TD}/ns/shop/sa/api`);
  }
  const onlyNew = path.join(fresh, 'root.crt');
  const rejected = await callMeshc('ca', 'verify', '--trust-domain', TD, '--trust-bundle', onlyNew, before, '--json');
  assert.is(rejected.status, 1);
  assert.is(JSON.parse(rejected.stdout).reason, 'foreign-ca');
  const kept = await callMeshc('ca', 'verify', '--trust-domain', TD, '--trust-bundle', onlyNew, after);
  assert.is(kept.status, 0);
  assert.match(kept.stdout, /spiffe:\/\/cluster\.test\/ns\/shop\/sa\/api: valid until/);
  const otherDomain = await callMeshc('ca', 'verify', '--trust-domain', 'other.test', '--trust-bundle', onlyNew, after);
  assert.is(otherDomain.status, 1);
  assert.match(otherDomain.stdout, /rejected \(trust-domain\)/);
});

ca('serve refuses a trust bundle without its signing root, and a key that is not the root\'s', async () => {
  const old = path.join(dir, 'old');
  const fresh = path.join(dir, 'new');
  const wrongBundle = await callMeshc('ca', 'serve', '--trust-domain', TD, '--root-cert', path.join(fresh, 'root.crt'), '--root-key', path.join(fresh, 'root.key'), '--trust-bundle', path.join(old, 'root.crt'), '--kubeconfig', '/nonexistent');
  assert.is(wrongBundle.status, 1);
  assert.match(wrongBundle.stderr, /does not hold the root the CA signs with/);
  const wrongKey = await callMeshc('ca', 'serve', '--trust-domain', TD, '--root-cert', path.join(fresh, 'root.crt'), '--root-key', path.join(old, 'root.key'));
  assert.is(wrongKey.status, 1);
  assert.match(wrongKey.stderr, /root key: does not belong to the root certificate/);
});

const usage: [string, string[], RegExp][] = [
  ['no action', ['ca'], /say what: init, serve or verify/],
  ['an unknown action', ['ca', 'sign'], /unknown action "sign"/],
  ['no trust domain', ['ca', 'init', '--out', '/tmp/x'], /--trust-domain is required/],
  ['a bad trust domain', ['ca', 'init', '--trust-domain', 'Cluster:443', '--out', '/tmp/x'], /--trust-domain: .*lowercase/],
  ['an unknown option', ['ca', 'init', '--trust-domian', TD], /Unknown option '--trust-domian'/],
  ['a bad agent ServiceAccount', ['ca', 'serve', '--trust-domain', TD, '--root-cert', '/dev/null', '--root-key', '/dev/null', '--agent-service-account', 'agent'], /--agent-service-account must be NAMESPACE\/NAME/],
  ['agent: --ca-url alone', ['agent', '--cgroup', '/sys/fs/cgroup/unified/x', '--ca-url', 'https://ca'], /need --ca-url, --trust-domain and --trust-bundle together/],
  ['agent: with --manifests', ['agent', '--cgroup', '/sys/fs/cgroup/unified/x', '--manifests', 'fixtures', '--ca-url', 'https://ca', '--trust-domain', TD, '--trust-bundle', '/dev/null'], /--ca-url needs the API server source/],
  ['agent: plain http', ['agent', '--cgroup', '/sys/fs/cgroup/unified/x', '--ca-url', 'http://ca', '--trust-domain', TD, '--trust-bundle', '/dev/null'], /--ca-url must be an https:\/\/ URL/],
];
for (const [what, args, message] of usage) {
  ca(`usage error: ${what}`, async () => {
    const r = await callMeshc(...args);
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
  });
}

ca.run();
