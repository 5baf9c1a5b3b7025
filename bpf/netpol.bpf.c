/* netpol.bpf.c: a syscall program that runs the address lookup and mc_decide_network, as the hooks
 * do, over a batch of inputs, so tests
 * and benchmarks drive the kernel's network policy with chosen inputs (BPF_PROG_TEST_RUN). The
 * hooks themselves call __mc_np_check (meshc_netpol.h) from sock.bpf.c. */
#include "meshc_helpers.h"
#include "meshc_netpol.h"

struct mc_np_harness_loop {
	struct mc_np_harness_batch *batch;
	__u32 allowed;
};

static long __mc_np_harness_one(__u32 i, void *data)
{
	struct mc_np_harness_loop *loop = data;
	struct mc_np_harness_slot *slot;
	struct np_addr_value peer;

	if (i >= MC_NP_HARNESS_BATCH)
		return 1;
	slot = &loop->batch->slots[i];
	__builtin_memset(&slot->out, 0, sizeof(slot->out));
	mc_np_resolve(slot->dst.addr, slot->dst.family, &peer);
	slot->verdict = mc_decide_network(slot->client, slot->client_cidr, &peer, slot->port, slot->proto, &slot->out);
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
	if (!loop.batch)
		return -ENOENT;
	if (count > MC_NP_HARNESS_BATCH)
		return -E2BIG;
	bpf_loop(count, __mc_np_harness_one, &loop, 0);
	args->allowed = loop.allowed;
	return 0;
}
