// `meshc inspect`: what the pinned maps say, decoded, with Kubernetes names beside the addresses.
import { resolve } from 'node:path';
import { DEFAULT_PIN } from '../agent/agent.ts';
import { decodeServices } from '../inspect/decode.ts';
import { formatInspect } from '../inspect/format.ts';
import { formatIdentities } from '../inspect/identities.ts';
import { readIdentityStatus } from '../identity/status.ts';
import { formatTunnelStatus, readTunnelStatus } from '../tunnel/status.ts';
import { NoPinnedMapsError, openMeshcMap, readPinned } from '../inspect/read.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formatNetpol, readNetpol } from '../netpol/inspect.ts';
import type { BpfMap } from '../loader/index.ts';
import type { CommandIO } from './io.ts';
import { InputError, parseCommand } from './usage.ts';

const HELP = `Usage: meshc inspect [--pin DIR] [--json]

Decodes the maps a meshc agent pinned under --pin: each service frontend (ClusterIP:port/protocol,
its Kubernetes name, algorithm, flags), the weighted groups of an attached route (weight, share,
target Service) and the backends (pod IP:port, ready or terminating, slot, live connections,
pod name); then the network policy identities, rule rows and denials counted; then, when the agent
runs with --ca-url, the workload identities (SPIFFE IDs) it holds in memory, with their expiry
and renewal times; with --tunnel, the tunnel process (running, restarts), the identities it
presents and the pods that require authentication with their allowed identities. Only reads. Needs root (opening pinned BPF maps needs CAP_BPF).

Options:
  --pin DIR   the agent's bpffs directory (default ${DEFAULT_PIN})
  --json      one JSON object: {"services": [{vip, port, protocol, name, algorithm, flags,
              backends: [...], groups: [...]}], "problems": [...], "metrics": {...},
              "identities": {trustDomain, caUrl, identities: [{spiffeId, notAfter, renewAt,
              serial, ...}], problems: [...]}, "tunnel": {node, process: {running, pid,
              restarts, lastExit}, identities, required: [{addr, pod, identity, allowed}],
              steering: {...}}}
  -h, --help  this help
`;

export const command = { summary: 'decode the pinned maps: services, groups, backends', run };

async function run(args: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand('inspect', args, { pin: { type: 'string' }, json: { type: 'boolean' } }, false);
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const pin = resolve(values.pin ?? DEFAULT_PIN);
  let input;
  try {
    input = readPinned(pin);
  } catch (error) {
    if (error instanceof NoPinnedMapsError) throw new InputError(`meshc inspect: ${error.message}`);
    if ((error as { code?: string }).code === 'EPERM' || (error as { code?: string }).code === 'EACCES') {
      throw new InputError(`meshc inspect: ${(error as Error).message} (opening pinned BPF maps needs root)`);
    }
    throw error;
  }
  const result = decodeServices(input);
  const opened: BpfMap[] = [];
  const netpol = readNetpol((name) => {
    if (!existsSync(join(pin, 'maps', name))) return undefined;
    const map = openMeshcMap(pin, name);
    opened.push(map);
    return map;
  });
  for (const map of opened) map.close();
  const identities = readIdentityStatus(pin);
  const tunnel = readTunnelStatus(pin);
  const json = { ...result, ...(netpol ? { networkPolicy: netpol } : {}), ...(identities ? { identities } : {}), ...(tunnel ? { tunnel } : {}) };
  io.stdout.write(values.json ? `${JSON.stringify(json)}\n` : formatInspect(result) + (netpol ? formatNetpol(netpol) : '') + (identities ? formatIdentities(identities) : '') + (tunnel ? formatTunnelStatus(tunnel) : ''));
  return 0;
}
