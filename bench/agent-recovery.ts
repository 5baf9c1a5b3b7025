// How fast `meshc agent --watch` applies each kind of file event (docs/agent.md), with clients
// looping connects in the routed cgroup the whole time: from the event to the agent's log line
// that says the Service was switched, per kind, over several repetitions, and the connects that
// failed or reached a backend outside the sets in force (0 expected). Reports, does not assert
// (test/agent/manifests-watch.test.ts asserts a generous bound). Needs root (netns, cgroup, BPF).
// Run: npx tsx bench/agent-recovery.ts [--repeat N] [--out FILE]
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { judge, Lab, ROOT, serviceManifest, type Change } from '../test/agent/live/lab.ts';

const PODS = ['10.244.5.1', '10.244.5.2', '10.244.5.3'];
const VIP = '10.96.5.1';

interface KindResult {
  kind: string;
  samples: number;
  p50Ms: number;
  maxMs: number;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchAgentRecovery(repeat: number) {
  const lab = new Lab(PODS, [VIP]);
  try {
    await lab.startPods();
    const web = (ip: string) => serviceManifest('web', VIP, [{ ip }]);
    const file = path.join(lab.manifests, 'web.yaml');
    writeFileSync(file, web(PODS[0]!));
    const agent = await lab.startAgent();
    const changes: Change[] = [{ start: 0n, end: process.hrtime.bigint(), set: new Set([PODS[0]!]) }];
    const clients = [0, 1].map(() => lab.client(['tcp', VIP, '80', '0']));
    const times = new Map<string, number[]>();
    let next = 1;
    /** Switches web to the next pod by `act`, timed from `act`'s end (or from its `from` mark). */
    const step = async (kind: string, act: (text: string) => void | Promise<void | bigint>) => {
      const ip = PODS[next++ % PODS.length]!;
      const mark = lab.logMark(agent);
      const start = process.hrtime.bigint();
      const from = (await act(web(ip))) ?? start;
      await lab.agentLogs(agent, /synced .* [1-9]\d* services switched/, mark, 30_000);
      const end = process.hrtime.bigint();
      changes.push({ start, end, set: new Set([ip]) });
      times.set(kind, [...(times.get(kind) ?? []), Number(end - from) / 1e6]);
      await pause(200);
    };
    let version = 0;
    for (let i = 0; i < repeat; i++) {
      await step('replaced by rename', (text) => lab.write('web.yaml', text));
      await step('written in place', (text) => writeFileSync(file, text));
      await step('truncated, filled 300 ms later (from the fill)', async (text) => {
        writeFileSync(file, '');
        await pause(300);
        writeFileSync(file, text);
        return process.hrtime.bigint();
      });
      await step('deleted and re-created (from the re-creation)', async (text) => {
        rmSync(file);
        await pause(300);
        writeFileSync(file, text);
        return process.hrtime.bigint();
      });
      await step('directory deleted, re-created 1 s later (from the re-creation)', async (text) => {
        rmSync(lab.manifests, { recursive: true });
        await pause(1000);
        mkdirSync(lab.manifests);
        writeFileSync(file, text);
        return process.hrtime.bigint();
      });
      await step('ConfigMap ..data symlink swap', (text) => {
        const data = `..v${++version}`;
        mkdirSync(path.join(lab.manifests, data));
        writeFileSync(path.join(lab.manifests, data, 'web.yaml'), text);
        symlinkSync(data, path.join(lab.manifests, '..data_tmp'));
        renameSync(path.join(lab.manifests, '..data_tmp'), path.join(lab.manifests, '..data'));
        symlinkSync('..data/web.yaml', `${file}.link`);
        renameSync(`${file}.link`, file);
      });
      await step('moved into a directory added later (the old file settles, 2 s)', (text) => {
        rmSync(lab.manifests, { recursive: true });
        mkdirSync(path.join(lab.manifests, `later-${i}`), { recursive: true });
        writeFileSync(path.join(lab.manifests, `later-${i}`, 'web.yaml'), text);
      });
      rmSync(lab.manifests, { recursive: true });
      mkdirSync(lab.manifests);
      await step('(reset)', (text) => writeFileSync(file, text));
    }
    for (const c of clients) c.stdin!.end();
    const records = (await Promise.all(clients.map((c) => c.done))).flat();
    const { failed, misrouted } = judge(records, changes);
    const kinds: KindResult[] = [...times].filter(([kind]) => kind !== '(reset)').map(([kind, list]) => {
      const sorted = [...list].sort((a, b) => a - b);
      return { kind, samples: sorted.length, p50Ms: Math.round(sorted[Math.floor((sorted.length - 1) / 2)]!), maxMs: Math.round(sorted[sorted.length - 1]!) };
    });
    return { connections: records.length, failed: failed.length, misrouted: misrouted.length, kinds };
  } finally {
    lab.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { repeat: { type: 'string' }, out: { type: 'string' } } });
  const result = await benchAgentRecovery(Number(values.repeat ?? 5));
  for (const k of result.kinds) console.log(`${k.kind.padEnd(64)} p50 ${String(k.p50Ms).padStart(5)} ms  max ${String(k.maxMs).padStart(5)} ms  (${k.samples})`);
  console.log(`${result.connections} connections: ${result.failed} failed, ${result.misrouted} misrouted (load ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs)`);
  const out = values.out ?? path.join(ROOT, 'bench/results/agent-recovery.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), cpus: os.cpus().length, loadAverage: Math.round(os.loadavg()[0]! * 10) / 10, ...result }, null, 2)}\n`);
}
