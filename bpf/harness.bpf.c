/* harness.bpf.c: a syscall program that runs mc_decide over a batch of inputs, so tests and
 * benchmarks can drive the kernel's policy with chosen inputs (BPF_PROG_TEST_RUN). */
#include "meshc_helpers.h"

struct mc_harness_loop {
	struct mc_harness_batch *batch;
	__u32 translated;
};

static long __mc_harness_one(__u32 i, void *data)
{
	struct mc_harness_loop *loop = data;
	struct mc_harness_slot *slot;

	if (i >= MC_HARNESS_BATCH)
		return 1;
	slot = &loop->batch->slots[i];
	__builtin_memset(&slot->out, 0, sizeof(slot->out));
	slot->verdict = mc_decide(&slot->key, slot->client, slot->rand, slot->now, &slot->out);
	if (slot->verdict == VERDICT_TRANSLATE)
		loop->translated++;
	return 0;
}

/*
 * Decides slots [0, args->count) of mc_harness in order, so state the policy keeps (round-robin
 * counters, affinity) evolves exactly as it does for the same sequence elsewhere. bpf_loop
 * keeps the verifier's work to one pass over the body, whatever the batch size.
 */
SEC("syscall")
int mc_harness_decide(struct mc_harness_args *args)
{
	struct mc_harness_loop loop = {};
	__u32 zero = 0;
	__u32 count = args->count;

	loop.batch = bpf_map_lookup_elem(&mc_harness, &zero);
	if (!loop.batch)
		return -ENOENT;
	if (count > MC_HARNESS_BATCH)
		return -E2BIG;
	bpf_loop(count, __mc_harness_one, &loop, 0);
	args->translated = loop.translated;
	return 0;
}
