/* netpol.bpf.c: a syscall program that runs the hooks' verdict (mc_np_verdict: the switch's
 * shortcut, else the address lookup and mc_decide_network) and the whole decision over a batch of
 * inputs, so tests
 * and benchmarks drive the kernel's network policy with chosen inputs (BPF_PROG_TEST_RUN). The
 * hooks themselves call __mc_np_check (meshc_netpol.h) from sock.bpf.c. */
#include "meshc_helpers.h"
#include "meshc_netpol.h"

struct mc_np_harness_loop {
	struct mc_np_harness_batch *batch;
	struct mc_np_config *cfg;
	__u32 allowed;
};

static long __mc_np_harness_one(__u32 i, void *data)
{
	struct mc_np_harness_loop *loop = data;
	struct mc_np_harness_slot *slot;
	struct np_addr_value *hit = 0;
	struct np_addr_value peer;
	struct np_addr_key full;
	__u8 verdict;
	int fast, looked;

	if (i >= MC_NP_HARNESS_BATCH)
		return 1;
	slot = &loop->batch->slots[i];
	/*
	 * The hooks' verdict, mc_np_verdict: NP_ALLOW when the switch's shortcut applies, else the
	 * whole decision's, the address found as the hooks find it (full length first, then the walk).
	 * The whole decision is made either way, first: one call, and the shortcut's branches after
	 * it (otherwise the verifier walks the decision once per branch and gives up). Both are
	 * compared with Wasm.
	 */
	__builtin_memset(&slot->out, 0, sizeof(slot->out));
	full = slot->dst;
	full.prefix = full.family == 6 ? 128 : 32;
	mc_np_resolve_full(&full, &peer, &hit);
	verdict = mc_decide_network(slot->client, slot->client_cidr, &peer, slot->port, slot->proto, &slot->out);
	fast = mc_np_unselected(loop->cfg, slot->client, &full, &hit, &looked);
	slot->verdict = fast ? NP_ALLOW : verdict;
	slot->fast = fast;
	if (slot->verdict == NP_ALLOW)
		loop->allowed++;
	return 0;
}

SEC("syscall")
int mc_harness_netpol(struct mc_np_harness_args *args)
{
	struct mc_np_harness_loop loop = {};
	__u32 zero = 0;
	__u32 count = args->count;

	loop.batch = bpf_map_lookup_elem(&mc_np_harness, &zero);
	loop.cfg = bpf_map_lookup_elem(&mc_np_config, &zero);
	if (!loop.batch || !loop.cfg)
		return -ENOENT;
	if (count > MC_NP_HARNESS_BATCH)
		return -E2BIG;
	bpf_loop(count, __mc_np_harness_one, &loop, 0);
	args->allowed = loop.allowed;
	return 0;
}

/* One question of mc_harness_np_pick, through the hooks' own mc_np_judge. */
struct mc_np_pick_harness_loop {
	struct mc_np_pick_batch *batch;
	__u32 allowed;
};

static long __mc_np_pick_harness_one(__u32 i, void *data)
{
	struct mc_np_pick_harness_loop *loop = data;
	struct mc_np_scratch *slot;

	if (i >= MC_NP_PICK_BATCH)
		return 1;
	slot = &loop->batch->slots[i];
	__builtin_memset(&slot->q.np, 0, sizeof(slot->q.np));
	mc_np_judge(slot);
	if (slot->q.verdict == NP_ALLOW)
		loop->allowed++;
	return 0;
}

/* The hooks' network policy question (mc_np_judge: the verdict, the pick among a Service's backends), over a batch. */
SEC("syscall")
int mc_harness_np_pick(struct mc_np_harness_args *args)
{
	struct mc_np_pick_harness_loop loop = {};
	__u32 zero = 0;
	__u32 count = args->count;

	loop.batch = bpf_map_lookup_elem(&mc_np_pick_harness, &zero);
	if (!loop.batch)
		return -ENOENT;
	if (count > MC_NP_PICK_BATCH)
		return -E2BIG;
	bpf_loop(count, __mc_np_pick_harness_one, &loop, 0);
	args->allowed = loop.allowed;
	return 0;
}

#ifndef ETH_P_IP
#define ETH_P_IP 0x0800
#endif
#ifndef ETH_P_IPV6
#define ETH_P_IPV6 0x86DD
#endif
#define MC_TCP_SYN 0x02
#define MC_TCP_ACK 0x10
#define MC_TCP_STATE_ESTABLISHED 1 /* BPF_TCP_ESTABLISHED: a connected UDP socket too */

/*
 * The packet's source (into `src`, a key of full length), destination address (`dst`),
 * destination port (network order) and protocol, when it opens something: a TCP SYN without ACK,
 * or a UDP datagram that is no reply on a connected socket. 0 when it is to be judged; 1 when
 * it passes unjudged (a reply or a later segment, another protocol, an IPv6 extension header,
 * loopback).
 */
