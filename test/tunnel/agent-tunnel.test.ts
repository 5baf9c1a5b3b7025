// The agent's tunnel (src/agent/tunnel.ts) on two node network namespaces: each node's
// NodeTunnel loads and attaches the steering itself, plans mc_tun_dests and the tunnel's
// configuration from a model with a CiliumNetworkPolicy `authentication.mode: required`, takes
// the SVIDs from the node's IdentityStore (issued by src/identity's in-process CA, as `meshc ca`
// signs them) through the adapter, and supervises bin/meshc-tunnel.js.
import path from 'node:path';
import * as assert from 'uvu/assert';
import { NodeTunnel } from '../../src/agent/tunnel.ts';
import { createRootCa } from '../../src/identity/index.ts';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { buildTunnelObject } from '../../src/tunnel/steering.ts';
import { FlowDirectory } from '../../src/observe/directory.ts';
import { tunnelFlow, type Flow } from '../../src/observe/flow.ts';
import { compileTables } from '../../src/tables/compile.ts';
import { formatTunnelStatus, readTunnelStatus, tunnelStatusPath } from '../../src/tunnel/status.ts';
import { existsSync } from 'node:fs';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { issueHeld } from './certs.ts';
import { API_MTLS_POLICY, nodesYaml, podUid, podYaml, sa, TRUST_DOMAIN, TunnelLab, waitFor, type LabNode, type Pod } from './lab.ts';

const PORT = 8080;
const MARKER = 'MESHC-AGENT-TUNNEL-5d1e';
const UID = podUid;

