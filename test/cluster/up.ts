// A test cluster to poke at by hand: the real control plane, `--nodes` node namespaces on a bridge,
// the harness's kubelet and one meshc agent per node, until Ctrl-C or SIGTERM (then everything is
// removed; a job started with & from a script ignores SIGINT: use SIGTERM there).
//   npx tsx test/cluster/up.ts [--nodes N] [--no-agents]
// It prints the admin kubeconfig; Debian's kubectl works against it:
//   kubectl --kubeconfig FILE get nodes,pods,endpointslices -A -o wide
// Pods you create run as processes in network namespaces of their own (any image: the process
// answers each TCP containerPort with the pod's name); `meshc inspect --pin DIR` shows a node's maps.
import { TestCluster } from './cluster.ts';
import { clusterSkipReason } from './components.ts';

const argv = process.argv.slice(2);
const at = argv.indexOf('--nodes');
const nodes = at >= 0 ? Number(argv[at + 1]) : 3;
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) throw new Error('--nodes: a whole number from 1 to 9');
const why = clusterSkipReason();
if (why) {
  process.stderr.write(`test cluster: cannot run here: ${why}\n`);
  process.exit(1);
}
const cluster = await TestCluster.start({ nodes, agents: !argv.includes('--no-agents'), log: (line) => process.stderr.write(`${line}\n`) });
const cp = cluster.controlPlane;
process.stdout.write(
  [
    `test cluster ${cluster.id} is up (${cp.server}); Ctrl-C removes it`,
    `  export KUBECONFIG=${cp.adminKubeconfig}`,
    `  as the agent:     kubectl --kubeconfig ${await cp.serviceAccountKubeconfig('meshc-system', 'meshc-agent')} get services -A`,
    `  logs:             ${cluster.dir}/*.log`,
    ...[...cluster.agents.values()].map((a) => `  ${a.node}: meshc agent pid ${a.pid}, maps: node bin/meshc.js inspect --pin ${a.pin}`),
    '',
  ].join('\n'),
);
await new Promise<void>((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});
process.stderr.write('test cluster: removing it\n');
await cluster.dispose();
