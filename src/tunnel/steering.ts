// The kernel side of the tunnel: bpf/tunnel.bpf.c built and loaded with its maps pinned, its
// connect4 attached to pod cgroups, and the records of steered connections read back by source
// port (docs/tunnel.md).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BPF_DIR, compileObject } from '../build/compile.ts';
import { MC_TUN_METRIC_NO_PORT, MC_TUN_METRIC_NO_TUNNEL, MC_TUN_METRIC_RECORD_BUSY, MC_TUN_METRIC_STEERED, McTunConfig, McTunRecord } from '../generated/glue.ts';
import { decode, encode, netPort, wordsAddress } from '../tables/codec.ts';
import { loadObject, openPinnedMap, possibleCpus, type BpfLink, type BpfMap, type BpfObject } from '../loader/index.ts';

export const TUNNEL_SOURCE = path.join(BPF_DIR, 'tunnel.bpf.c');
export const TUNNEL_PROGRAM = 'mc_tun4_connect';
export const TUNNEL_MAPS = { dests: 'mc_tun_dests', pending: 'mc_tun_pending', config: 'mc_tun_config', metrics: 'mc_tun_metrics' } as const;
/** mc_tun_metrics: each counter's name and its index (MC_TUN_METRIC_* of bpf/meshc_tunnel.h). */
const TUNNEL_METRIC_INDEX = {
  steered: MC_TUN_METRIC_STEERED,
  no_tunnel: MC_TUN_METRIC_NO_TUNNEL,
  no_port: MC_TUN_METRIC_NO_PORT,
  record_busy: MC_TUN_METRIC_RECORD_BUSY,
} as const;
export const TUNNEL_METRICS = Object.keys(TUNNEL_METRIC_INDEX) as (keyof typeof TUNNEL_METRIC_INDEX)[];

/** Source ports handed to steered connections (a range clients rarely bind: below the usual ephemeral range). */
export const DEFAULT_PORT_BASE = 20000;
export const DEFAULT_PORT_SPAN = 8192;

/** What connect4 recorded about a steered connection. */
export interface SteerRecord {
  cgroupId: bigint;
  /** bpf_ktime_get_ns() at connect(). */
  timestamp: bigint;
  /** The destination the client dialled. */
  addr: string;
  port: number;
}

function ip4Bytes(ip: string, field: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`${field}: "${ip}" is not an IPv4 address`);
  return Buffer.from(parts);
}

function portKey(port: number): Buffer {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(port);
  return key;
}

/** Decodes a struct mc_tun_record (its generated layout). */
export function decodeRecord(value: Uint8Array): SteerRecord {
  const r = decode(McTunRecord, value);
  return { cgroupId: r.cgroup_id, timestamp: r.timestamp, addr: wordsAddress({ addr: [r.orig_addr] }, 4), port: netPort(r.orig_port) };
}

/** Builds bpf/tunnel.bpf.c into `outDir` (a temporary directory when omitted); returns the object's path. */
export function buildTunnelObject(outDir = mkdtempSync(path.join(tmpdir(), 'meshc-tunnel-bpf-'))): string {
  const out = path.join(outDir, 'tunnel.bpf.o');
  compileObject(TUNNEL_SOURCE, out);
  return out;
}

/** The agent's handle: the loaded object, its pinned maps and the links to pod cgroups. */
export class TunnelSteering {
  readonly links: BpfLink[] = [];
  private constructor(readonly obj: BpfObject, readonly pinRoot: string) {}

  /** Loads the object (adopting pins under `pinRoot`, so steering survives a restart). */
  static load(objectPath: string, pinRoot: string): TunnelSteering {
    return new TunnelSteering(loadObject(objectPath, { pinRoot }), pinRoot);
  }

  /** Attaches connect4 to a cgroup (after meshc's own connect4 when that is attached first). */
  attach(cgroup: string): BpfLink {
    const link = this.obj.program(TUNNEL_PROGRAM).attachCgroup(cgroup);
    this.links.push(link);
    return link;
  }

  /** Where the node's tunnel listens; `undefined` refuses steered connections (fail closed). */
  setTunnel(listen: { addr: string; port: number } | undefined, ports = { base: DEFAULT_PORT_BASE, span: DEFAULT_PORT_SPAN }): void {
    if (ports.base + ports.span > 65536 || ports.span < 1) throw new Error(`tunnel source ports: ${ports.base}+${ports.span} is not a port range`);
    const value = listen
      ? encode(McTunConfig, { addr: ip4Bytes(listen.addr, 'tunnel listener').readUInt32LE(0), port: netPort(listen.port), port_base: ports.base, port_span: ports.span, next: 0 })
      : new Uint8Array(McTunConfig.size);
    this.obj.map(TUNNEL_MAPS.config).update(Buffer.alloc(4), value);
  }

  /** Requires authentication (steering to the tunnel) for connections to `addr`, or stops. */
  requireAuth(addr: string, required = true): void {
    const map = this.obj.map(TUNNEL_MAPS.dests);
    const key = ip4Bytes(addr, 'destination');
    if (required) map.update(key, Buffer.from([1, 0, 0, 0]));
    else map.delete(key);
  }

  metrics(): Record<(typeof TUNNEL_METRICS)[number], number> {
    return readMetrics(this.obj.map(TUNNEL_MAPS.metrics));
  }

  /** Detaches and closes; the pins stay unless `unpin`. */
  close(unpin = false): void {
    for (const link of this.links) link.detach();
    this.obj.close();
    if (unpin) rmSync(this.pinRoot, { recursive: true, force: true });
  }
}

function readMetrics(map: BpfMap): Record<(typeof TUNNEL_METRICS)[number], number> {
  const out = {} as Record<(typeof TUNNEL_METRICS)[number], number>;
  TUNNEL_METRICS.forEach((name) => {
    const value = map.lookup(portKey(TUNNEL_METRIC_INDEX[name]));
    let sum = 0;
    for (let cpu = 0; value && cpu < possibleCpus(); cpu++) sum += Number(value.readBigUInt64LE(cpu * 8));
    out[name] = sum;
  });
  return out;
}

/** The tunnel process's view: the pinned record map, read and cleared per accepted connection. */
export class SteerRecords {
  private readonly map: BpfMap;
  constructor(pinRoot: string) {
    this.map = openPinnedMap(path.join(pinRoot, TUNNEL_MAPS.pending));
  }

  /** The record of the connection from source port `port`, removed from the map. */
  take(port: number): SteerRecord | undefined {
    const key = portKey(port);
    const value = this.map.lookup(key);
    if (!value) return undefined;
    this.map.delete(key);
    return decodeRecord(value);
  }

  close(): void {
    this.map.close();
  }
}
