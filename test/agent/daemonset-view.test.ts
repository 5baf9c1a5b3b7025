// The agent as deploy/'s DaemonSet runs it: in a mount namespace where /sys/fs/bpf is not bpffs and
// only the pin directory is (a bind of the host's, as the hostPath volume of /sys/fs/bpf/meshc
// gives it), with exactly the capabilities the DaemonSet adds. The pins must land in the host's
// directory (never in a bpffs the agent mounted over it), routing must outlive the agent, a second
// agent must adopt them, and the cleanup DaemonSet's capabilities must detach. Each capability is
// shown to be needed by running without it.
import * as assert from 'uvu/assert';
import { runMeshc } from '../helpers/meshc.ts';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { kernelSkipReason, kernelSuite, makePinDir, removePinDir } from '../kernel/env.ts';
import { Lab, ROOT, serviceManifest, tally } from './live/lab.ts';

const POD = '10.244.7.1';
const VIP = '10.96.7.1';

/** The `capabilities.add` of a DaemonSet of deploy/ (its first container). */
function daemonSetCaps(file: string): string[] {
  const objects = parseAllDocuments(readFileSync(path.join(ROOT, file), 'utf8')).map((d) => d.toJS());
  const ds = objects.find((o) => o?.kind === 'DaemonSet');
  return ds.spec.template.spec.containers[0].securityContext.capabilities.add;
}

/**
 * A command prefix: a private mount namespace with a tmpfs over /sys/fs/bpf and the lab's pin
 * directory bound back at its path, then setpriv with only `caps` in the bounding set.
 */
function daemonSetView(pin: string, caps: string[]): string[] {
  const keep = caps.map((c) => `+${c.toLowerCase()}`).join(',');
  const script = [
    'set -e',
    'held=$(mktemp -d)',
    `mount --bind '${pin}' "$held"`,
    'mount -t tmpfs -o size=1m meshc-test /sys/fs/bpf',
    `mkdir -p '${pin}'`,
    `mount --move "$held" '${pin}'`,
    `exec setpriv --bounding-set -all,${keep} --inh-caps -all -- "$@"`,
  ].join('\n');
  return ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh'];
}

async function runAgent(lab: Lab, caps: string[], options: { pin?: string; extra?: string[] } = {}): Promise<{ code: number | null; log: string }> {
  const pin = options.pin ?? lab.pin;
  // A --pin after the lab's (startAgent passes its own) is the one the agent takes.
  const extra = [...(options.pin ? ['--pin', options.pin] : []), ...(options.extra ?? [])];
  const agent = await lab.startAgent(['--manifests', lab.manifests], { extra, prefix: daemonSetView(pin, caps), ready: /synced|meshc agent:/ }).catch((error: Error) => {
    return { exitCode: 1, log: [error.message] } as unknown as Awaited<ReturnType<Lab['startAgent']>>;
  });
  if (agent.exitCode === null) await new Promise((resolve) => agent.once('exit', resolve));
  return { code: agent.exitCode, log: (agent as unknown as { log: string[] }).log.join('\n') };
}

