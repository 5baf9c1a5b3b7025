// Certificates for the tunnel tests: SVIDs from src/identity's CA (issueHeld), and for the bench
// and the one case src/identity's CA refuses to sign (a SAN of another trust domain), the openssl CLI: a CA, and SVIDs
// (P-256, one URI SAN, CA:false, digitalSignature, server and client auth) signed by it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildCsr, generateNodeKey, issueSvid, parseServiceAccountId, renewalTime, type HeldIdentity, type RootCa } from '../../src/identity/index.ts';

/**
 * An SVID for `spiffeId` from src/identity's CA (`createRootCa`): a key made here, its CSR, the
 * CA's signature; as the agent's identity manager holds it (put it in an IdentityStore).
 */
export async function issueHeld(ca: RootCa, spiffeId: string, lifetimeSeconds = 3600): Promise<HeldIdentity> {
  const { namespace, serviceAccount } = parseServiceAccountId(spiffeId);
  const key = await generateNodeKey();
  const svid = await issueSvid(ca, { csrPem: await buildCsr(key), spiffeId, lifetimeSeconds });
  return { spiffeId, namespace, serviceAccount, keyPem: key.keyPem, certPem: svid.certPem, serial: svid.serial, notBefore: svid.notBefore, notAfter: svid.notAfter, renewAt: renewalTime(svid.notBefore, svid.notAfter) };
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr.trim()}`);
}

export interface Ca {
  cert: string;
  /** Signs an SVID for `uri` (the SPIFFE ID written in the URI SAN). */
  issue(uri: string): { key: string; cert: string };
  dispose(): void;
}

export function makeCa(name: string): Ca {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshc-tunnel-ca-'));
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', `/O=${name}`, '-days', '2', '-out', 'ca.pem',
    '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  let serial = 0;
  return {
    cert: readFileSync(path.join(dir, 'ca.pem'), 'utf8'),
    issue(uri: string) {
      serial++;
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `l${serial}.ec`], dir);
      openssl(['pkcs8', '-topk8', '-nocrypt', '-in', `l${serial}.ec`, '-out', `l${serial}.key`], dir);
      openssl(['req', '-new', '-key', `l${serial}.key`, '-subj', '/O=meshc', '-out', `l${serial}.csr`], dir);
      writeFileSync(path.join(dir, `l${serial}.ext`), [
        'basicConstraints=critical,CA:false',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=serverAuth,clientAuth',
        `subjectAltName=critical,URI:${uri}`,
      ].join('\n'));
      openssl(['x509', '-req', '-in', `l${serial}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(1000 + serial),
        '-days', '1', '-extfile', `l${serial}.ext`, '-out', `l${serial}.pem`], dir);
      return { key: readFileSync(path.join(dir, `l${serial}.key`), 'utf8'), cert: readFileSync(path.join(dir, `l${serial}.pem`), 'utf8') };
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
