// The certificates a node's tunnel holds: one SVID (private key and chain, PEM) per identity of
// the node's pods, and the trust bundle. The identity side (src/identity) fills and rotates it
// through swap() and setBundle(); the tunnel reads TLS contexts from it at each handshake.
import { createSecureContext, type SecureContext } from 'node:tls';

export interface Svid {
  /** PEM private key (generated on the node, never sent anywhere). */
  key: string;
  /** PEM certificate chain, the SVID first. */
  cert: string;
}

type Listener = (identity: string | undefined) => void;

export class Credentials {
  private bundle: string;
  private readonly svids = new Map<string, Svid>();
  private readonly contexts = new Map<string, SecureContext>();
  private readonly listeners: Listener[] = [];

  constructor(bundle: string, svids: Record<string, Svid> = {}) {
    this.bundle = bundle;
    for (const [identity, svid] of Object.entries(svids)) this.svids.set(identity, svid);
  }

  get ca(): string {
    return this.bundle;
  }

  identities(): string[] {
    return [...this.svids.keys()];
  }

  /** `identity`'s SVID as held (to write it where the tunnel process reads it). */
  svid(identity: string): Svid | undefined {
    return this.svids.get(identity);
  }

  has(identity: string): boolean {
    return this.svids.has(identity);
  }

  /** A TLS 1.3-only context presenting `identity`'s SVID and trusting the bundle (built once per change). */
  context(identity: string): SecureContext | undefined {
    const cached = this.contexts.get(identity);
    if (cached) return cached;
    const svid = this.svids.get(identity);
    if (!svid) return undefined;
    const context = createSecureContext({ key: svid.key, cert: svid.cert, ca: this.bundle, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    this.contexts.set(identity, context);
    return context;
  }

  /** Replaces (or adds) `identity`'s SVID: new handshakes present it; connections up stay up. */
  swap(identity: string, svid: Svid): void {
    this.svids.set(identity, svid);
    this.contexts.delete(identity);
    for (const listener of this.listeners) listener(identity);
  }

  /** Stops presenting `identity` (its last pod left the node). */
  remove(identity: string): void {
    this.svids.delete(identity);
    this.contexts.delete(identity);
    for (const listener of this.listeners) listener(identity);
  }

  /** Replaces the trust bundle (during a root rotation: old and new roots side by side). */
  setBundle(bundle: string): void {
    this.bundle = bundle;
    this.contexts.clear();
    for (const listener of this.listeners) listener(undefined);
  }

  /** Called with the identity that changed, or undefined when the bundle did. */
  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }
}
