// How fast `meshc agent --watch` applies each kind of file event (docs/agent.md), with clients
// looping connects in the routed cgroup the whole time: from the event to the agent's log line
// that says the Service was switched, per kind, over several repetitions, and the connects that
// failed or reached a backend outside the sets in force (0 expected). Then node events: the agent
// killed (-9) and restarted with a change made meanwhile (to the sync that switched it), detached
// from another shell (to the log line that says the hooks are back; connects in between reach the
// ClusterIP untranslated and are counted apart), a frontend row corrupted and one deleted from
// outside (to the audit's repair, run every second here: --audit-seconds 1), and, once the clients
// are stopped, the routed cgroup removed (to /readyz's reason in the log) and made again (to the
// hooks back). With --capacity, issue 11 item 4's cases: 600 Maglev Services whose endpoints all
// change (applied in steps), and a restart on pins holding 262,000 frontends a previous agent left
// with 300 new Services (ids freed before they are given out). Reports, does not assert
// (test/agent/*.test.ts assert generous bounds). Needs root (netns, cgroup, BPF).
// Run: npx tsx bench/agent-recovery.ts [--repeat N] [--capacity] [--out FILE]
import { chmodSync, mkdirSync, renameSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { judge, Lab, ROOT, serviceManifest, type Change } from '../test/agent/live/lab.ts';
import { openPinnedMap } from '../src/loader/index.ts';
import { fillAdoptedFrontends, maglevPair, maglevPod, maglevVip, maglevWorld, POOL } from '../test/agent/live/capacity.ts';

const PODS = ['10.244.5.1', '10.244.5.2', '10.244.5.3'];
const VIP = '10.96.5.1';

interface KindResult {
  kind: string;
  samples: number;
  p50Ms: number;
  maxMs: number;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
// The agent runs without the capabilities that let root read any file, so chmod 000 bites.
const NO_DAC = ['setpriv', '--bounding-set', '-dac_override,-dac_read_search', '--inh-caps', '-dac_override,-dac_read_search', '--'];

function summary(times: Map<string, number[]>): KindResult[] {
  return [...times].filter(([kind]) => kind !== '(reset)').map(([kind, list]) => {
    const sorted = [...list].sort((a, b) => a - b);
    return { kind, samples: sorted.length, p50Ms: Math.round(sorted[Math.floor((sorted.length - 1) / 2)]!), maxMs: Math.round(sorted[sorted.length - 1]!) };
  });
}

export async function benchAgentRecovery(repeat: number) {
  const lab = new Lab(PODS, [VIP]);
  try {
    await lab.startPods();
    const web = (ip: string) => serviceManifest('web', VIP, [{ ip }]);
    const file = path.join(lab.manifests, 'web.yaml');
    writeFileSync(file, web(PODS[0]!));
    const extra = ['--audit-seconds', '1'];
    let agent = await lab.startAgent(undefined, { extra, prefix: NO_DAC });
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
      await step('directory unreadable, changed meanwhile, readable again (from the chmod)', async (text) => {
        chmodSync(lab.manifests, 0);
        await pause(1200);
        writeFileSync(file, text);
        await pause(300);
        const from = process.hrtime.bigint();
        chmodSync(lab.manifests, 0o755);
        return from;
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
        agent = await lab.startAgent(undefined, { extra, prefix: NO_DAC });
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
    // No process is left in the routed cgroup now, so it can be removed (its hooks go with it).
    for (let i = 0; i < repeat; i++) {
      await event('routed cgroup removed (to the log line that says not ready, and why)', () => rmdirSync(lab.cgroup), /cannot put back the hooks on .*; not ready until they are/);
      await event('routed cgroup made again (to the hooks back in place)', () => mkdirSync(lab.cgroup), /hooks and pins are in place again/);
    }
    const inDetach = (r: { t0: string; t1: string }) => detachWindows.some(([a, b]) => BigInt(r.t1) >= a && BigInt(r.t0) <= b);
    const records = all.filter((r) => !(r.backend === 'untranslated' && inDetach(r)));
    const { failed, misrouted } = judge(records, changes);
    const kinds = summary(times);
    return { connections: all.length, failed: failed.length, misrouted: misrouted.length, untranslatedWhileDetached: all.length - records.length, kinds };
  } finally {
    lab.dispose();
  }
}

/**
 * Issue 11 item 4: 600 Maglev Services whose endpoints all change (from the write to the sync that
 * switched them, in steps), then a restart on pins with 262,000 frontends a previous agent left
 * and 300 new Services (from the restart to the sync). A client loops connects to one Service.
 */
export async function benchCapacity() {
  const times = new Map<string, number[]>();
  let records: Awaited<ReturnType<Lab['connections']>> = [];
  let failed = 0;
  let misrouted = 0;
  const pods = [0, 1].flatMap((g) => Array.from({ length: POOL }, (_, i) => maglevPod(g, i)));
  const lab = new Lab(pods, [maglevVip(299)]);
  try {
    await lab.startPods();
    lab.write('maglev.yaml', maglevWorld(0, 0, 600));
    let agent = await lab.startAgent(undefined, { extra: ['--audit-seconds', '0'] });
    const changes: Change[] = [{ start: 0n, end: process.hrtime.bigint(), set: new Set(maglevPair(0, 299)) }];
    const client = lab.client(['tcp', maglevVip(299), '80', '0']);
    await pause(500);
    let mark = lab.logMark(agent);
    let start = process.hrtime.bigint();
    lab.write('maglev.yaml', maglevWorld(1, 0, 600));
    await lab.agentLogs(agent, /synced 600 service frontends.* in \d+ steps/, mark, 600_000);
    let end = process.hrtime.bigint();
    changes.push({ start, end, set: new Set(maglevPair(1, 299)) });
    times.set('600 Maglev Services, every endpoint changed (in steps; from the write)', [Number(end - start) / 1e6]);

    agent.kill('SIGKILL');
    await new Promise((r) => agent.once('exit', r));
    fillAdoptedFrontends(lab.pin, 262_000 - 600);
    const fresh = Array.from({ length: 300 }, (_, s) => serviceManifest(`fresh${s}`, `10.97.${s >> 8}.${s & 255}`, [{ ip: maglevPod(1, s % POOL) }])).join('---\n');
    lab.write('fresh.yaml', fresh);
    start = process.hrtime.bigint();
    agent = await lab.startAgent(undefined, { extra: ['--audit-seconds', '0'] });
    mark = 0;
    await lab.agentLogs(agent, /synced 1200 service frontends/, mark, 600_000);
    end = process.hrtime.bigint();
    times.set('restart on 262,000 frontends (261,400 left by a previous agent) with 300 new Services (from the restart)', [Number(end - start) / 1e6]);
    const log = (agent as unknown as { log: string[] }).log;
    if (log.some((l) => /out of service ids|not applied/.test(l))) throw new Error(`the restart did not apply everything:\n${log.join('\n')}`);
    await pause(300);
    client.stdin!.end();
    records = await client.done;
    const judged = judge(records, changes);
    failed = judged.failed.length;
    misrouted = judged.misrouted.length;
  } finally {
    lab.dispose();
  }
  return { connections: records.length, failed, misrouted, kinds: summary(times) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { repeat: { type: 'string' }, out: { type: 'string' }, capacity: { type: 'boolean' } } });
  const result = await benchAgentRecovery(Number(values.repeat ?? 5));
  const print = (kinds: KindResult[]) => {
    for (const k of kinds) console.log(`${k.kind.padEnd(70)} p50 ${String(k.p50Ms).padStart(5)} ms  max ${String(k.maxMs).padStart(5)} ms  (${k.samples})`);
  };
  print(result.kinds);
  console.log(`${result.connections} connections: ${result.failed} failed, ${result.misrouted} misrouted, ${result.untranslatedWhileDetached} untranslated while detached (load ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs)`);
  const capacity = values.capacity ? await benchCapacity() : undefined;
  if (capacity) {
    print(capacity.kinds);
    console.log(`capacity: ${capacity.connections} connections: ${capacity.failed} failed, ${capacity.misrouted} misrouted (load ${os.loadavg()[0]!.toFixed(1)})`);
  }
  const out = values.out ?? path.join(ROOT, 'bench/results/agent-recovery.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), cpus: os.cpus().length, loadAverage: Math.round(os.loadavg()[0]! * 10) / 10, ...result, ...(capacity ? { capacity } : {}) }, null, 2)}\n`);
}
