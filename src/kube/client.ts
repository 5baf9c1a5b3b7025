// The thin layer over @kubernetes/client-node that the source needs: loading a kubeconfig, raw
// JSON lists with paging (objects stay as the API server sent them, which is what the model
// reads), discovery of a served API group version, and a Watch that reports when a stream is
// established and when it ends.
import { KubeConfig, Watch } from '@kubernetes/client-node';
import fetch from 'node-fetch';

export interface KubeConfigOptions {
  /** A kubeconfig file; without it: in-cluster config when run in a pod, else the default lookup. */
  kubeconfig?: string;
}

export function loadKubeConfig(options: KubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  if (options.kubeconfig) {
    try {
      kc.loadFromFile(options.kubeconfig);
    } catch (error) {
      throw new Error(`--kubeconfig ${options.kubeconfig}: ${(error as Error).message}`);
    }
  } else if (process.env['KUBERNETES_SERVICE_HOST']) {
    kc.loadFromCluster();
  } else {
    kc.loadFromDefault();
  }
  if (!kc.getCurrentCluster()) {
    throw new Error(`kubeconfig${options.kubeconfig ? ` ${options.kubeconfig}` : ''}: no current cluster (set current-context)`);
  }
  return kc;
}

/** An API request that failed; `statusCode` is the HTTP status (client-node's informer reads it). */
export class KubeRequestError extends Error {
  constructor(
    message: string,
    readonly statusCode: number | undefined,
    readonly reason?: string,
  ) {
    super(message);
  }
}

async function getJSON(kc: KubeConfig, path: string, query: Record<string, string | undefined> = {}): Promise<any> {
  const cluster = kc.getCurrentCluster()!;
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, value);
  const init = await kc.applyToFetchOptions({ method: 'GET' });
  let response;
  try {
    response = await fetch(url.toString(), init as Parameters<typeof fetch>[1]);
  } catch (error) {
    throw new KubeRequestError(`GET ${path}: ${(error as Error).message}`, undefined);
  }
  const text = await response.text();
  if (!response.ok) {
    let message = text;
    let reason: string | undefined;
    try {
      const status = JSON.parse(text);
      message = status.message ?? text;
      reason = status.reason;
    } catch {
      // not a Status body: keep the text
    }
    throw new KubeRequestError(`GET ${path}: ${response.status} ${message}`.trim(), response.status, reason);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new KubeRequestError(`GET ${path}: response is not JSON: ${(error as Error).message}`, response.status);
  }
}

export interface RawList {
  metadata: { resourceVersion: string };
  items: any[];
}

/**
 * Lists every object at `path`, `pageSize` at a time over one consistent snapshot (limit and
 * continue). A continue token that expired (410) restarts the list once without paging.
 */
export async function listAll(kc: KubeConfig, path: string, options: { pageSize?: number; fieldSelector?: string; labelSelector?: string } = {}): Promise<RawList> {
  const selectors = { fieldSelector: options.fieldSelector, labelSelector: options.labelSelector };
  const pageSize = options.pageSize ?? 500;
  const items: any[] = [];
  let next: string | undefined;
  let resourceVersion = '';
  do {
    let page;
    try {
      page = await getJSON(kc, path, { ...selectors, limit: pageSize > 0 ? String(pageSize) : undefined, continue: next });
    } catch (error) {
      if (next === undefined || !(error instanceof KubeRequestError) || error.statusCode !== 410) throw error;
      const whole = await getJSON(kc, path, selectors);
      return { metadata: { resourceVersion: whole.metadata?.resourceVersion ?? '' }, items: whole.items ?? [] };
    }
    for (const item of page.items ?? []) items.push(item);
    resourceVersion = page.metadata?.resourceVersion ?? '';
    next = page.metadata?.continue || undefined;
  } while (next !== undefined);
  return { metadata: { resourceVersion }, items };
}

