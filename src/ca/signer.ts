// The CA's decision: whether to sign a node agent's CSR for a ServiceAccount, and the SVID it
// signs. In order, each step a refusal with its own reason:
//   1. the bearer token passes a TokenReview (the API server, not the CA, authenticates it);
//   2. its user is meshc's agent ServiceAccount (system:serviceaccount:<ns>:<name>);
//   3. the agent's node: the TokenReview extra authentication.kubernetes.io/node-name (a token
//      bound to a pod, Kubernetes 1.32+), else the node of the pod the token is bound to
//      (extra pod-name and pod-uid, the pod read back and its UID compared); an unbound token
//      names no node and is refused;
//   4. a live pod of the requested ServiceAccount runs on that node;
//   5. the CSR verifies and holds a P-256 key. The SAN is the CA's: what the CSR asks is ignored.
import { serviceAccountSpiffeId, SpiffeIdError } from '../identity/spiffe.ts';
import { CsrError, issueSvid, type RootCa } from '../identity/x509.ts';
import { podIsLive, podServiceAccount, type TokenReviewStatus } from '../identity/kube-api.ts';

export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';
export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
export const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';

/** What the signer asks the API server. */
export interface ClusterView {
  reviewToken(token: string): Promise<TokenReviewStatus>;
  /** The pod, or undefined when there is none of that name. */
  getPod(namespace: string, name: string): Promise<any | undefined>;
  podsOnNode(node: string): Promise<any[]>;
}

export interface SignerPolicy {
  trustDomain: string;
  /** The agents' ServiceAccount, `namespace/name` (meshc-system/meshc-agent). */
  agentServiceAccount: string;
  svidLifetimeSeconds: number;
}

export interface SignRequest {
  namespace: string;
  serviceAccount: string;
  /** PEM PKCS#10. */
  csr: string;
}

export interface SignResult {
  spiffeId: string;
  /** The SVID, PEM. */
  certificate: string;
  /** Every root the CA trusts now (old and new during a rotation), PEM. */
  trustBundle: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  node: string;
}

export type RefusalReason = 'no-token' | 'token-not-authenticated' | 'not-the-agent' | 'no-node' | 'no-pod-on-node' | 'bad-request' | 'bad-csr' | 'api-unavailable';

const STATUS: Record<RefusalReason, number> = {
  'no-token': 401,
  'token-not-authenticated': 401,
  'not-the-agent': 403,
  'no-node': 403,
  'no-pod-on-node': 403,
  'bad-request': 400,
  'bad-csr': 400,
  'api-unavailable': 503,
};

export class Refusal extends Error {
  readonly status: number;
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
    this.status = STATUS[reason];
  }
}

export class Signer {
  constructor(
    private readonly root: RootCa,
    private readonly bundle: string,
    private readonly policy: SignerPolicy,
    private readonly cluster: ClusterView,
  ) {}

  get trustBundle(): string {
    return this.bundle;
  }

  async sign(token: string | undefined, request: SignRequest): Promise<SignResult> {
    if (!token) throw new Refusal('no-token', 'no bearer token: the agent must send its ServiceAccount token (Authorization: Bearer ...)');
    if (typeof request?.namespace !== 'string' || typeof request.serviceAccount !== 'string' || typeof request.csr !== 'string') {
      throw new Refusal('bad-request', 'the body must be JSON {"namespace": ..., "serviceAccount": ..., "csr": "<PEM>"}');
    }
    let spiffeId: string;
    try {
      spiffeId = serviceAccountSpiffeId(this.policy.trustDomain, request.namespace, request.serviceAccount);
    } catch (error) {
      throw new Refusal('bad-request', (error as SpiffeIdError).message);
    }
    const review = await this.ask('TokenReview', () => this.cluster.reviewToken(token));
    if (!review.authenticated) throw new Refusal('token-not-authenticated', `the token is not authenticated by the API server${review.error ? `: ${review.error}` : ''}`);
    const username = review.user?.username ?? '';
    const [agentNamespace, agentName] = this.policy.agentServiceAccount.split('/');
    if (username !== `system:serviceaccount:${agentNamespace}:${agentName}`) {
      throw new Refusal('not-the-agent', `the token is ${username || 'no user'}'s, not the meshc agent's ServiceAccount (${this.policy.agentServiceAccount}): only node agents get SVIDs`);
    }
    const node = await this.nodeOf(review, agentNamespace!);
    const pods = await this.ask(`listing pods on ${node}`, () => this.cluster.podsOnNode(node));
    const wanted = `${request.namespace}/${request.serviceAccount}`;
    if (!pods.some((p) => podIsLive(p) && podServiceAccount(p) === wanted)) {
      throw new Refusal('no-pod-on-node', `no running pod of ServiceAccount ${wanted} on node ${node}: an agent gets SVIDs only for ServiceAccounts of its own node's pods`);
    }
    let issued;
    try {
      issued = await issueSvid(this.root, { csrPem: request.csr, spiffeId, lifetimeSeconds: this.policy.svidLifetimeSeconds });
    } catch (error) {
      if (error instanceof CsrError) throw new Refusal('bad-csr', error.message);
      throw error;
    }
    return { spiffeId, certificate: issued.certPem, trustBundle: this.bundle, serial: issued.serial, notBefore: issued.notBefore.toISOString(), notAfter: issued.notAfter.toISOString(), node };
  }

  private async nodeOf(review: TokenReviewStatus, agentNamespace: string): Promise<string> {
    const extra = review.user?.extra ?? {};
    const node = extra[NODE_NAME_EXTRA]?.[0];
    if (node) return node;
    const podName = extra[POD_NAME_EXTRA]?.[0];
    const podUid = extra[POD_UID_EXTRA]?.[0];
    if (!podName) throw new Refusal('no-node', 'the token is bound to no pod (no node-name or pod-name in its TokenReview), so it names no node: give the agent its pod\'s projected ServiceAccount token');
    const pod = await this.ask(`reading the agent's pod ${agentNamespace}/${podName}`, () => this.cluster.getPod(agentNamespace, podName));
    if (!pod) throw new Refusal('no-node', `the token's pod ${agentNamespace}/${podName} does not exist`);
    if (podUid && pod.metadata?.uid !== podUid) throw new Refusal('no-node', `the token's pod ${agentNamespace}/${podName} was replaced (UID ${podUid}, now ${pod.metadata?.uid})`);
    if (!pod.spec?.nodeName) throw new Refusal('no-node', `the token's pod ${agentNamespace}/${podName} is not bound to a node`);
    return pod.spec.nodeName;
  }

  private async ask<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw new Refusal('api-unavailable', `${what}: ${(error as Error).message}`);
    }
  }
}
