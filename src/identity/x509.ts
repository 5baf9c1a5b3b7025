// X.509 for meshc's identities, built with @peculiar/x509 on Node's WebCrypto (no hand-written
// ASN.1) and checked with node:crypto's X509Certificate:
//   - a node key (ECDSA P-256, made on the node, never sent anywhere) and its CSR;
//   - a root CA (self-signed, P-256) and the X.509 SVIDs it issues: exactly one URI SAN (the SPIFFE
//     ID, set by the CA whatever the CSR asks), CA:false, keyUsage digitalSignature,
//     extKeyUsage serverAuth + clientAuth, 24 h by default;
//   - verifying an SVID against a trust bundle (one or more roots, old and new side by side while
//     a root rotates), returning its SPIFFE ID or an SvidError naming the reason.
import 'reflect-metadata'; // tsyringe, under @peculiar/x509, needs the Reflect metadata API first
import * as x509 from '@peculiar/x509';
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { checkTrustDomain, parseSpiffeId, SpiffeIdError } from './spiffe.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
export const DEFAULT_SVID_LIFETIME_SECONDS = 24 * 3600;
const DEFAULT_ROOT_LIFETIME_SECONDS = 365 * 24 * 3600;

/** A node key: the WebCrypto pair and its private key as PKCS#8 PEM (what TLS takes). */
export interface NodeKey {
  pair: CryptoKeyPair;
  keyPem: string;
}

/** A CA that signs: its root certificate and key. */
export interface RootCa {
  trustDomain: string;
  certPem: string;
  keyPem: string;
  cert: x509.X509Certificate;
  signingKey: CryptoKey;
}

export interface IssuedCertificate {
  certPem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** Why an SVID is not accepted. */
export type SvidRejection = 'malformed' | 'foreign-ca' | 'trust-domain' | 'expired' | 'not-yet-valid' | 'san' | 'ca-flag' | 'key-usage' | 'key-type';

export class SvidError extends Error {
  constructor(
    readonly reason: SvidRejection,
    message: string,
  ) {
    super(message);
  }
}

/** A request the CA refuses to sign (bad CSR, wrong key type). */
export class CsrError extends Error {}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
}

/** A P-256 private key from PEM: PKCS#8 (what meshc ca init writes) or SEC1 (openssl ecparam's). */
async function importKeyPem(pem: string): Promise<CryptoKey> {
  let pkcs8: Buffer;
  try {
    pkcs8 = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  } catch (error) {
    throw new Error(`not a PEM private key (${(error as Error).message})`);
  }
  return webcrypto.subtle.importKey('pkcs8', pkcs8, EC_P256, true, ['sign']);
}

/** A fresh ECDSA P-256 key, made here. */
export async function generateNodeKey(): Promise<NodeKey> {
  const pair = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  return { pair, keyPem: await exportKeyPem(pair.privateKey) };
}

/**
 * A PKCS#10 request for `key`. It names no identity: the CA decides the SAN. `requestedUris` is
 * for tests that show the CA ignores what a request asks for.
 */
export async function buildCsr(key: NodeKey, requestedUris: string[] = []): Promise<string> {
  const extensions = requestedUris.length > 0 ? [new x509.SubjectAlternativeNameExtension(requestedUris.map((value) => ({ type: 'url' as const, value })))] : [];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'O=meshc', keys: key.pair, signingAlgorithm: EC_P256, extensions });
  return csr.toString('pem');
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f; // positive
  return bytes.toString('hex');
}

/** X.509 times have whole seconds: a Date rounded down to one. */
function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

