// kube-proxy's iptables mode, reduced to what a connect() to a ClusterIP meets: the nat OUTPUT
// chain jumps to KUBE-SERVICES, one rule per Service port (matched in order, the target last),
// then KUBE-SVC-* (one endpoint: a plain jump) and KUBE-SEP-* with the DNAT. Loaded with
// iptables-restore into a network namespace of the bench's; the namespace goes, rules and all.
// Loaded as a whole table (no --noflush: with iptables-nft, --noflush made loading 100,000
// Services take about 400 s instead of about 20 s here).
import { run } from './lab.ts';
import type { ServiceSpec } from './services.ts';

/** iptables-restore input for these Services, in order (put the target last). */
export function kubeProxyRules(services: ServiceSpec[]): string {
  const out: string[] = ['*nat', ':KUBE-SERVICES - [0:0]'];
  const id = (i: number) => i.toString(16).toUpperCase().padStart(8, '0');
  services.forEach((_, i) => out.push(`:KUBE-SVC-${id(i)} - [0:0]`, `:KUBE-SEP-${id(i)} - [0:0]`));
  out.push('-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  services.forEach((s, i) => out.push(`-A KUBE-SERVICES -d ${s.clusterIP}/32 -p tcp -m comment --comment "bench/${s.name}:http cluster IP" -m tcp --dport ${s.port} -j KUBE-SVC-${id(i)}`));
  services.forEach((s, i) => {
    if (s.pods.length !== 1) throw new Error(`service ${s.name}: the iptables setup models one endpoint per Service, got ${s.pods.length}`);
    out.push(`-A KUBE-SVC-${id(i)} -j KUBE-SEP-${id(i)}`);
    out.push(`-A KUBE-SEP-${id(i)} -p tcp -m tcp -j DNAT --to-destination ${s.pods[0]}:${s.targetPort}`);
  });
  out.push('COMMIT', '');
  return out.join('\n');
}

/** Loads the rules into `netns`; returns the load time and the number of rules. */
export function loadRules(netns: string, services: ServiceSpec[]): { loadMs: number; rules: number; iptables: string } {
  const text = kubeProxyRules(services);
  const t0 = performance.now();
  run('ip', ['netns', 'exec', netns, 'iptables-restore'], text);
  const loadMs = performance.now() - t0;
  const rules = text.split('\n').filter((l) => l.startsWith('-A ')).length;
  return { loadMs, rules, iptables: run('iptables', ['-V']).trim() };
}

/** Removes every nat rule and chain in `netns` (before loading another size). */
export function flushNat(netns: string): void {
  run('ip', ['netns', 'exec', netns, 'iptables', '-t', 'nat', '-F']);
  run('ip', ['netns', 'exec', netns, 'iptables', '-t', 'nat', '-X']);
}
