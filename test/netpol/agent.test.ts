// The agent's network policy sync (src/netpol/agent.ts) against a loaded object: the tables are
// written, a change removes the rows it no longer has, and mc_np_endpoints maps every cgroup of a
// pod's tree (found by the pod UID in its name, as kubelet names them) to the pod's identity.
// The cgroup tree here is plain directories of a temporary dir: only names and inodes matter.
// The second test uses real cgroups of its own: the ingress check is attached to each pod's
// cgroup (not to the root), its link pinned, adopted by a new agent, detached when the pod goes.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { compilePolicy } from '../../src/build/compile.ts';
import { loadObject, openPinnedLink, queryCgroup, type BpfObject } from '../../src/loader/index.ts';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { NetpolSync } from '../../src/agent/netpol.ts';
import { formatNetpol, readNetpol } from '../../src/netpol/inspect.ts';
import { compileNetpol } from '../../src/netpol/tables.ts';
import { decode } from '../../src/tables/codec.ts';
import * as L from '../../src/tables/layouts.ts';
import { CGROUP_ROOT, kernelSkipReason, kernelSuite, makePinDir, removePinDir } from '../kernel/env.ts';

const UID_A = '11111111-2222-3333-4444-555555555555';
const UID_B = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

function model(cidr: string, skipB = false) {
  return buildModel(parseManifests(`apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, uid: ${UID_A}, labels: {app: a}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 10.244.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, uid: ${UID_B}, labels: {app: b}${skipB ? ", annotations: {meshc.io/skip: 'true'}" : ''}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 10.244.0.3}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: ${cidr}}}]}]`, 'agent.yaml'), { synthesize: false });
}

function rowCount(obj: BpfObject, name: string): number {
  return obj.map(name).entries().length;
}

