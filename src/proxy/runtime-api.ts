// HAProxy's master CLI (the `-S` socket of master-worker mode): one connection per command line,
// the answer read until the master closes it. `@!PID` sends a command to one worker's runtime API.

import net from 'node:net';

/** Sends one line to the socket and returns everything it answers. */
export function cliCommand(socket: string, line: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    let answer = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`node proxy: master CLI ${socket}: no answer to ${JSON.stringify(line.slice(0, 80))} within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.setEncoding('utf8');
    // The master answers once the client has finished writing, then closes.
    conn.on('connect', () => conn.end(`${line}\n`));
    conn.on('data', (d) => { answer += d; });
    conn.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`node proxy: master CLI ${socket}: ${error.message}`));
    });
    conn.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

export interface ProcessList {
  master: number;
  /** The current worker(s), newest first. */
  workers: number[];
  /** Workers of earlier configurations still finishing their connections. */
  oldWorkers: number[];
}

/** Parses `show proc`. */
export function parseShowProc(text: string): ProcessList {
  const out: ProcessList = { master: 0, workers: [], oldWorkers: [] };
  let section: 'master' | 'workers' | 'old' = 'master';
  for (const line of text.split('\n')) {
    if (line.startsWith('# workers')) section = 'workers';
    else if (line.startsWith('# old workers')) section = 'old';
    else if (line.startsWith('#')) continue;
    const [pid, type] = line.trim().split(/\s+/);
    if (!pid || !/^\d+$/.test(pid)) continue;
    if (type === 'master') out.master = Number(pid);
    else if (section === 'workers') out.workers.push(Number(pid));
    else if (section === 'old') out.oldWorkers.push(Number(pid));
  }
  return out;
}

/**
 * Runs runtime API commands in worker `pid`, many per connection. Returns the answers that are
 * not empty (each is an error: `set server` and `set var` answer nothing when they succeed,
 * except for addr changes, whose answer starts with "IP changed" or "no need to change").
 */
export async function workerCommands(socket: string, pid: number, commands: readonly string[], perLine = 50): Promise<string[]> {
  const problems: string[] = [];
  for (let i = 0; i < commands.length; i += perLine) {
    const batch = commands.slice(i, i + perLine);
    // `set var` is an experimental command; the master session's mode carries to the worker.
    const answer = await cliCommand(socket, `experimental-mode on; ${batch.map((c) => `@!${pid} ${c}`).join('; ')}`);
    for (const part of answer.split('\n').map((l) => l.trim()).filter(Boolean)) {
      if (/^(IP changed|no need to change|IP changed from|port changed|.*changed from)/i.test(part)) continue;
      problems.push(part);
    }
  }
  return problems;
}
