// The identities a node holds, in memory only, as the tunnel reads them: per ServiceAccount its
// key (PEM, made on this node), its X.509 SVID and the trust bundle it verifies peers with. The
// agent's identity manager (src/agent/identity.ts) writes it; the tunnel reads it and listens for
// changes (a renewed SVID, a dropped identity, a new bundle).

export interface HeldIdentity {
  spiffeId: string;
  namespace: string;
  serviceAccount: string;
  /** PKCS#8 PEM of the private key: never leaves this process. */
  keyPem: string;
  /** The SVID (leaf first). */
  certPem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** Half-life: when the agent asks for the next one. */
  renewAt: Date;
}

/** What the tunnel needs: identities by ServiceAccount, the trust bundle, and changes to both. */
export interface IdentitySource {
  /** The identity of ServiceAccount `namespace/serviceAccount`, if this node holds one. */
  get(namespace: string, serviceAccount: string): HeldIdentity | undefined;
  list(): HeldIdentity[];
  /** PEM roots peers' SVIDs are verified against (old and new side by side during a rotation). */
  trustBundle(): string;
  trustDomain(): string;
  /** `listener(key, identity)`: key is `namespace/serviceAccount`; identity undefined when dropped. */
  onChange(listener: (key: string, identity: HeldIdentity | undefined) => void): () => void;
  /** `listener(pem)` when the trust bundle changes (a root added or removed during a rotation). */
  onTrustBundle(listener: (pem: string) => void): () => void;
}

export class IdentityStore implements IdentitySource {
  private readonly held = new Map<string, HeldIdentity>();
  private readonly listeners = new Set<(key: string, identity: HeldIdentity | undefined) => void>();
  private readonly bundleListeners = new Set<(pem: string) => void>();

  constructor(
    private readonly domain: string,
    private bundle: string,
  ) {}

  get(namespace: string, serviceAccount: string): HeldIdentity | undefined {
    return this.held.get(`${namespace}/${serviceAccount}`);
  }

  list(): HeldIdentity[] {
    return [...this.held.values()].sort((a, b) => a.spiffeId.localeCompare(b.spiffeId));
  }

  trustBundle(): string {
    return this.bundle;
  }

  trustDomain(): string {
    return this.domain;
  }

  onChange(listener: (key: string, identity: HeldIdentity | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onTrustBundle(listener: (pem: string) => void): () => void {
    this.bundleListeners.add(listener);
    return () => this.bundleListeners.delete(listener);
  }

  set(identity: HeldIdentity): void {
    const key = `${identity.namespace}/${identity.serviceAccount}`;
    this.held.set(key, identity);
    this.emit(key, identity);
  }

  drop(key: string): void {
    if (this.held.delete(key)) this.emit(key, undefined);
  }

  setTrustBundle(pem: string): void {
    if (pem === this.bundle) return;
    this.bundle = pem;
    for (const listener of this.bundleListeners) listener(pem);
  }

  private emit(key: string, identity: HeldIdentity | undefined): void {
    for (const listener of this.listeners) listener(key, identity);
  }
}