kernelSuite('netpol agent sync', kernelSkipReason(), (s) => {
  s('tables written, stale rows removed on a change, pod cgroup trees mapped to identities', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'meshc-np-agent-'));
    const pins = makePinDir('np-agent');
    let obj: BpfObject | undefined;
    try {
      const built = await compilePolicy({ outDir: path.join(dir, 'build'), wasm: false });
      obj = loadObject(built.object, { pinRoot: pins });
      const root = path.join(dir, 'cgroup');
      const podA = path.join(root, 'kubepods.slice', `kubepods-besteffort-pod${UID_A.replaceAll('-', '_')}.slice`);
      const containerA = path.join(podA, 'cri-containerd-1.scope');
      const podB = path.join(root, 'kubepods', `pod${UID_B}`);
      for (const d of [containerA, podB]) mkdirSync(d, { recursive: true });

      const sync = new NetpolSync(obj, root);
      const first = sync.sync(model('192.168.0.0/16'));
      assert.is(first.policies, 1);
      assert.is(first.cgroups, 3, 'pod a, its container, pod b');
      const tables = compileNetpol(model('192.168.0.0/16'));
      const ids = new Map(obj.map('mc_np_endpoints').entries().map(([k, v]) => [k.readBigUInt64LE(0), decode(L.NpAddrValue, v).pod]));
      const ino = (p: string) => statSync(p, { bigint: true }).ino;
      assert.is(ids.get(ino(podA)), tables.pods.get('x/a')!.identity);
      assert.is(ids.get(ino(containerA)), tables.pods.get('x/a')!.identity);
      assert.is(ids.get(ino(podB)), tables.pods.get('x/b')!.identity);
      assert.is(rowCount(obj, 'mc_np_rules'), tables.rows.get('mc_np_rules')!.size);
      const addrs = rowCount(obj, 'mc_np_addrs');

      // What meshc inspect shows of it.
      const shown = formatNetpol(readNetpol((name) => obj!.map(name))!);
      const a = tables.pods.get('x/a')!.identity;
      const block = [...tables.identities.values()].find((i) => i.kind === 'cidr')!.id;
      assert.match(shown, 'Network policy: 1 policies, 3 identities, 3 rule rows');
      assert.match(shown, `identity ${a}: x app=a (1 pod: x/a) (isolated: egress by NetworkPolicy x/p)`);
      assert.match(shown, `rule egress ${a} -> ${block} 192.168.0.0/16 TCP: all (NetworkPolicy x/p)`);
      assert.match(shown, 'denied: none');

      // The ipBlock changes: the old prefix's rows go, the new one's come; pod b's cgroup goes.
      rmSync(podB, { recursive: true });
      const second = sync.sync(model('10.0.0.0/8'));
      assert.ok(second.removed > 0 && second.written > 0, JSON.stringify(second));
      assert.is(second.cgroups, 2);
      assert.is(rowCount(obj, 'mc_np_addrs'), addrs, 'one prefix replaced by another');
      const keys = obj.map('mc_np_addrs').entries().map(([k]) => decode(L.NpAddrKey, k));
      assert.ok(keys.some((k) => k.prefix === 8) && !keys.some((k) => k.prefix === 16), 'the /16 is gone, the /8 is there');
      assert.is(rowCount(obj, 'mc_np_endpoints'), 2);

      // A new agent on the same pins adopts the rows, and its first sync removes what it does not write.
      const again = new NetpolSync(obj, root);
      const third = again.sync(model('172.16.0.0/12'));
      assert.ok(third.removed > 0, JSON.stringify(third));
      const after = obj.map('mc_np_addrs').entries().map(([k]) => decode(L.NpAddrKey, k));
      assert.ok(after.some((k) => k.prefix === 12) && !after.some((k) => k.prefix === 8));
    } finally {
      obj?.close();
      removePinDir(pins);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  s('the ingress check: attached to each pod cgroup, never the root; adopted on restart; detached when the pod goes', async () => {
    const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
    const dir = mkdtempSync(path.join(tmpdir(), 'meshc-np-agent-'));
    const pins = makePinDir('np-agent-in');
    const root = path.join(CGROUP_ROOT, `meshc-test-npag-${tag}`);
    const podA = path.join(root, `pod${UID_A}`);
    const containerA = path.join(podA, 'cri-containerd-1.scope');
    const podB = path.join(root, `pod${UID_B}`);
    const links = path.join(pins, 'links');
    let obj: BpfObject | undefined;
    const syncs: NetpolSync[] = [];
    const attached = (cgroup: string) => queryCgroup(cgroup, 'cgroup_inet_ingress').map((p) => p.name);
    try {
      const built = await compilePolicy({ outDir: path.join(dir, 'build'), wasm: false });
      obj = loadObject(built.object, { pinRoot: path.join(pins, 'maps') });
      for (const d of [containerA, podB]) mkdirSync(d, { recursive: true });
      mkdirSync(links);

      const sync = new NetpolSync(obj, root, links);
      syncs.push(sync);
      const first = sync.sync(model('192.168.0.0/16'));
      assert.is(first.ingress, 2, 'two pods');
      assert.equal(attached(podA), ['mc_np_ingress']);
      assert.equal(attached(podB), ['mc_np_ingress']);
      assert.equal(attached(root), [], 'not on the root');
      assert.equal(attached(containerA), [], 'the container inherits it from the pod; not attached twice');
      assert.equal(readdirSync(links).sort(), [`mc_np_ingress-pod-${UID_A}`, `mc_np_ingress-pod-${UID_B}`]);
      const hostKeys = obj.map('mc_np_host').entries().map(([k]) => decode(L.NpAddrKey, k));
      assert.ok(hostKeys.some((k) => k.family === 4 && k.prefix === 32 && k.addr[0] === 0x0100007f), "mc_np_host holds this node's addresses (127.0.0.1 among them)");

      // A new agent adopts the pinned links: nothing attached twice.
      sync.close();
      const again = new NetpolSync(obj, root, links);
      syncs.push(again);
      again.sync(model('192.168.0.0/16'));
      assert.equal(attached(podA), ['mc_np_ingress'], 'adopted, not attached again');

      // Detached from outside (as meshc agent --detach does): the next sync attaches it again.
      openPinnedLink(path.join(links, `mc_np_ingress-pod-${UID_A}`)).detach();
      assert.equal(attached(podA), []);
      assert.equal(again.sync(model('192.168.0.0/16')).warnings, []);
      assert.equal(attached(podA), ['mc_np_ingress'], 'attached again');

      // Pod b goes (its cgroup with it): its link is detached and unpinned.
      rmdirSync(podB);
      const third = again.sync(model('192.168.0.0/16'));
      assert.is(third.ingress, 1);
      assert.equal(readdirSync(links), [`mc_np_ingress-pod-${UID_A}`]);
      assert.equal(attached(podA), ['mc_np_ingress']);

      // Pod b back, but opted out (meshc.io/skip): left alone, the ingress check included.
      mkdirSync(podB);
      const fourth = again.sync(model('192.168.0.0/16', true));
      assert.is(fourth.ingress, 1);
      assert.equal(attached(podB), [], 'a skipped pod gets no ingress check');
      assert.equal(fourth.warnings, []);
    } finally {
      for (const sync of syncs) sync.close();
      obj?.close();
      removePinDir(pins); // the links' pins: unpinned and unheld, they detach
      for (const d of [containerA, podA, podB, root]) if (existsSync(d)) rmdirSync(d);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
