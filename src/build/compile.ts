// `meshc compile`: the policy in assembly/ (or a user's policy file) becomes
//   meshc_policy.h the generated policy C (constants, layouts, maps, mc_decide), DO NOT EDIT
//   meshc.bpf.c   the hook glue of bpf/, one translation unit that includes meshc_policy.h, DO NOT EDIT
//   meshc.bpf.o   clang-19 -O2 -g -target bpf
//   policy.wasm   asc, the same policy for the simulator and the playground
//   manifest.json what was built from what (hashes), deterministic
// and, with `check`, loads the object into the kernel once so the verifier has its say.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatCompilerDiagnostic, generateC, type CompilerDiagnostic } from '../compiler/index.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BPF_DIR = path.join(REPO_ROOT, 'bpf');
export const ASSEMBLY_DIR = path.join(REPO_ROOT, 'assembly');

/** The glue's entry files, in translation-unit order (headers come in through #include). */
export const GLUE_FILES = ['sock.bpf.c', 'harness.bpf.c', 'netpol.bpf.c'] as const;
export const GLUE_HEADERS = ['meshc_consts.h', 'meshc_structs.h', 'meshc_maps.h', 'meshc_helpers.h', 'meshc_netpol.h'] as const;

export const CLANG_MISSING =
  'clang-19 not found: install it with `apt-get install -y clang-19` (Debian 12: from bookworm; ' +
  'or set MESHC_CLANG to a clang that targets bpf, version 19 or later)';
export const LIBBPF_HEADERS_MISSING =
  'libbpf headers not found (bpf/bpf_helpers.h): install them with `apt-get install -y libbpf-dev`';

/** The generated policy header, written beside meshc.bpf.c; the glue headers include it. */
export const POLICY_HEADER = 'meshc_policy.h';

/** What failed, at which stage; `detail` holds the tool's own output. */
export class CompileError extends Error {
  constructor(
    readonly stage: 'input' | 'generate' | 'clang' | 'asc' | 'check' | 'tool',
    message: string,
    readonly detail = '',
    readonly diagnostics: CompilerDiagnostic[] = [],
  ) {
    super(message);
    this.name = 'CompileError';
  }
}

/** The kernel refused a program of the compiled object (from `check`). */
export class ProgramRejectedError extends CompileError {
  constructor(
    readonly program: string,
    message: string,
    readonly verifierLog: string,
  ) {
    super('check', message, verifierLog);
    this.name = 'ProgramRejectedError';
  }
}

export interface CompileOptions {
  /** Output directory (created); default build/ of the repository. */
  outDir?: string;
  /** A user policy file exporting `decide` (same signature as assembly/policy.ts's). */
  policyFile?: string;
  /** Also build policy.wasm (default true). */
  wasm?: boolean;
  /** Load the object once (verifier), pinning nothing outside a temporary bpffs dir. Needs root and the addon. */
  check?: boolean;
  /** Progress lines ("generate: ...", "clang: ..."), for stderr. */
  progress?: (line: string) => void;
}

export interface ManifestFile {
  path: string;
  sha256: string;
  bytes: number;
}

/** manifest.json: byte-for-byte the same for the same inputs (no times, no temp paths). */
export interface BuildManifest {
  generator: 'meshc compile';
  /** The policy's entry, relative to the repository when inside it. */
  policy: string;
  inputs: ManifestFile[];
  outputs: ManifestFile[];
  programs: Array<{ name: string; section: string }>;
  clang: string;
}

export interface CompileResult {
  outDir: string;
  source: string;
  object: string;
  wasm?: string;
  manifestPath: string;
  manifest: BuildManifest;
  /** Wall time of each stage in milliseconds. */
  timings: Record<string, number>;
  /** Programs the kernel accepted (with `check`). */
  checked?: string[];
}

// ---- tools ----

export function findClang(): string {
  const candidates = [process.env.MESHC_CLANG, 'clang-19', '/usr/bin/clang-19', '/usr/lib/llvm-19/bin/clang'];
  for (const candidate of candidates) {
    if (!candidate) continue;
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (probe.status === 0) return candidate;
  }
  throw new CompileError('tool', CLANG_MISSING);
}

