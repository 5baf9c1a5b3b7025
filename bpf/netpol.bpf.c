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