static __always_inline int mc_np_ingress_packet(struct __sk_buff *skb, struct np_addr_key *src, __u32 *dst,
						__u16 *port, __u8 *proto)
{
	struct bpf_sock *sk;
	__u32 ip[10]; /* the IPv4 header without options (20 bytes) or the IPv6 header (40) */
	__u8 *h = (__u8 *)ip;
	__u8 tcp[14]; /* ports, sequence, ack, offset and flags */
	__u32 l4;

	/* One load of the IP header, one of the transport header: a packet that opens nothing
	 * (most of them) costs these two loads after the pod's lookups. */
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, 0, ip, 20))
			return 1;
		l4 = (h[0] & 0x0f) * 4;
		*proto = h[9];
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes(skb, 0, ip, 40))
			return 1;
		l4 = 40;
		*proto = h[6];
	} else {
		return 1;
	}
	if (l4 < 20 || l4 > 60)
		return 1;
	if (*proto == IPPROTO_TCP) {
		if (bpf_skb_load_bytes(skb, l4, tcp, sizeof(tcp)))
			return 1;
		if ((tcp[13] & (MC_TCP_SYN | MC_TCP_ACK)) != MC_TCP_SYN)
			return 1;
	} else if (*proto == IPPROTO_UDP) {
		if (bpf_skb_load_bytes(skb, l4, tcp, 4))
			return 1;
		sk = skb->sk;
		if (sk)
			sk = bpf_sk_fullsock(sk);
		if (sk && sk->state == MC_TCP_STATE_ESTABLISHED)
			return 1; /* a connected socket hears only its peer: a reply */
	} else {
		return 1;
	}
	__builtin_memcpy(port, &tcp[2], 2);
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		src->addr[0] = ip[3];
		dst[0] = ip[4];
		src->family = 4;
		src->prefix = 32;
		return (bpf_ntohl(src->addr[0]) >> 24) == 127;
	}
	for (int w = 0; w < 4; w++) {
		src->addr[w] = ip[2 + w];
		dst[w] = ip[6 + w];
	}
	src->family = 6;
	src->prefix = 128;
	return !src->addr[0] && !src->addr[1] && !src->addr[2] && src->addr[3] == bpf_htonl(1);
}

/*
 * Ingress at an endpoint pod (attached by the agent to each pod's cgroup, never to the routed
 * root): a connection opened to the pod by a source meshc does not route here (another node's
 * host, anything outside) is judged by decideNetwork, the connect() check's decision: the
 * source's identities from its address (the same address tables, full length then the prefix
 * walk), the destination the pod the socket's cgroup belongs to (mc_np_endpoints), the packet's
 * destination port and protocol. Denied: dropped, counted by reason in mc_np_metrics, reported in
 * mc_np_events (direction NP_DIR_INGRESS; the address is the pod's, the client the source's pod
 * identity). With no pod isolated for ingress this is one inlined array lookup.
 */
SEC("cgroup_skb/ingress")
int mc_np_ingress(struct __sk_buff *skb)
{
	struct np_addr_value *self, *hit = 0;
	struct np_addr_value source, pod;
	struct np_addr_key src = {};
	struct np_decision out = {};
	struct mc_np_config *cfg;
	struct np_identity *id;
	__u32 dst[4] = {};
	__u32 index = 0;
	__u64 cgroup_id, *count;
	__u16 port = 0;
	__u8 proto = 0;

	cfg = bpf_map_lookup_elem(&mc_np_config, &index);
	if (!cfg || !cfg->ingress)
		return 1;
	cgroup_id = bpf_skb_cgroup_id(skb);
	self = bpf_map_lookup_elem(&mc_np_endpoints, &cgroup_id);
	if (!self || !self->pod)
		return 1;
	pod = *self;
	id = bpf_map_lookup_elem(&mc_np_identities, &pod.pod);
	if (!id || !id->ingress_policy)
		return 1;
	if (mc_np_ingress_packet(skb, &src, dst, &port, &proto))
		return 1;
	if (bpf_map_lookup_elem(&mc_np_host, &src))
		return 1;
	mc_np_resolve_full(&src, &source, &hit);
	if (mc_decide_network(source.pod, source.cidr, &pod, port, proto, &out) == NP_ALLOW)
		return 1;
	index = out.reason;
	count = bpf_map_lookup_elem(&mc_np_metrics, &index);
	if (count)
		*count += 1; /* per-CPU slot */
	mc_np_event_emit(bpf_get_socket_cookie(skb), cgroup_id, source.pod, dst, src.family, port, proto, &out);
	return 0;
}
