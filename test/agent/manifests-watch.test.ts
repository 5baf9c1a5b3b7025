// `meshc agent --watch` against a hostile operator's file events, with clients looping connects in
// the routed cgroup the whole time: renames, in-place writes, truncation, a deleted and re-created
// file, a deleted and re-created directory (watched again), an unreadable directory, a
// ConfigMap-style symlink swap and a directory added later; a change made while the directory
// was unreadable is applied once it can be read.
// Not one connection may fail or reach a backend outside the sets in force, and each change must
// be applied within a generous bound (the real figures: bench/agent-recovery.ts).
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { Lab, serviceManifest, tally, type Change, endClients } from './live/lab.ts';

const PODS = ['10.244.3.1', '10.244.3.2', '10.244.3.3'];
const VIP = '10.96.3.1';
const LATER_VIP = '10.96.3.2';
const APPLY_BOUND_MS = 10_000;
// The agent runs without the capabilities that let root read any file, so chmod 000 bites.
const NO_DAC = ['setpriv', '--bounding-set', '-dac_override,-dac_read_search', '--inh-caps', '-dac_override,-dac_read_search', '--'];

kernelSuite('meshc agent --watch: file events never lose or freeze routing', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  test('rename, in-place write, truncation, deleted and re-created directory, unreadable directory, symlink swap, directory added later', async () => {
    const lab = new Lab(PODS, [VIP, LATER_VIP]);
    try {
      await lab.startPods();
      const web = (set: string[]) => serviceManifest('web', VIP, set.map((ip) => ({ ip })));
      const file = path.join(lab.manifests, 'web.yaml');
      writeFileSync(file, web([PODS[0]!, PODS[1]!]));
      const agent = await lab.startAgent(undefined, { prefix: NO_DAC });
      const changes: Change[] = [{ start: 0n, end: process.hrtime.bigint(), set: new Set([PODS[0]!, PODS[1]!]) }];
      const clients = [0, 1].map(() => lab.client(['tcp', VIP, '80', '0']));
      const applyTimes: Record<string, number> = {};
      /** Makes a change to web's endpoints and waits until the agent has switched the service. */
      const change = async (what: string, set: string[], act: () => void | Promise<void>) => {
        const mark = lab.logMark(agent);
        const start = process.hrtime.bigint();
        await act();
        await lab.agentLogs(agent, /synced .* [1-9]\d* services switched/, mark, APPLY_BOUND_MS);
        const end = process.hrtime.bigint();
        changes.push({ start, end, set: new Set(set) });
        applyTimes[what] = Number(end - start) / 1e6;
      };
      const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
      await pause(300);

      await change('replaced by rename', [PODS[1]!, PODS[2]!], () => lab.write('web.yaml', web([PODS[1]!, PODS[2]!])));
      await change('written in place after the rename', [PODS[0]!, PODS[2]!], () => writeFileSync(file, web([PODS[0]!, PODS[2]!])));
      // The same bytes written again (and the rescans every second) re-apply nothing.
      const quiet = lab.logMark(agent);
      writeFileSync(file, web([PODS[0]!, PODS[2]!]));
      await pause(2500);
      assert.equal((agent as unknown as { log: string[] }).log.slice(quiet).filter((l) => /agent: synced/.test(l)), [], 'rewriting the same bytes is not a change');
      await change('truncated, filled 300 ms later', [PODS[0]!], async () => {
        writeFileSync(file, '');
        await pause(300);
        writeFileSync(file, web([PODS[0]!]));
      });

      await change('deleted, re-created 300 ms later', [PODS[2]!], async () => {
        rmSync(file);
        await pause(300);
        writeFileSync(file, web([PODS[2]!]));
      });

      let mark = lab.logMark(agent);
      rmSync(lab.manifests, { recursive: true });
      await lab.agentLogs(agent, /cannot read the directory \(ENOENT\): the last good state of its 1 files stays in force/, mark, APPLY_BOUND_MS);
      await pause(1500);
      await change('directory re-created', [PODS[1]!], () => {
        mkdirSync(lab.manifests);
        writeFileSync(file, web([PODS[1]!]));
      });
      // The re-created directory (often with the old inode) is watched again: an in-place write
      // is seen by its watcher, well before the 1 s rescan would find it.
      await pause(1200);
      await change('written in place in the re-created directory', [PODS[0]!], () => writeFileSync(file, web([PODS[0]!])));
      assert.ok(applyTimes['written in place in the re-created directory']! < 900, `${applyTimes['written in place in the re-created directory']} ms: left to the rescan`);

      mark = lab.logMark(agent);
      const later = path.join(lab.manifests, 'later');
      mkdirSync(later);
      writeFileSync(path.join(later, 'later.yaml'), serviceManifest('later', LATER_VIP, [{ ip: PODS[2]! }]));
      await lab.agentLogs(agent, /synced 4 service frontends/, mark, APPLY_BOUND_MS);
      assert.equal([...tally(await lab.connections(LATER_VIP, 80, 10))], [[PODS[2]!, 10]], 'a directory added later is routed');

      mark = lab.logMark(agent);
      chmodSync(later, 0);
      chmodSync(lab.manifests, 0);
      await lab.agentLogs(agent, /cannot read the directory \(EACCES\)/, mark, APPLY_BOUND_MS);
      await pause(1500);
      assert.is(agent.exitCode, null, 'an unreadable directory does not stop the agent');
      assert.equal([...tally(await lab.connections(LATER_VIP, 80, 10))], [[PODS[2]!, 10]], 'an unreadable directory keeps its last good state');
      // Changed while the agent cannot read it: applied once it can (timed from the chmod).
      writeFileSync(file, web([PODS[1]!]));
      await pause(1200);
      await change('readable again, changed meanwhile', [PODS[1]!], () => {
        chmodSync(lab.manifests, 0o755);
        chmodSync(later, 0o755);
      });

      // A ConfigMap volume: web.yaml becomes a symlink through ..data, then ..data is swapped.
      mkdirSync(path.join(lab.manifests, '..v1'));
      writeFileSync(path.join(lab.manifests, '..v1', 'web.yaml'), web([PODS[0]!, PODS[1]!]));
      symlinkSync('..v1', path.join(lab.manifests, '..data'));
      await change('replaced by a ConfigMap symlink', [PODS[0]!, PODS[1]!], () => {
        symlinkSync('..data/web.yaml', `${file}.link`);
        renameSync(`${file}.link`, file);
      });
      await change('ConfigMap ..data swapped', [PODS[2]!], () => {
        mkdirSync(path.join(lab.manifests, '..v2'));
        writeFileSync(path.join(lab.manifests, '..v2', 'web.yaml'), web([PODS[2]!]));
        symlinkSync('..v2', path.join(lab.manifests, '..data_tmp'));
        renameSync(path.join(lab.manifests, '..data_tmp'), path.join(lab.manifests, '..data'));
        rmSync(path.join(lab.manifests, '..v1'), { recursive: true });
      });
      await endClients(clients, changes, 200, 500);
      for (const [what, ms] of Object.entries(applyTimes)) assert.ok(ms < APPLY_BOUND_MS, `${what}: ${ms} ms`);
    } finally {
      lab.dispose();
    }
  });
});
