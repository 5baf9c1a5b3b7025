// Where the test cluster's components are (built by build-components.sh into a cache outside the
// repo), and why the cluster tests cannot run here when they cannot.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cgroup2Mounts } from '../../src/loader/cgroup.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
/** The Gateway API CRDs, standard channel (shared/ beside the checkout, or MESHC_GATEWAY_CRDS). */
export const GATEWAY_CRDS = process.env.MESHC_GATEWAY_CRDS ?? path.join(HERE, '..', '..', '..', 'shared', 'gateway-api-crds', 'standard');
export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager'] as const;
export type Component = (typeof COMPONENTS)[number];

let cached: { dir?: string; missing?: string } | undefined;

/** The directory holding the built components, or why there is none. */
export function componentsDir(): { dir?: string; missing?: string } {
  if (cached) return cached;
  const r = spawnSync('bash', [path.join(HERE, 'build-components.sh'), '--check'], { encoding: 'utf8' });
  if (r.status === 0) {
    const dir = r.stdout.trim().split('\n').pop()!;
    const absent = COMPONENTS.filter((c) => !existsSync(path.join(dir, c)));
    cached = absent.length ? { missing: `${absent.join(', ')} missing in ${dir}` } : { dir };
  } else {
    cached = { missing: `${r.stderr.trim() || 'build-components.sh --check failed'} (npm run build:cluster builds them, ~25 min on 2 cores)` };
  }
  return cached;
}

/** The cgroup v2 mount point, read from /proc/self/mounts (undefined without cgroup v2). */
export function cgroup2Mount(): string | undefined {
  return cgroup2Mounts()[0];
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why a test cluster (control plane, pods, agents) cannot run here, or undefined. */
export function clusterSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, cgroups, BPF)';
  if (!cgroup2Mount()) return 'needs a cgroup v2 mount (none in /proc/self/mounts)';
  for (const [cmd, pkg] of [['openssl', 'openssl'], ['ip', 'iproute2'], ['kubectl', 'kubectl']]) {
    if (!which(cmd!)) return `needs ${cmd} (apt-get install ${pkg})`;
  }
  if (!existsSync(GATEWAY_CRDS)) return `needs the Gateway API CRDs at ${GATEWAY_CRDS} (put shared/ beside the checkout or set MESHC_GATEWAY_CRDS)`;
  return componentsDir().missing;
}
