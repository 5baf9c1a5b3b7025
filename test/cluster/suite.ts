// The cluster suites: one test cluster per suite, started by the first test that needs it and
// removed after the last; skipped with the reason when this machine cannot run one (a failure
// under MESHC_REQUIRE_KERNEL=1, as .ci/run runs the tests).
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { TestCluster, type ClusterOptions } from './cluster.ts';
import { clusterSkipReason } from './components.ts';

export function clusterSuite(name: string, options: ClusterOptions, define: (test: ReturnType<typeof import('uvu').suite>, cluster: () => Promise<TestCluster>) => void): void {
  let started: Promise<TestCluster> | undefined;
  const cluster = () => (started ??= TestCluster.start(options));
  kernelSuite(name, kernelSkipReason() ?? clusterSkipReason(), (test) => {
    define(test, cluster);
    test.after(async () => {
      if (started) await (await started.catch(() => undefined))?.dispose();
    });
  });
}
