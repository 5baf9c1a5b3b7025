// The few API calls identities need, over @kubernetes/client-node's KubeConfig (kubeconfig file or
// in-cluster): TokenReview, Pods by node (list, then watch), and the caller's own token (which
// the agent presents to the CA). JSON in, JSON out, errors carrying the API's Status message.
import { readFileSync } from 'node:fs';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import fetch from 'node-fetch';

export function loadKube(kubeconfig: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else if (process.env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error(`kubeconfig${kubeconfig ? ` ${kubeconfig}` : ''}: no current cluster`);
  return kc;
}

export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
  ) {
    super(message);
  }
}

export async function kubeRequest(kc: KubeConfig, method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> {
  const url = kc.getCurrentCluster()!.server.replace(/\/$/, '') + path;
  const init = (await kc.applyToFetchOptions({ method, headers: { 'content-type': 'application/json', accept: 'application/json' } })) as NonNullable<Parameters<typeof fetch>[1]>;
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new KubeApiError(`${method} ${path}: ${(error as Error).message}`, undefined);
  }
  const text = await response.text();
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) throw new KubeApiError(`${method} ${path}: ${response.status} ${parsed?.message ?? text}`.trim(), response.status);
  return parsed;
}

/** The bearer token this KubeConfig authenticates with (a projected token file is read anew each time). */
export function currentToken(kc: KubeConfig): string {
  const user = kc.getCurrentUser();
  if (user?.token) return user.token;
  const file = user?.authProvider?.config?.tokenFile as string | undefined;
  if (file) return readFileSync(file, 'utf8').trim();
  throw new Error(`kubeconfig user ${user?.name ?? '(none)'}: no ServiceAccount token (the CA authenticates agents by their token)`);
}

export interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
}

export async function reviewToken(kc: KubeConfig, token: string, audiences?: string[]): Promise<TokenReviewStatus> {
  const review = await kubeRequest(kc, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    spec: { token, ...(audiences ? { audiences } : {}) },
  });
  return review.status ?? {};
}

/** Pods bound to `node` (fieldSelector spec.nodeName). */
export async function podsOnNode(kc: KubeConfig, node: string): Promise<{ items: any[]; resourceVersion: string }> {
  const list = await kubeRequest(kc, 'GET', `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`);
  return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? '' };
}

/** A pod that runs or will run (not Succeeded or Failed): one whose ServiceAccount may act. */
export function podIsLive(pod: any): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed';
}

/** `namespace/serviceAccount` of a pod (the namespace's `default` when the spec names none). */
export function podServiceAccount(pod: any): string {
  return `${pod.metadata.namespace}/${pod.spec?.serviceAccountName || 'default'}`;
}

/**
 * Keeps the live pods on `node` current: a list, then a watch from its resourceVersion, and a new
 * list whenever the watch ends. `onChange` gets every pod by UID after each change.
 */
export class NodePodWatch {
  private readonly pods = new Map<string, any>();
  private abort: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly node: string,
    private readonly onChange: (pods: any[]) => void,
    private readonly log: (line: string) => void,
    private readonly retryMs = 1000,
  ) {}

  async start(): Promise<void> {
    await this.listAndWatch();
  }

  private async listAndWatch(): Promise<void> {
    if (this.stopped) return;
    let list;
    try {
      list = await podsOnNode(this.kc, this.node);
    } catch (error) {
      this.log(`identity: listing pods on ${this.node}: ${(error as Error).message}; again in ${this.retryMs} ms`);
      this.timer = setTimeout(() => void this.listAndWatch(), this.retryMs);
      return;
    }
    this.pods.clear();
    for (const pod of list.items) this.pods.set(pod.metadata.uid, pod);
    this.onChange([...this.pods.values()]);
    const retry = (error: unknown) => {
      this.abort = undefined;
      if (this.stopped) return;
      if (error) this.log(`identity: watching pods on ${this.node} ended: ${(error as Error).message ?? error}`);
      this.timer = setTimeout(() => void this.listAndWatch(), error ? this.retryMs : 0);
    };
    let request: AbortController;
    try {
      request = await new Watch(this.kc).watch(
        '/api/v1/pods',
        { fieldSelector: `spec.nodeName=${this.node}`, resourceVersion: list.resourceVersion, allowWatchBookmarks: true },
        (type: string, pod: any) => {
          if (type === 'BOOKMARK' || type === 'ERROR') return;
          if (type === 'DELETED') this.pods.delete(pod.metadata.uid);
          else this.pods.set(pod.metadata.uid, pod);
          this.onChange([...this.pods.values()]);
        },
        retry,
      );
    } catch (error) {
      retry(error);
      return;
    }
    this.abort = () => request.abort();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort?.();
  }
}
