// deploy/ (or a folder under it) rendered offline with `kubectl kustomize`, for the deploy tests.
// Without kubectl the caller skips, saying so, unless MESHC_REQUIRE_KERNEL=1 (CI) forbids it.
import { spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';

const ROOT = new URL('../../', import.meta.url).pathname;

export function kustomize(dir: string): any[] | undefined {
  const result = spawnSync('kubectl', ['kustomize', dir], { cwd: ROOT, encoding: 'utf8' });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    if (process.env['MESHC_REQUIRE_KERNEL'] === '1') throw new Error('kubectl is not installed (apt-get install kubectl) and MESHC_REQUIRE_KERNEL=1 forbids skipping');
    console.log(`  skipped: kubectl is not installed (apt-get install kubectl) — ${dir} not rendered`);
    return undefined;
  }
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${result.stderr}`);
  return parseAllDocuments(result.stdout).map((doc) => doc.toJS()).filter((o) => o);
}

/** The first object of `kind` (named `name`, when given). */
export const findObject = (objects: any[], kind: string, name?: string) => objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
