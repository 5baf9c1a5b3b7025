// `meshc playground`: serves the browser playground (building it first when it is missing).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildPlayground, DEFAULT_OUTDIR } from '../playground/build.ts';
import { servePlayground } from '../playground/server.ts';
import { untilStopped, type CommandIO } from './io.ts';
import { InputError, UsageError, integerOption, parseCommand } from './usage.ts';

const HELP = `Usage: meshc playground [--port P] [--host H] [--rebuild] [--dir DIR]

Serves the playground, a static web page that runs meshc's policy (the same WebAssembly that
\`meshc simulate\` runs and that the kernel runs as BPF) in your browser: edit manifests and see
where a request goes, how a Service's tables look, run policy unit tests (the format
\`meshc test\` runs), read the generated BPF C, and share all of it as a link. Nothing is sent
anywhere: once loaded, the page works offline.

The site is built into dist/playground on first use (or with --rebuild); \`npm run
build:playground\` builds it too.

Options:
  --port P     port to listen on (default 8080; 0 picks a free one)
  --host H     address to listen on (default 127.0.0.1; 0.0.0.0 to let others in)
  --rebuild    build the site even if it exists
  --dir DIR    serve this built site instead of dist/playground
  -h, --help   this help

Example:
  meshc playground --port 9000
`;

export const command = { summary: 'serve the browser playground', run };

async function run(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommand('playground', args, {
    port: { type: 'string' },
    host: { type: 'string' },
    rebuild: { type: 'boolean' },
    dir: { type: 'string' },
  }, false);
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`meshc playground: unexpected argument "${positionals[0]}"`);
  const port = integerOption('playground', 'port', values.port, 8080, 0);
  if (port > 65535) throw new UsageError(`meshc playground: --port must be at most 65535, got ${port}`);
  const dir = values.dir ? resolve(values.dir) : DEFAULT_OUTDIR;
  if (values.dir && values.rebuild) throw new UsageError('meshc playground: --rebuild builds dist/playground; it does not go with --dir');
  if (values.rebuild || (!values.dir && !existsSync(join(dir, 'index.html')))) {
    io.stderr.write(`building the playground into ${dir} ...\n`);
    await buildPlayground({ outdir: dir });
  }
  if (!existsSync(join(dir, 'index.html'))) throw new InputError(`meshc playground: ${dir} has no index.html: not a built playground`);
  let server;
  try {
    server = await servePlayground(dir, { port, host: values.host ?? '127.0.0.1' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new InputError(`meshc playground: port ${port} is in use; pick another with --port`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new InputError(`meshc playground: cannot listen on host ${values.host}: ${code}`);
    throw error;
  }
  io.stdout.write(`meshc playground: serving ${dir}\n  ${server.url}\n(Ctrl-C to stop)\n`);
  await untilStopped(io);
  await server.close();
  return 0;
}
