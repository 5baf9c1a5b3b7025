// deploy/: renders offline with `kubectl kustomize`, loads into the API server stand-in (a test
// double, which checks apiVersions, kinds, namespaces and the required fields of these kinds),
// and grants nothing beyond get/list/watch on exactly what the Kubernetes source reads.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ApiServerStandin } from '../apiserver/standin.ts';
import { findObject, kustomize } from '../helpers/kustomize.ts';
import { KIND_SPECS, WATCHED_RESOURCES } from '../../src/kube/kinds.ts';

const ROOT = new URL('../../', import.meta.url).pathname;


function pathOf(standin: ApiServerStandin, object: any): string {
  const type = standin.typeOf(object.apiVersion, object.kind);
  const prefix = type.group === '' ? `/api/${object.apiVersion}` : `/apis/${object.apiVersion}`;
  return type.namespaced ? `${prefix}/namespaces/${object.metadata.namespace}/${type.resource}` : `${prefix}/${type.resource}`;
}

const find = findObject;

const deploy = suite('deploy/');

deploy('renders and every object is accepted by the stand-in', async () => {
  const objects = kustomize('deploy/');
  if (!objects) return;
  assert.equal(objects.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'Namespace', 'ServiceAccount']);
  const standin = new ApiServerStandin({ namespaces: ['default', 'kube-system'] });
  await standin.start();
  try {
    const order = ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet'];
    for (const object of [...objects].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind))) {
      assert.ok(object.metadata?.name, `${object.kind}: metadata.name`);
      const response = await fetch(standin.url + pathOf(standin, object), { method: 'POST', body: JSON.stringify(object) });
      const body = await response.json();
      assert.is(response.status, 201, `${object.kind}/${object.metadata.name}: ${body.message}`);
    }
    assert.ok(standin.get('apps/v1', 'DaemonSet', 'meshc-system', 'meshc-agent'));
  } finally {
    await standin.stop();
  }
});

deploy('the DaemonSet: host mounts, capabilities, probes, tolerations, in-cluster agent args', () => {
  const objects = kustomize('deploy/');
  if (!objects) return;
  const ds = find(objects, 'DaemonSet', 'meshc-agent');
  const pod = ds.spec.template.spec;
  assert.not.ok(pod.hostPID, 'hostPID must be off');
  assert.ok(pod.tolerations.some((t: any) => t.operator === 'Exists' && !t.key && !t.effect), 'tolerates every taint');
  assert.is(pod.serviceAccountName, find(objects, 'ServiceAccount').metadata.name);
  const volumes = new Map(pod.volumes.map((v: any) => [v.name, v]));
  const [agent] = pod.containers;
  const mounts = new Map(agent.volumeMounts.map((m: any) => [m.mountPath, m]));
  for (const [mountPath, hostPath] of [['/sys/fs/bpf/meshc', '/sys/fs/bpf/meshc'], ['/sys/fs/cgroup', '/sys/fs/cgroup']]) {
    const mount: any = mounts.get(mountPath);
    assert.ok(mount, `mount at ${mountPath}`);
    assert.is((volumes.get(mount.name) as any)?.hostPath?.path, hostPath, `${mountPath} is the host's ${hostPath}`);
  }
  const security = agent.securityContext;
  if (!security.privileged) {
    assert.ok(security.capabilities.add.length > 0);
    for (const cap of security.capabilities.add) assert.ok(['BPF', 'NET_ADMIN', 'SYS_ADMIN', 'PERFMON'].includes(cap), `capability ${cap} is not one meshc needs`);
    assert.equal(security.capabilities.drop, ['ALL']);
  }
  assert.is(agent.args[0], 'agent');
  assert.not.ok(agent.args.includes('--kubeconfig'), 'in-cluster config in a pod');
  assert.not.ok(agent.args.includes('--manifests'));
  for (const flag of ['--cgroup', '--pin', '--node', '--metrics-port']) assert.ok(agent.args.includes(flag), flag);
  // Every $(VAR) in the args is defined, by env or by the ConfigMap.
  const config = find(objects, 'ConfigMap', agent.envFrom[0].configMapRef.name);
  const defined = new Set([...agent.env.map((e: any) => e.name), ...Object.keys(config.data)]);
  for (const arg of agent.args) for (const [, name] of String(arg).matchAll(/\$\((\w+)\)/g)) assert.ok(defined.has(name!), `$(${name}) is not defined`);
  assert.not.equal(config.data.MESHC_CGROUP.replace(/\/+$/, ''), '/sys/fs/cgroup', 'never the host\'s root cgroup');
  assert.match(config.data.MESHC_CGROUP, /kubepods/);
  const port = agent.ports.find((p: any) => p.name === 'metrics');
  assert.is(String(port.containerPort), config.data.MESHC_METRICS_PORT);
  assert.equal([agent.livenessProbe.httpGet.path, agent.livenessProbe.httpGet.port], ['/healthz', 'metrics']);
  assert.equal([agent.readinessProbe.httpGet.path, agent.readinessProbe.httpGet.port], ['/readyz', 'metrics']);
  assert.is(ds.spec.template.metadata.annotations['meshc.io/skip'], 'true', 'the agent does not route itself');
});

