/* ringfill.bpf.c: bench/observe.ts's event source beyond what its dialers reach. A syscall
 * program that appends `count` translation events to mc_events through the hooks' own
 * mc_event_emit (the same reservation, events-lost count and wakeup rule), loaded with the agent's
 * pin directory so that every map is the agent's (the ring it reads, mc_config's switch,
 * mc_metrics' lost count). Built at bench time; nothing here is attached anywhere. */
#include "meshc_helpers.h"

struct mc_ringfill_args {
	__u64 cgroup_id;
	__u32 count;
	__u32 svc_id;
	__u32 backend_id;
	__u32 pad;
};

static long __mc_ringfill_one(__u32 i, void *data)
{
	struct mc_ringfill_args *args = data;

	mc_event_emit(mc_events_on(), MC_EV_TRANSLATE, i, args->cgroup_id, args->svc_id, args->backend_id, VERDICT_TRANSLATE, 0, 4,
		      IPPROTO_TCP);
	return 0;
}

SEC("syscall")
int mc_ringfill(struct mc_ringfill_args *args)
{
	struct mc_ringfill_args copy = *args;
	/* A 32-bit load of its own: copied with the struct, the count shares a 64-bit register with
	 * svc_id, and the verifier's inlined bpf_loop compares all 64 bits with its maximum. */
	__u32 count = args->count;

	if (count > 4096)
		return -E2BIG;
	bpf_loop(count, __mc_ringfill_one, &copy, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
