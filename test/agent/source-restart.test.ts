// An agent restarted while its manifests directory cannot be read (EACCES, as a broken volume or a
// wrong mode gives) must not remove what the pinned maps route: the directory was never read by
// this process, so the source is not synced, nothing is pruned, /readyz says not ready and the
// log says why. Once the directory can be read, its (changed) manifests are applied. Clients loop
// connects in the routed cgroup throughout: none may fail or reach a backend outside the sets in
// force. (Before: the second agent synced "0 service frontends" and every connect was refused.)
// Restarted while the directory is gone altogether, the agent is refused (exit 1) and the pinned
// maps route on.
import * as assert from 'uvu/assert';
import { chmodSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { Lab, serviceManifest, type Change, endClients } from './live/lab.ts';

const PODS = ['10.244.4.1', '10.244.4.2'];
const VIP = '10.96.4.1';
const APPLY_BOUND_MS = 10_000;
// The agent runs without the capabilities that let root read any file, so chmod 000 bites.
const NO_DAC = ['setpriv', '--bounding-set', '-dac_override,-dac_read_search', '--inh-caps', '-dac_override,-dac_read_search', '--'];

async function readyz(port: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
}

kernelSuite('meshc agent: restarted with an unreadable manifests directory', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  test('keeps the pinned routing, is not ready, and applies the manifests once they can be read', async () => {
    const lab = new Lab(PODS, [VIP]);
    try {
      await lab.startPods();
      const web = (ip: string) => serviceManifest('web', VIP, [{ ip }]);
      const file = path.join(lab.manifests, 'web.yaml');
      writeFileSync(file, web(PODS[0]!));
      const first = await lab.startAgent(undefined, { prefix: NO_DAC });
      const changes: Change[] = [{ start: 0n, end: process.hrtime.bigint(), set: new Set([PODS[0]!]) }];
      const clients = [0, 1].map(() => lab.client(['tcp', VIP, '80', '0']));
      await new Promise((r) => setTimeout(r, 300));

      first.kill('SIGTERM');
      await new Promise((r) => first.once('exit', r));
      // Restarted while the directory is gone altogether: refused at once (exit 1, named), the
      // pinned maps untouched (the client below never stops reaching web's pod).
      renameSync(lab.manifests, `${lab.manifests}.away`);
      const gone = lab.meshc('agent', '--manifests', lab.manifests, '--watch', '--cgroup', lab.cgroup, '--pin', lab.pin);
      renameSync(`${lab.manifests}.away`, lab.manifests);
      assert.is(gone.status, 1, gone.stderr);
      assert.match(gone.stderr, new RegExp(`meshc agent: no such file or directory: ${lab.manifests}`));
      chmodSync(lab.manifests, 0);
      const second = await lab.startAgent(undefined, { prefix: NO_DAC, extra: ['--metrics-port', '0'] });
      const log = (second as unknown as { log: string[] }).log;
      const port = Number(/metrics on \S+:(\d+) /.exec(log.find((l) => /metrics on /.test(l))!)![1]);
      assert.match(log.join('\n'), /cannot read the directory \(EACCES\) and it was never read since the agent started: nothing is removed from the maps until it can be read/);
      assert.match(log.join('\n'), /agent: synced 0 service frontends, 0 backends: 0 rows written, 0 removed/);
      assert.is(await readyz(port), 503, 'not ready while the directory was never read');
      await new Promise((r) => setTimeout(r, 1500)); // connects go on meanwhile, on the pinned maps

      const mark = lab.logMark(second);
      const start = process.hrtime.bigint();
      writeFileSync(file, web(PODS[1]!));
      chmodSync(lab.manifests, 0o755);
      await lab.agentLogs(second, /synced 2 service frontends.* [1-9]\d* services switched/, mark, APPLY_BOUND_MS);
      const end = process.hrtime.bigint();
      changes.push({ start, end, set: new Set([PODS[1]!]) });
      const recoveryMs = Number(end - start) / 1e6;
      assert.is(await readyz(port), 200, 'ready once read');
      const records = await endClients(clients, changes, 100);
      assert.ok(records.some((r) => r.backend === PODS[1]), 'the new manifests are routed');
      assert.ok(recoveryMs < APPLY_BOUND_MS, `applied ${recoveryMs} ms after the directory could be read`);
    } finally {
      chmodSync(lab.manifests, 0o755);
      lab.dispose();
    }
  });
});
