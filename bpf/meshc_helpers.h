/* meshc_helpers.h: small inline helpers shared by the hooks: metrics, events, address checks. */
#ifndef MESHC_HELPERS_H
#define MESHC_HELPERS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "meshc_policy.h"
#include "meshc_consts.h"
#include "meshc_structs.h"
#include "meshc_maps.h"

static __always_inline void mc_metric_inc(__u32 index)
{
	__u64 *count = bpf_map_lookup_elem(&mc_metrics, &index);

	if (count)
		*count += 1; /* per-CPU slot: no atomic needed */
}

/* Counts a refusal under its reason; reasons past the known ones share one counter. */
static __always_inline void mc_metric_refused(__u8 reason)
{
	mc_metric_inc(reason < MC_METRIC_REFUSED_OTHER ? reason : MC_METRIC_REFUSED_OTHER);
}

static __always_inline void mc_event_emit(__u8 type, __u64 cookie, __u64 cgroup_id, __u32 svc_id,
					  __u32 backend_id, __u8 verdict, __u8 reason, __u8 family, __u8 proto)
{
	struct mc_event *ev;

	if (!(mc_cfg_events & (1u << type)))
		return;
	ev = bpf_ringbuf_reserve(&mc_events, sizeof(*ev), 0);
	if (!ev) {
		mc_metric_inc(MC_METRIC_EVENTS_LOST);
		return;
	}
	ev->cookie = cookie;
	ev->cgroup_id = cgroup_id;
	ev->timestamp = bpf_ktime_get_ns();
	ev->svc_id = svc_id;
	ev->backend_id = backend_id;
	ev->type = type;
	ev->verdict = verdict;
	ev->reason = reason;
	ev->family = family;
	ev->proto = proto;
	ev->pad[0] = 0;
	ev->pad[1] = 0;
	ev->pad[2] = 0;
	bpf_ringbuf_submit(ev, 0);
}

/* Whether the chosen backend's address family is `family` (dual-stack pools may mix them). */
static __always_inline int mc_backend_family_is(const struct decision *out, __u8 family)
{
	__u32 id = out->backend_id;
	struct backend *b = bpf_map_lookup_elem(&mc_backends, &id);

	return b && b->family == family;
}

/* ::ffff:a.b.c.d */
static __always_inline int mc_addr6_is_v4_mapped(__u32 a0, __u32 a1, __u32 a2)
{
	return a0 == 0 && a1 == 0 && a2 == bpf_htonl(0x0000ffff);
}

/*
 * The verdict of a connect()/sendmsg() hook for a helper's -errno. Returning 0 alone makes the
 * call fail with EPERM; bpf_set_retval() (kernel 5.18+) replaces that errno with ours.
 */
static __always_inline int mc_sock_verdict(int err)
{
	if (!err)
		return SYS_PROCEED;
	bpf_set_retval(err);
	return SYS_REJECT;
}

#endif /* MESHC_HELPERS_H */
