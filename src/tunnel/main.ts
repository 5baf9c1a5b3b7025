// The tunnel as a process of its own (the agent's supervised child, and the tests' "node"):
// `node bin/meshc-tunnel.js CONFIG.json`. The configuration names the certificate files:
//   "bundle": "ca.pem", "svids": { "<spiffe id>": { "key": "k.pem", "cert": "c.pem" } }
// SIGHUP rereads the configuration and the certificate files (rotation: connections up stay up);
// SIGUSR2 prints the counters. Events and counters are JSON lines on stdout; errors on stderr.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Credentials, type Svid } from './credentials.ts';
import { readTunnelConfig, type TunnelConfig } from './config.ts';
import { SteerRecords } from './steering.ts';
import { Tunnel } from './tunnel.ts';

interface Files {
  config: TunnelConfig;
  bundle: string;
  svids: Map<string, Svid>;
}

function readFiles(file: string): Files {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const config = readTunnelConfig(raw, file);
  const dir = path.dirname(file);
  const read = (p: unknown, field: string) => {
    if (typeof p !== 'string') throw new Error(`${file}: ${field}: expected a file name`);
    return readFileSync(path.resolve(dir, p), 'utf8');
  };
  const svids = new Map<string, Svid>();
  for (const [id, value] of Object.entries((raw.svids ?? {}) as Record<string, { key?: unknown; cert?: unknown }>)) {
    svids.set(id, { key: read(value.key, `svids.${id}.key`), cert: read(value.cert, `svids.${id}.cert`) });
  }
  return { config, bundle: read(raw.bundle, 'bundle'), svids };
}

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: meshc-tunnel CONFIG.json\n');
  process.exit(2);
}
const out = (line: unknown) => process.stdout.write(`${JSON.stringify(line)}\n`);
let files = readFiles(file);
const credentials = new Credentials(files.bundle, Object.fromEntries(files.svids));
const records = files.config.pin ? new SteerRecords(files.config.pin) : undefined;
const tunnel = new Tunnel(files.config, credentials, (port) => records?.take(port), out);

process.on('SIGHUP', () => {
  try {
    const next = readFiles(file);
    if (next.bundle !== files.bundle) credentials.setBundle(next.bundle);
    for (const [id, svid] of next.svids) {
      const old = files.svids.get(id);
      if (!old || old.key !== svid.key || old.cert !== svid.cert) credentials.swap(id, svid);
    }
    for (const id of files.svids.keys()) if (!next.svids.has(id)) credentials.remove(id);
    tunnel.update(next.config);
    files = next;
    out({ type: 'reloaded', identities: credentials.identities() });
  } catch (err) {
    process.stderr.write(`tunnel: reload: ${(err as Error).message}; keeping the previous configuration\n`);
  }
});
process.on('SIGUSR2', () => out({ type: 'counts', counts: Object.fromEntries(tunnel.counts), pool: tunnel.poolKeys() }));
process.on('SIGTERM', () => {
  void tunnel.close().then(() => process.exit(0));
});

await tunnel.listen();
out({ type: 'ready', outbound: files.config.outbound, inbound: files.config.inbound, identities: credentials.identities() });
