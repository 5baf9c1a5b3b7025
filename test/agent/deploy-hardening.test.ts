// deploy/'s DaemonSet as a hostile reader of it would check it: where the metrics port listens,
// what seccomp allows, why each capability is there, and which host paths it can write.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './live/lab.ts';

function rendered(dir: string): any[] {
  const result = spawnSync('kubectl', ['kustomize', dir], { cwd: ROOT, encoding: 'utf8' });
  if (result.error) throw new Error(`kubectl kustomize: ${result.error.message} (apt-get install kubectl)`);
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${result.stderr}`);
  return parseAllDocuments(result.stdout).map((doc) => doc.toJS());
}

function daemonSet(dir = 'deploy/', name = 'meshc-agent'): any {
  return rendered(dir).find((o) => o?.kind === 'DaemonSet' && o.metadata.name === name);
}

const deploy = suite('deploy/: the agent DaemonSet');

deploy('metrics listen on the pod (node) address, where probes and Prometheus connect, not on every address', () => {
  const [agent] = daemonSet().spec.template.spec.containers;
  const at = agent.args.indexOf('--metrics-address');
  assert.ok(at > 0, '--metrics-address is passed');
  assert.is(agent.args[at + 1], '$(POD_IP)');
  const podIP = agent.env.find((e: any) => e.name === 'POD_IP');
  assert.equal(podIP?.valueFrom, { fieldRef: { fieldPath: 'status.podIP' } });
  for (const probe of [agent.livenessProbe, agent.readinessProbe]) {
    assert.is(probe.httpGet.port, 'metrics');
    assert.is(probe.httpGet.host, undefined, 'probes go to the pod IP, which the agent listens on');
  }
});

const BOTH = [['deploy/', 'meshc-agent', 'deploy/daemonset.yaml'], ['deploy/cleanup/', 'meshc-cleanup', 'deploy/cleanup/daemonset.yaml']] as const;

for (const [dir, name, file] of BOTH) {
  deploy(`${name}: seccomp RuntimeDefault, no privilege escalation, each capability said why in the manifest`, () => {
    const pod = daemonSet(dir, name).spec.template.spec;
    const [container] = pod.containers;
    const security = container.securityContext;
    assert.equal(security.seccompProfile, { type: 'RuntimeDefault' });
    assert.is(security.privileged, false);
    assert.is(security.allowPrivilegeEscalation, false);
    assert.equal(security.capabilities.drop, ['ALL']);
    assert.not.ok(security.capabilities.add.includes('SYS_ADMIN'), 'no CAP_SYS_ADMIN');
    assert.not.ok(pod.hostPID, 'no host PID namespace');
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    for (const cap of security.capabilities.add) {
      assert.match(text, new RegExp(`#.*\\b${cap}\\b`), `${file} says why ${cap} is needed`);
    }
  });

  deploy(`${name}: of bpffs only the pin directory, read-write; everything else from the host read-only`, () => {
    const objects = rendered(dir);
    const pod = objects.find((o) => o?.kind === 'DaemonSet').spec.template.spec;
    const [container] = pod.containers;
    const hostPaths = new Map(pod.volumes.filter((v: any) => v.hostPath).map((v: any) => [v.name, v.hostPath.path]));
    assert.not.ok([...hostPaths.values()].some((p) => p === '/sys/fs/bpf' || p === '/sys/fs/bpf/' || p === '/sys' || p === '/'), `host paths: ${[...hostPaths.values()]}`);
    const writable = container.volumeMounts.filter((m: any) => hostPaths.has(m.name) && !m.readOnly);
    assert.equal(writable.map((m: any) => [m.mountPath, hostPaths.get(m.name)]), [['/sys/fs/bpf/meshc', '/sys/fs/bpf/meshc']]);
    const config = objects.find((o) => o?.kind === 'ConfigMap');
    if (config) assert.is(config.data.MESHC_PIN, '/sys/fs/bpf/meshc', 'the agent pins where the volume is');
  });
}

deploy.run();
