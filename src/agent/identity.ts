// The agent's identities (opt-in: --ca-url): for each ServiceAccount with a live pod on this node,
// a key made here (it never leaves the process), a CSR sent to `meshc ca` with the agent's own
// ServiceAccount token, and the SVID it returns, verified against the trust bundle and held in
// memory (src/identity/store.ts, which the tunnel reads). Each SVID is renewed at half its
// lifetime; a failed renewal is retried and the old SVID kept until it expires, then dropped
// (fail closed). An identity whose pods are all gone is dropped at once.
import https from 'node:https';
import { serviceAccountSpiffeId } from '../identity/spiffe.ts';
import { NodePodWatch, podIsLive, podServiceAccount } from '../identity/kube-api.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { currentToken, loadKube } from '../identity/kube-api.ts';
import { removeIdentityStatus, writeIdentityStatus } from '../identity/status.ts';
import { IdentityStore } from '../identity/store.ts';
import type { HeldIdentity } from '../identity/store.ts';
import { buildCsr, generateNodeKey, renewalTime, verifySvid } from '../identity/x509.ts';
import { createPublicKey, X509Certificate } from 'node:crypto';

/** Timers, injected so tests control them. */
export interface IdentityClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): NodeJS.Timeout;
  clearTimeout(timer: NodeJS.Timeout): void;
}

const SYSTEM_CLOCK: IdentityClock = { now: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t) };

export interface IdentityManagerOptions {
  caUrl: string;
  trustDomain: string;
  /** The trust bundle (PEM), read anew for every request (a mounted ConfigMap changes under us); the store gets each new one. */
  trustBundle: () => string;
  /** The agent's ServiceAccount token, read anew for every request (projected tokens rotate). */
  token: () => string;
  store: IdentityStore;
  log: (line: string) => void;
  /** After every change of what is held or refused (the agent writes the status file). */
  onUpdate?: () => void;
  clock?: IdentityClock;
  /** Retry delay after a refusal or failure (default 5 s; doubles up to 60 s). */
  retryMs?: number;
}

const MIN_RENEWAL_DELAY_MS = 1000;

interface Slot {
  /** The next request (renewal or retry). */
  timer?: NodeJS.Timeout;
  /** The held SVID's expiry: it is dropped then, whatever a request in flight may bring later. */
  expiry?: NodeJS.Timeout;
  inFlight: boolean;
  failures: number;
}

export class IdentityManager {
  private readonly slots = new Map<string, Slot>();
  /** The last refusal or failure per ServiceAccount, with its reason. */
  readonly problems = new Map<string, string>();
  private readonly clock: IdentityClock;
  private stopped = false;

  constructor(private readonly options: IdentityManagerOptions) {
    this.clock = options.clock ?? SYSTEM_CLOCK;
  }

  /** The ServiceAccounts (`namespace/name`) with live pods on this node: asks for the new ones, drops the gone. */
  setServiceAccounts(wanted: Set<string>): void {
    if (this.stopped) return;
    for (const [key, slot] of this.slots) {
      if (wanted.has(key)) continue;
      this.clearTimers(slot);
      this.slots.delete(key);
      this.problems.delete(key);
      if (this.options.store.get(...(key.split('/') as [string, string]))) this.options.log(`identity: dropped ${this.spiffeIdOf(key)}: no pod of ServiceAccount ${key} on this node`);
      this.options.store.drop(key);
      this.options.onUpdate?.();
    }
    for (const key of wanted) {
      if (this.slots.has(key)) continue;
      this.slots.set(key, { inFlight: false, failures: 0 });
      void this.obtain(key);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const slot of this.slots.values()) this.clearTimers(slot);
    this.slots.clear();
  }

  private clearTimers(slot: Slot): void {
    if (slot.timer) this.clock.clearTimeout(slot.timer);
    if (slot.expiry) this.clock.clearTimeout(slot.expiry);
  }

  private spiffeIdOf(key: string): string {
    const [namespace, serviceAccount] = key.split('/') as [string, string];
    return serviceAccountSpiffeId(this.options.trustDomain, namespace, serviceAccount);
  }

  private async obtain(key: string): Promise<void> {
    const slot = this.slots.get(key);
    if (!slot || slot.inFlight || this.stopped) return;
    slot.inFlight = true;
    slot.timer = undefined;
    const [namespace, serviceAccount] = key.split('/') as [string, string];
    try {
      const identity = await this.request(namespace, serviceAccount);
      if (this.slots.get(key) !== slot) return; // dropped while asking
      const renewed = this.options.store.get(namespace, serviceAccount) !== undefined;
      this.options.store.set(identity);
      if (slot.expiry) this.clock.clearTimeout(slot.expiry);
      slot.expiry = this.clock.setTimeout(() => this.expire(key, slot, identity), identity.notAfter.getTime() - this.clock.now());
      this.problems.delete(key);
      slot.failures = 0;
      this.options.log(`identity: ${renewed ? 'renewed' : 'holds'} ${identity.spiffeId} (serial ${identity.serial}, until ${identity.notAfter.toISOString()}, renews at ${identity.renewAt.toISOString()})`);
      // At half-life; never sooner than a second (an SVID of a second or two, whose notBefore was
      // rounded down, may be past its half-life already: no loop of requests).
      this.schedule(key, slot, Math.max(MIN_RENEWAL_DELAY_MS, identity.renewAt.getTime() - this.clock.now()));
    } catch (error) {
      if (this.slots.get(key) !== slot) return;
      slot.failures++;
      const message = (error as Error).message;
      this.problems.set(key, message);
      const retry = Math.min((this.options.retryMs ?? 5000) * 2 ** (slot.failures - 1), 60000);
      this.options.log(`identity: ${this.spiffeIdOf(key)}: ${message}; again in ${retry} ms`);
      this.schedule(key, slot, retry);
    } finally {
      slot.inFlight = false;
      this.options.onUpdate?.();
    }
  }

