// What `meshc inspect` shows of the agent's tunnel: whether its process runs (pid, restarts, the
// last exit), the pods that require authentication with their identities and allowed identities,
// and the steering counters. The agent writes it beside the identity status (src/identity/status.ts:
// bpffs takes no regular files), named after its pin directory; no key is in it.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TunnelStatus {
  node: string;
  /** When the agent wrote this (ISO time). */
  updated: string;
  listen: { outbound: string; inbound: string };
  process: { running: boolean; pid?: number; restarts: number; lastExit?: string };
  /** The identities whose SVIDs the tunnel presents. */
  identities: string[];
  required: { addr: string; pod: string; identity: string; allowed: string[]; node?: string }[];
  /** mc_tun_metrics summed over CPUs. */
  steering: Record<string, number>;
}

export function tunnelStatusPath(pin: string): string {
  return path.join(process.env['MESHC_RUN_DIR'] ?? path.join(tmpdir(), 'meshc'), `tunnel${path.resolve(pin).replace(/\//g, '_')}.json`);
}

export function writeTunnelStatus(pin: string, status: TunnelStatus): void {
  const file = tunnelStatusPath(pin);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(status, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** The status the agent wrote, or undefined when it runs no tunnel. */
export function readTunnelStatus(pin: string): TunnelStatus | undefined {
  try {
    return JSON.parse(readFileSync(tunnelStatusPath(pin), 'utf8')) as TunnelStatus;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${tunnelStatusPath(pin)}: ${(error as Error).message}`);
  }
}

export function removeTunnelStatus(pin: string): void {
  rmSync(tunnelStatusPath(pin), { force: true });
}

/** `meshc inspect`'s tunnel block. */
export function formatTunnelStatus(status: TunnelStatus): string {
  const p = status.process;
  const lines = [
    '',
    `tunnel (node ${status.node}, pods -> ${status.listen.outbound}, nodes -> ${status.listen.inbound}, as of ${status.updated}):`,
    `  process: ${p.running ? `running (pid ${p.pid})` : 'NOT RUNNING: connections to pods that require authentication are refused'}, ${p.restarts} restarts${p.lastExit ? `, last exit: ${p.lastExit}` : ''}`,
    `  presents: ${status.identities.length > 0 ? status.identities.join(', ') : 'no identity'}`,
    `  steering: ${Object.entries(status.steering).map(([k, v]) => `${k} ${v}`).join(', ')}`,
  ];
  if (status.required.length === 0) lines.push('  no pod requires authentication');
  for (const r of status.required) lines.push(`  ${r.addr} ${r.pod} (${r.identity}${r.node ? `, node ${r.node}` : ''}): allowed ${r.allowed.length > 0 ? r.allowed.join(', ') : 'none'}`);
  return `${lines.join('\n')}\n`;
}
