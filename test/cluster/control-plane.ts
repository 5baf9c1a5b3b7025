// The test cluster's control plane: a real etcd, kube-apiserver and kube-controller-manager (built
// by build-components.sh) on loopback, with certificates of its own (pki.ts), RBAC as the only
// authorizer, and the bootstrap a cluster of meshc needs: the Gateway API CRDs (standard channel)
// and deploy/'s Namespace, ServiceAccount, ClusterRole and ClusterRoleBinding. tokenFor() mints a
// ServiceAccount token through the TokenRequest API, for an agent that runs as the DaemonSet's.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { ApiClient, ApiError, collectionPath, type Credentials } from './api.ts';
import { componentsDir, GATEWAY_CRDS } from './components.ts';
import { Daemon, freePort } from './daemon.ts';
import { makePki, type Pki } from './pki.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ControlPlaneOptions {
  /** A directory of the cluster's own (certificates, etcd data, logs, kubeconfigs). */
  dir: string;
  /** ClusterIPs come from here. */
  serviceCIDR?: string;
  /** kube-controller-manager's --controllers. */
  controllers?: string[];
  /** Gateway API CRDs to apply (a directory of YAML), or false for none. */
  crds?: string | false;
  /** More kube-apiserver flags (the control-plane bench's audit log). */
  apiServerFlags?: string[];
}

/** What a kind is called in the API: its collection and whether it lives in a namespace. */
interface ResourceInfo {
  resource: string;
  namespaced: boolean;
}

export class ControlPlane {
  readonly dir: string;
  readonly serviceCIDR: string;
  server = '';
  adminKubeconfig = '';
  admin!: ApiClient;
  etcd!: Daemon;
  apiserver!: Daemon;
  controllerManager!: Daemon;
  private pki!: Pki;
  private etcdUrl = '';
  private adminCredentials!: Credentials;
  private readonly extraDaemons: Daemon[] = [];
  private readonly discovery = new Map<string, Map<string, ResourceInfo>>();

  constructor(private readonly options: ControlPlaneOptions) {
    this.dir = options.dir;
    this.serviceCIDR = options.serviceCIDR ?? '10.96.0.0/16';
  }

