/* meshc_netpol.h: network policy in the hooks: the client's identity by cgroup, the egress verdict
 * after the routing decision, denials counted by reason and reported, and the syscall harness. */
#ifndef MESHC_NETPOL_H
#define MESHC_NETPOL_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "meshc_policy.h" /* np_* structs and maps, mc_decide_network */
#include "meshc_structs.h" /* struct mc_name_key, struct mc_name */

#ifndef EPERM
#define EPERM 1
#endif
#ifndef MC_NP_ENDPOINTS_MAX
#define MC_NP_ENDPOINTS_MAX 65536 /* pod cgroups (and the cgroups below them) with an identity */
#endif
#ifndef MC_NP_EVENTS_BYTES
#define MC_NP_EVENTS_BYTES (128 * 1024) /* denial ring buffer size, a power of two */
#endif
#ifndef MC_NP_HARNESS_BATCH
#define MC_NP_HARNESS_BATCH 4096 /* decisions per test_run of mc_harness_netpol */
#endif

/* A denial in mc_np_events: which client, which destination, which policy. */
struct mc_np_event {
	__u64 cookie;     /* socket cookie */
	__u64 cgroup_id;  /* cgroup of the task that connected */
	__u64 timestamp;  /* bpf_ktime_get_ns() */
	__u32 addr[4];    /* destination (the chosen backend), network byte order */
	__u16 port;       /* destination port, network byte order */
	__u8 family;      /* 4 or 6 */
	__u8 proto;       /* IPPROTO_TCP or IPPROTO_UDP */
	__u32 client;     /* client pod identity, 0 for a process that is no pod */
	__u32 peer_pod;   /* destination pod identity, 0 when it is no pod */
	__u32 peer_cidr;  /* destination CIDR identity */
	__u32 policy;     /* id of the deciding policy */
	__u8 reason;      /* NP_REASON_* */
	__u8 direction;   /* NP_DIR_* of the end that denied */
	__u8 pad[6];      /* zero */
};
_Static_assert(sizeof(struct mc_np_event) == 72, "mc_np_event size");

/*
 * Value of mc_np_config (index 0): how many pod identities a policy isolates, per direction,
 * written by the agent (src/agent/netpol.ts) and the test harnesses from the same tables as the
 * rows. With both 0 nothing can be denied and the hooks stop after this one array lookup.
 */
struct mc_np_config {
	__u32 egress;  /* identities isolated for egress (mc_np_identities rows with egress_policy) */
	__u32 ingress; /* identities isolated for ingress (rows with ingress_policy) */
};
_Static_assert(sizeof(struct mc_np_config) == 8, "mc_np_config size");

/* One decision of the network policy harness: inputs written by the host, outputs by the program. */
struct mc_np_harness_slot {
	struct np_addr_key dst;  /* in: destination (20 bytes) */
	__u32 client;            /* in: client pod identity */
	__u32 client_cidr;       /* in: CIDR identity of the client's address */
	__u16 port;              /* in: destination port, network byte order */
	__u8 proto;              /* in: IPPROTO_* */
	__u8 verdict;            /* out: the hooks' verdict (mc_np_verdict: the shortcut, else mc_decide_network) */
	struct np_decision out;  /* out: zeroed, then filled by the whole decision (16 bytes) */
	__u8 fast;               /* out: 1 when mc_np_verdict decided without the decision (nothing can deny) */
	__u8 pad[7];             /* zero */
};
_Static_assert(sizeof(struct np_addr_key) == 20, "np_addr_key changed: update mc_np_harness_slot");
_Static_assert(sizeof(struct np_decision) == 16, "np_decision changed: update mc_np_harness_slot");
_Static_assert(__builtin_offsetof(struct mc_np_harness_slot, out) == 32, "mc_np_harness_slot.out");
_Static_assert(sizeof(struct mc_np_harness_slot) == 56, "mc_np_harness_slot size");

struct mc_np_harness_batch {
	struct mc_np_harness_slot slots[MC_NP_HARNESS_BATCH];
};

/* Context of mc_harness_netpol (test_run ctx_in). */
struct mc_np_harness_args {
	__u32 count;   /* in: decisions to run from slot 0 */
	__u32 allowed; /* out: how many were NP_ALLOW */
};

/* The identity of the pod a cgroup belongs to (written by the agent for the pod's cgroup and every
 * cgroup below it, as mc_skip): cgroup id -> struct np_addr_value (pod identity, CIDR identity). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, struct np_addr_value);
	__uint(max_entries, MC_NP_ENDPOINTS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_np_endpoints SEC(".maps");

/* The switch (struct mc_np_config at index 0): an array, so the verifier inlines its lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct mc_np_config);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_np_config SEC(".maps");

/* Denials by NP_REASON_* (index 0 and 1 stay zero: they allow); summed over CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, NP_REASON_COUNT);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_np_metrics SEC(".maps");

/* Denials (struct mc_np_event) for the agent and meshc monitor. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MC_NP_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_np_events SEC(".maps");

#define MC_NP_NAME_POLICY 1   /* mc_np_names kind: a policy id */
#define MC_NP_NAME_IDENTITY 2 /* mc_np_names kind: an identity */