  /** Fail closed: an SVID that was not replaced in time is dropped at its expiry. */
  private expire(key: string, slot: Slot, identity: HeldIdentity): void {
    slot.expiry = undefined;
    if (this.slots.get(key) !== slot || this.options.store.get(identity.namespace, identity.serviceAccount)?.serial !== identity.serial) return;
    this.options.store.drop(key);
    const why = this.problems.get(key);
    this.options.log(`identity: dropped ${identity.spiffeId}: it expired at ${identity.notAfter.toISOString()} and no new SVID came${why ? ` (${why})` : ''}`);
    this.options.onUpdate?.();
  }

  private schedule(key: string, slot: Slot, delayMs: number): void {
    if (this.stopped) return;
    slot.timer = this.clock.setTimeout(() => void this.obtain(key), Math.max(0, delayMs));
  }

  private async request(namespace: string, serviceAccount: string): Promise<HeldIdentity> {
    const key = await generateNodeKey();
    const csr = await buildCsr(key);
    const bundle = this.options.trustBundle();
    this.options.store.setTrustBundle(bundle);
    const answer = await postJson(new URL('/v1/svids', this.options.caUrl), this.options.token(), { namespace, serviceAccount, csr }, bundle);
    if (answer.status !== 200) throw new Error(`the CA refused (${answer.status} ${answer.body?.reason ?? ''}): ${answer.body?.error ?? JSON.stringify(answer.body)}`);
    const expected = serviceAccountSpiffeId(this.options.trustDomain, namespace, serviceAccount);
    const certificate: string = answer.body.certificate;
    const verified = verifySvid(certificate, bundle, { trustDomain: this.options.trustDomain, now: new Date(this.clock.now()) });
    if (verified.spiffeId !== expected) throw new Error(`the CA returned an SVID for ${verified.spiffeId}, not ${expected}`);
    const leafKey = new X509Certificate(certificate).publicKey.export({ type: 'spki', format: 'der' });
    const ownKey = createPublicKey(key.keyPem).export({ type: 'spki', format: 'der' });
    if (!leafKey.equals(ownKey)) throw new Error(`the CA returned an SVID for ${expected} over another key than this node's`);
    return {
      spiffeId: expected,
      namespace,
      serviceAccount,
      keyPem: key.keyPem,
      certPem: certificate,
      serial: verified.serial,
      notBefore: verified.notBefore,
      notAfter: verified.notAfter,
      renewAt: renewalTime(verified.notBefore, verified.notAfter),
    };
  }
}

/** POSTs JSON to the CA over TLS verified with the trust bundle; resolves with status and JSON body. */
export function postJson(url: URL, token: string, body: unknown, bundlePem: string, timeoutMs = 15000): Promise<{ status: number; body: any }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', ca: bundlePem, minVersion: 'TLSv1.3', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: { error: text.trim() } });
        }
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (error) => reject(new Error(`CA ${url.origin}: ${error.message}`)));
    req.end(payload);
  });
}

/**
 * The ServiceAccounts identities are held for: those of live pods on the node, except pods on the
 * host's network (they share the node's address and cgroup tree with the agent, so no connection
 * of theirs can be told apart by workload).
 */
export function serviceAccountsOf(pods: any[]): Set<string> {
  return new Set(pods.filter((p) => podIsLive(p) && !p.spec?.hostNetwork).map(podServiceAccount));
}

/** Feeds `manager` the ServiceAccounts of `node`'s pods, from a list and watch of them. Returns the stop. */
export async function watchNodeServiceAccounts(kc: KubeConfig, node: string, manager: IdentityManager, log: (line: string) => void): Promise<() => void> {
  const watch = new NodePodWatch(kc, node, (pods) => manager.setServiceAccounts(serviceAccountsOf(pods)), log);
  await watch.start();
  return () => {
    watch.stop();
    manager.stop();
  };
}

export interface NodeIdentityOptions {
  caUrl: string;
  trustDomain: string;
  /** The trust bundle file (PEM). */
  trustBundle: string;
  /** The API server (default: in-cluster); its token is the one presented to the CA. */
  kubeconfig: string | undefined;
  node: string;
  /** The agent's pin directory: names its status file, which `meshc inspect` reads. */
  pin: string;
  log: (line: string) => void;
}

/** What `meshc agent --ca-url` runs: the manager fed by this node's pods, its status file kept current. */
export async function startNodeIdentities(options: NodeIdentityOptions): Promise<{ store: IdentityStore; stop: () => void }> {
  const kc = loadKube(options.kubeconfig);
  const store = new IdentityStore(options.trustDomain, readFileSync(options.trustBundle, 'utf8'));
  const status = () => ({ trustDomain: options.trustDomain, caUrl: options.caUrl, problems: [...manager.problems].map(([serviceAccount, error]) => ({ serviceAccount, error })) });
  const manager: IdentityManager = new IdentityManager({
    caUrl: options.caUrl,
    trustDomain: options.trustDomain,
    trustBundle: () => readFileSync(options.trustBundle, 'utf8'),
    token: () => currentToken(kc),
    store,
    log: options.log,
    onUpdate: () => writeIdentityStatus(options.pin, status(), store.list()),
  });
  writeIdentityStatus(options.pin, status(), []);
  const stop = await watchNodeServiceAccounts(kc, options.node, manager, options.log);
  options.log(`agent: identities from ${options.caUrl} for the ServiceAccounts of ${options.node}'s pods (trust domain ${options.trustDomain})`);
  return {
    store,
    stop: () => {
      stop();
      removeIdentityStatus(options.pin);
    },
  };
}
