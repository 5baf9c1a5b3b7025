// Network policy in the simulator: the verdict for each connection the routing policy sent to a
// backend, as the kernel decides it after the routing decision at connect().
import type { Model, PodInfo, Protocol } from '../model/types.ts';
import type { PolicyInstance } from '../wasm/instance.ts';
import { NP_ID_WORLD } from '../tables/layouts.ts';
import { compileNetpol, type NetpolTables } from './tables.ts';
import { decideNetwork, loadNetpol, NP_REASON_NAMES, NP_REASON_TEXT, pickBackend, type NetworkVerdict } from './wasm.ts';
import * as L from '../tables/layouts.ts';

/** What simulate reports: the client's identity and the connections policies denied or allowed, by policy. */
export interface SimulatedNetworkPolicy {
  client: string;
  identity: number;
  denied: { policy: string; reason: string; text: string; count: number }[];
  allowed: { policy: string; count: number }[];
  /** Connections whose routing pick was denied and that went to another, allowed backend of the Service. */
  moved: number;
}

export interface NetworkGate {
  /** The verdict for a connection to a backend; counted into `report`. */
  check(ip: string, port: number, protocol: Protocol): NetworkVerdict;
  /**
   * The backend a connection to a Service goes to under network policy, as the hooks choose it:
   * the routing decision at `outPtr` (Wasm memory, for the frontend key at `keyPtr`) kept when
   * allowed, moved to the next allowed backend of its range when not (rewritten in place), or
   * denied when none is. Counted into `report`.
   */
  pick(keyPtr: number, outPtr: number): { allowed: boolean; moved: boolean; verdict: NetworkVerdict };
  report: SimulatedNetworkPolicy;
  tables: NetpolTables;
}

/**
 * Loads the model's network policies into `instance` (after the routing tables: loading those
 * clears every map) and returns the gate, or undefined when the model has no network policy.
 */
export function networkGate(model: Model, instance: PolicyInstance, pod: PodInfo | undefined): NetworkGate | undefined {
  if (!model.networkPolicies || model.networkPolicies.length === 0) return undefined;
  const tables = compileNetpol(model);
  loadNetpol(instance, tables);
  const own = pod ? tables.pods.get(`${pod.meta.namespace}/${pod.meta.name}`) : undefined;
  const client = own ?? { identity: 0, cidr: NP_ID_WORLD };
  const report: SimulatedNetworkPolicy = {
    client: pod ? `${pod.meta.namespace}/${pod.meta.name}` : '(no pod: without --from, connections come from outside every pod)',
    identity: client.identity, denied: [], allowed: [], moved: 0,
  };
  const name = (id: number) => tables.policies.find((p) => p.id === id)?.name ?? 'none';
  const count = (verdict: NetworkVerdict) => {
    const policy = name(verdict.policy);
    if (verdict.allowed) {
      if (verdict.policy !== 0) {
        const row = report.allowed.find((r) => r.policy === policy) ?? report.allowed[report.allowed.push({ policy, count: 0 }) - 1]!;
        row.count++;
      }
    } else {
      const reason = NP_REASON_NAMES[verdict.reason] ?? `reason-${verdict.reason}`;
      const row = report.denied.find((r) => r.policy === policy && r.reason === reason)
        ?? report.denied[report.denied.push({ policy, reason, text: NP_REASON_TEXT[verdict.reason] ?? '', count: 0 }) - 1]!;
      row.count++;
    }
  };
  return {
    tables,
    report,
    pick(keyPtr, outPtr) {
      const before = instance.bytes().slice(outPtr, outPtr + L.Decision.size);
      const result = pickBackend(instance, client.identity, client.cidr, keyPtr, outPtr);
      const moved = result.allowed && !Buffer.from(before).equals(Buffer.from(instance.bytes().subarray(outPtr, outPtr + L.Decision.size)));
      if (moved) report.moved++;
      else count(result);
      return { allowed: result.allowed, moved, verdict: result };
    },
    check(ip, port, protocol) {
      const verdict = decideNetwork(instance, { client: client.identity, clientCidr: client.cidr, ip, port, protocol });
      count(verdict);
      return verdict;
    },
  };
}

/** simulate's lines about network policy. */
export function networkLines(report: SimulatedNetworkPolicy | undefined): string[] {
  if (!report) return [];
  const lines = [`Network policy: client ${report.client}, identity ${report.identity}`];
  for (const d of report.denied) lines.push(`  denied (${d.reason}) by ${d.policy}: ${d.count} (${d.text}; connect() fails with EPERM)`);
  for (const a of report.allowed) lines.push(`  allowed by ${a.policy}: ${a.count}`);
  if (report.moved > 0) lines.push(`  moved to another allowed backend of the Service (the routing policy's pick was denied): ${report.moved}`);
  if (report.denied.length === 0 && report.allowed.length === 0 && report.moved === 0) lines.push('  no policy selects either end: allowed');
  return lines;
}
