// `meshc compile`: the policy as BPF C, a BPF object and policy.wasm (see src/build/compile.ts).
import path from 'node:path';
import { CompileError, compilePolicy, ProgramRejectedError, type CompileResult } from '../build/compile.ts';
import type { CommandIO } from './io.ts';
import { InputError, UsageError, parseCommand } from './usage.ts';

const HELP = `Usage: meshc compile [--policy FILE] [--out DIR] [options]

Translates the routing policy (assembly/, or your own policy file) to BPF C, joins it with the
hook glue of bpf/ (connect/sendmsg/recvmsg/getpeername 4 and 6, sock_release, the test harness),
compiles it with clang-19, and builds the same policy as WebAssembly. Writes:

  DIR/meshc.bpf.c    generated C, one translation unit (DO NOT EDIT)
  DIR/meshc.bpf.o    the BPF object the node agent loads
  DIR/policy.wasm    the policy for meshc simulate and the playground
  DIR/manifest.json  inputs and outputs with their SHA-256, and the programs built

Options:
  --policy FILE   a policy file exporting decide() (same signature as assembly/policy.ts);
                  it may import ./layouts, ./constants, ./maps, ./policy as assembly/ files do
  --out DIR       output directory (default build/)
  --no-wasm       skip policy.wasm
  --check         load the object into the kernel once, so the verifier checks every program
                  (needs root and the native addon; pins nothing outside a temporary bpffs dir)
  --json          print one JSON object on stdout (progress stays on stderr)
  -h, --help      this help

Needs clang-19 (apt-get install -y clang-19) and libbpf headers (apt-get install -y libbpf-dev).
Exit status: 0 built, 1 the policy or a tool failed (diagnostics on stderr), 2 bad usage.
`;

export const command = { summary: 'compile the policy to BPF C, a BPF object and policy.wasm', run };

async function run(args: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(
    'compile',
    args,
    {
      policy: { type: 'string' },
      out: { type: 'string' },
      'no-wasm': { type: 'boolean' },
      check: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    false,
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (values.policy !== undefined && values.policy === '') throw new UsageError('meshc compile: --policy needs a file');
  let result: CompileResult;
  try {
    result = await compilePolicy({
      outDir: values.out,
      policyFile: values.policy,
      wasm: !values['no-wasm'],
      check: values.check,
      progress: (line) => io.stderr.write(`meshc compile: ${line}\n`),
    });
  } catch (error) {
    if (!(error instanceof CompileError)) throw error;
    if (values.json) io.stdout.write(`${JSON.stringify(failureJson(error))}\n`);
    if (error.diagnostics.length > 0) {
      io.stderr.write(`${error.detail}\n`);
      throw new InputError(`meshc compile: ${error.message}`);
    }
    if (error instanceof ProgramRejectedError) {
      throw new InputError(`meshc compile: the kernel's verifier rejected ${error.message}\n(the full verifier log: meshc compile --check --json)`);
    }
    const detail = error.stage === 'clang' || error.stage === 'asc' ? `\n${error.detail.trimEnd()}` : '';
    throw new InputError(`meshc compile: ${error.message}${detail}`);
  }
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ ok: true, outDir: result.outDir, timingsMs: result.timings, checked: result.checked, manifest: result.manifest })}\n`);
  } else {
    const rel = (file: string) => path.relative(process.cwd(), file) || file;
    const lines = [
      `built ${rel(result.object)} (${result.manifest.programs.length} programs) from ${result.manifest.policy}`,
      `  ${rel(result.source)}`,
      ...(result.wasm ? [`  ${rel(result.wasm)}`] : []),
      `  ${rel(result.manifestPath)}`,
      ...(result.checked ? [`  the kernel accepted all ${result.checked.length} programs`] : []),
    ];
    io.stdout.write(`${lines.join('\n')}\n`);
  }
  return 0;
}

function failureJson(error: CompileError): object {
  return {
    ok: false,
    stage: error.stage,
    message: error.message,
    diagnostics: error.diagnostics,
    ...(error instanceof ProgramRejectedError ? { program: error.program, verifierLog: error.verifierLog } : { detail: error.detail }),
  };
}
