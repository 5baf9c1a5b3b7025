// X.509 SVIDs: the shape the CA issues (every field read back with node:crypto's X509Certificate,
// keyUsage with @peculiar/x509, which node:crypto does not expose), and what verifySvid rejects.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildCsr, createRootCa, generateNodeKey, issueSvid, loadRootCa, renewalTime, SvidError, verifySvid, type RootCa } from '../../src/identity/x509.ts';

const TD = 'cluster.test';
const ID = `spiffe://${TD}/ns/shop/sa/api`;

const shape = suite('SVID shape');

shape('one URI SAN set by the CA, CA:false, digitalSignature, server+client auth, P-256, 24 h', async () => {
  const ca = await createRootCa({ trustDomain: TD });
  const key = await generateNodeKey();
  // The request asks for another identity and a DNS name: both ignored.
  const csr = await buildCsr(key, [`spiffe://${TD}/ns/kube-system/sa/admin`, 'spiffe://evil.test/x']);
  const now = new Date();
  const issued = await issueSvid(ca, { csrPem: csr, spiffeId: ID, now });
  const cert = new X509Certificate(issued.certPem);
  assert.is(cert.subjectAltName, `URI:${ID}`);
  assert.is(cert.ca, false);
  assert.equal(cert.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']); // node's keyUsage is the extKeyUsage OIDs
  assert.is(cert.publicKey.asymmetricKeyType, 'ec');
  assert.is(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.is(new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime(), 24 * 3600 * 1000);
  assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey), 'signed by the root');
  assert.ok(cert.checkIssued(new X509Certificate(ca.certPem)));
  // The key in the certificate is the node's.
  assert.ok(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(key.keyPem)));
  const parsed = new x509.X509Certificate(issued.certPem);
  const usage = parsed.getExtension(x509.KeyUsagesExtension)!;
  assert.is(usage.usages, x509.KeyUsageFlags.digitalSignature);
  assert.ok(usage.critical);
  const basic = parsed.getExtension(x509.BasicConstraintsExtension)!;
  assert.ok(basic.critical);
  assert.is(basic.ca, false);
  assert.is(renewalTime(issued.notBefore, issued.notAfter).getTime() - issued.notBefore.getTime(), 12 * 3600 * 1000);
  const verified = verifySvid(issued.certPem, ca.certPem, { trustDomain: TD });
  assert.is(verified.spiffeId, ID);
});

shape('lifetime in seconds, capped by the root', async () => {
  const ca = await createRootCa({ trustDomain: TD, lifetimeSeconds: 60 });
  const issued = await issueSvid(ca, { csrPem: await buildCsr(await generateNodeKey()), spiffeId: ID, lifetimeSeconds: 4 });
  assert.is(issued.notAfter.getTime() - issued.notBefore.getTime(), 4000);
  const long = await issueSvid(ca, { csrPem: await buildCsr(await generateNodeKey()), spiffeId: ID, lifetimeSeconds: 3600 });
  assert.is(long.notAfter.getTime(), ca.cert.notAfter.getTime());
});

