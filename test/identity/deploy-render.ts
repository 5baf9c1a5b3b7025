// deploy/ and deploy/ca/ as kubectl renders them offline, for test/identity's deploy tests.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { kustomize } from '../helpers/kustomize.ts';
import { ROOT } from '../kernel/env.ts';

export { kustomize };

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