function clangVersion(clang: string): string {
  const out = spawnSync(clang, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  return /clang version (\S+)/.exec(out)?.[1] ?? 'unknown';
}

/**
 * Include directories for clang: the generated headers' directory (meshc_policy.h) when given,
 * bpf/, then the multiarch dir that holds asm/types.h.
 */
export function includeDirs(generatedDir?: string): string[] {
  if (!existsSync('/usr/include/bpf/bpf_helpers.h')) throw new CompileError('tool', LIBBPF_HEADERS_MISSING);
  const dirs = [...(generatedDir ? [generatedDir] : []), BPF_DIR];
  const triple = spawnSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).stdout?.trim();
  for (const dir of [triple && `/usr/include/${triple}`, `/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`]) {
    if (dir && existsSync(path.join(dir, 'asm', 'types.h'))) {
      dirs.push(dir);
      break;
    }
  }
  return dirs;
}

function targetArch(): string {
  return process.arch === 'arm64' ? 'arm64' : process.arch === 'x64' ? 'x86' : process.arch;
}

// ---- composing the translation unit ----

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function relToRepo(file: string): string {
  const rel = path.relative(REPO_ROOT, path.resolve(file));
  return rel.startsWith('..') || path.isAbsolute(rel) ? path.resolve(file) : rel.split(path.sep).join('/');
}

/**
 * meshc.bpf.c: banner, then each glue file behind a #line marker so clang's messages point at
 * bpf/<file>. The glue's headers stay #include'd: bpf/meshc_*.h (clang gets -I bpf/) and the
 * generated meshc_policy.h (-I of the output directory).
 */
export function composeSource(policyName: string, glue: Array<{ name: string; text: string }>): string {
  const parts: string[] = [
    '/* DO NOT EDIT: generated by `meshc compile` (src/build/compile.ts).',
    ` * Hook glue: ${glue.map((g) => `bpf/${g.name}`).join(', ')} (headers: bpf/meshc_*.h),`,
    ` * over ${POLICY_HEADER}: policy ${policyName}, translated by src/compiler.`,
    ' * Change those inputs and run `meshc compile` again. */',
    '',
  ];
  for (const file of glue) {
    parts.push(`#line 1 "bpf/${file.name}"`, file.text.trimEnd(), '');
  }
  // The license decides which helpers the kernel lets the programs call; one per object.
  if (!glue.some((g) => /SEC\("license"\)/.test(g.text))) {
    parts.push('#line 1 "meshc-license"', 'char LICENSE[] SEC("license") = "Dual BSD/GPL";', '');
  }
  return parts.join('\n');
}

/** The programs of a composed source: each SEC("...") function definition. */
export function listPrograms(source: string): Array<{ name: string; section: string }> {
  const programs: Array<{ name: string; section: string }> = [];
  const re = /SEC\("([^"]+)"\)\s*\n\s*int\s+([A-Za-z_]\w*)\s*\(/g;
  for (let m = re.exec(source); m; m = re.exec(source)) {
    if (m[1] !== 'license' && m[1] !== '.maps') programs.push({ name: m[2]!, section: m[1]! });
  }
  return programs;
}

// ---- the generator ----

/**
 * For a user policy: a temporary copy of assembly/ with the user's file beside the built-in
 * modules (so `./layouts`, `./maps`, `./policy`... resolve) and an entry.ts that re-exports its
 * `decide`. Returns the copy's directory and the user's file inside it.
 */