/* Names of policy ids ("NetworkPolicy ns/name") and identities ("ns app=web", "10.0.0.0/8"),
 * written by the agent for `meshc monitor`. No program reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct mc_name_key);
	__type(value, struct mc_name);
	__uint(max_entries, MC_NAMES_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_np_names SEC(".maps");

/* Input and output of mc_harness_netpol: one batch (never pinned: tests and benchmarks only). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct mc_np_harness_batch);
	__uint(max_entries, 1);
} mc_np_harness SEC(".maps");

/* State of one address lookup: the address, the lengths to try, the key built, the result. */
struct mc_np_resolve_loop {
	__u32 addr[4];         /* the address, network byte order */
	__u32 base;            /* first mc_np_prefixes index of its family */
	__u32 lengths;         /* indexes of its family */
	struct np_addr_key key;
	struct np_addr_value peer;
};

/* The network-order mask of the bits of a `prefix`-bit prefix that fall in address word `word`. */
static __always_inline __u32 mc_np_word_mask(__u32 prefix, __u32 word)
{
	__u32 start = word * 32, bits;

	if (prefix <= start)
		return 0;
	bits = prefix - start >= 32 ? 32 : prefix - start;
	return bpf_htonl(0xffffffffU << (32 - bits));
}

/* One prefix length, longest first: the key masked to it, looked up; 1 stops the loop. */
static long __mc_np_resolve_one(__u32 i, void *data)
{
	struct mc_np_resolve_loop *loop = data;
	struct np_addr_value *hit;
	struct np_prefix *entry;
	__u32 index = loop->base + i;
	__u32 prefix;

	if (i >= loop->lengths)
		return 1;
	entry = bpf_map_lookup_elem(&mc_np_prefixes, &index);
	if (!entry || !entry->used)
		return 1;
	prefix = entry->prefix;
	loop->key.prefix = entry->prefix;
	for (__u32 w = 0; w < 4; w++)
		loop->key.addr[w] = loop->addr[w] & mc_np_word_mask(prefix, w);
	hit = bpf_map_lookup_elem(&mc_np_addrs, &loop->key);
	if (!hit)
		return 0;
	loop->peer = *hit;
	return 1;
}

/*
 * Who holds `addr`: the entry of mc_np_addrs with the longest prefix holding it, trying the
 * lengths mc_np_prefixes lists, longest first (resolveAddress in assembly/netpol/wasm.ts does the
 * same in Wasm). bpf_loop keeps the verifier's work to one pass over the body.
 */
static __always_inline void mc_np_resolve(const __u32 *addr, __u8 family, struct np_addr_value *peer)
{
	struct mc_np_resolve_loop loop = {};

	__builtin_memcpy(loop.addr, addr, sizeof(loop.addr));
	loop.base = family == 6 ? NP_PREFIX_V6_BASE : 0;
	loop.lengths = family == 6 ? NP_MAX_PREFIXES : 33;
	loop.key.family = family;
	loop.peer.cidr = NP_ID_WORLD;
	bpf_loop(NP_MAX_PREFIXES, __mc_np_resolve_one, &loop, 0);
	*peer = loop.peer;
}

static __always_inline void mc_np_event_emit(__u64 cookie, __u64 cgroup_id, __u32 client,
					     const struct np_addr_key *dst, __u16 port, __u8 proto,
					     const struct np_decision *out)
{
	struct mc_np_event *ev = bpf_ringbuf_reserve(&mc_np_events, sizeof(*ev), 0);

	if (!ev)
		return;
	ev->cookie = cookie;
	ev->cgroup_id = cgroup_id;
	ev->timestamp = bpf_ktime_get_ns();
	__builtin_memcpy(ev->addr, dst->addr, sizeof(ev->addr));
	ev->port = port;
	ev->family = dst->family;
	ev->proto = proto;
	ev->client = client;
	ev->peer_pod = out->peer_pod;
	ev->peer_cidr = out->peer_cidr;
	ev->policy = out->policy;
	ev->reason = out->reason;
	ev->direction = out->direction;
	__builtin_memset(ev->pad, 0, sizeof(ev->pad));
	bpf_ringbuf_submit(ev, 0);
}

