// meshc's agent and the tunnel on one cgroup, in the order the agent attaches them: meshc's
// connect4 (Agent.start) first, then the tunnel's (NodeTunnel.start). A pod dialling a ClusterIP
// is translated by meshc's program to a backend pod address, which the tunnel's program then
// steers to the node tunnel: the tunnel's record holds the pod address, not the ClusterIP.
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { Agent } from '../../src/agent/agent.ts';
import { NodeTunnel } from '../../src/agent/tunnel.ts';
import { createRootCa } from '../../src/identity/index.ts';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { buildTunnelObject } from '../../src/tunnel/steering.ts';
import { serviceManifest } from '../agent/live/lab.ts';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { issueHeld } from './certs.ts';
import { API_MTLS_POLICY, nodesYaml, podUid, podYaml, ROOT, sa, TRUST_DOMAIN, TunnelLab, waitFor, type LabNode, type Pod } from './lab.ts';

const OBJECTS = path.join(ROOT, 'build');
const VIP = '10.96.77.7';
const MARKER = 'MESHC-CLUSTERIP-TUNNEL-a41c';
const UID = podUid;

kernelSuite('agent and tunnel on one cgroup', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  let lab: TunnelLab;
  let n1: LabNode, n2: LabNode;
  let web: Pod, api: Pod;
  let agent: Agent | undefined;
  const tunnels: NodeTunnel[] = [];
  const logs = new Map<string, string[]>();

  test.before(async () => {
    try {
      if (!existsSync(path.join(OBJECTS, 'meshc.bpf.o'))) throw new Error('build/meshc.bpf.o missing: run npm run build');
      lab = new TunnelLab(buildTunnelObject());
      const ca = await createRootCa({ trustDomain: TRUST_DOMAIN });
      lab.bundle = ca.certPem;
      n1 = lab.addNode({ steering: false });
      n2 = lab.addNode({ steering: false });
      web = lab.addPod(n1, `pod${UID(11)}`, sa('web'));
      api = lab.addPod(n2, `pod${UID(12)}`, sa('api'));
      await lab.serve(api, 8080);
      n1.identities.set(await issueHeld(ca, sa('web')));
      n2.identities.set(await issueHeld(ca, sa('api')));
      const manifests = `${nodesYaml([n1, n2])}${podYaml(web, UID(11), 'web', 'web')}${podYaml(api, UID(12), 'api', 'api')}---
${serviceManifest('api', VIP, [{ ip: api.addr }])}${API_MTLS_POLICY}`;
      const model = buildModel(parseManifests(manifests, 'agent-clusterip.yaml'), { synthesize: false });
      for (const node of [n1, n2]) {
        const lines: string[] = [];
        logs.set(node.name, lines);
        const log = (line: string) => lines.push(line);
        const tunnel = new NodeTunnel({ node: node.name, trustDomain: TRUST_DOMAIN, nodeAddr: node.addr, cgroup: node.cgroup, pin: node.pin, stateDir: path.join(node.dir, 'agent'), identities: node.identities, log, objectPath: lab.objectPath, launcher: ['nsenter', `--net=/run/netns/${node.netns}`] });
        if (node === n1) {
          // As meshc agent --tunnel does: meshc's hooks first, then the tunnel's; the model to both.
          agent = new Agent({ source: { read: async () => ({ model, diagnostics: [] }) }, cgroup: node.cgroup, pin: node.pin, node: node.name, objectDir: OBJECTS, log, onModel: (m) => (tunnels.includes(tunnel) ? tunnel.update(m) : undefined) });
          await agent.start();
          tunnel.start();
          tunnels.push(tunnel);
          await agent.sync();
        } else {
          tunnel.start();
          tunnels.push(tunnel);
          tunnel.update(model);
        }
      }
      for (const node of [n1, n2]) await waitFor(`${node.name}'s tunnel ready`, () => logs.get(node.name)!.some((l) => l.includes('"type":"ready"')));
    } catch (err) {
      console.error(err);
      throw err;
    }
  });

  test.after(async () => {
    for (const t of tunnels) await t.stop();
    agent?.close();
    lab?.dispose();
  });

  test('a ClusterIP is translated by meshc, then steered through the tunnels to the pod', async () => {
    const r = await lab.dial(web, ['dial', VIP, '80', MARKER]);
    assert.is(r.reply, `${api.name}:${MARKER}`, JSON.stringify(r));
    const opened = logs.get('n1')!.filter((l) => l.includes('"type":"opened"')).map((l) => JSON.parse(l.slice('tunnel: '.length)) as Record<string, unknown>);
    assert.equal(opened.map((e) => [e.source, e.destination, e.target, e.authenticated]), [[sa('web'), sa('api'), `${api.addr}:8080`, true]]);
    assert.ok(logs.get('n2')!.some((l) => l.includes('"type":"opened"') && l.includes(sa('web'))));
  });
});