function stageUserPolicy(policyFile: string, given: string): { dir: string; assemblyDir: string; staged: string } {
  const name = JSON.stringify(given);
  // The name goes into generated comments and the manifest: a control character (a newline)
  // would end a comment and paste the rest of the name into the C source.
  if (/[\u0000-\u001f\u007f]/.test(given)) {
    throw new CompileError('input', `--policy ${name}: the file name contains a control character (a newline?); rename the file`);
  }
  let text: string;
  try {
    if (statSync(policyFile).isDirectory()) throw new CompileError('input', `--policy ${given}: is a directory; give the policy's .ts file`);
    text = readFileSync(policyFile, 'utf8');
  } catch (error) {
    if (error instanceof CompileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : `cannot read it (${code ?? (error as Error).message})`;
    throw new CompileError('input', `--policy ${given}: ${reason}`);
  }
  if (!/export\s+(function\s+decide\b|\{[^}]*\bdecide\b[^}]*\})/.test(text)) {
    throw new CompileError('input', `--policy ${given}: the file does not export a function named decide`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'meshc-policy-'));
  const assemblyDir = path.join(dir, 'assembly');
  cpSync(ASSEMBLY_DIR, assemblyDir, { recursive: true });
  const stagedName = `user_${path.basename(policyFile).replace(/[^A-Za-z0-9_.-]/g, '_')}`;
  const staged = path.join(assemblyDir, stagedName);
  writeFileSync(staged, text);
  writeFileSync(
    path.join(assemblyDir, 'entry.ts'),
    `// Entry of a user policy (meshc compile --policy ${path.basename(policyFile)}).\n` +
      `export { decide } from "./${stagedName.replace(/\.ts$/, '')}";\n` +
      'export { decideNetwork } from "./netpol/decide";\n' +
      'export { pickCandidate, pickRange } from "./netpol/pick";\n',
  );
  return { dir, assemblyDir, staged };
}

