// Issue 11 item 9 on a routed node: an operator compiles a policy into the directory a running
// agent loads its programs from (`meshc compile --policy P --out DIR`, then restarts the agent with
// `--objects DIR`) and gets P wrong: a directory (EISDIR before), a file name with a newline (pasted
// into the generated C before). Each must be one clear line and exit 1, leave the agent's object
// untouched (same bytes, no generated source), and never disturb routing: a client loops connects
// through both mistakes and the agent's restart on the directory, none may fail or reach another
// pod, and the restarted agent must be routing again within a generous bound.
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { Lab, ROOT, serviceManifest, tally } from './live/lab.ts';

const POD = '10.244.6.1';
const VIP = '10.96.6.1';
const RESTART_MS = 60_000;
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

kernelSuite('meshc compile --policy mistakes on a node a meshc agent routes', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  test('a directory and a newline in the name: one line, exit 1, the agent\'s object untouched, routing undisturbed', async () => {
    const lab = new Lab([POD], [VIP]);
    try {
      await lab.startPods();
      const objects = path.join(lab.dir, 'objects');
      mkdirSync(objects);
      copyFileSync(path.join(ROOT, 'build/meshc.bpf.o'), path.join(objects, 'meshc.bpf.o'));
      const before = sha(path.join(objects, 'meshc.bpf.o'));
      lab.write('web.yaml', serviceManifest('web', VIP, [{ ip: POD }]));
      const agentArgs = ['--manifests', lab.manifests, '--watch'];
      let agent = await lab.startAgent(agentArgs, { extra: ['--objects', objects] });
      const client = lab.client(['tcp', VIP, '80', '0']);
      await new Promise((r) => setTimeout(r, 200));

      const policies = path.join(lab.dir, 'policies');
      mkdirSync(policies);
      const evil = path.join(policies, 'evil\n#error pasted\n.ts');
      writeFileSync(evil, 'export function decide(): u8 { return 0; }\n');
      const cases: [string, string][] = [
        [policies, `meshc compile: --policy ${policies}: is a directory; give the policy's .ts file`],
        [evil, `meshc compile: --policy ${JSON.stringify(evil)}: the file name contains a control character (a newline?); rename the file`],
      ];
      for (const [policy, message] of cases) {
        const r = lab.meshc('compile', '--policy', policy, '--out', objects, '--no-wasm');
        assert.is(r.status, 1, r.stderr);
        assert.is(r.stderr.trim(), message);
        assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
        assert.equal(readdirSync(objects), ['meshc.bpf.o'], 'nothing generated beside the object');
        assert.is(sha(path.join(objects, 'meshc.bpf.o')), before, 'the agent\'s object is untouched');
      }

      // The operator restarts the agent on the directory anyway: it loads the same object and routes.
      agent.kill('SIGTERM');
      await new Promise((r) => agent.once('exit', r));
      const restartedAt = performance.now();
      agent = await lab.startAgent(agentArgs, { extra: ['--objects', objects] });
      const restartMs = performance.now() - restartedAt;
      assert.ok((agent as unknown as { log: string[] }).log.some((l) => /adopted pinned state/.test(l)), 'the restarted agent adopted the pins');
      assert.not.ok(existsSync(path.join(objects, 'meshc.bpf.c')), 'the agent did not recompile');
      await new Promise((r) => setTimeout(r, 300));
      client.stdin!.end();
      const records = await client.done;
      assert.ok(records.length > 20, `only ${records.length} connections`);
      assert.equal([...tally(records)], [[POD, records.length]], 'every connection reached the pod, none failed');
      console.log(`  2 compile mistakes refused; agent restarted and ready in ${restartMs.toFixed(0)} ms; ${records.length} connections, 0 failed, 0 misrouted`);
      assert.ok(restartMs < RESTART_MS, `ready ${restartMs.toFixed(0)} ms after the restart`);
    } finally {
      lab.dispose();
    }
  });
});
