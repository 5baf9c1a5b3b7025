// deploy/ and deploy/ca/ as kubectl renders them offline, for test/identity's deploy tests.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { ROOT } from '../kernel/env.ts';

const requireTools = process.env['MESHC_REQUIRE_KERNEL'] === '1';

export function kustomize(dir: string): any[] | undefined {
  const result = spawnSync('kubectl', ['kustomize', dir], { cwd: ROOT, encoding: 'utf8' });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    if (requireTools) throw new Error('kubectl is not installed (apt-get install kubectl) and MESHC_REQUIRE_KERNEL=1 forbids skipping');
    console.log(`  skipped: kubectl is not installed — ${dir} not rendered`);
    return undefined;
  }
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${result.stderr}`);
  return parseAllDocuments(result.stdout).map((doc) => doc.toJS()).filter((o) => o);
}

/** deploy/'s agent DaemonSet with deploy/ca/agent-patch.yaml applied, as `kubectl patch` would. */
export function patchedDaemonSet(): any | undefined {
  const objects = kustomize('deploy/');
  if (!objects) return undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'meshc-ca-patch-'));
  try {
    const file = path.join(dir, 'ds.yaml');
    writeFileSync(file, stringify(objects.find((o) => o.kind === 'DaemonSet')));
    const r = spawnSync('kubectl', ['patch', '--local', '-f', file, '--type', 'json', '--patch-file', path.join(ROOT, 'deploy/ca/agent-patch.yaml'), '-o', 'json'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kubectl patch --local: ${r.stderr}`);
    return JSON.parse(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