/** `from "meshc/layouts"` → `from "./layouts"`: the import as asc can resolve it in the staged copy. */
export function relativeBuiltinImports(text: string): string {
  return text.replace(/(\bfrom\s*|\bimport\s*\(?\s*)(["'])meshc\/([^"']+)\2/g, '$1$2./$3$2');
}

/** Diagnostics point at the user's file, not at the temporary copy. */
function remapDiagnostic(d: CompilerDiagnostic, stage: { assemblyDir: string; staged: string } | undefined, policyFile: string | undefined): CompilerDiagnostic {
  const out: CompilerDiagnostic = { ...d };
  if (!stage || !policyFile) return out;
  const stagedName = path.basename(stage.staged);
  if (d.file === stagedName || d.file.endsWith(`/${stagedName}`) || path.resolve(stage.assemblyDir, d.file) === stage.staged) {
    out.file = policyFile;
  } else if (path.isAbsolute(d.file) && d.file.startsWith(stage.assemblyDir)) {
    out.file = `assembly/${path.relative(stage.assemblyDir, d.file).split(path.sep).join('/')}`;
  }
  return out;
}

// ---- the build ----

function run(cmd: string, args: string[], cwd: string): { status: number; stdout: string; stderr: string } {
  const res = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (res.error) throw new CompileError('tool', `${cmd}: ${res.error.message}`);
  return { status: res.status ?? 1, stdout: res.stdout ?? '', stderr: res.stderr ?? '' };
}

/**
 * Compiles C to a BPF object; clang's diagnostics in the error on failure. Headers generated
 * beside the source (meshc_policy.h) are found there.
 */
export function compileObject(sourcePath: string, objectPath: string, clang = findClang()): void {
  const args = [
    '-O2', '-g', '-target', 'bpf', '-mcpu=v3', `-D__TARGET_ARCH_${targetArch()}`,
    ...includeDirs(path.dirname(path.resolve(sourcePath))).flatMap((dir) => ['-I', dir]),
    // Reproducible debug info: no absolute build paths in the object.
    `-fdebug-prefix-map=${path.dirname(path.resolve(sourcePath))}=.`, `-fdebug-prefix-map=${REPO_ROOT.replace(/\/$/, '')}=.`,
    '-Wall', '-Wno-unused-function', '-Werror=implicit-function-declaration',
    '-c', sourcePath, '-o', objectPath,
  ];
  const res = run(clang, args, REPO_ROOT);
  if (res.status !== 0) {
    const lines = res.stderr.trim().split('\n');
    const first = lines.find((l) => /error:/.test(l)) ?? lines[0] ?? 'failed';
    throw new CompileError('clang', `clang: ${first}`, res.stderr);
  }
}

/** Builds policy.wasm from an assembly/ directory with the release target of asconfig.json. */
export function compileWasm(assemblyDir: string, outFile: string): void {
  const config = JSON.parse(readFileSync(path.join(REPO_ROOT, 'asconfig.json'), 'utf8')) as {
    targets: Record<string, Record<string, unknown>>;
    options?: Record<string, unknown>;
  };
  const release: Record<string, unknown> = { ...config.targets.release, outFile: path.resolve(outFile) };
  delete release.textFile;
  const scratch = mkdtempSync(path.join(tmpdir(), 'meshc-asc-'));
  try {
    const configPath = path.join(scratch, 'asconfig.json');
    writeFileSync(configPath, JSON.stringify({ targets: { release }, options: config.options ?? {} }));
    const asc = path.join(REPO_ROOT, 'node_modules', '.bin', 'asc');
    if (!existsSync(asc)) throw new CompileError('tool', 'asc (assemblyscript) not found: run `npm ci` in the repository');
    const res = run(asc, [path.join(assemblyDir, 'index.ts'), '--config', configPath, '--target', 'release'], REPO_ROOT);
    if (res.status !== 0) {
      const first = res.stderr.split('\n').find((l) => /ERROR|error/.test(l)) ?? 'failed';
      throw new CompileError('asc', `asc: ${first.trim()}`, res.stderr);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function fileEntry(file: string, label: string): ManifestFile {
  const bytes = readFileSync(file);
  return { path: label, sha256: sha256(bytes), bytes: bytes.length };
}

function sourceInputs(assemblyDir: string, policyFile: string | undefined): ManifestFile[] {
  const inputs: ManifestFile[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const relName = rel ? `${rel}/${name}` : name;
      if (statSync(full).isDirectory()) walk(full, relName);
      else if (name.endsWith('.ts')) inputs.push(fileEntry(full, `assembly/${relName}`));
    }
  };
  walk(assemblyDir, '');
  if (policyFile) inputs.push(fileEntry(policyFile, relToRepo(policyFile)));
  for (const name of [...GLUE_FILES, ...GLUE_HEADERS]) inputs.push(fileEntry(path.join(BPF_DIR, name), `bpf/${name}`));
  return inputs;
}

/** Generates, compiles and writes everything; throws CompileError on the first failing stage. */
export async function compilePolicy(options: CompileOptions = {}): Promise<CompileResult> {
  const progress = options.progress ?? (() => {});
  const outDir = path.resolve(options.outDir ?? path.join(REPO_ROOT, 'build'));
  const timings: Record<string, number> = {};
  const timed = async <T>(stage: string, fn: () => T | Promise<T>): Promise<T> => {
    const start = performance.now();
    try {
      return await fn();
    } finally {
      timings[stage] = Math.round((performance.now() - start) * 10) / 10;
    }
  };
  const policyFile = options.policyFile ? path.resolve(options.policyFile) : undefined;
  const stage = policyFile ? stageUserPolicy(policyFile, options.policyFile!) : undefined;
  const assemblyDir = stage?.assemblyDir ?? ASSEMBLY_DIR;
  const policyName = policyFile ? relToRepo(policyFile) : 'assembly/entry.ts';
  try {
    const clang = findClang();
    mkdirSync(outDir, { recursive: true });

    progress(`generate: ${policyName} -> C`);
    const policyC = await timed('generate', () => {
      // Paths in the generator's banner and diagnostics are relative to baseDir: the repository,
      // or the staging directory of a user policy (remapped to the user's file below).
      const baseDir = stage?.dir ?? REPO_ROOT;
      const result = generateC({ entry: path.join(assemblyDir, 'entry.ts'), assemblyDir, baseDir });
      if (result.diagnostics.length > 0) {
        const diagnostics = result.diagnostics.map((d) => remapDiagnostic(d, stage, policyFile ? relToRepo(policyFile) : undefined));
        throw new CompileError(
          'generate',
          `${policyName}: ${diagnostics.length} problem${diagnostics.length === 1 ? '' : 's'} outside the translatable subset`,
          diagnostics.map(formatCompilerDiagnostic).join('\n'),
          diagnostics,
        );
      }
      return result.code;
    });

    const headerPath = path.join(outDir, POLICY_HEADER);
    writeFileSync(headerPath, policyC);
    const glue = GLUE_FILES.map((name) => ({ name, text: readFileSync(path.join(BPF_DIR, name), 'utf8') }));
    const source = composeSource(policyName, glue);
    const sourcePath = path.join(outDir, 'meshc.bpf.c');
    writeFileSync(sourcePath, source);

    const objectPath = path.join(outDir, 'meshc.bpf.o');
    progress(`clang: ${relToRepo(sourcePath)} -> ${relToRepo(objectPath)}`);
    await timed('clang', () => compileObject(sourcePath, objectPath, clang));

    let wasmPath: string | undefined;
    if (options.wasm !== false) {
      // asc knows no "meshc/…" modules (the generator maps them to assembly/): in the staged copy
      // they become the relative paths they stand for. After generation, so that the generator's
      // columns match the user's file.
      if (stage) writeFileSync(stage.staged, relativeBuiltinImports(readFileSync(stage.staged, 'utf8')));
      wasmPath = path.join(outDir, 'policy.wasm');
      progress(`asc: ${policyName} -> ${relToRepo(wasmPath)}`);
      await timed('asc', () => compileWasm(assemblyDir, wasmPath!));
    }

    let checked: string[] | undefined;
    if (options.check) {
      progress(`check: loading ${relToRepo(objectPath)} into the kernel (verifier)`);
      checked = await timed('check', () => checkObject(objectPath));
    }

    const outputs = [fileEntry(headerPath, POLICY_HEADER), fileEntry(sourcePath, 'meshc.bpf.c'), fileEntry(objectPath, 'meshc.bpf.o')];
    if (wasmPath) outputs.push(fileEntry(wasmPath, 'policy.wasm'));
    const manifest: BuildManifest = {
      generator: 'meshc compile',
      policy: policyName,
      // A user policy's staged copy and synthesized entry.ts are not inputs; the user's file is.
      inputs: sourceInputs(assemblyDir, policyFile).filter(
        (f) => !(stage && (f.path === `assembly/${path.basename(stage.staged)}` || f.path === 'assembly/entry.ts')),
      ),
      outputs,
      programs: listPrograms(source),
      clang: clangVersion(clang),
    };
    const manifestPath = path.join(outDir, 'manifest.json');
    writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    return { outDir, source: sourcePath, object: objectPath, wasm: wasmPath, manifestPath, manifest, timings, checked };
  } finally {
    if (stage) rmSync(stage.dir, { recursive: true, force: true });
  }
}

// ---- loading once, for the verifier ----

/**
 * Loads the object with meshc's loader, its maps pinned under a fresh directory of the bpffs
 * at /sys/fs/bpf (removed afterwards), and returns the accepted programs. A rejection becomes
 * a ProgramRejectedError naming the program, with the verifier's last lines.
 */
export async function checkObject(objectPath: string, bpffs = '/sys/fs/bpf'): Promise<string[]> {
  const bpf = await import('../loader/index.ts');
  if (!bpf.isNativeAvailable()) throw new CompileError('tool', bpf.NATIVE_ADDON_MISSING);
  if (process.getuid?.() !== 0) throw new CompileError('check', 'loading BPF programs needs root (CAP_BPF, CAP_SYS_ADMIN)');
  if (!existsSync(bpffs)) mkdirSync(bpffs, { recursive: true });
  if (!bpf.isBpffs(bpffs)) bpf.mountBpffs(bpffs);
  const pinRoot = path.join(bpffs, `meshc-check-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(pinRoot);
  let obj: import('../loader/index.ts').BpfObject | undefined;
  try {
    try {
      obj = bpf.loadObject(objectPath, { pinRoot });
    } catch (err) {
      if (err instanceof bpf.VerifierError) throw new ProgramRejectedError(err.program, err.message, err.verifierLog);
      throw new CompileError('check', (err as Error).message, (err as { libbpfLog?: string }).libbpfLog ?? '');
    }
    return obj.programs().map((p) => p.name);
  } finally {
    obj?.close();
    rmSync(pinRoot, { recursive: true, force: true });
  }
}
