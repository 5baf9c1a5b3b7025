// `npm run generate`: writes src/generated/ from the declarations (src/build/host-code.ts), or with
// --check says which generated files are not current and exits 1.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './compile.ts';
import { GENERATED_DIR, generateHostCode } from './host-code.ts';

/** Generated files that differ from what is on disk (missing, changed, or no longer generated). */
export function staleGenerated(root = REPO_ROOT): string[] {
  const files = generateHostCode(root);
  const stale = files.filter((f) => read(path.join(root, f.path)) !== f.text).map((f) => f.path);
  const expected = new Set(files.map((f) => f.path));
  const dir = path.join(root, GENERATED_DIR);
  const present = readDir(dir).map((name) => `${GENERATED_DIR}/${name}`);
  return [...stale, ...present.filter((p) => !expected.has(p))];
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function readDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function main(args: string[]): number {
  if (args.some((a) => a !== '--check')) {
    process.stderr.write(`generate: unknown option ${args.find((a) => a !== '--check')} (usage: generate [--check])\n`);
    return 2;
  }
  if (args.includes('--check')) {
    const stale = staleGenerated();
    if (stale.length === 0) return 0;
    process.stderr.write(`generate: not current: ${stale.join(', ')} (run \`npm run generate\`)\n`);
    return 1;
  }
  const files = generateHostCode(REPO_ROOT);
  const dir = path.join(REPO_ROOT, GENERATED_DIR);
  mkdirSync(dir, { recursive: true });
  const expected = new Set(files.map((f) => path.basename(f.path)));
  for (const name of readDir(dir)) if (!expected.has(name)) rmSync(path.join(dir, name));
  for (const f of files) {
    const target = path.join(REPO_ROOT, f.path);
    if (read(target) !== f.text) writeFileSync(target, f.text);
  }
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
