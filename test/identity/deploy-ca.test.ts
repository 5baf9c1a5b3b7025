// deploy/ca/ rendered offline (kubectl kustomize): the CA's least privilege (tokenreviews create,
// pods get and list, nothing else), the root key mounted only into the CA, every $(VAR) defined;
// and deploy/ca/agent-patch.yaml applied to deploy/'s DaemonSet (kubectl patch --local) gives the
// agent flags its CLI accepts. The real API server accepts them: test/identity/ca-cluster.test.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { findObject } from '../helpers/kustomize.ts';
import { kustomize, patchedDaemonSet } from './deploy-render.ts';

const find = findObject;

const test = suite('deploy/ca/');

test('renders the CA: ServiceAccount, ClusterRole, binding, ConfigMap, Deployment, Service, in meshc-system', () => {
  const objects = kustomize('deploy/ca/');
  if (!objects) return;
  assert.equal(objects.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'Service', 'ServiceAccount']);
  for (const o of objects) if (!['ClusterRole', 'ClusterRoleBinding'].includes(o.kind)) assert.is(o.metadata.namespace, 'meshc-system', `${o.kind} ${o.metadata.name}`);
});

test('RBAC: tokenreviews create and pods get/list, nothing else, bound to the CA\'s ServiceAccount only', () => {
  const objects = kustomize('deploy/ca/');
  if (!objects) return;
  const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
  assert.is(roles.length, 1);
  const granted = roles[0].rules.map((r: any) => {
    assert.not.ok(r.nonResourceURLs || r.resourceNames, 'no non-resource URLs or resourceNames');
    return `${r.apiGroups.join(',')}/${r.resources.join(',')}: ${[...r.verbs].sort().join(',')}`;
  });
  assert.equal(granted.sort(), ['/pods: get,list', 'authentication.k8s.io/tokenreviews: create']);
  const binding = find(objects, 'ClusterRoleBinding');
  const sa = find(objects, 'ServiceAccount');
  assert.is(sa.metadata.name, 'meshc-ca');
  assert.equal(binding.subjects, [{ kind: 'ServiceAccount', name: 'meshc-ca', namespace: 'meshc-system' }]);
  assert.equal(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roles[0].metadata.name });
});

test('the Deployment: meshc ca serve as meshc-ca, the root Secret read-only, not root, every $(VAR) defined, the Service on its port', () => {
  const objects = kustomize('deploy/ca/');
  if (!objects) return;
  const deployment = find(objects, 'Deployment', 'meshc-ca');
  const pod = deployment.spec.template.spec;
  assert.is(pod.serviceAccountName, 'meshc-ca');
  const [ca] = pod.containers;
  assert.equal(ca.args.slice(0, 2), ['ca', 'serve']);
  for (const flag of ['--trust-domain', '--root-cert', '--root-key', '--trust-bundle', '--svid-lifetime', '--port', '--server-name']) assert.ok(ca.args.includes(flag), flag);
  const config = find(objects, 'ConfigMap', ca.envFrom[0].configMapRef.name);
  for (const arg of ca.args) for (const [, name] of String(arg).matchAll(/\$\((\w+)\)/g)) assert.ok(name! in config.data, `$(${name}) is not defined`);
  const root = pod.volumes.find((v: any) => v.secret);
  assert.is(root.secret.secretName, 'meshc-ca-root');
  const mount = ca.volumeMounts.find((m: any) => m.name === root.name);
  assert.ok(mount.readOnly);
  assert.ok(ca.args.includes(`${mount.mountPath}/root.key`), 'the key comes from the Secret');
  assert.ok(ca.securityContext.runAsNonRoot);
  assert.equal(ca.securityContext.capabilities.drop, ['ALL']);
  const service = find(objects, 'Service', 'meshc-ca');
  assert.equal(service.spec.selector, deployment.spec.selector.matchLabels);
  assert.is(service.spec.ports[0].targetPort, ca.ports[0].name);
  assert.ok(ca.args.includes(`${service.metadata.name}.${service.metadata.namespace}.svc`), 'the serving certificate names the Service');
  assert.match(config.data.MESHC_CA_URL, new RegExp(`^https://${service.metadata.name}\\.${service.metadata.namespace}\\.svc`));
});

test('agent-patch.yaml turns the agent\'s identities on: the three flags, the bundle mounted, every $(VAR) defined', () => {
  const ds = patchedDaemonSet();
  if (!ds) return;
  const [agent] = ds.spec.template.spec.containers;
  const at = (flag: string) => agent.args[agent.args.indexOf(flag) + 1];
  assert.is(at('--ca-url'), '$(MESHC_CA_URL)');
  assert.is(at('--trust-domain'), '$(MESHC_TRUST_DOMAIN)');
  const bundle = at('--trust-bundle');
  const mount = agent.volumeMounts.find((m: any) => bundle.startsWith(`${m.mountPath}/`));
  assert.ok(mount?.readOnly, 'the bundle is a read-only mount');
  assert.is(ds.spec.template.spec.volumes.find((v: any) => v.name === mount.name).configMap.name, 'meshc-trust-bundle');
  const objects = [...kustomize('deploy/')!, ...kustomize('deploy/ca/')!];
  const defined = new Set<string>(agent.env.map((e: any) => e.name));
  for (const source of agent.envFrom) for (const key of Object.keys(find(objects, 'ConfigMap', source.configMapRef.name).data)) defined.add(key);
  for (const arg of agent.args) for (const [, name] of String(arg).matchAll(/\$\((\w+)\)/g)) assert.ok(defined.has(name!), `$(${name}) is not defined`);
});

test.run();