/** A new self-signed root for `trustDomain` (P-256, 1 year by default). */
export async function createRootCa(options: { trustDomain: string; lifetimeSeconds?: number; now?: Date }): Promise<RootCa> {
  const trustDomain = checkTrustDomain(options.trustDomain);
  const now = options.now ?? new Date();
  const pair = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const notBefore = wholeSeconds(now.getTime());
  // The date in the name tells roots of one trust domain apart in a bundle (and in logs).
  const stamp = notBefore.toISOString().replace(/\.\d+Z$/, 'Z');
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `O=meshc, OU=${trustDomain}, CN=meshc root ${stamp}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (options.lifetimeSeconds ?? DEFAULT_ROOT_LIFETIME_SECONDS) * 1000),
    keys: pair,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(pair.publicKey),
      // The SPIFFE bundle convention: the root names its trust domain as a URI SAN.
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }]),
    ],
  });
  return { trustDomain, certPem: cert.toString('pem'), keyPem: await exportKeyPem(pair.privateKey), cert, signingKey: pair.privateKey };
}

/** A root from its PEM files; checks that it is a CA certificate whose key is `keyPem`. */
export async function loadRootCa(certPem: string, keyPem: string, trustDomain: string): Promise<RootCa> {
  checkTrustDomain(trustDomain);
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certPem);
  } catch (error) {
    throw new Error(`root certificate: not a PEM certificate (${(error as Error).message})`);
  }
  if (!new X509Certificate(certPem).ca) throw new Error('root certificate: not a CA certificate (basicConstraints CA:false or missing)');
  let signingKey: CryptoKey;
  try {
    signingKey = await importKeyPem(keyPem);
  } catch (error) {
    throw new Error(`root key: ${(error as Error).message} (an ECDSA P-256 key, PKCS#8 or SEC1 PEM, is expected)`);
  }
  const probe = Buffer.from('meshc root key check');
  const signature = await webcrypto.subtle.sign(EC_P256, signingKey, probe);
  const publicKey = await cert.publicKey.export(EC_P256, ['verify']);
  if (!(await webcrypto.subtle.verify(EC_P256, publicKey, signature, probe))) throw new Error('root key: does not belong to the root certificate');
  return { trustDomain, certPem: cert.toString('pem'), keyPem, cert, signingKey };
}

/**
 * Signs an X.509 SVID for `spiffeId` over the CSR's public key. Whatever the CSR asks for (names,
 * extensions) is ignored; its signature must verify (the requester holds the key) and its key must
 * be P-256. The lifetime ends no later than the root's.
 */
export async function issueSvid(ca: RootCa, options: { csrPem: string; spiffeId: string; lifetimeSeconds?: number; now?: Date }): Promise<IssuedCertificate> {
  const id = parseSpiffeId(options.spiffeId);
  if (id.trustDomain !== ca.trustDomain) throw new SpiffeIdError(`SPIFFE ID ${options.spiffeId}: not in this CA's trust domain ${ca.trustDomain}`);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(options.csrPem);
  } catch (error) {
    throw new CsrError(`CSR: not a PEM certificate request (${(error as Error).message})`);
  }
  if (!(await csr.verify())) throw new CsrError('CSR: its signature does not verify with its own public key');
  const algorithm = csr.publicKey.algorithm as EcKeyAlgorithm;
  if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') throw new CsrError(`CSR: the key must be ECDSA P-256, got ${algorithm.name}${algorithm.namedCurve ? ` ${algorithm.namedCurve}` : ''}`);
  const now = options.now ?? new Date();
  const notBefore = wholeSeconds(now.getTime());
  const lifetimeMs = (options.lifetimeSeconds ?? DEFAULT_SVID_LIFETIME_SECONDS) * 1000;
  const notAfter = new Date(Math.min(notBefore.getTime() + lifetimeMs, ca.cert.notAfter.getTime()));
  const serial = serialNumber();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: 'O=meshc',
    issuer: ca.cert.subject,
    notBefore,
    notAfter,
    publicKey: csr.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: options.spiffeId }]),
      // Picks the right root when two of one trust domain sit in a bundle (rotation).
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return { certPem: cert.toString('pem'), serial, notBefore, notAfter };
}

/** A TLS server certificate (and its key) for the CA's own HTTPS endpoint: DNS names and IPs. */
export async function issueServingCertificate(ca: RootCa, names: string[], lifetimeSeconds = DEFAULT_SVID_LIFETIME_SECONDS): Promise<{ keyPem: string } & IssuedCertificate> {
  const key = await generateNodeKey();
  const notBefore = wholeSeconds(Date.now());
  const notAfter = new Date(Math.min(notBefore.getTime() + lifetimeSeconds * 1000, ca.cert.notAfter.getTime()));
  const serial = serialNumber();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: `O=meshc, CN=${names[0] ?? 'meshc-ca'}`,
    issuer: ca.cert.subject,
    notBefore,
    notAfter,
    publicKey: key.pair.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((value) => (isIP(value) ? { type: 'ip' as const, value } : { type: 'dns' as const, value }))),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return { keyPem: key.keyPem, certPem: cert.toString('pem'), serial, notBefore, notAfter };
}

/** The certificates of a PEM file, in order (a chain, or a trust bundle of roots). */
export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.map((c) => (c.endsWith('\n') ? c : `${c}\n`)) ?? [];
}

