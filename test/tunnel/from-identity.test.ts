// The adapter from the identity store to the tunnel's Credentials, with SVIDs from src/identity's
// in-process CA: what is held is presented (a real mutual TLS 1.3 handshake on loopback with the
// adapter's contexts), a renewal swaps, a drop removes, a new bundle replaces, and the files
// written for the tunnel process follow.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildCsr, createRootCa, generateNodeKey, IdentityStore, issueSvid, renewalTime, serviceAccountSpiffeId, type HeldIdentity, type RootCa } from '../../src/identity/index.ts';
import { followIdentities, writeCredentialFiles } from '../../src/tunnel/from-identity.ts';
import { peerSpiffeId } from '../../src/tunnel/identity.ts';
import type { Credentials } from '../../src/tunnel/credentials.ts';

const TD = 'cluster.local';

async function held(ca: RootCa, namespace: string, serviceAccount: string): Promise<HeldIdentity> {
  const key = await generateNodeKey();
  const spiffeId = serviceAccountSpiffeId(TD, namespace, serviceAccount);
  const svid = await issueSvid(ca, { csrPem: await buildCsr(key), spiffeId, lifetimeSeconds: 600 });
  return { spiffeId, namespace, serviceAccount, keyPem: key.keyPem, certPem: svid.certPem, serial: svid.serial, notBefore: svid.notBefore, notAfter: svid.notAfter, renewAt: renewalTime(svid.notBefore, svid.notAfter) };
}

/**
 * A mutual TLS 1.3 handshake on loopback: `server` presents `serverId`, the client `clientId`; the
 * server writes back the SPIFFE ID it saw, so both sides' views come back (or the error).
 */
async function handshake(server: Credentials, serverId: string, client: Credentials, clientId: string): Promise<{ serverSaw?: string; clientSaw?: string; error?: string }> {
  const srv = createServer({ SNICallback: (_name, cb) => cb(null, server.context(serverId)), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' });
  let serverError: string | undefined;
  srv.on('secureConnection', (s: TLSSocket) => s.end(peerSpiffeId(s.getPeerCertificate()) ?? 'none'));
  srv.on('tlsClientError', (e) => {
    serverError = e.message;
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  try {
    return await new Promise((resolve) => {
      const c = connect({ host: '127.0.0.1', port, secureContext: client.context(clientId), servername: 'x', checkServerIdentity: () => undefined, minVersion: 'TLSv1.3' });
      let data = '';
      let clientSaw: string | undefined;
      c.on('secureConnect', () => {
        clientSaw = peerSpiffeId(c.getPeerCertificate());
      });
      c.on('data', (d: Buffer) => (data += d.toString()));
      c.on('end', () => resolve(data ? { serverSaw: data, clientSaw } : { clientSaw, error: serverError ?? 'closed without an answer' }));
      c.on('error', (e) => resolve({ clientSaw, error: e.message }));
    });
  } finally {
    srv.close();
  }
}

test('held SVIDs are presented, renewals swap, drops remove, a new bundle replaces', async () => {
  const ca = await createRootCa({ trustDomain: TD });
  const node1 = new IdentityStore(TD, ca.certPem);
  const node2 = new IdentityStore(TD, ca.certPem);
  const web = await held(ca, 'default', 'web');
  node1.set(web); // held before the adapter starts: read from list()
  const a1 = followIdentities(node1);
  const a2 = followIdentities(node2);
  const api = await held(ca, 'shop', 'api');
  node2.set(api); // held after: from the change event
  assert.equal(a1.credentials.identities(), [web.spiffeId]);
  assert.equal(a2.credentials.identities(), [api.spiffeId]);
  assert.is(a1.credentials.svid(web.spiffeId)?.key, web.keyPem);
  assert.is(a1.credentials.ca, ca.certPem);

  const ok = await handshake(a2.credentials, api.spiffeId, a1.credentials, web.spiffeId);
  assert.equal(ok, { serverSaw: web.spiffeId, clientSaw: api.spiffeId });

  // Renewal: the store gets a new SVID; the credentials swap and tell their listeners.
  const changed: (string | undefined)[] = [];
  a1.credentials.onChange((id) => changed.push(id));
  const renewed = await held(ca, 'default', 'web');
  node1.set(renewed);
  assert.equal(changed, [web.spiffeId]);
  assert.is(a1.credentials.svid(web.spiffeId)?.cert, renewed.certPem);
  assert.equal(await handshake(a2.credentials, api.spiffeId, a1.credentials, web.spiffeId), { serverSaw: web.spiffeId, clientSaw: api.spiffeId });

  // Files for the tunnel process: bundle and one key/cert pair per identity, 0600, following drops.
  const dir = mkdtempSync(path.join(tmpdir(), 'meshc-tunnel-creds-'));
  try {
    const files = writeCredentialFiles(a1.credentials, path.join(dir, 'creds'));
    assert.equal(Object.keys(files.svids), [web.spiffeId]);
    assert.is(readFileSync(path.join(dir, 'creds', files.svids[web.spiffeId]!.cert), 'utf8'), renewed.certPem);
    assert.is(statSync(path.join(dir, 'creds', files.svids[web.spiffeId]!.key)).mode & 0o777, 0o600);
    assert.is(readFileSync(path.join(dir, 'creds', files.bundle), 'utf8'), ca.certPem);

    // Drop: the identity is no longer presented, its files go.
    node1.drop('default/web');
    assert.equal(changed, [web.spiffeId, web.spiffeId]);
    assert.equal(a1.credentials.identities(), []);
    assert.is(a1.credentials.context(web.spiffeId), undefined);
    const after = writeCredentialFiles(a1.credentials, path.join(dir, 'creds'));
    assert.equal(after.svids, {});
    assert.equal(readdirSync(path.join(dir, 'creds')), ['bundle.pem']);
    assert.not.ok(existsSync(path.join(dir, 'creds', files.svids[web.spiffeId]!.key)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // Root rotation: node2 trusts a new root only (the old one removed): node1's SVID of the old root
  // is refused; with both roots in the bundle it is accepted again.
  node1.set(await held(ca, 'default', 'web'));
  const next = await createRootCa({ trustDomain: TD, now: new Date(Date.now() - 5000) });
  node2.setTrustBundle(next.certPem);
  assert.is(a2.credentials.ca, next.certPem);
  assert.equal(changed.at(-1), web.spiffeId);
  const refused = await handshake(a2.credentials, api.spiffeId, a1.credentials, web.spiffeId);
  assert.ok(refused.error, JSON.stringify(refused));
  assert.is(refused.serverSaw, undefined);
  node2.setTrustBundle(`${next.certPem.trimEnd()}\n${ca.certPem}`);
  assert.equal(await handshake(a2.credentials, api.spiffeId, a1.credentials, web.spiffeId), { serverSaw: web.spiffeId, clientSaw: api.spiffeId });

  // stop(): later changes no longer reach the credentials.
  a1.stop();
  node1.drop('default/web');
  assert.equal(a1.credentials.identities(), [web.spiffeId]);
  a2.stop();
});

test.run();
