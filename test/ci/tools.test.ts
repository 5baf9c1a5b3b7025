// .ci/run installs every tool that a test or the bench runs: the tool lists (test/kernel/env.ts,
// bench/lib/tools.ts) name each command's Debian package, and every package named there must be in
// .ci/run's APT_PACKAGES. The sources are scanned for commands spawned by literal name, so a new
// tool cannot be used without being listed (and so installed on a fresh machine).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BENCH_TOOLS, LIVE_TOOLS } from '../../bench/lib/tools.ts';
import { ROOT, TEST_TOOLS } from '../kernel/env.ts';

/** The words of `APT_PACKAGES=( ... )` in a bash script. */
export function aptPackages(script: string): string[] {
  const match = /^APT_PACKAGES=\(([^)]*)\)/m.exec(script);
  if (!match) throw new Error('.ci/run: no APT_PACKAGES=( ... ) array');
  return match[1]!.split('\n').map((line) => line.replace(/#.*/, '')).join(' ').split(/\s+/).filter(Boolean);
}

/** Command names that a source file spawns by literal name. */
export function spawnedCommands(source: string, file: string): string[] {
  const patterns = [
    /\b(?:spawnSync|spawn|execFileSync|execFile)\(\s*'([^'/]+)'/g, // child_process with a literal command
    /\.spawn\(\s*[\w.]+,\s*\[\s*'([^'/]+)'/g, // the bench lab's spawn(where, [command, ...])
    /\bwhich\(\s*'([^'/]+)'\s*\)/g,
  ];
  // bench/lib/lab.ts's run(cmd, args); elsewhere `run` is any local helper.
  if (file.startsWith('bench/')) patterns.push(/\brun\(\s*'([^'/]+)'/g);
  return patterns.flatMap((re) => [...source.matchAll(re)].map((m) => m[1]!));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mjs)$/.test(e.name))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

const LISTS: Record<string, Record<string, string>> = {
  'test/kernel/env.ts TEST_TOOLS': TEST_TOOLS,
  'bench/lib/tools.ts BENCH_TOOLS': BENCH_TOOLS,
};
/** Node.js and npm are the one thing .ci/run expects the machine to have already. */
const WITH_NODE = new Set(['node', 'npm', 'npx']);
const installed = new Set(aptPackages(readFileSync(path.join(ROOT, '.ci/run'), 'utf8')));
const listed = new Map(Object.values(LISTS).flatMap((list) => Object.entries(list)));

const test = suite('.ci/run installs the tools of the tests and the bench');

test('APT_PACKAGES is read from .ci/run', () => {
  assert.ok(installed.has('clang-19'), `APT_PACKAGES: ${[...installed].join(' ')}`);
  assert.equal(aptPackages('APT_PACKAGES=(a b # c d\n  e)\n'), ['a', 'b', 'e']);
});

test('every listed tool comes from a package .ci/run installs', () => {
  for (const [list, tools] of Object.entries(LISTS)) {
    for (const [command, pkg] of Object.entries(tools)) {
      assert.ok(installed.has(pkg), `${list}: ${command} needs the Debian package ${pkg}, which .ci/run's APT_PACKAGES does not install`);
    }
  }
});

test('the live suites need only listed bench tools', () => {
  for (const tool of LIVE_TOOLS) assert.ok(tool in BENCH_TOOLS, tool);
});

test('every command spawned by name in src/, test/ and bench/ is in a tool list', () => {
  const unlisted: string[] = [];
  for (const file of ['src', 'test', 'bench'].flatMap(sourceFiles)) {
    for (const command of spawnedCommands(readFileSync(path.join(ROOT, file), 'utf8'), file)) {
      if (!listed.has(command) && !WITH_NODE.has(command)) unlisted.push(`${file}: ${command}`);
    }
  }
  assert.equal(unlisted, [], 'add each to TEST_TOOLS (test/kernel/env.ts) or BENCH_TOOLS (bench/lib/tools.ts) with its package');
});

test('the scan finds the command forms the sources use', () => {
  assert.equal(spawnedCommands("spawnSync('ip', []); execFileSync('clang-19', a); lab.spawn(where, ['nginx', '-c']); which('wrk')", 'test/x.ts'), ['ip', 'clang-19', 'nginx', 'wrk']);
  assert.equal(spawnedCommands("run('chrt', [])", 'bench/x.ts'), ['chrt']);
  assert.equal(spawnedCommands("run('compile', [])", 'test/x.ts'), []);
});

test.run();