  async start(): Promise<void> {
    const bin = componentsDir();
    if (!bin.dir) throw new Error(`cluster components: ${bin.missing}`);
    const file = (name: string) => path.join(this.dir, name);
    const firstServiceIP = this.serviceCIDR.replace(/\.0\/\d+$/, '.1');
    this.pki = makePki(this.dir, { ips: ['127.0.0.1', firstServiceIP], dns: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'] });
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    this.etcdUrl = `http://127.0.0.1:${etcdClient}`;
    this.server = `https://127.0.0.1:${apiPort}`;

    // etcd serves only the API server, on loopback: plain HTTP, no fsync (test data).
    this.etcd = new Daemon('etcd', [
      path.join(bin.dir, 'etcd'),
      '--name=meshc-test', `--data-dir=${file('etcd')}`,
      `--listen-client-urls=${this.etcdUrl}`, `--advertise-client-urls=${this.etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=meshc-test=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync=true', '--log-level=warn', '--quota-backend-bytes=2147483648',
    ], file('etcd.log'));
    this.etcd.start();
    await this.etcd.waitUntil('serving', async () => (await fetch(`${this.etcdUrl}/health`)).ok, 20000);

    const adminCert = this.pki.client('admin', 'meshc-test-admin', ['system:masters']);
    this.adminKubeconfig = file('admin.kubeconfig');
    this.writeKubeconfig(this.adminKubeconfig, 'admin', { 'client-certificate': adminCert.cert, 'client-key': adminCert.key });
    this.adminCredentials = { ca: this.pki.caCert, ...adminCert };
    this.admin = new ApiClient(this.server, this.adminCredentials);

    this.apiserver = new Daemon('kube-apiserver', this.apiServerArgs(bin.dir, apiPort), file('kube-apiserver.log'));
    await this.startApiServer();

    const kcmCert = this.pki.client('kube-controller-manager', 'system:kube-controller-manager');
    const kcmKubeconfig = file('kube-controller-manager.kubeconfig');
    this.writeKubeconfig(kcmKubeconfig, 'system:kube-controller-manager', { 'client-certificate': kcmCert.cert, 'client-key': kcmCert.key });
    const controllers = this.options.controllers ?? ['endpointslice', 'namespace', 'serviceaccount', 'deployment', 'replicaset'];
    this.controllerManager = new Daemon('kube-controller-manager', [
      path.join(bin.dir, 'kube-controller-manager'),
      `--kubeconfig=${kcmKubeconfig}`,
      `--controllers=${controllers.join(',')}`,
      '--leader-elect=false',
      // Each controller as its own ServiceAccount (kube-system/endpointslice-controller, ...) with
      // its bootstrap ClusterRole, as kubeadm runs it: system:kube-controller-manager alone may not
      // write EndpointSlices.
      '--use-service-account-credentials=true',
      `--root-ca-file=${this.pki.caCert}`,
      '--secure-port=0',
    ], file('kube-controller-manager.log'));
    this.controllerManager.start();
    if (controllers.includes('serviceaccount')) {
      // Pods need their namespace's default ServiceAccount (the admission plugin checks it).
      await this.controllerManager.waitUntil('making default ServiceAccounts', async () => Boolean(await this.admin.get('/api/v1/namespaces/default/serviceaccounts/default')), 60000);
    }

    if (this.options.crds !== false) await this.applyCrds(this.options.crds ?? GATEWAY_CRDS);
    await this.applyDeployRbac();
  }

  private apiServerArgs(binDir: string, port: number): string[] {
    return [
      path.join(binDir, 'kube-apiserver'),
      `--etcd-servers=${this.etcdUrl}`,
      '--bind-address=127.0.0.1', `--secure-port=${port}`, '--advertise-address=127.0.0.1',
      `--tls-cert-file=${this.pki.serverCert}`, `--tls-private-key-file=${this.pki.serverKey}`,
      `--client-ca-file=${this.pki.caCert}`,
      `--service-account-key-file=${this.pki.serviceAccountPub}`, `--service-account-signing-key-file=${this.pki.serviceAccountKey}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-cluster-ip-range=${this.serviceCIDR}`,
      '--authorization-mode=RBAC',
      // No kubelets, and API servers that come and go: the kubernetes Service keeps no endpoints.
      '--endpoint-reconciler-type=none',
      // Compaction only when a test asks for it (compactEtcd).
      '--etcd-compaction-interval=0',
      '--profiling=false',
      ...(this.options.apiServerFlags ?? []),
    ];
  }

  /**
   * A second kube-apiserver on the same etcd (as in a control plane of several): it takes the
   * writes a test makes while the first one is stopped. Returns an admin client and a stop.
   */
  async startSecondApiServer(): Promise<{ admin: ApiClient; daemon: Daemon }> {
    const port = await freePort();
    const daemon = new Daemon('kube-apiserver-2', this.apiServerArgs(componentsDir().dir!, port), path.join(this.dir, 'kube-apiserver-2.log'));
    const admin = new ApiClient(`https://127.0.0.1:${port}`, this.adminCredentials);
    daemon.start();
    try {
      await daemon.waitUntil('ready (/readyz)', async () => (await admin.get('/readyz')) === 'ok', 120000);
    } catch (error) {
      admin.close();
      await daemon.stop();
      throw error;
    }
    this.extraDaemons.push(daemon);
    return { admin, daemon };
  }

  /** Starts (or restarts) kube-apiserver and waits for /readyz. */
  async startApiServer(): Promise<void> {
    this.apiserver.start();
    this.discovery.clear();
    await this.apiserver.waitUntil('ready (/readyz)', async () => (await this.admin.get('/readyz')) === 'ok', 120000);
  }

  stopApiServer(): Promise<void> {
    return this.apiserver.stop();
  }

  /** etcd's current revision. */
  async etcdRevision(): Promise<number> {
    const r = await fetch(`${this.etcdUrl}/v3/maintenance/status`, { method: 'POST', body: '{}' });
    return Number((await r.json()).header.revision);
  }

  /** Compacts etcd's history up to its current revision: watches from before it get 410 Gone. */
  async compactEtcd(): Promise<number> {
    const revision = await this.etcdRevision();
    const r = await fetch(`${this.etcdUrl}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(revision), physical: true }) });
    if (!r.ok) throw new Error(`etcd compaction at ${revision}: ${r.status} ${await r.text()}`);
    return revision;
  }

  writeKubeconfig(file: string, user: string, credentials: Record<string, string>): void {
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'meshc-test', cluster: { server: this.server, 'certificate-authority': this.pki.caCert } }],
      users: [{ name: user, user: credentials }],
      contexts: [{ name: 'meshc-test', context: { cluster: 'meshc-test', user } }],
      'current-context': 'meshc-test',
    };
    writeFileSync(file, stringify(config), { mode: 0o600 });
  }

  /** A ServiceAccount token from the TokenRequest API (bound to nothing, valid `seconds`). */
  async tokenFor(namespace: string, serviceAccount: string, seconds = 7200): Promise<string> {
    const request = await this.admin.create(`/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: seconds },
    });
    return request.status.token;
  }

  /** A kubeconfig in which `namespace/serviceAccount` authenticates with a TokenRequest token. */
  async serviceAccountKubeconfig(namespace: string, serviceAccount: string): Promise<string> {
    const file = path.join(this.dir, `${namespace}.${serviceAccount}.kubeconfig`);
    this.writeKubeconfig(file, `system:serviceaccount:${namespace}:${serviceAccount}`, { token: await this.tokenFor(namespace, serviceAccount) });
    return file;
  }

  /** Runs Debian's kubectl against the cluster as admin. */
  kubectl(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('kubectl', [`--kubeconfig=${this.adminKubeconfig}`, ...args], { encoding: 'utf8', input });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** The API's name for `kind` in `apiVersion` (from discovery, cached until a restart). */
  async resourceOf(apiVersion: string, kind: string): Promise<ResourceInfo> {
    let kinds = this.discovery.get(apiVersion);
    if (!kinds?.has(kind)) {
      const list = await this.admin.get(apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`);
      kinds = new Map();
      for (const r of list.resources) if (!r.name.includes('/')) kinds.set(r.kind, { resource: r.name, namespaced: r.namespaced });
      this.discovery.set(apiVersion, kinds);
    }
    const info = kinds.get(kind);
    if (!info) throw new Error(`${apiVersion} ${kind}: not served by the API server`);
    return info;
  }

  /** The collection path of an object. */
  async pathOf(object: { apiVersion: string; kind: string; metadata: { namespace?: string } }): Promise<string> {
    const info = await this.resourceOf(object.apiVersion, object.kind);
    return collectionPath(object.apiVersion, info.resource, info.namespaced ? (object.metadata.namespace ?? 'default') : undefined);
  }

  /** Creates an object (as admin); returns what the API server stored. */
  async create(object: any): Promise<any> {
    return this.admin.create(await this.pathOf(object), object);
  }

  /** Replaces an object with `object`, keeping nothing of the old one but its resourceVersion. */
  async replace(object: any): Promise<any> {
    const at = `${await this.pathOf(object)}/${object.metadata.name}`;
    const current = await this.admin.get(at);
    return this.admin.request('PUT', at, { ...object, metadata: { ...object.metadata, resourceVersion: current.metadata.resourceVersion } });
  }

  async remove(apiVersion: string, kind: string, namespace: string | undefined, name: string): Promise<void> {
    const info = await this.resourceOf(apiVersion, kind);
    await this.admin.remove(`${collectionPath(apiVersion, info.resource, info.namespaced ? namespace : undefined)}/${name}`);
  }

  /** Applies the CRDs in `dir` and waits until each is Established and its kinds are served. */
  async applyCrds(dir: string): Promise<void> {
    const names: string[] = [];
    for (const entry of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
      for (const doc of parseAllDocuments(readFileSync(path.join(dir, entry), 'utf8'))) {
        const object = doc.toJS();
        if (!object) continue;
        try {
          await this.create(object);
        } catch (error) {
          throw new Error(`${entry}: ${object.kind} ${object.metadata?.name}: ${(error as Error).message}`);
        }
        if (object.kind === 'CustomResourceDefinition') names.push(object.metadata.name);
      }
    }
    const established = async (name: string) => {
      const crd = await this.admin.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
      return crd.status?.conditions?.some((c: any) => c.type === 'Established' && c.status === 'True');
    };
    await this.apiserver.waitUntil(`establishing the CRDs of ${dir}`, async () => (await Promise.all(names.map(established))).every(Boolean), 60000);
    this.discovery.clear();
  }

  /** deploy/'s Namespace, ServiceAccount, ClusterRole and ClusterRoleBinding, as kustomize renders them. */
  async applyDeployRbac(): Promise<void> {
    const rendered = spawnSync('kubectl', ['kustomize', path.join(ROOT, 'deploy')], { encoding: 'utf8' });
    if (rendered.status !== 0) throw new Error(`kubectl kustomize deploy/: ${rendered.stderr || rendered.error?.message}`);
    const kinds = ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'];
    const objects = parseAllDocuments(rendered.stdout).map((d) => d.toJS()).filter((o) => o && kinds.includes(o.kind));
    objects.sort((a, b) => kinds.indexOf(a.kind) - kinds.indexOf(b.kind));
    for (const object of objects) {
      try {
        await this.create(object);
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 409)) throw new Error(`deploy/ ${object.kind} ${object.metadata.name}: ${(error as Error).message}`);
      }
    }
  }

  /** The API server's Prometheus metrics. */
  metrics(): Promise<string> {
    return this.admin.get('/metrics');
  }

  /** The pids of every component still running (for a last-resort kill). */
  pids(): number[] {
    return [this.controllerManager, this.apiserver, this.etcd, ...this.extraDaemons].map((d) => d?.pid).filter((p): p is number => p !== undefined);
  }

  /** Stops every component (controller manager, API server, etcd). Safe to call more than once. */
  async stop(): Promise<void> {
    this.admin?.close();
    await this.controllerManager?.stop();
    for (const d of this.extraDaemons) await d.stop();
    await this.apiserver?.stop();
    await this.etcd?.stop();
  }
}
