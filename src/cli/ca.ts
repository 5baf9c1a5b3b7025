// `meshc ca`: the workload identity CA (init a root, serve CSRs from node agents, verify an SVID).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { CaServer } from '../ca/server.ts';
import { apiClusterView } from '../ca/cluster.ts';
import { Signer } from '../ca/signer.ts';
import { loadKube } from '../identity/kube-api.ts';
import { checkTrustDomain, SpiffeIdError } from '../identity/spiffe.ts';
import { createRootCa, DEFAULT_SVID_LIFETIME_SECONDS, loadRootCa, parseBundle, SvidError, verifySvid } from '../identity/x509.ts';
import { untilStopped, type CommandIO } from './io.ts';
import { InputError, integerOption, parseCommand, UsageError } from './usage.ts';

const HELP = `Usage: meshc ca init --trust-domain TD --out DIR [--root-days N] [--json]
       meshc ca serve --trust-domain TD --root-cert FILE --root-key FILE [options]
       meshc ca verify --trust-domain TD --trust-bundle FILE CERT [--json]

The certificate authority of meshc's workload identities. Every ServiceAccount has one SPIFFE ID,
spiffe://<trust domain>/ns/<namespace>/sa/<name>, carried by an X.509 SVID: ECDSA P-256, exactly
one URI SAN, CA:false, digitalSignature, serverAuth + clientAuth, 24 h unless --svid-lifetime says
otherwise. Agents renew at half the lifetime; there is no revocation besides expiry.

  init    make a root: DIR/root.key (ECDSA P-256, mode 0600: only the CA's Secret gets it) and
          DIR/root.crt (the first trust bundle: hand it to every agent).
  serve   an HTTPS endpoint (TLS 1.3; its certificate is issued by the root, so agents verify it
          with the trust bundle) that signs an agent's CSR (POST /v1/svids) only when
            1. its bearer token passes a TokenReview (the API server authenticates it),
            2. the token is the agent ServiceAccount's (--agent-service-account),
            3. the token names the agent's node (a pod-bound token: the TokenReview's
               authentication.kubernetes.io/node-name, else the node of the pod it is bound to),
            4. a live pod of the requested ServiceAccount runs on that node;
          and it writes the SAN itself: names a CSR asks for are ignored. A refusal answers
          {"reason", "error"} (no-token, token-not-authenticated, not-the-agent, no-node,
          no-pod-on-node, bad-request, bad-csr, api-unavailable) and is logged.
          GET /v1/bundle serves the trust bundle.
  verify  check an SVID file against a trust bundle: prints its SPIFFE ID and validity, or the
          reason it is rejected (foreign-ca, trust-domain, expired, not-yet-valid, san, ca-flag,
          key-usage, key-type, malformed). Exit status 1 when rejected.

Rotating the root (docs/identity.md): init a new root; put old and new roots side by side in the
trust bundle and roll it out to agents; restart the CA with the new root key (it keeps serving
the two-root bundle); after one SVID lifetime every SVID is the new root's; remove the old root
from the bundle.

Options:
  --trust-domain TD          the SPIFFE trust domain (lowercase letters, digits, . - _)
  --out DIR                  init: where root.key and root.crt go (refuses to overwrite)
  --root-days N              init: the root's lifetime in days (default 365)
  --root-cert FILE           serve: the root certificate the CA signs with (PEM)
  --root-key FILE            serve: its private key (PKCS#8 PEM)
  --trust-bundle FILE        serve: the roots agents trust (PEM, may hold old and new roots;
                             must hold --root-cert; default: --root-cert alone)
                             verify: the roots to verify against
  --svid-lifetime SECONDS    serve: SVID lifetime (default ${DEFAULT_SVID_LIFETIME_SECONDS}, 24 h; tests use seconds)
  --port P                   serve: HTTPS port (default 8443; 0 picks one)
  --address A                serve: address to listen on (default 0.0.0.0)
  --server-name NAME         serve: a DNS name or IP agents reach the CA by, for its serving
                             certificate (repeatable; default meshc-ca.meshc-system.svc)
  --agent-service-account NS/NAME
                             serve: the agents' ServiceAccount (default meshc-system/meshc-agent)
  --kubeconfig FILE          serve: the API server (default: in-cluster config)
  --json                     init, verify: one JSON object
  -h, --help                 this help
`;

export const command = { summary: 'the workload identity CA: init a root, sign agents\' CSRs, verify an SVID', run };