shape('the CA refuses an ID outside its trust domain and a CSR whose signature is not its key\'s', async () => {
  const ca = await createRootCa({ trustDomain: TD });
  const csr = await buildCsr(await generateNodeKey());
  await issueSvid(ca, { csrPem: csr, spiffeId: 'spiffe://other.test/ns/a/sa/b' }).then(() => assert.unreachable(), (e) => assert.match(e.message, /not in this CA's trust domain cluster.test/));
  const tampered = csr.replace(/(-----BEGIN CERTIFICATE REQUEST-----\n)(.{40})(.)/, (_, a, b, c) => a + b + (c === 'A' ? 'B' : 'A'));
  await issueSvid(ca, { csrPem: tampered, spiffeId: ID }).then(() => assert.unreachable(), (e) => assert.match(e.message, /CSR/));
});

shape.run();

const rejects = suite('verifySvid rejects');

async function svid(ca: RootCa, options: { id?: string; lifetimeSeconds?: number; now?: Date } = {}) {
  return (await issueSvid(ca, { csrPem: await buildCsr(await generateNodeKey()), spiffeId: options.id ?? ID, lifetimeSeconds: options.lifetimeSeconds, now: options.now })).certPem;
}

function rejection(chain: string, bundle: string, trustDomain = TD, now?: Date): SvidError {
  try {
    verifySvid(chain, bundle, { trustDomain, now });
  } catch (error) {
    if (error instanceof SvidError) return error;
    throw error;
  }
  throw new Error('accepted');
}

rejects('a foreign CA (same trust domain, another root)', async () => {
  const ours = await createRootCa({ trustDomain: TD });
  const foreign = await createRootCa({ trustDomain: TD });
  const e = rejection(await svid(foreign), ours.certPem);
  assert.is(e.reason, 'foreign-ca');
  assert.match(e.message, /not signed by any root of the trust bundle/);
});

rejects('a wrong trust domain', async () => {
  const other = await createRootCa({ trustDomain: 'other.test' });
  const e = rejection(await svid(other, { id: 'spiffe://other.test/ns/shop/sa/api' }), other.certPem);
  assert.is(e.reason, 'trust-domain');
  assert.match(e.message, /trust domain other.test, expected cluster.test/);
});

rejects('expired, and not yet valid', async () => {
  const ca = await createRootCa({ trustDomain: TD });
  const cert = await svid(ca, { lifetimeSeconds: 60 });
  assert.is(rejection(cert, ca.certPem, TD, new Date(Date.now() + 120_000)).reason, 'expired');
  assert.is(rejection(cert, ca.certPem, TD, new Date(Date.now() - 120_000)).reason, 'not-yet-valid');
});

rejects('two SANs, a DNS SAN, a CA certificate', async () => {
  const ca = await createRootCa({ trustDomain: TD });
  const key = await generateNodeKey();
  const extraSans = async (names: x509.JsonGeneralName[], isCa = false) =>
    (
      await x509.X509CertificateGenerator.create({
        serialNumber: '0a',
        subject: 'O=meshc',
        issuer: ca.cert.subject,
        notBefore: new Date(Date.now() - 1000),
        notAfter: new Date(Date.now() + 3600_000),
        publicKey: key.pair.publicKey,
        signingKey: ca.signingKey,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        extensions: [new x509.BasicConstraintsExtension(isCa, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true), new x509.SubjectAlternativeNameExtension(names)],
      })
    ).toString('pem');
  const two = rejection(await extraSans([{ type: 'url', value: ID }, { type: 'url', value: `spiffe://${TD}/ns/shop/sa/db` }]), ca.certPem);
  assert.is(two.reason, 'san');
  assert.match(two.message, /exactly one SAN/);
  assert.is(rejection(await extraSans([{ type: 'url', value: ID }, { type: 'dns', value: 'api.shop' }]), ca.certPem).reason, 'san');
  assert.is(rejection(await extraSans([{ type: 'url', value: 'https://cluster.test/x' }]), ca.certPem).reason, 'san');
  assert.is(rejection(await extraSans([{ type: 'url', value: ID }], true), ca.certPem).reason, 'ca-flag');
  // The same builder with one URI SAN passes: the rejections above are the SANs' and the flag's.
  assert.is(verifySvid(await extraSans([{ type: 'url', value: ID }]), ca.certPem, { trustDomain: TD }).spiffeId, ID);
});

rejects.run();

const rotation = suite('root rotation');

rotation('old and new roots side by side, then the old removed', async () => {
  const old = await createRootCa({ trustDomain: TD });
  const fresh = await createRootCa({ trustDomain: TD });
  const before = await svid(old);
  const after = await svid(fresh);
  const both = old.certPem + fresh.certPem;
  // Step 1: the bundle holds both; SVIDs of either root verify.
  assert.is(verifySvid(before, both, { trustDomain: TD }).spiffeId, ID);
  assert.match(verifySvid(before, both, { trustDomain: TD }).root, /meshc root/);
  assert.is(verifySvid(after, both, { trustDomain: TD }).spiffeId, ID);
  // Step 3: the old root leaves the bundle; its SVIDs are refused, the new root's still pass.
  assert.is(rejection(before, fresh.certPem).reason, 'foreign-ca');
  assert.is(verifySvid(after, fresh.certPem, { trustDomain: TD }).spiffeId, ID);
  // A root written to files and loaded back signs the same way (the CA's restart with the new root).
  const reloaded = await loadRootCa(fresh.certPem, fresh.keyPem, TD);
  assert.is(verifySvid(await svid(reloaded), both, { trustDomain: TD }).spiffeId, ID);
  // A SEC1 key ("EC PRIVATE KEY", as openssl ecparam writes it) loads too.
  const sec1 = createPrivateKey(fresh.keyPem).export({ type: 'sec1', format: 'pem' }).toString();
  assert.match(sec1, /BEGIN EC PRIVATE KEY/);
  assert.is(verifySvid(await svid(await loadRootCa(fresh.certPem, sec1, TD)), fresh.certPem, { trustDomain: TD }).spiffeId, ID);
  await loadRootCa(fresh.certPem, 'not a key', TD).then(() => assert.unreachable(), (e) => assert.match(e.message, /root key: not a PEM private key/));
  await loadRootCa(fresh.certPem, old.keyPem, TD).then(() => assert.unreachable(), (e) => assert.match(e.message, /does not belong to the root certificate/));
});

rotation.run();
