// The node tunnel end to end: three node network namespaces on a bridge, pods as netns + cgroups,
// connect4 steering to each node's tunnel process, SVIDs from src/identity's CA (createRootCa,
// issueSvid) held in each node's IdentityStore and handed to the tunnel through the adapter
// (src/tunnel/from-identity.ts); the openssl CLI only for an SVID src/identity refuses to sign.
import { spawnSync } from 'node:child_process';
import * as assert from 'uvu/assert';
import { buildTunnelObject } from '../../src/tunnel/steering.ts';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { createRootCa, type RootCa } from '../../src/identity/index.ts';
import { issueHeld, makeCa, type Ca } from './certs.ts';
import { TunnelLab, sa, waitFor, type LabNode, type Pod } from './lab.ts';
import { readTcpSegments, tlsRecordTypes } from './pcap.ts';

const MARKER = 'MESHC-PLAINTEXT-MARKER-7f3a';
const CONTROL = 'MESHC-CONTROL-UNSTEERED-19c2';
const PORT = 8080;

function missingTools(): string | undefined {
  const missing = ['tcpdump', 'openssl'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  return missing.length ? `needs ${missing.join(', ')} (apt-get install -y ${missing.join(' ')})` : undefined;
}


kernelSuite('tunnel', kernelSkipReason({ cgroup: true, netns: true }) ?? missingTools(), (test) => {
  let lab: TunnelLab;
  let ca: RootCa;
  let foreign: RootCa;
  let otherRoot: Ca;
  let n1: LabNode, n2: LabNode, n3: LabNode;
  let web: Pod, other: Pod, rogue: Pod, web2: Pod, api: Pod, plain: Pod;
  let capture: { file: string; stop: () => Promise<void>; log: () => string };

  test.before(async () => {
    try {
      await setUp();
    } catch (err) {
      // uvu does not print a failing hook's error.
      console.error(err);
      throw err;
    }
  });

  async function setUp(): Promise<void> {
    lab = new TunnelLab(buildTunnelObject());
    ca = await createRootCa({ trustDomain: 'cluster.local' });
    // Another CA of the same trust domain, not in the bundle.
    foreign = await createRootCa({ trustDomain: 'cluster.local' });
    // A root the nodes trust too, made with openssl: it signs a SAN of a foreign trust domain,
    // which src/identity's CA refuses to do.
    otherRoot = makeCa('second trusted root');
    lab.bundle = `${ca.certPem.trimEnd()}\n${otherRoot.cert}`;
    n1 = lab.addNode();
    n2 = lab.addNode();
    n3 = lab.addNode();
    web = lab.addPod(n1, 'web', sa('web'));
    other = lab.addPod(n1, 'other', sa('other'));
    rogue = lab.addPod(n1, 'rogue', sa('rogue'));
    web2 = lab.addPod(n1, 'web2', sa('web2'));
    api = lab.addPod(n2, 'api', sa('api'));
    plain = lab.addPod(n3, 'plain', sa('plain'));
    n1.identities.set(await issueHeld(ca, sa('web')));
    n1.identities.set(await issueHeld(ca, sa('other')));
    // Same SPIFFE ID form, another CA.
    n1.identities.set(await issueHeld(foreign, sa('rogue')));
    // A trusted root, a foreign trust domain in the SAN.
    n1.svids = { [sa('web2')]: otherRoot.issue('spiffe://evil.example/ns/default/sa/web2') };
    n2.identities.set(await issueHeld(ca, sa('api')));
    assert.equal(n1.credentials.identities().sort(), [sa('other'), sa('rogue'), sa('web')]);
    assert.equal(n2.credentials.identities(), [sa('api')]);
    lab.require(api, [sa('web'), sa('rogue'), sa('web2')]);
    await lab.serve(api, PORT);
    await lab.serve(plain, PORT);
    capture = await lab.capture();
    await Promise.all([lab.startTunnel(n1), lab.startTunnel(n2), lab.startTunnel(n3)]);
  }

  test.after(async () => {
    await capture?.stop();
    lab?.dispose();
    otherRoot?.dispose();
  });

  test('an allowed identity reaches the pod on another node through the tunnel, one session per identity pair', async () => {
    const from = lab.mark(n1);
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await lab.dial(web, ['dial', api.addr, String(PORT), `${MARKER}-${i}`]));
    for (const [i, r] of results.entries()) assert.equal(r.reply, `api:${MARKER}-${i}`, JSON.stringify(r));
    const opened = lab.events(n1, 'opened', from);
    assert.is(opened.length, 5);
    assert.equal(opened[0], { ...opened[0], source: sa('web'), destination: sa('api'), target: `${api.addr}:${PORT}`, authenticated: true });
    const inbound = lab.events(n2, 'opened').filter((e) => e.source === sa('web'));
    assert.is(inbound.length, 5);
    n1.tunnel!.child.kill('SIGUSR2');
    await waitFor('counts', () => n1.tunnel!.lines.some((l) => l.type === 'counts'));
    const counts = n1.tunnel!.lines.find((l) => l.type === 'counts') as { counts: Record<string, number>; pool: string[] };
    assert.equal(counts.pool, [`${sa('web')}|${sa('api')}|${n2.addr}:15008`]);
    assert.is(counts.counts['sessions.outbound'], 1, 'five connections, one handshake');
    assert.is(n1.steering!.metrics().steered, 5);
  });

  test('a disallowed identity is refused at once, with a reason', async () => {
    const from = lab.mark(n1);
    const r = await lab.dial(other, ['dial', api.addr, String(PORT), MARKER]);
    assert.ok(r.error, JSON.stringify(r));
    assert.is(r.reply, '');
    assert.ok((r.ms as number) < 2000, `refused after ${r.ms} ms`);
    const refused = lab.events(n1, 'refused', from);
    assert.is(refused.length, 1);
    assert.is(refused[0]!.reason, 'not-allowed');
    assert.is(refused[0]!.source, sa('other'));
    assert.match(refused[0]!.detail!, /may not reach spiffe:\/\/cluster.local\/ns\/default\/sa\/api/);
    assert.ok(lab.events(n2, 'refused').some((e) => e.reason === 'not-allowed' && e.source === sa('other')));
  });

  test('a pod dialling the tunnel port itself (not steered by connect4) is refused', async () => {
    const from = lab.mark(n1);
    const r = await lab.dial(other, ['dial', n1.addr, '15001', MARKER]);
    assert.ok(r.error, JSON.stringify(r));
    assert.is(r.reply, '');
    const refused = lab.events(n1, 'refused', from);
    assert.is(refused.length, 1);
    assert.is(refused[0]!.reason, 'no-record');
  });

  test('a certificate from a foreign CA, or of a foreign trust domain, is rejected', async () => {
    const from1 = lab.mark(n1);
    const from2 = lab.mark(n2);
    const r = await lab.dial(rogue, ['dial', api.addr, String(PORT), MARKER]);
    assert.ok(r.error, JSON.stringify(r));
    assert.is(r.reply, '');
    await waitFor('n2 handshake refusal', () => lab.events(n2, 'refused', from2).some((e) => e.reason === 'handshake'));
    const n2Refused = lab.events(n2, 'refused', from2);
    assert.match(n2Refused[0]!.detail!, /certificate/i, JSON.stringify(n2Refused));
    assert.ok(lab.events(n1, 'refused', from1).some((e) => e.reason === 'handshake' && e.source === sa('rogue')));
    const r2 = await lab.dial(web2, ['dial', api.addr, String(PORT), MARKER]);
    assert.ok(r2.error, JSON.stringify(r2));
    await waitFor('n2 trust domain refusal', () => lab.events(n2, 'refused', from2).some((e) => e.reason === 'peer-identity'));
    assert.match(lab.events(n2, 'refused', from2).find((e) => e.reason === 'peer-identity')!.detail!, /evil\.example/);
  });

  test('the source checks the destination certificate against the identity expected for the pod', async () => {
    const from = lab.mark(n1);
    // n1 is told api's address is another identity: n2 has no certificate for it, api's does not match.
    await lab.reload(n1, { destinations: { [api.addr]: { identity: sa('db'), node: { addr: n2.addr, port: 15008 } } } });
    const r = await lab.dial(web, ['dial', api.addr, String(PORT), MARKER]);
    assert.ok(r.error, JSON.stringify(r));
    assert.ok(lab.events(n1, 'refused', from).some((e) => e.reason === 'handshake' || e.reason === 'peer-identity'));
    await lab.reload(n1);
  });

  test('rotation: new certificates on both nodes, a long-lived connection stays up', async () => {
    const hold = lab.dial(web, ['hold', api.addr, String(PORT), '3000']);
    await new Promise((r) => setTimeout(r, 800));
    // Renewal as the identity manager does it: a new SVID in the store, swapped in by the adapter.
    const before = n1.credentials.svid(sa('web'))!.cert;
    n1.identities.set(await issueHeld(ca, sa('web')));
    n2.identities.set(await issueHeld(ca, sa('api')));
    assert.is.not(n1.credentials.svid(sa('web'))!.cert, before);
    await Promise.all([lab.reload(n1), lab.reload(n2)]);
    const held = await hold;
    assert.is(held.error, undefined, JSON.stringify(held));
    assert.ok((held.sent as number) > 30);
    assert.is(held.echoed, held.sent);
    const r = await lab.dial(web, ['dial', api.addr, String(PORT), `${MARKER}-after`]);
    assert.is(r.reply, `api:${MARKER}-after`);
    n1.tunnel!.child.kill('SIGUSR2');
    await waitFor('counts', () => n1.tunnel!.lines.filter((l) => l.type === 'counts').length >= 2);
    const counts = n1.tunnel!.lines.filter((l) => l.type === 'counts').at(-1) as { counts: Record<string, number> };
    assert.ok(counts.counts['sessions.outbound']! >= 2, 'a new session after the rotation');
  });

  test('killing the tunnel fails closed; a restart recovers', async () => {
    await lab.killTunnel(n1);
    const r = await lab.dial(web, ['dial', api.addr, String(PORT), MARKER]);
    assert.is(r.error, 'ECONNREFUSED', JSON.stringify(r));
    await lab.startTunnel(n1);
    const ok = await lab.dial(web, ['dial', api.addr, String(PORT), `${MARKER}-restart`]);
    assert.is(ok.reply, `api:${MARKER}-restart`);
    // The destination's tunnel killed: the client's tunnel refuses, nothing is sent in the clear.
    await lab.killTunnel(n2);
    const from = lab.mark(n1);
    const down = await lab.dial(web, ['dial', api.addr, String(PORT), MARKER]);
    assert.ok(down.error, JSON.stringify(down));
    assert.is(down.reply, '');
    assert.ok(lab.events(n1, 'refused', from).length >= 1);
    await lab.startTunnel(n2);
    const back = await lab.dial(web, ['dial', api.addr, String(PORT), `${MARKER}-back`]);
    assert.is(back.reply, `api:${MARKER}-back`);
  });

  test('a pod address reused by a pod of another ServiceAccount is never honoured with the old identity', async () => {
    const addr = api.addr;
    lab.removePod(api);
    const db = lab.addPod(n2, 'db', sa('db'), addr);
    n2.identities.drop('default/api');
    n2.identities.set(await issueHeld(ca, sa('db')));
    lab.require(db, [sa('other')]);
    await lab.serve(db, PORT);
    // Only n2 knows: n1 still expects api at that address (its pooled session is for api).
    const from2 = lab.mark(n2);
    await lab.reload(n2);
    const r1 = await lab.dial(web, ['dial', addr, String(PORT), MARKER]);
    assert.ok(r1.error, JSON.stringify(r1));
    assert.is(r1.reply, '');
    assert.ok(lab.events(n2, 'refused', from2).some((e) => e.reason === 'identity-mismatch' || e.reason === 'handshake'), JSON.stringify(lab.events(n2, 'refused', from2)));
    // Both know: web is not allowed to db, other is.
    await lab.reload(n1);
    const from1 = lab.mark(n1);
    const r2 = await lab.dial(web, ['dial', addr, String(PORT), MARKER]);
    assert.ok(r2.error, JSON.stringify(r2));
    assert.ok(lab.events(n1, 'refused', from1).some((e) => e.reason === 'not-allowed'));
    const r3 = await lab.dial(other, ['dial', addr, String(PORT), `${MARKER}-db`]);
    assert.is(r3.reply, `db:${MARKER}-db`);
    // The client side: web's address taken by a pod of another ServiceAccount (a new cgroup).
    const webAddr = web.addr;
    lab.removePod(web);
    const intruder = lab.addPod(n1, 'intruder', sa('intruder'), webAddr);
    n1.identities.set(await issueHeld(ca, sa('intruder')));
    lab.require(db, [sa('other'), sa('web')]);
    await lab.reload(n2);
    await lab.reload(n1);
    const from3 = lab.mark(n1);
    const r4 = await lab.dial(intruder, ['dial', addr, String(PORT), MARKER]);
    assert.ok(r4.error, JSON.stringify(r4));
    const refusal = lab.events(n1, 'refused', from3).find((e) => e.reason === 'not-allowed');
    assert.ok(refusal, JSON.stringify(lab.events(n1, 'refused', from3)));
    assert.is(refusal!.source, sa('intruder'));
  });

  test('the capture on the bridge holds only TLS between tunnels, never the marker', async () => {
    // A control: an unsteered plaintext connection is visible in the same capture.
    const ctl = await lab.dial(other, ['dial', plain.addr, String(PORT), CONTROL]);
    assert.is(ctl.reply, `plain:${CONTROL}`);
    await new Promise((r) => setTimeout(r, 300));
    await capture.stop();
    // A capture that lost packets cannot show the marker's absence.
    assert.match(capture.log(), /\b0 packets dropped by kernel/, `tcpdump lost packets: ${capture.log()}`);
    const segments = readTcpSegments(capture.file);
    const all = Buffer.concat(segments.map((s) => s.payload));
    assert.ok(all.includes(CONTROL), `the capture sees plaintext when there is some (tcpdump: ${capture.log()}; ${spawnSync('tcpdump', ['-r', capture.file, '-n', 'port', String(PORT)], { encoding: 'utf8' }).stdout}; ${segments.length} segments: ${[...new Set(segments.map((s) => `${s.src}:${s.sport}>${s.dst}:${s.dport}`))].join(' ')})`);
    assert.not.ok(all.includes('MESHC-PLAINTEXT-MARKER'), 'the marker crossed the bridge in the clear');
    const tunnelSegments = segments.filter((s) => s.sport === 15008 || s.dport === 15008);
    const stray = segments.filter((s) => !(s.sport === 15008 || s.dport === 15008) && !s.payload.includes(CONTROL) && !(s.sport === PORT && s.payload.toString().startsWith('plain:')));
    assert.is(stray.length, 0, `non-tunnel payload on the bridge: ${stray.map((s) => `${s.src}:${s.sport}>${s.dst}:${s.dport}`).join(', ')}`);
    const flows = new Map<string, Buffer[]>();
    for (const s of tunnelSegments) {
      const key = `${s.src}:${s.sport}>${s.dst}:${s.dport}`;
      flows.set(key, [...(flows.get(key) ?? []), s.payload]);
    }
    assert.ok(flows.size >= 4, `tunnel flows: ${flows.size}`);
    let appData = 0;
    for (const [key, parts] of flows) {
      let types: number[] = [];
      try {
        types = tlsRecordTypes(Buffer.concat(parts));
      } catch (err) {
        assert.unreachable(`${key}: ${(err as Error).message}`);
      }
      // A handshake, or an alert (a server with no certificate for the name asked answers with one).
      const [src, dst] = key.split('>').map((e) => e.split(':'));
      const dump = () => spawnSync('tcpdump', ['-r', capture.file, '-n', `src host ${src![0]} and src port ${src![1]} and dst host ${dst![0]} and dst port ${dst![1]}`], { encoding: 'utf8' }).stdout.split('\n').slice(0, 8).join('\n');
      assert.ok(types[0] === 22 || types[0] === 21, `${key} opens with record type ${types[0]}: ${types.join(',')}\n${dump()}`);
      appData += types.filter((t) => t === 23).length;
    }
    assert.ok(appData > 10);
  });
});