/** A trust bundle's roots; throws when it holds none or one that is not a CA. */
export function parseBundle(pem: string): X509Certificate[] {
  const certs = splitPem(pem);
  if (certs.length === 0) throw new Error('trust bundle: no PEM certificate in it');
  return certs.map((text, i) => {
    const cert = new X509Certificate(text);
    if (!cert.ca) throw new Error(`trust bundle: certificate ${i + 1} (${cert.subject.replace(/\n/g, ', ')}) is not a CA certificate`);
    return cert;
  });
}

export interface VerifiedSvid {
  spiffeId: string;
  notBefore: Date;
  notAfter: Date;
  serial: string;
  /** The bundle's root that issued it (its subject). */
  root: string;
}

/**
 * Verifies an X.509 SVID (`chainPem`: the leaf, issued by a root of `bundlePem`) for
 * `trustDomain` at `now`, and returns its SPIFFE ID. Throws an SvidError naming the reason.
 */
export function verifySvid(chainPem: string, bundlePem: string, options: { trustDomain: string; now?: Date }): VerifiedSvid {
  const now = options.now ?? new Date();
  const [leafPem] = splitPem(chainPem);
  if (!leafPem) throw new SvidError('malformed', 'SVID: no PEM certificate');
  let leaf: X509Certificate;
  let parsed: x509.X509Certificate;
  try {
    leaf = new X509Certificate(leafPem);
    parsed = new x509.X509Certificate(leafPem);
  } catch (error) {
    throw new SvidError('malformed', `SVID: not a certificate (${(error as Error).message})`);
  }
  const roots = parseBundle(bundlePem);
  // node:crypto's .ca is OpenSSL's X509_check_ca, which also weighs keyUsage: read the flag itself.
  if (leaf.ca || parsed.getExtension(x509.BasicConstraintsExtension)?.ca) throw new SvidError('ca-flag', 'SVID: a CA certificate cannot be an SVID (basicConstraints CA:true)');
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.items ?? [];
  const uris = names.filter((n) => n.type === 'url');
  if (names.length !== 1 || uris.length !== 1) {
    throw new SvidError('san', `SVID: must have exactly one SAN, a URI; has ${names.length === 0 ? 'none' : names.map((n) => `${n.type}:${n.value}`).join(', ')}`);
  }
  let spiffeId: string;
  try {
    spiffeId = uris[0]!.value;
    const id = parseSpiffeId(spiffeId);
    if (id.trustDomain !== options.trustDomain) throw new SvidError('trust-domain', `SVID ${spiffeId}: trust domain ${id.trustDomain}, expected ${options.trustDomain}`);
  } catch (error) {
    if (error instanceof SvidError) throw error;
    throw new SvidError('san', `SVID: ${(error as Error).message}`);
  }
  const usage = parsed.getExtension(x509.KeyUsagesExtension);
  if (!usage || !(usage.usages & x509.KeyUsageFlags.digitalSignature) || usage.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) {
    throw new SvidError('key-usage', `SVID ${spiffeId}: keyUsage must be digitalSignature (and not keyCertSign or cRLSign)`);
  }
  if (leaf.publicKey.asymmetricKeyType !== 'ec' || leaf.publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new SvidError('key-type', `SVID ${spiffeId}: the key must be ECDSA P-256`);
  }
  const root = roots.find((r) => leaf.checkIssued(r) && leaf.verify(r.publicKey));
  if (!root) throw new SvidError('foreign-ca', `SVID ${spiffeId}: not signed by any root of the trust bundle (issuer ${leaf.issuer.replace(/\n/g, ', ')})`);
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (now < notBefore) throw new SvidError('not-yet-valid', `SVID ${spiffeId}: not valid before ${notBefore.toISOString()}`);
  if (now > notAfter) throw new SvidError('expired', `SVID ${spiffeId}: expired at ${notAfter.toISOString()}`);
  if (now > new Date(root.validTo)) throw new SvidError('expired', `SVID ${spiffeId}: its root expired at ${new Date(root.validTo).toISOString()}`);
  return { spiffeId, notBefore, notAfter, serial: leaf.serialNumber, root: root.subject.replace(/\n/g, ', ') };
}

/** When to renew a certificate valid from `notBefore` to `notAfter`: at half its lifetime. */
export function renewalTime(notBefore: Date, notAfter: Date): Date {
  return new Date(notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) / 2);
}
