// What a command has besides its arguments: where it writes, and what stops it. bin/meshc.js
// passes the process's own streams and signals; tests pass buffers and an AbortSignal and call
// commands in-process.

/** Something text is written to: process.stdout, or a test's buffer. */
export interface TextOutput {
  write(text: string): unknown;
}

export interface CommandIO {
  stdout: TextOutput;
  stderr: TextOutput;
  /** Stops a command that runs until stopped (agent --watch, monitor, playground), as SIGINT does. */
  signal?: AbortSignal;
}

export function processIO(): CommandIO {
  return { stdout: process.stdout, stderr: process.stderr };
}

/**
 * Resolves with what stopped a long-running command: `SIGINT` or `SIGTERM` to the process, or
 * `abort` when `io.signal` is aborted. Its listeners are removed once it has resolved.
 */
export function untilStopped(io: CommandIO): Promise<'SIGINT' | 'SIGTERM' | 'abort'> {
  return new Promise((resolve) => {
    const stop = (why: 'SIGINT' | 'SIGTERM' | 'abort') => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      io.signal?.removeEventListener('abort', onAbort);
      resolve(why);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    const onAbort = () => stop('abort');
    if (io.signal?.aborted) return resolve('abort');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    io.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
