/* meshc_helpers.h: small inline helpers shared by the hooks: metrics, events, address checks. */
#ifndef MESHC_HELPERS_H
#define MESHC_HELPERS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/*
 * How the hooks read decide()'s inputs (client identity, random number, clock), by position:
 * the generated policy reads each where a path needs it, once (struct mc_inputs). Defined before
 * the policy header, which falls back to the caller's values without them.
 */
#define MC_READ_INPUT0(ctx, value) bpf_get_netns_cookie(ctx)
#define MC_READ_INPUT1(ctx, value) bpf_get_prandom_u32()
/* The coarse clock (a tick's resolution) serves affinity timeouts of whole seconds. */
#define MC_READ_INPUT2(ctx, value) bpf_ktime_get_coarse_ns()
#include "meshc_policy.h"

_Static_assert(MC_INPUT_COUNT == 3, "decide() takes three inputs: client, rand, now");
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

/* The events enabled now (mc_config.events): 0 unless a reader has turned them on. */
static __always_inline __u32 mc_events_on(void)
{
	__u32 zero = 0;
	struct mc_config *cfg = bpf_map_lookup_elem(&mc_config, &zero);

	return cfg ? cfg->events : 0;
}

/*
 * Appends an event, if `type` is in `enabled` (mc_events_on()). Records are committed without
 * waking the reader (it polls) until MC_EVENTS_WAKEUP bytes (or mc_config.wakeup_bytes) wait, so
 * a busy node costs the reader one wakeup per batch, not one per record.
 */
static __always_inline void mc_event_emit(__u32 enabled, __u8 type, __u64 cookie, __u64 cgroup_id, __u32 svc_id,
					  __u32 backend_id, __u8 verdict, __u8 reason, __u8 family, __u8 proto)
{
	struct mc_config *cfg;
	struct mc_event *ev;
	__u64 wakeup = MC_EVENTS_WAKEUP;
	__u32 zero = 0;
	__u64 avail;

	if (!(enabled & (1u << type)))
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
	cfg = bpf_map_lookup_elem(&mc_config, &zero);
	if (cfg && cfg->wakeup_bytes)
		wakeup = cfg->wakeup_bytes;
	/*
	 * Wake the reader once, when this record takes the waiting bytes across the threshold (a
	 * record takes its size plus an 8-byte header). Above it, the reader is awake or its timer
	 * will come: waking it per record there would cost a wakeup each while it catches up.
	 */
	avail = bpf_ringbuf_query(&mc_events, BPF_RB_AVAIL_DATA);
	bpf_ringbuf_submit(ev, avail >= wakeup && avail < wakeup + sizeof(*ev) + 8 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

/* Whether the chosen backend's address family is `family` (dual-stack pools may mix them). */
static __always_inline int mc_backend_family_is(const struct decision *out, __u8 family)
{
	__u32 id = out->backend_id;
	struct backend *b = bpf_map_lookup_elem(&mc_backends, &id);

	return b && b->family == family;
}

/*
 * Addresses: every struct holds one as __u32 addr[4], network byte order, an IPv4 address in
 * addr[0] with the rest zero. A context's user_ip6 or remote_ip6 is read and written one word at
 * a time (the loops below), the only access width every supported kernel allows.
 */
static __always_inline void mc_addr_copy(__u32 *dst, const __u32 *src)
{
	__builtin_memcpy(dst, src, 4 * sizeof(__u32));
}

static __always_inline int mc_addr_equal(const __u32 *a, const __u32 *b)
{
	__u32 diff = 0;

	for (int i = 0; i < 4; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/*
 * Reads an IPv6 socket address (`ip6` in the context) into `dst` as the maps key it: a v4-mapped
 * address (::ffff:a.b.c.d) is the IPv4 address. Returns its family, 4 or 6.
 */
static __always_inline __u8 mc_addr6_load(__u32 *dst, const __u32 *ip6)
{
	__u32 words[4];

	for (int i = 0; i < 4; i++)
		words[i] = ip6[i];
	if (words[0] == 0 && words[1] == 0 && words[2] == bpf_htonl(0x0000ffff)) {
		dst[0] = words[3];
		return 4;
	}
	mc_addr_copy(dst, words);
	return 6;
}

/* Writes `addr` back to an IPv6 socket address: an IPv4 one into the v4-mapped address's last word. */
static __always_inline void mc_addr6_store(__u32 *ip6, const __u32 *addr, __u8 family)
{
	if (family == 4) {
		ip6[3] = addr[0];
		return;
	}
	for (int i = 0; i < 4; i++)
		ip6[i] = addr[i];
}

/* The mc_peers slot of a peer (address as the maps key it, port in network byte order). */
static __always_inline __u32 mc_peer_slot(const __u32 *addr, __u16 port)
{
	__u32 h = addr[0] ^ addr[1] ^ addr[2] ^ addr[3];

	h ^= (__u32)port * 0x9e3779b1u;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h & (MC_PEERS_SLOTS - 1);
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