kernelSuite('meshc agent in the DaemonSet\'s view: only the pin directory is bpffs, only its capabilities', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  test('pins land in the host\'s directory, routing outlives the agent, a second agent adopts, cleanup detaches', async () => {
    const caps = daemonSetCaps('deploy/daemonset.yaml');
    const lab = new Lab([POD], [VIP]);
    try {
      await lab.startPods();
      lab.write('web.yaml', serviceManifest('web', VIP, [{ ip: POD }]));
      const first = await runAgent(lab, caps);
      assert.is(first.code, 0, first.log);
      assert.ok(existsSync(path.join(lab.pin, 'maps', 'mc_services')), `maps pinned in the host's ${lab.pin}: ${readdirSync(lab.pin)}`);
      assert.ok(readdirSync(path.join(lab.pin, 'links')).length > 0, 'links pinned in the host\'s directory');
      assert.equal([...tally(await lab.connections(VIP, 80, 5))], [[POD, 5]], 'routed after the agent (and its mount namespace) are gone');
      // A client loops connects while a second agent adopts the pins in its own DaemonSet view.
      const client = lab.client(['tcp', VIP, '80', '0']);
      await new Promise((r) => setTimeout(r, 200));
      const second = await runAgent(lab, caps);
      assert.is(second.code, 0, second.log);
      assert.match(second.log, /adopted pinned state/);
      await new Promise((r) => setTimeout(r, 200));
      client.stdin!.end();
      const looped = await client.done;
      assert.ok(looped.length > 20, `only ${looped.length} connections`);
      assert.equal([...tally(looped)], [[POD, looped.length]], 'every connection through the restart reached the pod, none failed');
      const detach = runMeshc(['agent', '--detach', '--pin', lab.pin], { prefix: daemonSetView(lab.pin, daemonSetCaps('deploy/cleanup/daemonset.yaml')) });
      assert.is(detach.status, 0, detach.stderr);
      assert.match(detach.stderr, /detached 9 hooks/);
      assert.equal([...tally(await lab.connections(VIP, 80, 2))], [['untranslated', 2]], 'not routed once detached: the VIP itself answers');
    } finally {
      lab.dispose();
    }
  });

  test('another pin directory on a cgroup already routed: refused in the DaemonSet\'s view too (names unreadable there) unless --force-attach', async () => {
    const caps = daemonSetCaps('deploy/daemonset.yaml');
    const lab = new Lab([POD], [VIP]);
    const other = makePinDir('dsv-other');
    try {
      await lab.startPods();
      lab.write('web.yaml', serviceManifest('web', VIP, [{ ip: POD }]));
      // The first meshc routes the cgroup (a host agent, --pin the lab's); a client loops meanwhile.
      await lab.startAgent();
      const client = lab.client(['tcp', VIP, '80', '0']);
      await new Promise((r) => setTimeout(r, 200));
      // Without CAP_SYS_ADMIN the second cannot read the first's program names: it must refuse anyway.
      const refused = await runAgent(lab, caps, { pin: other });
      assert.is(refused.code, 1, refused.log);
      assert.match(refused.log, /already has program \d+ \(\w+\) on .* attached, whose name this agent cannot read without CAP_SYS_ADMIN: it may be another meshc's.*--force-attach/, refused.log);
      assert.is(readdirSync(path.join(other, 'links')).length, 0, 'nothing attached by the refused agent');
      const forced = await runAgent(lab, caps, { pin: other, extra: ['--force-attach'] });
      assert.is(forced.code, 0, forced.log);
      assert.match(forced.log, /--force-attach: attaching beside programs it cannot name: program \d+ \(\w+\)/, forced.log);
      const detached = runMeshc(['agent', '--detach', '--pin', other]);
      assert.is(detached.status, 0, detached.stderr);
      await new Promise((r) => setTimeout(r, 200));
      client.stdin!.end();
      const looped = await client.done;
      assert.ok(looped.length > 20, `only ${looped.length} connections`);
      assert.equal([...tally(looped)], [[POD, looped.length]], 'every connection reached the pod, none failed');
    } finally {
      lab.dispose();
      removePinDir(other);
    }
  });

  test('each capability is needed: without it the agent cannot load or attach', async () => {
    const caps = daemonSetCaps('deploy/daemonset.yaml');
    const lab = new Lab([POD], [VIP]);
    try {
      lab.write('web.yaml', serviceManifest('web', VIP, [{ ip: POD }]));
      for (const [cap, why] of [['NET_ADMIN', /EPERM/], ['PERFMON', /verifier rejected/], ['BPF', /EPERM|Operation not permitted/]] as const) {
        const run = await runAgent(lab, caps.filter((c) => c !== cap));
        assert.is.not(run.code, 0, `runs without ${cap}`);
        assert.match(run.log, why, `without ${cap}`);
      }
    } finally {
      lab.dispose();
    }
  });
});
