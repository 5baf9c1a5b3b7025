// How fast `meshc agent --watch` applies each kind of file event (docs/agent.md), with clients
// looping connects in the routed cgroup the whole time: from the event to the agent's log line
// that says the Service was switched, per kind, over several repetitions, and the connects that
// failed or reached a backend outside the sets in force (0 expected). Then node events: the agent
// killed (-9) and restarted with a change made meanwhile (to the sync that switched it), detached
// from another shell (to the log line that says the hooks are back; connects in between reach the
// ClusterIP untranslated and are counted apart), a frontend row corrupted and one deleted from
// outside (to the audit's repair, run every second here: --audit-seconds 1). Reports, does not
// assert (test/agent/manifests-watch.test.ts, ownership.test.ts and faults.test.ts assert generous
// bounds). Needs root (netns, cgroup, BPF).
// Run: npx tsx bench/agent-recovery.ts [--repeat N] [--out FILE]
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { judge, Lab, ROOT, serviceManifest, type Change } from '../test/agent/live/lab.ts';
import { openPinnedMap } from '../src/loader/index.ts';

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
    const extra = ['--audit-seconds', '1'];
    let agent = await lab.startAgent(undefined, { extra });
    const changes: Change[] = [{ start: 0n, end: process.hrtime.bigint(), set: new Set([PODS[0]!]) }];
    const clients = [0, 1].map(() => lab.client(['tcp', VIP, '80', '0']));
    const times = new Map<string, number[]>();
    let next = 1;
    /** Switches web to the next pod by `act`, timed from `act`'s end (or from its `from` mark). */
    const step = async (kind: string, act: (text: string) => void | Promise<void | bigint>) => {
      const ip = PODS[next++ % PODS.length]!;
      const before = agent;
      const mark = lab.logMark(agent);
      const start = process.hrtime.bigint();
      const from = (await act(web(ip))) ?? start;
      await lab.agentLogs(agent, /synced .* [1-9]\d* services switched/, agent === before ? mark : 0, 30_000);
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
    const detachWindows: [bigint, bigint][] = [];
    /** A node event: timed from `act`'s start to the agent's log line `done`. */
    const event = async (kind: string, act: () => void | Promise<void>, done: RegExp) => {
      const start = process.hrtime.bigint();
      const mark = lab.logMark(agent);
      await act();
      await lab.agentLogs(agent, done, mark, 30_000);
      const end = process.hrtime.bigint();
      times.set(kind, [...(times.get(kind) ?? []), Number(end - start) / 1e6]);
      await pause(200);
      return [start, end] as [bigint, bigint];
    };
    /** Rewrites one mc_services row of the Service (the UDP one: the clients dial TCP). */
    const tamper = (how: 'corrupt' | 'delete') => {
      const map = openPinnedMap(path.join(lab.pin, 'maps', 'mc_services'));
      try {
        const [key, value] = map.entries().find(([k]) => k[18] === 17)!;
        if (how === 'delete') map.delete(key);
        else map.update(key, Buffer.from(value).fill(0xff, 4, 8));
      } finally {
        map.close();
      }
    };
    for (let i = 0; i < repeat; i++) {
      await step('agent killed (-9), file changed, agent restarted (from the restart)', async (text) => {
        agent.kill('SIGKILL');
        await new Promise((r) => agent.once('exit', r));
        writeFileSync(file, text);
        await pause(300);
        const from = process.hrtime.bigint();
        agent = await lab.startAgent(undefined, { extra });
        return from;
      });
      detachWindows.push(
        await event(
          'detached by meshc agent --detach from another shell (to hooks back)',
          () => {
            const t = process.hrtime.bigint();
            const r = lab.meshc('agent', '--detach', '--pin', lab.pin);
            if (r.status !== 0) throw new Error(r.stderr);
            const kind = '  of which the meshc agent --detach process (start to exit)';
            times.set(kind, [...(times.get(kind) ?? []), Number(process.hrtime.bigint() - t) / 1e6]);
          },
          /hook mc_\w+: detached from outside; attached again/,
        ),
      );
      await event('mc_services row corrupted (audit every 1 s)', () => tamper('corrupt'), /map mc_services differed .* [1-9]\d* rows written again/);
      await event('mc_services row deleted (audit every 1 s)', () => tamper('delete'), /map mc_services differed .* [1-9]\d* rows written again/);
    }
    for (const c of clients) c.stdin!.end();
    const all = (await Promise.all(clients.map((c) => c.done))).flat();
    const inDetach = (r: { t0: string; t1: string }) => detachWindows.some(([a, b]) => BigInt(r.t1) >= a && BigInt(r.t0) <= b);
    const records = all.filter((r) => !(r.backend === 'untranslated' && inDetach(r)));
    const { failed, misrouted } = judge(records, changes);
    const kinds: KindResult[] = [...times].filter(([kind]) => kind !== '(reset)').map(([kind, list]) => {
      const sorted = [...list].sort((a, b) => a - b);
      return { kind, samples: sorted.length, p50Ms: Math.round(sorted[Math.floor((sorted.length - 1) / 2)]!), maxMs: Math.round(sorted[sorted.length - 1]!) };
    });
    return { connections: all.length, failed: failed.length, misrouted: misrouted.length, untranslatedWhileDetached: all.length - records.length, kinds };
  } finally {
    lab.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { repeat: { type: 'string' }, out: { type: 'string' } } });
  const result = await benchAgentRecovery(Number(values.repeat ?? 5));
  for (const k of result.kinds) console.log(`${k.kind.padEnd(70)} p50 ${String(k.p50Ms).padStart(5)} ms  max ${String(k.maxMs).padStart(5)} ms  (${k.samples})`);
  console.log(`${result.connections} connections: ${result.failed} failed, ${result.misrouted} misrouted, ${result.untranslatedWhileDetached} untranslated while detached (load ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs)`);
  const out = values.out ?? path.join(ROOT, 'bench/results/agent-recovery.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), cpus: os.cpus().length, loadAverage: Math.round(os.loadavg()[0]! * 10) / 10, ...result }, null, 2)}\n`);
}
