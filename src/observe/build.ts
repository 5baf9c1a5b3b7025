// Node only: builds the service map page into dist/observe with esbuild (cytoscape and uPlot
// bundled in: the page fetches nothing but its own files and the agent's /flows).
// Run: npm run build:observe (tsx src/observe/build.ts [--outdir DIR]).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { PAGE_DIR } from './http.ts';

const HERE = fileURLToPath(new URL('./page/', import.meta.url));

export async function buildObservePage(outdir = PAGE_DIR): Promise<{ path: string; bytes: number }[]> {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: [join(HERE, 'main.ts')],
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'linked',
    logLevel: 'warning',
  });
  copyFileSync(join(HERE, 'index.html'), join(outdir, 'index.html'));
  copyFileSync(join(HERE, 'observe.css'), join(outdir, 'observe.css'));
  return readdirSync(outdir).map((name) => ({ path: name, bytes: statSync(join(outdir, name)).size }));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { outdir: { type: 'string' } } });
  buildObservePage(values.outdir).then((files) => {
    for (const f of files) process.stdout.write(`${String(f.bytes).padStart(9)}  ${f.path}\n`);
  }, (error: unknown) => {
    process.stderr.write(`build:observe: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
}
