// TEST DOUBLE. This is not a Kubernetes API server: it is a stand-in that tests and benchmarks run
// the real @kubernetes/client-node against, because no kube-apiserver can run on these machines.
// It speaks the documented HTTP/JSON protocol for the few resources meshc reads (and the ones its
// deploy/ manifests create), over plain HTTP without authentication:
//
// - list: `GET /api/v1/services`, `/apis/GROUP/VERSION/namespaces/NS/RESOURCE`, … returns
//   `{kind: "ServiceList", metadata: {resourceVersion}, items}`; items of built-in kinds carry no
//   apiVersion/kind (as in the real JSON), custom resources keep them; `limit` and `continue` page
//   over one consistent snapshot; labelSelector and fieldSelector filter.
// - watch: `?watch=true&resourceVersion=N` streams newline-delimited `{type, object}` events
//   (ADDED, MODIFIED, DELETED) after N; without N (or N = "0") it first sends ADDED for every
//   object; `allowWatchBookmarks=true` adds BOOKMARK events; `timeoutSeconds` ends the stream.
//   Objects moving in or out of a selector arrive as ADDED / DELETED, as the server sends them.
// - 410 Gone: a watch from a resourceVersion older than the compacted history is answered with
//   an ERROR event holding a Status of code 410 (reason Expired) and the stream ends, as the real
//   watch cache does; `goneMode: 'status'` answers with an HTTP 410 Status instead. A `continue`
//   token whose snapshot was compacted gets 410 too.
// - create (POST), get, replace (PUT, with resourceVersion conflict detection), delete; every
//   write bumps one global resourceVersion, as etcd's revision does.
// - discovery: /api, /api/v1, /apis, /apis/GROUP, /apis/GROUP/VERSION, /version.
//
// Test controls: stop() and start() again on the same port (state survives, as etcd's would),
// dropWatches() cuts every watch connection mid-stream, endWatches() ends them cleanly,
// expireWatches() sends 410 to every open watch, compact() forgets history, failRequests() makes
// chosen requests fail with a status code, and `requests` records what the client asked.
import http from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { apiResource, ciliumType, defaultResources, groupVersion, type ResourceType } from './resources.ts';
import { parseFieldSelector, parseLabelSelector, SelectorError, type Matcher } from './selectors.ts';

export type KubeObject = Record<string, any>;
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StandinOptions {
  /** Port to listen on; 0 (default) picks a free one, kept across stop()/start(). */
  port?: number;
  host?: string;
  /** HTTPRoute versions served, preferred first; [] serves no Gateway API at all. */
  gatewayVersions?: string[];
  /** CiliumNetworkPolicy versions served; default [] (no Cilium CRD, as in most clusters). */
  ciliumVersions?: string[];
  /** How a watch from a compacted resourceVersion is refused: an ERROR event (default) or HTTP 410. */
  goneMode?: 'event' | 'status';
  /** Interval of BOOKMARK events on watches that allow them. Default 1000 ms. */
  bookmarkIntervalMs?: number;
  /** Events kept for watches to resume from; older ones are compacted. Default 200,000. */
  historyLimit?: number;
  /** Namespaces that exist from the start. Default: default, kube-system. */
  namespaces?: string[];
}

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  watch: boolean;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }

  status(): KubeObject {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, code: this.code };
  }
}

interface HistoryEvent {
  rv: number;
  type: EventType;
  typeKey: string;
  object: KubeObject;
  previous?: KubeObject;
}

interface Watcher {
  type: ResourceType;
  version: string;
  namespace?: string;
  label: Matcher;
  field: Matcher;
  res: http.ServerResponse;
  timers: NodeJS.Timeout[];
  closed: boolean;
}

interface ListSnapshot {
  rv: number;
  items: KubeObject[];
}

const typeKeyOf = (type: ResourceType) => `${type.group}/${type.resource}`;
const objectKeyOf = (namespace: string, name: string) => `${namespace}/${name}`;

export class ApiServerStandin {
  readonly types: ResourceType[];
  readonly requests: RequestRecord[] = [];
  /** Watch events written to clients, per resource (`resource.group`), as kube-apiserver's apiserver_watch_events_total counts them. */
  readonly watchEventsSent = new Map<string, number>();
  private readonly store = new Map<string, Map<string, KubeObject>>();
  private readonly history: HistoryEvent[] = [];
  private historyStart = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly snapshots = new Map<string, ListSnapshot>();
  private readonly sockets = new Set<Socket>();
  private server?: http.Server;
  private rv = 1;
  private compactedRV = 0;
  private portNumber: number;
  private readonly host: string;
  private readonly goneMode: 'event' | 'status';
  private readonly bookmarkIntervalMs: number;
  private readonly historyLimit: number;
  private failure?: (request: RequestRecord) => number | undefined;

