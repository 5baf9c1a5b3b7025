// Network policy in policy.wasm: the compiled rows written to its mc_np_* maps, and the decision
// read back. Shared by Node and the browser (simulate, policy tests, the playground).
import type { PolicyInstance } from '../wasm/instance.ts';
import { WasmSink } from '../sinks/wasm.ts';
import * as L from '../tables/layouts.ts';
import { addressWords, decode, encode, netPort } from '../tables/codec.ts';
import type { Protocol } from '../model/types.ts';
import { NP_MAPS, type NetpolTables } from './tables.ts';

export interface NetworkVerdict {
  allowed: boolean;
  reason: number;
  /** 'egress' or 'ingress' when denied: the end whose policies refused. */
  direction?: 'egress' | 'ingress';
  /** Id of the deciding policy, 0 when none did. */
  policy: number;
  peerPod: number;
  peerCidr: number;
}

/** Replaces the network policy maps of `instance` with `tables`. */
export function loadNetpol(instance: PolicyInstance, tables: NetpolTables): void {
  const sink = new WasmSink(instance);
  for (const name of NP_MAPS) instance.exports.map_clear(L.MAPS[name].wasmId);
  for (const name of NP_MAPS) sink.write(name, [...tables.rows.get(name)!.values()]);
}

export interface NetworkQuery {
  /** The client's pod identity (0: a process that is no pod) and the CIDR identity of its address. */
  client: number;
  clientCidr: number;
  ip: string;
  port: number;
  protocol: Protocol;
}

export function decideNetwork(instance: PolicyInstance, query: NetworkQuery): NetworkVerdict {
  const words = addressWords(query.ip);
  const dst = encode(L.NpAddrKey, { addr: words.addr, family: words.family });
  const ptr = instance.exports.np_scratch();
  const bytes = instance.bytes();
  bytes.set(dst, ptr);
  bytes.fill(0, ptr + dst.length, ptr + dst.length + L.NpDecision.size);
  instance.exports.mc_decide_network(query.client, query.clientCidr, ptr, netPort(query.port), L.IPPROTO[query.protocol], ptr + dst.length);
  const out = decode(L.NpDecision, instance.bytes().slice(ptr + dst.length, ptr + dst.length + L.NpDecision.size));
  const verdict: NetworkVerdict = { allowed: out.verdict === L.NP_ALLOW, reason: out.reason, policy: out.policy, peerPod: out.peer_pod, peerCidr: out.peer_cidr };
  if (out.direction === L.NP_DIR_EGRESS) verdict.direction = 'egress';
  if (out.direction === L.NP_DIR_INGRESS) verdict.direction = 'ingress';
  return verdict;
}

/**
 * mc_np_pick on the routing decision at `outPtr` (for the frontend key at `keyPtr`), both in
 * `instance`'s memory: the decision is rewritten to the backend taken when the routing policy's
 * pick was denied and another of its range is allowed. The verdict: on a denial, the pick's.
 */
export function pickBackend(instance: PolicyInstance, client: number, clientCidr: number, keyPtr: number, outPtr: number): NetworkVerdict {
  const np = instance.exports.np_scratch();
  instance.bytes().fill(0, np, np + L.NpDecision.size);
  const verdict = instance.exports.mc_np_pick(client, clientCidr, keyPtr, outPtr, np);
  const out = decode(L.NpDecision, instance.bytes().slice(np, np + L.NpDecision.size));
  const result: NetworkVerdict = { allowed: verdict === L.NP_ALLOW, reason: out.reason, policy: out.policy, peerPod: out.peer_pod, peerCidr: out.peer_cidr };
  if (out.direction === L.NP_DIR_EGRESS) result.direction = 'egress';
  if (out.direction === L.NP_DIR_INGRESS) result.direction = 'ingress';
  return result;
}

/** A reason's words, as simulate and policy tests print it. */
export const NP_REASON_TEXT: Record<number, string> = {
  [L.NP_REASON_UNSELECTED]: 'no network policy selects either end',
  [L.NP_REASON_ALLOWED]: 'allowed by a rule',
  [L.NP_REASON_EGRESS]: "the client's egress policies allow nothing to this destination and port",
  [L.NP_REASON_INGRESS]: "the destination's ingress policies allow nothing from this client on this port",
};

/** Short names of the reasons, for `expect: denied` and counters. */
export const NP_REASON_NAMES: Record<number, string> = {
  [L.NP_REASON_UNSELECTED]: 'unselected',
  [L.NP_REASON_ALLOWED]: 'allowed',
  [L.NP_REASON_EGRESS]: 'egress',
  [L.NP_REASON_INGRESS]: 'ingress',
};