async function run(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommand('ca', args, {
    'trust-domain': { type: 'string' },
    out: { type: 'string' },
    'root-days': { type: 'string' },
    'root-cert': { type: 'string' },
    'root-key': { type: 'string' },
    'trust-bundle': { type: 'string' },
    'svid-lifetime': { type: 'string' },
    port: { type: 'string' },
    address: { type: 'string' },
    'server-name': { type: 'string', multiple: true },
    'agent-service-account': { type: 'string' },
    kubeconfig: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const [action, ...rest] = positionals;
  if (!action) throw new UsageError('meshc ca: say what: init, serve or verify');
  const trustDomain = () => {
    if (!values['trust-domain']) throw new UsageError(`meshc ca ${action}: --trust-domain is required`);
    try {
      return checkTrustDomain(values['trust-domain']);
    } catch (error) {
      throw new UsageError(`meshc ca ${action}: --trust-domain: ${(error as SpiffeIdError).message}`);
    }
  };
  const read = (flag: string, file: string | undefined) => {
    if (!file) throw new UsageError(`meshc ca ${action}: --${flag} FILE is required`);
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new InputError(`meshc ca ${action}: --${flag} ${file}: ${(error as Error).message}`);
    }
  };
  if (action === 'init') {
    const td = trustDomain();
    if (!values.out) throw new UsageError('meshc ca init: --out DIR is required');
    const days = integerOption('ca', 'root-days', values['root-days'], 365, 1);
    const keyFile = path.join(values.out, 'root.key');
    const certFile = path.join(values.out, 'root.crt');
    for (const file of [keyFile, certFile]) if (existsSync(file)) throw new InputError(`meshc ca init: ${file} exists; a root is never overwritten (rotate with a new --out)`);
    const root = await createRootCa({ trustDomain: td, lifetimeSeconds: days * 86400 });
    mkdirSync(values.out, { recursive: true });
    writeFileSync(keyFile, root.keyPem, { mode: 0o600 });
    writeFileSync(certFile, root.certPem);
    const summary = { trustDomain: td, key: keyFile, certificate: certFile, subject: root.cert.subject, notAfter: root.cert.notAfter.toISOString() };
    io.stdout.write(values.json ? `${JSON.stringify(summary)}\n` : `root for ${td}: ${certFile} (${summary.subject}, until ${summary.notAfter})\nkey: ${keyFile} (mode 0600: give it only to the CA's Secret)\n`);
    return 0;
  }
  if (action === 'verify') {
    const td = trustDomain();
    if (rest.length !== 1) throw new UsageError('meshc ca verify: give one SVID file (PEM)');
    const bundle = read('trust-bundle', values['trust-bundle']);
    const cert = read('(SVID)', rest[0]);
    try {
      const verified = verifySvid(cert, bundle, { trustDomain: td });
      const out = { valid: true, spiffeId: verified.spiffeId, serial: verified.serial, notBefore: verified.notBefore.toISOString(), notAfter: verified.notAfter.toISOString(), root: verified.root };
      io.stdout.write(values.json ? `${JSON.stringify(out)}\n` : `${out.spiffeId}: valid until ${out.notAfter} (serial ${out.serial}, root ${out.root})\n`);
      return 0;
    } catch (error) {
      if (!(error instanceof SvidError)) throw new InputError(`meshc ca verify: ${(error as Error).message}`);
      io.stdout.write(values.json ? `${JSON.stringify({ valid: false, reason: error.reason, error: error.message })}\n` : `rejected (${error.reason}): ${error.message}\n`);
      return 1;
    }
  }
  if (action === 'serve') return serve(values, trustDomain(), read, io);
  throw new UsageError(`meshc ca: unknown action "${action}" (init, serve or verify)`);
}

async function serve(values: Record<string, any>, trustDomain: string, read: (flag: string, file: string | undefined) => string, io: CommandIO): Promise<number> {
  const log = (line: string) => io.stderr.write(`${line}\n`);
  const certPem = read('root-cert', values['root-cert']);
  const keyPem = read('root-key', values['root-key']);
  const bundle = values['trust-bundle'] ? read('trust-bundle', values['trust-bundle']) : certPem;
  const lifetime = integerOption('ca', 'svid-lifetime', values['svid-lifetime'], DEFAULT_SVID_LIFETIME_SECONDS, 1);
  const port = integerOption('ca', 'port', values.port, 8443, 0);
  const agent = values['agent-service-account'] ?? 'meshc-system/meshc-agent';
  if (!/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(agent)) throw new UsageError(`meshc ca serve: --agent-service-account must be NAMESPACE/NAME, got "${agent}"`);
  let root;
  try {
    root = await loadRootCa(certPem, keyPem, trustDomain);
    const roots = parseBundle(bundle);
    const signing = new X509Certificate(root.certPem).fingerprint256;
    if (!roots.some((r) => r.fingerprint256 === signing)) {
      throw new Error(`--trust-bundle ${values['trust-bundle']}: does not hold the root the CA signs with (${root.cert.subject}): agents would refuse every SVID`);
    }
  } catch (error) {
    throw new InputError(`meshc ca serve: ${(error as Error).message}`);
  }
  let kc;
  try {
    kc = loadKube(values.kubeconfig);
  } catch (error) {
    throw new InputError(`meshc ca serve: ${(error as Error).message}`);
  }
  const signer = new Signer(root, bundle, { trustDomain, agentServiceAccount: agent, svidLifetimeSeconds: lifetime }, apiClusterView(kc));
  const server = new CaServer({ root, signer, serverNames: values['server-name'] ?? ['meshc-ca.meshc-system.svc'], port, host: values.address, log });
  await server.start();
  log(`ca: serving ${trustDomain} on https://${values.address ?? '0.0.0.0'}:${server.port} (root ${root.cert.subject}; bundle of ${parseBundle(bundle).length} root(s); SVIDs for ${lifetime} s; agents are ${agent})`);
  const signal = await untilStopped(io);
  log(`ca: ${signal}: stopping`);
  await server.stop();
  return 0;
}
