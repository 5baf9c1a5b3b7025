// deploy/'s DaemonSet as a hostile reader of it would check it: where the metrics port listens,
// what seccomp allows, why each capability is there, and which host paths it can write.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './live/lab.ts';

function daemonSet(): any {
  const result = spawnSync('kubectl', ['kustomize', 'deploy/'], { cwd: ROOT, encoding: 'utf8' });
  if (result.error) throw new Error(`kubectl kustomize: ${result.error.message} (apt-get install kubectl)`);
  if (result.status !== 0) throw new Error(`kubectl kustomize deploy/ failed:\n${result.stderr}`);
  const objects = parseAllDocuments(result.stdout).map((doc) => doc.toJS());
  return objects.find((o) => o?.kind === 'DaemonSet' && o.metadata.name === 'meshc-agent');
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

deploy.run();