  constructor(options: StandinOptions = {}) {
    this.types = defaultResources(options.gatewayVersions ?? ['v1', 'v1beta1'], options.ciliumVersions ?? []);
    for (const type of this.types) this.store.set(typeKeyOf(type), new Map());
    this.store.set(typeKeyOf(defaultResources(['v1']).find((t) => t.kind === 'HTTPRoute')!), new Map());
    this.store.set(typeKeyOf(ciliumType(['v2'])), new Map());
    this.portNumber = options.port ?? 0;
    this.host = options.host ?? '127.0.0.1';
    this.goneMode = options.goneMode ?? 'event';
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 1000;
    this.historyLimit = options.historyLimit ?? 200_000;
    for (const name of options.namespaces ?? ['default', 'kube-system']) {
      this.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    }
  }

  // ---- lifecycle ----

  get port(): number {
    return this.portNumber;
  }

  get url(): string {
    return `http://${this.host}:${this.portNumber}`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** The current global resourceVersion. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Watch streams open now. */
  get openWatches(): number {
    return this.watchers.size;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.portNumber, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.portNumber = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Closes the listener and every connection at once, as a crashed API server would. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const watcher of [...this.watchers]) this.closeWatcher(watcher);
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  kubeconfig(): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: standin',
      '  cluster:',
      `    server: ${this.url}`,
      // client-node refuses a plain-HTTP server unless TLS verification is declared off.
      '    insecure-skip-tls-verify: true',
      'contexts:',
      '- name: standin',
      '  context:',
      '    cluster: standin',
      '    user: standin',
      'current-context: standin',
      'users:',
      '- name: standin',
      '  user: {}',
      '',
    ].join('\n');
  }

  writeKubeconfig(path: string): string {
    writeFileSync(path, this.kubeconfig());
    return path;
  }

  // ---- test controls ----

  /** Cuts every watch connection without ending the HTTP response (a dropped TCP connection). */
  dropWatches(): number {
    const count = this.watchers.size;
    for (const watcher of [...this.watchers]) {
      this.closeWatcher(watcher);
      watcher.res.socket?.destroy();
    }
    return count;
  }

  /** Ends every watch stream cleanly, as the server does when a watch times out. */
  endWatches(): number {
    const count = this.watchers.size;
    for (const watcher of [...this.watchers]) {
      this.closeWatcher(watcher);
      watcher.res.end();
    }
    return count;
  }

  /** Sends every open watch an ERROR event with a 410 Status and ends it (the watcher fell behind). */
  expireWatches(): number {
    const count = this.watchers.size;
    for (const watcher of [...this.watchers]) {
      this.closeWatcher(watcher);
      watcher.res.end(JSON.stringify({ type: 'ERROR', object: this.goneStatus(this.compactedRV) }) + '\n');
    }
    return count;
  }

  /** Forgets the watch history up to `rv` (default: now): older resourceVersions get 410. */
  compact(rv = this.rv): void {
    this.compactedRV = Math.max(this.compactedRV, Math.min(rv, this.rv));
    while (this.historyStart < this.history.length && this.history[this.historyStart]!.rv <= this.compactedRV) this.historyStart++;
    if (this.historyStart > 4096 && this.historyStart * 2 > this.history.length) {
      this.history.splice(0, this.historyStart);
      this.historyStart = 0;
    }
    for (const [token, snapshot] of this.snapshots) if (snapshot.rv < this.compactedRV) this.snapshots.delete(token);
  }

  /**
   * Changes the HTTPRoute versions served, as installing, upgrading or removing the Gateway API
   * CRDs does: open HTTPRoute watches end, stored routes stay (as etcd keeps them).
   */
  serveGatewayVersions(versions: string[]): void {
    this.serveVersions(defaultResources(['v1']).find((t) => t.kind === 'HTTPRoute')!, versions);
  }

  /** Changes the CiliumNetworkPolicy versions served, as installing or removing Cilium's CRD does. */
  serveCiliumVersions(versions: string[]): void {
    this.serveVersions(ciliumType(['v2']), versions);
  }

  private serveVersions(template: ResourceType, versions: string[]): void {
    const index = this.types.findIndex((t) => t.kind === template.kind);
    if (index >= 0) this.types.splice(index, 1);
    if (versions.length > 0) this.types.push({ ...template, versions: [...versions] });
    for (const watcher of [...this.watchers]) {
      if (watcher.type.kind !== template.kind) continue;
      this.closeWatcher(watcher);
      watcher.res.end();
    }
  }

  /** Makes requests for which `decide` returns a status code fail with that code; undefined clears. */
  failRequests(decide?: (request: RequestRecord) => number | undefined): void {
    this.failure = decide;
  }

  // ---- storage (the same code path as the HTTP verbs) ----

  typeOf(apiVersion: string, kind: string): ResourceType {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) as [string, string] : ['', apiVersion];
    const type = this.types.find((t) => t.group === group && t.kind === kind && t.versions.includes(version));
    if (!type) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (kind ${kind} in ${apiVersion})`);
    return type;
  }

  get(apiVersion: string, kind: string, namespace: string, name: string): KubeObject | undefined {
    const type = this.typeOf(apiVersion, kind);
    return this.store.get(typeKeyOf(type))!.get(objectKeyOf(type.namespaced ? namespace : '', name));
  }

  list(apiVersion: string, kind: string): KubeObject[] {
    return [...this.store.get(typeKeyOf(this.typeOf(apiVersion, kind)))!.values()];
  }

  create(object: KubeObject): KubeObject {
    const { type, namespace, name } = this.identify(object);
    const objects = this.store.get(typeKeyOf(type))!;
    const key = objectKeyOf(namespace, name);
    if (objects.has(key)) throw new ApiError(409, 'AlreadyExists', `${type.resource}${type.group ? '.' + type.group : ''} "${name}" already exists`);
    if (type.namespaced && !this.store.get('/namespaces')!.has(objectKeyOf('', namespace))) {
      throw new ApiError(404, 'NotFound', `namespaces "${namespace}" not found`);
    }
    validate(type, object);
    const rv = ++this.rv;
    const metadata = { ...object.metadata, uid: randomUUID(), resourceVersion: String(rv), creationTimestamp: now(), generation: 1 };
    if (type.namespaced) metadata.namespace = namespace;
    else delete metadata.namespace;
    const stored = Object.freeze({ ...object, metadata });
    objects.set(key, stored);
    this.record({ rv, type: 'ADDED', typeKey: typeKeyOf(type), object: stored });
    return stored;
  }

  /** Replaces an object; a resourceVersion in the body must match the stored one (409 otherwise). */
  update(object: KubeObject): KubeObject {
    const { type, namespace, name } = this.identify(object);
    const objects = this.store.get(typeKeyOf(type))!;
    const key = objectKeyOf(namespace, name);
    const previous = objects.get(key);
    if (!previous) throw new ApiError(404, 'NotFound', `${type.resource} "${name}" not found`);
    const given = object.metadata?.resourceVersion;
    if (given !== undefined && given !== previous.metadata.resourceVersion) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${type.resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    validate(type, object);
    const rv = ++this.rv;
    const metadata = {
      ...object.metadata,
      uid: previous.metadata.uid,
      creationTimestamp: previous.metadata.creationTimestamp,
      generation: previous.metadata.generation + 1,
      resourceVersion: String(rv),
    };
    if (type.namespaced) metadata.namespace = namespace;
    const stored = Object.freeze({ ...object, metadata });
    objects.set(key, stored);
    this.record({ rv, type: 'MODIFIED', typeKey: typeKeyOf(type), object: stored, previous });
    return stored;
  }

  /** Creates or replaces (without a conflict check). */
  apply(object: KubeObject): KubeObject {
    const { metadata, ...rest } = object;
    const { resourceVersion: _ignored, ...meta } = metadata ?? {};
    const body = { ...rest, metadata: meta };
    return this.get(object.apiVersion, object.kind, meta.namespace ?? 'default', meta.name) ? this.update(body) : this.create(body);
  }

  delete(apiVersion: string, kind: string, namespace: string, name: string): KubeObject {
    const type = this.typeOf(apiVersion, kind);
    const objects = this.store.get(typeKeyOf(type))!;
    const key = objectKeyOf(type.namespaced ? namespace : '', name);
    const previous = objects.get(key);
    if (!previous) throw new ApiError(404, 'NotFound', `${type.resource} "${name}" not found`);
    if (type.kind === 'Namespace') {
      for (const other of this.types.filter((t) => t.namespaced)) {
        for (const obj of [...this.store.get(typeKeyOf(other))!.values()]) {
          if (obj.metadata.namespace === name) this.delete(groupVersion(other.group, other.versions[0]!), other.kind, name, obj.metadata.name);
        }
      }
    }
    objects.delete(key);
    const rv = ++this.rv;
    const gone = Object.freeze({ ...previous, metadata: { ...previous.metadata, resourceVersion: String(rv) } });
    this.record({ rv, type: 'DELETED', typeKey: typeKeyOf(type), object: gone, previous });
    return gone;
  }

  private identify(object: KubeObject): { type: ResourceType; namespace: string; name: string } {
    if (typeof object?.apiVersion !== 'string' || typeof object?.kind !== 'string') {
      throw new ApiError(400, 'BadRequest', 'Object \'Kind\' is missing in the request body (apiVersion and kind are required)');
    }
    const type = this.typeOf(object.apiVersion, object.kind);
    const name = object.metadata?.name;
    if (typeof name !== 'string' || name === '') throw new ApiError(422, 'Invalid', `${object.kind} "": metadata.name: Required value: name or generateName is required`);
    const namespace = type.namespaced ? (object.metadata.namespace || 'default') : '';
    return { type, namespace, name };
  }

  private record(event: HistoryEvent): void {
    this.history.push(event);
    if (this.history.length - this.historyStart > this.historyLimit) this.compact(this.history[this.history.length - this.historyLimit]!.rv - 1);
    for (const watcher of this.watchers) {
      if (typeKeyOf(watcher.type) === event.typeKey) this.send(watcher, event);
    }
  }

  // ---- HTTP ----

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://standin');
    const query = Object.fromEntries(url.searchParams);
    const record: RequestRecord = { method: req.method ?? 'GET', path: url.pathname, query, watch: query['watch'] === 'true' || query['watch'] === '1' };
    this.requests.push(record);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        const failCode = this.failure?.(record);
        if (failCode !== undefined) throw new ApiError(failCode, failureReason(failCode), `injected failure (${failCode})`);
        this.route(record, url, Buffer.concat(chunks).toString('utf8'), res);
      } catch (error) {
        const apiError = error instanceof ApiError ? error : error instanceof SelectorError ? new ApiError(400, 'BadRequest', error.message) : new ApiError(500, 'InternalError', String(error));
        if (!res.headersSent) sendJSON(res, apiError.code, apiError.status());
        else res.end();
      }
    });
  }

  private route(record: RequestRecord, url: URL, body: string, res: http.ServerResponse): void {
    const segments = url.pathname.split('/').filter((s) => s !== '');
    if (record.method === 'GET') {
      const discovery = this.discovery(segments);
      if (discovery) return sendJSON(res, 200, discovery);
    }
    let group: string;
    let version: string;
    let rest: string[];
    if (segments[0] === 'api' && segments.length >= 2) [group, version, rest] = ['', segments[1]!, segments.slice(2)];
    else if (segments[0] === 'apis' && segments.length >= 3) [group, version, rest] = [segments[1]!, segments[2]!, segments.slice(3)];
    else throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');

    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [resource, name, subresource] = rest;
    const type = this.types.find((t) => t.group === group && t.resource === resource && t.versions.includes(version));
    if (!type || subresource !== undefined || (namespace !== undefined && !type.namespaced)) {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    }
    const gv = groupVersion(group, version);
    if (name === undefined) {
      if (record.method === 'GET' && record.watch) return this.watch(type, version, namespace, record.query, res);
      if (record.method === 'GET') return sendJSON(res, 200, this.listBody(type, version, namespace, record.query));
      if (record.method === 'POST') {
        const object = parseBody(body);
        checkBody(object, type, gv, namespace);
        return sendJSON(res, 201, this.served(this.create(object), type, version));
      }
      throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
    const ns = type.namespaced ? (namespace ?? 'default') : '';
    if (record.method === 'GET') {
      const object = this.store.get(typeKeyOf(type))!.get(objectKeyOf(ns, name));
      if (!object) throw new ApiError(404, 'NotFound', `${type.resource}${type.group ? '.' + type.group : ''} "${name}" not found`);
      return sendJSON(res, 200, this.served(object, type, version));
    }
    if (record.method === 'PUT') {
      const object = parseBody(body);
      checkBody(object, type, gv, namespace);
      if (object.metadata?.name !== name) throw new ApiError(400, 'BadRequest', `the name of the object (${object.metadata?.name}) does not match the name on the URL (${name})`);
      return sendJSON(res, 200, this.served(this.update(object), type, version));
    }
    if (record.method === 'DELETE') {
      return sendJSON(res, 200, this.served(this.delete(groupVersion(type.group, type.versions[0]!), type.kind, ns, name), type, version));
    }
    throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
  }

  private discovery(segments: string[]): KubeObject | undefined {
    const path = segments.join('/');
    if (path === 'version') return { major: '1', minor: '31', gitVersion: 'v1.31.0-meshc-standin', platform: 'linux/amd64' };
    if (path === 'healthz' || path === 'readyz' || path === 'livez') return { status: 'ok' };
    if (path === 'api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `${this.host}:${this.port}` }] };
    if (path === 'api/v1') return this.resourceList('', 'v1');
    const groups = this.groups();
    if (path === 'apis') return { kind: 'APIGroupList', apiVersion: 'v1', groups };
    if (segments[0] === 'apis' && segments.length === 2) {
      const group = groups.find((g) => g.name === segments[1]);
      if (!group) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      return { kind: 'APIGroup', apiVersion: 'v1', ...group };
    }
    if (segments[0] === 'apis' && segments.length === 3) {
      const list = this.resourceList(segments[1]!, segments[2]!);
      if (list.resources.length === 0) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      return list;
    }
    return undefined;
  }

  private groups(): { name: string; versions: { groupVersion: string; version: string }[]; preferredVersion: { groupVersion: string; version: string } }[] {
    const byGroup = new Map<string, string[]>();
    for (const type of this.types) {
      if (type.group === '') continue;
      const versions = byGroup.get(type.group) ?? [];
      for (const v of type.versions) if (!versions.includes(v)) versions.push(v);
      byGroup.set(type.group, versions);
    }
    return [...byGroup].map(([name, versions]) => {
      const entries = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
      return { name, versions: entries, preferredVersion: entries[0]! };
    });
  }

  private resourceList(group: string, version: string): KubeObject {
    const resources = this.types.filter((t) => t.group === group && t.versions.includes(version)).map(apiResource);
    return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupVersion(group, version), resources };
  }

  /** The object as the requested version serves it. */
  private served(object: KubeObject, type: ResourceType, version: string): KubeObject {
    return { ...object, apiVersion: groupVersion(type.group, version), kind: type.kind };
  }

  private matching(type: ResourceType, namespace: string | undefined, query: Record<string, string>): { label: Matcher; field: Matcher } {
    const label = parseLabelSelector(query['labelSelector'] ?? null);
    const fieldSelector = parseFieldSelector(query['fieldSelector'] ?? null, type.kind);
    const field: Matcher = namespace === undefined ? fieldSelector : (o) => (o as KubeObject).metadata?.namespace === namespace && fieldSelector(o);
    return { label, field };
  }

  private listBody(type: ResourceType, version: string, namespace: string | undefined, query: Record<string, string>): KubeObject {
    const limit = query['limit'] ? Number(query['limit']) : 0;
    if (!Number.isInteger(limit) || limit < 0) throw new ApiError(400, 'BadRequest', `limit: Invalid value: ${JSON.stringify(query['limit'])}`);
    let snapshot: ListSnapshot;
    let offset = 0;
    const token = query['continue'];
    if (token) {
      const decoded = decodeContinue(token);
      const found = decoded && this.snapshots.get(decoded.id);
      if (!decoded || !found) {
        throw new ApiError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
      }
      snapshot = found;
      offset = decoded.offset;
    } else {
      const { label, field } = this.matching(type, namespace, query);
      const items = [...this.store.get(typeKeyOf(type))!.entries()]
        .filter(([, o]) => label(o) && field(o))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, o]) => o);
      snapshot = { rv: this.rv, items };
    }
    const end = limit > 0 ? Math.min(offset + limit, snapshot.items.length) : snapshot.items.length;
    const metadata: KubeObject = { resourceVersion: String(snapshot.rv) };
    if (end < snapshot.items.length) {
      const id = token ? decodeContinue(token)!.id : randomUUID();
      this.snapshots.set(id, snapshot);
      metadata['continue'] = Buffer.from(JSON.stringify({ id, offset: end })).toString('base64url');
      metadata['remainingItemCount'] = snapshot.items.length - end;
    } else if (token) {
      this.snapshots.delete(decodeContinue(token)!.id);
    }
    const items = snapshot.items.slice(offset, end).map((o) => {
      if (type.custom) return this.served(o, type, version);
      const { apiVersion: _a, kind: _k, ...rest } = o;
      return rest;
    });
    return { kind: `${type.kind}List`, apiVersion: groupVersion(type.group, version), metadata, items };
  }

  private watch(type: ResourceType, version: string, namespace: string | undefined, query: Record<string, string>, res: http.ServerResponse): void {
    const { label, field } = this.matching(type, namespace, query);
    const rvParam = query['resourceVersion'];
    let from: number | undefined;
    if (rvParam !== undefined && rvParam !== '' && rvParam !== '0') {
      from = Number(rvParam);
      if (!Number.isInteger(from) || from < 0) throw new ApiError(400, 'BadRequest', `resourceVersion: Invalid value: ${JSON.stringify(rvParam)}: must be a non-negative integer`);
      if (from < this.compactedRV) {
        if (this.goneMode === 'status') throw new ApiError(410, 'Expired', `too old resource version: ${from} (${this.compactedRV + 1})`);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ type: 'ERROR', object: this.goneStatus(from) }) + '\n');
        return;
      }
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' });
    res.flushHeaders(); // the real server answers a watch at once, before any event
    res.socket?.setNoDelay(true);
    const watcher: Watcher = { type, version, namespace, label, field, res, timers: [], closed: false };
    if (from === undefined) {
      const objects = [...this.store.get(typeKeyOf(type))!.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      for (const [, object] of objects) {
        if (label(object) && field(object)) this.write(watcher, 'ADDED', object);
      }
    } else {
      for (let i = this.historyStart; i < this.history.length; i++) {
        const event = this.history[i]!;
        if (event.rv > from && event.typeKey === typeKeyOf(type)) this.send(watcher, event);
      }
    }
    this.watchers.add(watcher);
    res.on('close', () => this.closeWatcher(watcher));
    const timeout = Number(query['timeoutSeconds'] ?? 0);
    if (timeout > 0) {
      watcher.timers.push(setTimeout(() => {
        this.closeWatcher(watcher);
        res.end();
      }, timeout * 1000));
    }
    if (query['allowWatchBookmarks'] === 'true' && this.bookmarkIntervalMs > 0) {
      watcher.timers.push(setInterval(() => {
        const bookmark = { kind: type.kind, apiVersion: groupVersion(type.group, version), metadata: { resourceVersion: String(this.rv) } };
        res.write(JSON.stringify({ type: 'BOOKMARK', object: bookmark }) + '\n');
      }, this.bookmarkIntervalMs));
    }
  }

  /** Sends a stored event to a watcher, turning selector transitions into ADDED / DELETED. */
  private send(watcher: Watcher, event: HistoryEvent): void {
    const matches = (o: KubeObject | undefined) => o !== undefined && watcher.label(o) && watcher.field(o);
    const now = matches(event.object);
    if (event.type === 'MODIFIED') {
      const before = matches(event.previous);
      if (now && before) this.write(watcher, 'MODIFIED', event.object);
      else if (now) this.write(watcher, 'ADDED', event.object);
      else if (before) this.write(watcher, 'DELETED', event.object);
    } else if (now) {
      this.write(watcher, event.type, event.object);
    }
  }

  private write(watcher: Watcher, type: EventType, object: KubeObject): void {
    if (watcher.closed) return;
    const resource = watcher.type.group ? `${watcher.type.resource}.${watcher.type.group}` : watcher.type.resource;
    this.watchEventsSent.set(resource, (this.watchEventsSent.get(resource) ?? 0) + 1);
    watcher.res.write(JSON.stringify({ type, object: this.served(object, watcher.type, watcher.version) }) + '\n');
  }

  private closeWatcher(watcher: Watcher): void {
    watcher.closed = true;
    for (const timer of watcher.timers) clearTimeout(timer);
    this.watchers.delete(watcher);
  }

  private goneStatus(from: number): KubeObject {
    return new ApiError(410, 'Expired', `too old resource version: ${from} (${this.compactedRV + 1})`).status();
  }
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function sendJSON(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function parseBody(body: string): KubeObject {
  try {
    return JSON.parse(body) as KubeObject;
  } catch (error) {
    throw new ApiError(400, 'BadRequest', `the body of the request was in an unknown format: ${(error as Error).message}`);
  }
}

function checkBody(object: KubeObject, type: ResourceType, gv: string, urlNamespace: string | undefined): void {
  if (object.apiVersion !== gv) throw new ApiError(400, 'BadRequest', `the API version in the data (${object.apiVersion}) does not match the expected API version (${gv})`);
  if (object.kind !== type.kind) throw new ApiError(400, 'BadRequest', `the kind in the data (${object.kind}) does not match the expected kind (${type.kind})`);
  const bodyNamespace = object.metadata?.namespace;
  if (type.namespaced && urlNamespace !== undefined && bodyNamespace !== undefined && bodyNamespace !== urlNamespace) {
    throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
  }
  if (type.namespaced && urlNamespace !== undefined) object.metadata = { ...object.metadata, namespace: urlNamespace };
}

function decodeContinue(token: string): { id: string; offset: number } | undefined {
  try {
    const value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { id: string; offset: number };
    return typeof value.id === 'string' && Number.isInteger(value.offset) ? value : undefined;
  } catch {
    return undefined;
  }
}

function failureReason(code: number): string {
  return { 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict', 410: 'Expired', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout' }[code] ?? 'Unknown';
}

/**
 * Required fields of the kinds meshc's deploy/ creates, checked as the real server's validation
 * does (422 Invalid, naming the field). Only these checks: the stand-in is not a full validator.
 */
function validate(type: ResourceType, object: KubeObject): void {
  const problems: string[] = [];
  const need = (ok: unknown, field: string, what = 'Required value') => {
    if (!ok) problems.push(`${field}: ${what}`);
  };
  const spec = object.spec ?? {};
  switch (type.kind) {
    case 'Service':
      for (const [i, port] of (spec.ports ?? []).entries()) need(Number.isInteger(port?.port) && port.port > 0 && port.port < 65536, `spec.ports[${i}].port`, 'Invalid value: must be between 1 and 65535');
      break;
    case 'EndpointSlice':
      need(['IPv4', 'IPv6', 'FQDN'].includes(object.addressType), 'addressType', 'Unsupported value: must be IPv4, IPv6 or FQDN');
      break;
    case 'DaemonSet': {
      need(spec.selector, 'spec.selector');
      const labels = spec.template?.metadata?.labels ?? {};
      const wanted = spec.selector?.matchLabels ?? {};
      need(Object.entries(wanted).every(([k, v]) => labels[k] === v), 'spec.template.metadata.labels', 'Invalid value: `selector` does not match template `labels`');
      const containers = spec.template?.spec?.containers;
      need(Array.isArray(containers) && containers.length > 0, 'spec.template.spec.containers');
      for (const [i, c] of (Array.isArray(containers) ? containers : []).entries()) {
        need(typeof c?.name === 'string' && c.name !== '', `spec.template.spec.containers[${i}].name`);
        need(typeof c?.image === 'string' && c.image !== '', `spec.template.spec.containers[${i}].image`);
      }
      break;
    }
    case 'ClusterRole':
    case 'Role':
      for (const [i, rule] of (object.rules ?? []).entries()) need(Array.isArray(rule?.verbs) && rule.verbs.length > 0, `rules[${i}].verbs`);
      break;
    case 'ClusterRoleBinding':
    case 'RoleBinding':
      need(object.roleRef?.kind && object.roleRef?.name && object.roleRef?.apiGroup !== undefined, 'roleRef');
      for (const [i, s] of (object.subjects ?? []).entries()) need(s?.kind && s?.name, `subjects[${i}]`);
      break;
    case 'Job':
      need(Array.isArray(spec.template?.spec?.containers) && spec.template.spec.containers.length > 0, 'spec.template.spec.containers');
      need(['Never', 'OnFailure'].includes(spec.template?.spec?.restartPolicy), 'spec.template.spec.restartPolicy', 'Unsupported value: must be Never or OnFailure');
      break;
  }
  if (problems.length > 0) {
    const name = object.metadata?.name ?? '';
    throw new ApiError(422, 'Invalid', `${type.kind} "${name}" is invalid: ${problems.join(', ')}`);
  }
}