/*
 * Who holds `dst` (a full-length key: address and family), as mc_np_resolve finds it, starting
 * with one lookup at full length: a hit there is the longest prefix there is (every length of a
 * row is listed in mc_np_prefixes), so the walk is needed only for an address that is no pod's
 * and no /32 (/128) of an ipBlock. `*hit` is that first lookup's result.
 */
static __always_inline void mc_np_resolve_full(const struct np_addr_key *dst, struct np_addr_value *peer,
					       struct np_addr_value **hit)
{
	struct np_addr_key full = *dst;

	full.prefix = full.family == 6 ? 128 : 32;
	*hit = bpf_map_lookup_elem(&mc_np_addrs, &full);
	if (*hit) {
		*peer = **hit;
		return;
	}
	mc_np_resolve(dst->addr, dst->family, peer);
}

/*
 * 1 when no policy can deny a connection from `client` to `dst`, proved from the switch:
 * decideNetwork denies only for a client isolated for egress or a destination pod isolated for
 * ingress. A pod's address is a full-length row of mc_np_addrs (`hit`, the full-length lookup of
 * mc_np_resolve_full), so a miss there means the destination is no pod, which has no ingress
 * rules. `hit` is looked up here only when needed (`*looked` says so).
 */
static __always_inline int mc_np_unselected(const struct mc_np_config *cfg, __u32 client, const struct np_addr_key *dst,
					    struct np_addr_value **hit, int *looked)
{
	struct np_addr_key full = *dst;
	struct np_identity *id;
	__u32 pod;

	*looked = 0;
	if (cfg->egress && client) {
		id = bpf_map_lookup_elem(&mc_np_identities, &client);
		if (id && id->egress_policy)
			return 0;
	}
	if (!cfg->ingress)
		return 1;
	full.prefix = full.family == 6 ? 128 : 32;
	*hit = bpf_map_lookup_elem(&mc_np_addrs, &full);
	*looked = 1;
	if (!*hit || !(*hit)->pod)
		return 1;
	pod = (*hit)->pod;
	id = bpf_map_lookup_elem(&mc_np_identities, &pod);
	return !id || !id->ingress_policy;
}

/*
 * The verdict the hooks act on: NP_ALLOW at once when the switch says nothing can deny (`*fast`
 * set), else the whole decision into `out` (who holds the address, then decideNetwork).
 */
static __always_inline __u8 mc_np_verdict(const struct mc_np_config *cfg, __u32 client, __u32 client_cidr,
					  const struct np_addr_key *dst, __u16 port, __u8 proto,
					  struct np_decision *out, int *fast)
{
	struct np_addr_value *hit = 0;
	struct np_addr_value peer;
	int looked;

	if (mc_np_unselected(cfg, client, dst, &hit, &looked)) {
		*fast = 1;
		return NP_ALLOW;
	}
	*fast = 0;
	if (looked && hit)
		peer = *hit; /* the full-length row: the longest prefix */
	else
		mc_np_resolve_full(dst, &peer, &hit);
	return mc_decide_network(client, client_cidr, &peer, port, proto, out);
}

/*
 * The network policy verdict for a connect()/sendmsg() of the current task to addr:port (the
 * backend the routing policy chose, or the address dialled when it is no Service): 0 to go on,
 * -EPERM when a policy denies it (counted by reason, reported in mc_np_events). With no policy
 * isolating any pod this costs one inlined array lookup.
 */
static __always_inline int __mc_np_check(void *ctx, const __u32 *addr, __u8 family, __u16 port,
					 __u8 proto, __u64 cgroup_id)
{
	struct np_addr_key dst = {};
	struct np_decision out = {};
	struct np_addr_value *self;
	struct mc_np_config *cfg;
	__u32 client = 0, client_cidr = NP_ID_WORLD;
	__u32 zero = 0, reason;
	__u64 *count;
	int fast;

	cfg = bpf_map_lookup_elem(&mc_np_config, &zero);
	if (!cfg || (!cfg->egress && !cfg->ingress))
		return 0;
	self = bpf_map_lookup_elem(&mc_np_endpoints, &cgroup_id);
	if (self) {
		client = self->pod;
		client_cidr = self->cidr;
	}
	__builtin_memcpy(dst.addr, addr, sizeof(dst.addr));
	dst.family = family;
	if (mc_np_verdict(cfg, client, client_cidr, &dst, port, proto, &out, &fast) == NP_ALLOW)
		return 0;
	reason = out.reason;
	count = bpf_map_lookup_elem(&mc_np_metrics, &reason);
	if (count)
		*count += 1; /* per-CPU slot */
	mc_np_event_emit(bpf_get_socket_cookie(ctx), cgroup_id, client, &dst, port, proto, &out);
	return -EPERM;
}

#endif /* MESHC_NETPOL_H */