kernelSuite('agent tunnel', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  let lab: TunnelLab;
  let n1: LabNode, n2: LabNode;
  let web: Pod, other: Pod, api: Pod;
  const tunnels: NodeTunnel[] = [];
  const logs = new Map<string, string[]>();
  // The flows each node's agent publishes of its tunnel's connection events (as the Observer does).
  const flows = new Map<string, Flow[]>();

  test.before(async () => {
    try {
      lab = new TunnelLab(buildTunnelObject());
      const ca = await createRootCa({ trustDomain: TRUST_DOMAIN });
      lab.bundle = ca.certPem;
      n1 = lab.addNode({ steering: false });
      n2 = lab.addNode({ steering: false });
      // Pod cgroups named as kubelet names them (pod<uid>), so the agent finds them by UID.
      web = lab.addPod(n1, `pod${UID(1)}`, sa('web'));
      other = lab.addPod(n1, `pod${UID(2)}`, sa('other'));
      api = lab.addPod(n2, `pod${UID(3)}`, sa('api'));
      await lab.serve(api, PORT);
      // What each node's identity manager would hold: the SVIDs of its pods' ServiceAccounts.
      n1.identities.set(await issueHeld(ca, sa('web')));
      n1.identities.set(await issueHeld(ca, sa('other')));
      n2.identities.set(await issueHeld(ca, sa('api')));
      const manifests = `${nodesYaml([n1, n2])}${podYaml(web, UID(1), 'web', 'web')}${podYaml(other, UID(2), 'other', 'other')}${podYaml(api, UID(3), 'api', 'api')}${API_MTLS_POLICY}`;
      const model = buildModel(parseManifests(manifests, 'agent-tunnel.yaml'), { synthesize: false });
      const directory = new FlowDirectory();
      directory.update(model, compileTables(model));
      for (const node of [n1, n2]) {
        const lines: string[] = [];
        logs.set(node.name, lines);
        const published: Flow[] = [];
        flows.set(node.name, published);
        const tunnel = new NodeTunnel({
          node: node.name,
          trustDomain: TRUST_DOMAIN,
          nodeAddr: node.addr,
          cgroup: node.cgroup,
          pin: node.pin,
          stateDir: path.join(node.dir, 'agent'),
          identities: node.identities,
          log: (line) => lines.push(line),
          onEvent: (event) => {
            const flow = tunnelFlow(event, directory);
            if (flow) published.push(flow);
          },
          objectPath: lab.objectPath,
          launcher: ['nsenter', `--net=/run/netns/${node.netns}`],
          restartMs: 500,
        });
        tunnels.push(tunnel);
        tunnel.start();
        const plan = tunnel.update(model);
        assert.equal([...plan.required.keys()], [api.addr]);
      }
      for (const node of [n1, n2]) await waitFor(`${node.name}'s tunnel ready`, () => logs.get(node.name)!.some((l) => l.includes('"type":"ready"')));
    } catch (err) {
      console.error(err);
      throw err;
    }
  });

  test.after(async () => {
    for (const t of tunnels) await t.stop();
    for (const node of [n1, n2]) if (node) assert.not.ok(existsSync(tunnelStatusPath(node.pin)), 'the status goes with the tunnel');
    lab?.dispose();
  });

  const events = (node: LabNode, type: string) => logs.get(node.name)!.filter((l) => l.startsWith('tunnel: {') && l.includes(`"type":"${type}"`)).map((l) => JSON.parse(l.slice('tunnel: '.length)) as Record<string, unknown>);

  test('the allowed identity reaches the pod through both agents\' tunnels, authenticated', async () => {
    const r = await lab.dial(web, ['dial', api.addr, String(PORT), MARKER]);
    assert.is(r.reply, `${api.name}:${MARKER}`, JSON.stringify(r));
    const opened = events(n1, 'opened');
    assert.ok(opened.some((e) => e.source === sa('web') && e.destination === sa('api') && e.authenticated === true), JSON.stringify(opened));
    assert.ok(events(n2, 'opened').some((e) => e.source === sa('web')));
    // The agents' flows: authenticated on both sides, the client pod named on its own node.
    const out = flows.get(n1.name)!.find((f) => f.verdict === 'authenticated');
    assert.ok(out, JSON.stringify(flows.get(n1.name)));
    assert.equal(out!.source.pod, { namespace: 'default', name: 'web', node: 'n1' });
    assert.equal(out!.destination.backend, { service: null, pod: 'default/api', address: `${api.addr}:${PORT}` });
    assert.equal(out!.identity, { direction: 'outbound', source: sa('web'), destination: sa('api') });
    assert.ok(flows.get(n2.name)!.some((f) => f.verdict === 'authenticated' && f.identity?.direction === 'inbound' && f.identity.source === sa('web')), JSON.stringify(flows.get(n2.name)));
    // What meshc inspect shows of the tunnel.
    const status = readTunnelStatus(n1.pin)!;
    assert.is(status.process.running, true);
    assert.equal(status.identities, [sa('other'), sa('web')]);
    assert.equal(status.required, [{ addr: api.addr, pod: 'default/api', identity: sa('api'), allowed: [sa('web')], node: 'n2' }]);
    tunnels[0]!.writeStatus();
    assert.ok(readTunnelStatus(n1.pin)!.steering.steered! >= 1, JSON.stringify(readTunnelStatus(n1.pin)));
    assert.match(formatTunnelStatus(status), `${api.addr} default/api (${sa('api')}, node n2): allowed ${sa('web')}`);
  });

  test('another identity is refused (not allowed by the policy)', async () => {
    const r = await lab.dial(other, ['dial', api.addr, String(PORT), MARKER]);
    assert.ok(r.error, JSON.stringify(r));
    assert.is(r.reply, '');
    await waitFor('refusal on n2', () => events(n2, 'refused').some((e) => e.reason === 'not-allowed' && e.source === sa('other')));
    assert.ok(flows.get(n2.name)!.some((f) => f.verdict === 'denied' && f.reason === 'tunnel-not-allowed' && f.identity?.source === sa('other')), JSON.stringify(flows.get(n2.name)));
  });

  test('the tunnel killed: connections are refused until the supervisor has it back', async () => {
    const pid = tunnels[0]!.pid!;
    const before = tunnels[0]!.restarts;
    const ready = logs.get('n1')!.filter((l) => l.includes('"type":"ready"')).length;
    process.kill(pid, 'SIGKILL');
    await waitFor('exit seen', () => tunnels[0]!.restarts > before);
    const down = await lab.dial(web, ['dial', api.addr, String(PORT), MARKER]);
    assert.is(down.reply, '', JSON.stringify(down));
    assert.ok(down.error, JSON.stringify(down));
    await waitFor('n1 tunnel back', () => logs.get('n1')!.filter((l) => l.includes('"type":"ready"')).length > ready);
    const back = await lab.dial(web, ['dial', api.addr, String(PORT), `${MARKER}-back`]);
    assert.is(back.reply, `${api.name}:${MARKER}-back`, JSON.stringify(back));
    const status = readTunnelStatus(n1.pin)!;
    assert.is(status.process.restarts, before + 1);
    assert.match(status.process.lastExit ?? '', /SIGKILL/);
    assert.is(status.process.running, true);
  });

  test('the identity store drives the running tunnel: api dropped on n2, refused; held again, served', async () => {
    const reloaded = () => logs.get('n2')!.filter((l) => l.includes('"type":"reloaded"')).length;
    const before = reloaded();
    const ca2 = n2.identities.get('default', 'api')!;
    n2.identities.drop('default/api');
    await waitFor('n2 reloaded without api', () => reloaded() > before);
    const r = await lab.dial(web, ['dial', api.addr, String(PORT), MARKER]);
    assert.is(r.reply, '', 'no SVID for api on n2: refused');
    n2.identities.set(ca2);
    await waitFor('n2 reloaded with api', () => reloaded() > before + 1);
    const ok = await lab.dial(web, ['dial', api.addr, String(PORT), `${MARKER}-renewed`]);
    assert.is(ok.reply, `${api.name}:${MARKER}-renewed`, JSON.stringify(ok));
  });
});