/** The versions of an API group the server serves, preferred first; [] when it serves none (404). */
export async function servedVersions(kc: KubeConfig, group: string): Promise<string[]> {
  let body;
  try {
    body = await getJSON(kc, `/apis/${group}`);
  } catch (error) {
    if (error instanceof KubeRequestError && error.statusCode === 404) return [];
    throw error;
  }
  const versions: string[] = (body.versions ?? []).map((v: { version: string }) => v.version);
  const preferred: string | undefined = body.preferredVersion?.version;
  return preferred && versions.includes(preferred) ? [preferred, ...versions.filter((v) => v !== preferred)] : versions;
}

/**
 * Of `versions` (served by `group`), those whose resource list holds `resource`: a group can be
 * served without one of its kinds (the Gateway API's other CRDs installed, HTTPRoute's removed).
 */
export async function versionsServing(kc: KubeConfig, group: string, resource: string, versions: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const version of versions) {
    let body;
    try {
      body = await getJSON(kc, `/apis/${group}/${version}`);
    } catch (error) {
      if (error instanceof KubeRequestError && error.statusCode === 404) continue;
      throw error;
    }
    if ((body.resources ?? []).some((r: { name: string }) => r.name === resource)) out.push(version);
  }
  return out;
}

export interface WatchHooks {
  /** Called before each watch request; may delay it (backoff after streams that end at once). */
  beforeWatch(): Promise<void>;
  /** The server answered 200 and the stream is open. */
  established(): void;
  /** Every event line, before the informer handles it. */
  event(type: string, object: any): void;
  /** The stream ended: `error` is undefined for a clean end. */
  ended(error: unknown): void;
  /** True once the owner stopped: no new request is made. */
  stopped(): boolean;
}

/**
 * client-node's Watch with hooks, and with the query parameters client-go sends: bookmarks (so a
 * resumed watch starts from a recent resourceVersion) and a server-side timeout; the stream is
 * also aborted from this side if it outlives that timeout by `graceMs` (a silent, dead server).
 */
export class TrackedWatch extends Watch {
  constructor(
    kc: KubeConfig,
    private readonly hooks: WatchHooks,
    private readonly timeoutSeconds: () => number,
    private readonly graceMs = 30_000,
  ) {
    super(kc);
  }

  override async watch(path: string, queryParams: Record<string, any>, callback: (phase: string, apiObj: any, watchObj?: any) => void, done: (err: any) => void): Promise<AbortController> {
    await this.hooks.beforeWatch();
    if (this.hooks.stopped()) return new AbortController();
    const timeout = this.timeoutSeconds();
    let ended = false;
    let guard: NodeJS.Timeout | undefined;
    const finish = (failure: unknown) => {
      if (ended) return;
      ended = true;
      if (guard) clearTimeout(guard);
      const error = watchRefusal(path, failure);
      this.hooks.ended(error ?? undefined);
      done(error);
    };
    const params = { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: timeout };
    const controller = await super.watch(path, params, (phase, object, raw) => {
      this.hooks.event(phase, object);
      callback(phase, object, raw);
    }, finish);
    if (!ended) {
      this.hooks.established();
      guard = setTimeout(() => controller.abort(), timeout * 1000 + this.graceMs);
      guard.unref?.();
    }
    return controller;
  }
}

/**
 * client-node's Watch drops the body of a refused watch and keeps only the status text
 * ("Forbidden"): name the verb and the resource, as the API server's own message would.
 */
function watchRefusal(path: string, error: unknown): unknown {
  const status = (error as { statusCode?: number } | null)?.statusCode;
  if (status === undefined || error instanceof KubeRequestError) return error;
  const [, group, resource] = /^\/(?:api|apis\/([^/]+))\/[^/]+\/(?:namespaces\/[^/]+\/(?=.))?([^/?]+)/.exec(path) ?? [];
  const what = resource ? `${resource}${group ? `.${group}` : ''}` : path;
  const why = status === 403 ? `: RBAC does not allow this agent to watch ${what} (its ClusterRole needs get, list and watch on it)` : status === 401 ? ': the credentials were not accepted' : '';
  return new KubeRequestError(`watch ${path}: ${status} ${(error as Error).message}${why}`, status);
}
