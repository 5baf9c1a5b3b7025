// The test cluster's certificates, made with openssl: a CA, the API server's serving certificate,
// client certificates (admin in system:masters, the controller manager), and the service-account
// signing key pair. ECDSA P-256 throughout: a key takes milliseconds, not an RSA key's second.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
  /** A client certificate and key for a user (CN) and its groups (O). */
  client(name: string, user: string, groups?: string[]): { cert: string; key: string };
}

function openssl(args: string[], what: string): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`openssl (${what}): ${r.error.message} (apt-get install openssl)`);
  if (r.status !== 0) throw new Error(`openssl (${what}): ${r.stderr.trim()}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const DAYS = ['-days', '2'];

/** Subject names (CN, O...) escaped for openssl's -subj. */
const subject = (cn: string, groups: string[] = []) => [...groups.map((g) => `/O=${g.replace(/[/=\\]/g, (c) => `\\${c}`)}`), `/CN=${cn}`].join('');

export function makePki(dir: string, serverNames: { ips: string[]; dns: string[] }): Pki {
  const file = (name: string) => path.join(dir, name);
  const caCert = file('ca.crt');
  const caKey = file('ca.key');
  openssl(['req', '-x509', ...EC, '-keyout', caKey, '-out', caCert, ...DAYS, '-subj', '/CN=meshc-test-cluster-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], 'CA');
  const leaf = (name: string, subj: string, extensions: string[]) => {
    const cert = file(`${name}.crt`);
    const key = file(`${name}.key`);
    const ext = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', ...extensions].flatMap((e) => ['-addext', e]);
    openssl(['req', ...EC, '-keyout', key, '-out', cert, ...DAYS, '-subj', subj, '-CA', caCert, '-CAkey', caKey, ...ext], name);
    return { cert, key };
  };
  const san = [...serverNames.ips.map((ip) => `IP:${ip}`), ...serverNames.dns.map((d) => `DNS:${d}`)].join(',');
  const server = leaf('apiserver', subject('kube-apiserver'), [`subjectAltName=${san}`, 'extendedKeyUsage=serverAuth']);
  const serviceAccountKey = file('sa.key');
  const serviceAccountPub = file('sa.pub');
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', serviceAccountKey], 'service-account key');
  openssl(['pkey', '-in', serviceAccountKey, '-pubout', '-out', serviceAccountPub], 'service-account public key');
  writeFileSync(file('README'), 'Certificates of a meshc test cluster (test/cluster/pki.ts). Removed with the cluster.\n');
  return {
    dir,
    caCert,
    caKey,
    serverCert: server.cert,
    serverKey: server.key,
    serviceAccountKey,
    serviceAccountPub,
    client: (name, user, groups = []) => leaf(name, subject(user, groups), ['extendedKeyUsage=clientAuth']),
  };
}
