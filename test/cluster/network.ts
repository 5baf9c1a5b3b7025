// The test cluster's network, all in network namespaces of its own: a fabric namespace with a
// bridge that every node's eth0 joins (192.168.77.<n>/24), and in each node namespace a pod
// bridge cbr0 (10.244.<n>.1/24, the pods' gateway) with a route to every other node's pod CIDR
// through that node, kubenet-style. A pod is a namespace of its own with a veth into its node's
// cbr0. Nothing here touches the host's namespace.
import { spawnSync } from 'node:child_process';

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
}

export interface NodeNetwork {
  name: string;
  index: number;
  netns: string;
  /** The node's address on the fabric (its InternalIP). */
  address: string;
  podCIDR: string;
  gateway: string;
}

export interface PodNetwork {
  netns: string;
  address: string;
  /** The pod's veth end in its node's namespace. */
  hostSide: string;
}

export class ClusterNetwork {
  readonly fabric: string;
  readonly nodes: NodeNetwork[] = [];
  private readonly namespaces: string[] = [];
  private readonly freeAddresses = new Map<string, number[]>();
  private podCount = 0;

  /** `serviceCIDR`: ClusterIPs; a pod's connection to one that meshc leaves alone fails at once (EHOSTUNREACH), as no node routes it. */
  constructor(
    readonly id: string,
    private readonly serviceCIDR: string,
  ) {
    this.fabric = `meshc-cl-${id}-fabric`;
    this.addNamespace(this.fabric);
    ip(['-n', this.fabric, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', this.fabric, 'link', 'set', 'br0', 'up']);
  }

  private addNamespace(name: string): void {
    ip(['netns', 'add', name]);
    this.namespaces.push(name);
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
  }

  /** Adds node `index` (1-based) and routes between it and the nodes before it. */
  addNode(index: number): NodeNetwork {
    const node: NodeNetwork = {
      name: `node-${index}`,
      index,
      netns: `meshc-cl-${this.id}-node-${index}`,
      address: `192.168.77.${index}`,
      podCIDR: `10.244.${index}.0/24`,
      gateway: `10.244.${index}.1`,
    };
    this.addNamespace(node.netns);
    ip(['-n', node.netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `node${index}`, 'netns', this.fabric]);
    ip(['-n', this.fabric, 'link', 'set', `node${index}`, 'master', 'br0', 'up']);
    ip(['-n', node.netns, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0']);
    ip(['-n', node.netns, 'link', 'set', 'eth0', 'up']);
    ip(['-n', node.netns, 'link', 'add', 'cbr0', 'type', 'bridge']);
    ip(['-n', node.netns, 'addr', 'add', `${node.gateway}/24`, 'dev', 'cbr0']);
    ip(['-n', node.netns, 'link', 'set', 'cbr0', 'up']);
    const forward = spawnSync('ip', ['netns', 'exec', node.netns, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward'], { encoding: 'utf8' });
    if (forward.status !== 0) throw new Error(`${node.name}: enabling forwarding: ${forward.stderr.trim()}`);
    for (const other of this.nodes) {
      ip(['-n', node.netns, 'route', 'add', other.podCIDR, 'via', other.address]);
      ip(['-n', other.netns, 'route', 'add', node.podCIDR, 'via', node.address]);
    }
    this.nodes.push(node);
    this.freeAddresses.set(node.name, Array.from({ length: 252 }, (_, k) => k + 2));
    return node;
  }

  node(name: string): NodeNetwork {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name} in the test cluster`);
    return node;
  }

  /** A pod's namespace on `nodeName`, with the next free address of the node's pod CIDR. */
  addPod(nodeName: string): PodNetwork {
    const node = this.node(nodeName);
    const host = this.freeAddresses.get(node.name)!.shift();
    if (host === undefined) throw new Error(`${node.name}: pod CIDR ${node.podCIDR} is full`);
    const n = ++this.podCount;
    const pod: PodNetwork = { netns: `meshc-cl-${this.id}-pod-${n}`, address: `10.244.${node.index}.${host}`, hostSide: `pod${n}` };
    try {
      this.addNamespace(pod.netns);
      ip(['-n', pod.netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', pod.hostSide, 'netns', node.netns]);
      ip(['-n', node.netns, 'link', 'set', pod.hostSide, 'master', 'cbr0', 'up']);
      ip(['-n', pod.netns, 'addr', 'add', `${pod.address}/24`, 'dev', 'eth0']);
      ip(['-n', pod.netns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', pod.netns, 'route', 'add', 'default', 'via', node.gateway]);
      ip(['-n', pod.netns, 'route', 'add', 'unreachable', this.serviceCIDR]);
    } catch (error) {
      this.removePod(nodeName, pod);
      throw error;
    }
    return pod;
  }

  removePod(nodeName: string, pod: PodNetwork): void {
    spawnSync('ip', ['netns', 'del', pod.netns]);
    const at = this.namespaces.indexOf(pod.netns);
    if (at >= 0) this.namespaces.splice(at, 1);
    this.freeAddresses.get(nodeName)?.push(Number(pod.address.split('.')[3]));
  }

  /** Deletes every namespace (pods' veths go with them). Safe to call more than once. */
  dispose(): void {
    for (const name of this.namespaces.splice(0).reverse()) spawnSync('ip', ['netns', 'del', name]);
  }
}
