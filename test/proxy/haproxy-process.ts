// Runs a real HAProxy on a generated configuration for the proxy tests, and stops it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const HAPROXY = process.env.MESHC_HAPROXY ?? 'haproxy';

export function haproxyAvailable(): boolean {
  return spawnSync(HAPROXY, ['-v'], { stdio: 'ignore' }).status === 0;
}

/** `haproxy -c`: the configuration's problems, or undefined when it is valid. */
export function checkConfig(text: string): string | undefined {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshc-haproxy-check-'));
  try {
    const file = path.join(dir, 'haproxy.cfg');
    writeFileSync(file, text);
    const r = spawnSync(HAPROXY, ['-c', '-q', '-f', file], { encoding: 'utf8' });
    return r.status === 0 ? undefined : `${r.stdout}${r.stderr}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface RunningHaproxy {
  stderr(): string;
  stop(): Promise<void>;
}

async function waitForPort(host: string, port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`haproxy: nothing listens on ${host}:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts haproxy in the foreground on `text` and waits until every listener accepts. */
export async function startHaproxy(text: string, listeners: readonly { host: string; port: number }[]): Promise<RunningHaproxy> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshc-haproxy-'));
  const file = path.join(dir, 'haproxy.cfg');
  writeFileSync(file, text);
  const child: ChildProcess = spawn(HAPROXY, ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 20_000;
    for (const l of listeners) {
      if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}): ${stderr}`);
      await waitForPort(l.host, l.port, deadline);
    }
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${stderr}`);
  }
  return { stderr: () => stderr, stop };
}