deploy('RBAC: get/list/watch on exactly what the source reads, nothing else', () => {
  const objects = kustomize('deploy/');
  if (!objects) return;
  const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
  assert.is(roles.length, 1);
  const granted = new Set<string>();
  for (const rule of roles[0].rules) {
    assert.not.ok(rule.nonResourceURLs, 'no non-resource URLs');
    assert.not.ok(rule.resourceNames, 'no resourceNames tricks');
    assert.equal([...rule.verbs].sort(), ['get', 'list', 'watch'], `verbs of ${JSON.stringify(rule.resources)}`);
    for (const group of rule.apiGroups) for (const resource of rule.resources) {
      assert.not.ok(group === '*' || resource === '*' || resource.includes('/'), `no wildcard or subresource (${group}/${resource})`);
      granted.add(`${group}/${resource}`);
    }
  }
  assert.equal([...granted].sort(), WATCHED_RESOURCES.map((r) => `${r.group}/${r.resource}`).sort());
  // ... and WATCHED_RESOURCES names what the source lists: one entry per kind, the group and
  // resource of its list path (or of its discovered CRD: HTTPRoute, CiliumNetworkPolicy).
  assert.equal(WATCHED_RESOURCES.map((r) => r.kind).sort(), Object.keys(KIND_SPECS).sort());
  for (const r of WATCHED_RESOURCES) {
    const spec = KIND_SPECS[r.kind];
    const listed = spec.discovered ? `${spec.discovered.group}/${spec.discovered.resource}` : spec.path!.replace(/^\/api\/v1\//, '/').replace(/^\/apis\/([^/]+)\/[^/]+\//, '$1/');
    assert.is(listed, `${r.group}/${r.resource}`, `${r.kind}: what RBAC grants is what the source lists`);
  }
  const binding = find(objects, 'ClusterRoleBinding');
  assert.equal(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roles[0].metadata.name });
  const sa = find(objects, 'ServiceAccount');
  assert.equal(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
});

deploy('cleanup: detaches on every node, with no API access', async () => {
  const objects = kustomize('deploy/cleanup/');
  if (!objects) return;
  assert.equal(objects.map((o) => o.kind), ['DaemonSet']);
  const pod = objects[0].spec.template.spec;
  assert.is(pod.automountServiceAccountToken, false);
  assert.ok(pod.tolerations.some((t: any) => t.operator === 'Exists' && !t.key));
  assert.match(pod.containers[0].args.join(' '), /meshc agent --detach --pin \/sys\/fs\/bpf\/meshc/);
  const standin = new ApiServerStandin({ namespaces: ['meshc-system'] });
  await standin.start();
  try {
    const response = await fetch(standin.url + pathOf(standin, objects[0]), { method: 'POST', body: JSON.stringify(objects[0]) });
    assert.is(response.status, 201, JSON.stringify(await response.json()));
  } finally {
    await standin.stop();
  }
});

deploy('Dockerfile: bookworm-slim with Node 20, libbpf1 at run time, compilers only in the build stage', () => {
  const text = readFileSync(new URL('../../deploy/Dockerfile', import.meta.url), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);
  assert.is(stages.length, 2);
  for (const stage of stages) assert.match(stage, /^node:20-bookworm-slim/);
  const [build, run] = stages as [string, string];
  assert.match(build, /clang-19/);
  assert.match(build, /meshc\.js compile/);
  assert.match(run, /libbpf1/);
  for (const compiler of ['clang', 'gcc', 'g\\+\\+', 'libbpf-dev', 'llvm']) assert.not.match(run, new RegExp(`install[^\\n]*\\b${compiler}`), `no ${compiler} on nodes`);
  assert.match(run, /meshc\.bpf\.o|\/src\/build/);
  assert.match(build, /esbuild deploy\/meshc-entry\.ts --bundle --splitting/);
  // Of node_modules, nodes get only the request log's datagram socket addon and what locates it.
  const modules = [...run.matchAll(/^COPY --from=build \/src\/node_modules\/(\S+) \.\/node_modules\/(\S+)$/gm)].map((m) => m[1]);
  assert.equal(modules.sort(), ['bindings', 'file-uri-to-path', 'unix-dgram']);
  assert.is(run.match(/node_modules/g)!.length, 2 * modules.length, 'no other node_modules on nodes');
  assert.match(build, /npm run build:observe/);
  assert.match(run, /COPY --from=build \/src\/dist\/observe \.\/dist\/observe/);
});

deploy('the bundled CLI runs under plain node, without tsx', async () => {
  const { mkdtempSync, symlinkSync, rmSync, readdirSync, cpSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'meshc-bundle-'));
  try {
    // The image's layout: dist/meshc/ beside build/ and native/, and no node_modules.
    symlinkSync(join(ROOT, 'build'), join(dir, 'build'));
    const text = readFileSync(new URL('../../deploy/Dockerfile', import.meta.url), 'utf8');
    const command = /npx esbuild (deploy\/meshc-entry\.ts[^"]*?)\s+"--banner:js=([^"]+)"/s.exec(text);
    assert.ok(command, 'the esbuild step of the Dockerfile');
    const args = command![1]!.replace(/\\\n/g, ' ').split(/\s+/).filter((a) => a !== '' && a !== '\\').map((a) => a.replace('--outdir=dist/meshc', `--outdir=${join(dir, 'dist/meshc')}`));
    const built = spawnSync(join(ROOT, 'node_modules/.bin/esbuild'), [...args, `--banner:js=${command![2]}`, '--log-level=warning'], { cwd: ROOT, encoding: 'utf8' });
    assert.is(built.status, 0, built.stderr);
    const run = spawnSync(process.execPath, [join(dir, 'dist/meshc/meshc.mjs'), 'agent', '--help'], { cwd: dir, encoding: 'utf8' });
    assert.is(run.status, 0, run.stderr);
    assert.match(run.stdout, /Usage: meshc agent/);
    // The request log's addon is loaded at run time from the image's node_modules (the packages the
    // Dockerfile copies), not bundled: a socket is bound and closed from the bundle's directory.
    const chunks = readdirSync(join(dir, 'dist/meshc')).map((name) => readFileSync(join(dir, 'dist/meshc', name), 'utf8'));
    assert.ok(chunks.some((chunk) => /\brequire\d*\("unix-dgram"\)/.test(chunk)), 'the bundle loads unix-dgram at run time');
    for (const [, from, to] of text.matchAll(/^COPY --from=build \/src\/(node_modules\/\S+) \.\/(node_modules\/\S+)$/gm)) {
      cpSync(join(ROOT, from!), join(dir, to!), { recursive: true });
    }
    const socketPath = join(dir, 'log.sock');
    const probe = `const r = (await import('node:module')).createRequire(${JSON.stringify(join(dir, 'dist/meshc/meshc.mjs'))});
const s = r('unix-dgram').createSocket('unix_dgram', () => {}); s.bind(${JSON.stringify(socketPath)}); s.close();
console.log(r.resolve('unix-dgram'));`;
    const loaded = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: dir, encoding: 'utf8' });
    assert.is(loaded.status, 0, loaded.stderr);
    assert.ok(loaded.stdout.startsWith(join(dir, 'node_modules/unix-dgram/')), loaded.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

deploy.run();
