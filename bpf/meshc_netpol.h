/* meshc_netpol.h: network policy in the hooks: the client's identity by cgroup, the egress verdict
 * after the routing decision, denials counted by reason and reported, and the syscall harness. */
#ifndef MESHC_NETPOL_H
#define MESHC_NETPOL_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
/* First: it defines how the policy reads its inputs before it includes meshc_policy.h. */
#include "meshc_helpers.h" /* mc_backend_family_is */
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

#ifndef MC_NP_PICK_BATCH
#define MC_NP_PICK_BATCH 1024 /* decisions per test_run of mc_harness_np_pick */
#endif

/* In and out of mc_np_decide: one destination's verdict. */
struct mc_np_verdict_query {
	struct np_addr_key dst;  /* in: the destination address (prefix set here to full length) (20 bytes) */
	__u32 client;            /* in: client pod identity */
	__u32 client_cidr;       /* in: CIDR identity of the client's address */
	__u16 port;              /* in: destination port, network byte order */
	__u8 proto;              /* in: IPPROTO_* */
	__u8 fast;               /* out: 1 when the switch's shortcut decided */
	struct np_decision out;  /* out: the whole decision when not `fast` (16 bytes) */
};
_Static_assert(sizeof(struct mc_np_verdict_query) == 48, "mc_np_verdict_query size");

/*
 * In and out of mc_np_judge: one connection's network policy question, with the judge's working
 * state (on the caller's stack: the global functions keep frames small, as the hooks' own frames
 * and three call levels must fit in 512 bytes).
 */
struct mc_np_query {
	__u32 client;            /* in: client pod identity */
	__u32 client_cidr;       /* in: CIDR identity of the client's address */
	__u8 pool;               /* in: 1 when `out` is the routing policy's pick from the Service's slots */
	__u8 verdict;            /* out: NP_ALLOW or NP_DENY */
	__u8 pad[2];             /* zero */
	struct np_decision np;   /* out: when denied, the decision on `out` as given (16 bytes) */
	struct decision cand;    /* scratch: the candidate tried last (36 bytes) */
	struct slot_range range; /* scratch: the usable range of the pick (8 bytes) */
	struct mc_np_verdict_query v; /* scratch: one destination's verdict (48 bytes) */
};
_Static_assert(sizeof(struct mc_np_query) == 120, "mc_np_query size");

#ifndef MC_NP_SCRATCH_LEVELS /* at least 4 */
#define MC_NP_SCRATCH_LEVELS 4 /* programs on one CPU (a preempted one and those after it) that can judge at once; mc_np_take tries 4 */
#endif

/*
 * Per-CPU room for mc_np_judge's question. Three call levels (the hook, mc_np_judge,
 * mc_np_decide) and the hooks' own frames do not fit in the 512 bytes of BPF stack with it on
 * the stack. A cgroup hook can be preempted on a preemptible kernel and another task's hook run
 * on the same CPU: each takes the first free level (compare-and-swap of `busy`); with every
 * level taken the connection is refused (fail closed), counted in mc_np_metrics[0].
 */
struct mc_np_scratch {
	__u32 busy;             /* 1 while a program on this CPU uses this level */
	__u32 pad;              /* zero */
	struct service_key key; /* the frontend (a copy: the hook's own never goes to a function call) */
	struct decision out;    /* the destination, the backend taken after mc_np_judge */
	struct mc_np_query q;   /* the question (120 bytes) */
};
_Static_assert(sizeof(struct mc_np_scratch) == 184, "mc_np_scratch size");

/* Input and output of mc_harness_np_pick: mc_np_judge's questions (key, out, q), answered in place. */
struct mc_np_pick_batch {
	struct mc_np_scratch slots[MC_NP_PICK_BATCH]; /* busy unused */
};

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

/* mc_np_judge's room (struct mc_np_scratch), per CPU, one per level. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct mc_np_scratch);
	__uint(max_entries, MC_NP_SCRATCH_LEVELS);
} mc_np_scratch SEC(".maps");

/*
 * Denials by NP_REASON_* (index 1 stays zero: it allows); summed over CPUs. Index 0 (no reason
 * denies) counts refusals because every level of mc_np_scratch was taken on that CPU.
 */
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

#ifndef MC_NP_HOST_MAX
#define MC_NP_HOST_MAX 256 /* addresses of this node */
#endif

/* This node's own addresses (struct np_addr_key at full length -> 1), written by the agent: a
 * packet from one of them passes the ingress check (kubelet probes, the node's processes). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct np_addr_key);
	__type(value, __u8);
	__uint(max_entries, MC_NP_HOST_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_np_host SEC(".maps");

/* Input and output of mc_harness_netpol: one batch (never pinned: tests and benchmarks only). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct mc_np_harness_batch);
	__uint(max_entries, 1);
} mc_np_harness SEC(".maps");

/* Input and output of mc_harness_np_pick: one batch (never pinned: tests only). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct mc_np_pick_batch);
	__uint(max_entries, 1);
} mc_np_pick_harness SEC(".maps");

/* State of one address lookup: the address, the lengths to try, the key built, the result. */
struct mc_np_resolve_loop {
	const __u32 *addr;       /* the address, network byte order */
	struct np_addr_key key;
	struct np_addr_value peer;
	__u8 base;               /* first mc_np_prefixes index of its family (0 or NP_PREFIX_V6_BASE) */
	__u8 lengths;            /* indexes of its family (33 or NP_MAX_PREFIXES) */
	__u8 pad[2];
};
_Static_assert(NP_PREFIX_V6_BASE < 256 && NP_MAX_PREFIXES < 256, "mc_np_resolve_loop: base and lengths fit a byte");

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

	loop.addr = addr;
	loop.base = family == 6 ? NP_PREFIX_V6_BASE : 0;
	loop.lengths = family == 6 ? NP_MAX_PREFIXES : 33;
	loop.key.family = family;
	loop.peer.cidr = NP_ID_WORLD;
	bpf_loop(NP_MAX_PREFIXES, __mc_np_resolve_one, &loop, 0);
	*peer = loop.peer;
}

static __always_inline void mc_np_event_emit(__u64 cookie, __u64 cgroup_id, __u32 client, const __u32 *addr,
					     __u8 family, __u16 port, __u8 proto, const struct np_decision *out)
{
	struct mc_np_event *ev = bpf_ringbuf_reserve(&mc_np_events, sizeof(*ev), 0);

	if (!ev)
		return;
	ev->cookie = cookie;
	ev->cgroup_id = cgroup_id;
	ev->timestamp = bpf_ktime_get_ns();
	__builtin_memcpy(ev->addr, addr, sizeof(ev->addr));
	ev->port = port;
	ev->family = family;
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
 * Who holds `full` (a key of full length: address, family, prefix 32 or 128), as mc_np_resolve finds it, starting
 * with one lookup at full length: a hit there is the longest prefix there is (every length of a
 * row is listed in mc_np_prefixes), so the walk is needed only for an address that is no pod's
 * and no /32 (/128) of an ipBlock. `*hit` is that first lookup's result.
 */
static __always_inline void mc_np_resolve_full(const struct np_addr_key *full, struct np_addr_value *peer,
					       struct np_addr_value **hit)
{
	*hit = bpf_map_lookup_elem(&mc_np_addrs, full);
	if (*hit) {
		*peer = **hit;
		return;
	}
	mc_np_resolve(full->addr, full->family, peer);
}

/*
 * 1 when no policy can deny a connection from `client` to `dst`, proved from the switch:
 * decideNetwork denies only for a client isolated for egress or a destination pod isolated for
 * ingress. A pod's address is a full-length row of mc_np_addrs (`hit`, the full-length lookup of
 * mc_np_resolve_full, `full` a key of full length), so a miss there means the destination is
 * no pod, which has no ingress rules. `hit` is looked up here only when needed (`*looked` says so).
 */
static __always_inline int mc_np_unselected(const struct mc_np_config *cfg, __u32 client, const struct np_addr_key *full,
					    struct np_addr_value **hit, int *looked)
{
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
	*hit = bpf_map_lookup_elem(&mc_np_addrs, full);
	*looked = 1;
	if (!*hit || !(*hit)->pod)
		return 1;
	pod = (*hit)->pod;
	id = bpf_map_lookup_elem(&mc_np_identities, &pod);
	return !id || !id->ingress_policy;
}

/*
 * The verdict the hooks act on: NP_ALLOW at once when the switch says nothing can deny (`*fast`
 * set), else the whole decision into `out` (who holds the address, then decideNetwork). `full`:
 * the destination as a key of full length.
 */
static __always_inline __u8 mc_np_verdict(const struct mc_np_config *cfg, __u32 client, __u32 client_cidr,
					  const struct np_addr_key *full, __u16 port, __u8 proto,
					  struct np_decision *out, int *fast)
{
	struct np_addr_value *hit = 0;
	struct np_addr_value peer;
	int looked;

	if (mc_np_unselected(cfg, client, full, &hit, &looked)) {
		*fast = 1;
		return NP_ALLOW;
	}
	*fast = 0;
	if (looked && hit)
		peer = *hit; /* the full-length row: the longest prefix */
	else
		mc_np_resolve_full(full, &peer, &hit);
	return mc_decide_network(client, client_cidr, &peer, port, proto, out);
}

/*
 * mc_np_verdict as a global function: the verifier checks the decision once here, not once per
 * call site and path (a pick calls it for the routing policy's backend and for each candidate;
 * inlined, connect4 passed 1,000,000 instructions). Returns NP_ALLOW or NP_DENY.
 */
__attribute__((noinline)) int mc_np_decide(struct mc_np_verdict_query *v)
{
	struct mc_np_config *cfg;
	__u32 zero = 0;
	int fast = 0;
	__u8 verdict;

	if (!v)
		return NP_DENY;
	cfg = bpf_map_lookup_elem(&mc_np_config, &zero);
	if (!cfg)
		return NP_ALLOW;
	v->dst.prefix = v->dst.family == 6 ? 128 : 32;
	verdict = mc_np_verdict(cfg, v->client, v->client_cidr, &v->dst, v->port, v->proto, &v->out, &fast);
	v->fast = fast;
	return verdict;
}

/* mc_np_decide on `out` (a destination of room->key's family and protocol) into room->q.v. */
static __always_inline int mc_np_decide_at(struct mc_np_scratch *room, const struct decision *out)
{
	struct mc_np_verdict_query *v = &room->q.v;

	__builtin_memset(v, 0, sizeof(*v));
	__builtin_memcpy(v->dst.addr, out->addr, sizeof(v->dst.addr));
	v->dst.family = room->key.family;
	v->client = room->q.client;
	v->client_cidr = room->q.client_cidr;
	v->port = out->port;
	v->proto = room->key.proto;
	return mc_np_decide(v);
}

/*
 * Network policy on a connection to room->out (global: verified once): NP_ALLOW when it is
 * allowed, or, for the routing policy's pick from room->key's slots (q.pool), when one of the
 * next slots of its range is (pickRange, pickCandidate in assembly/netpol/pick.ts; the first
 * allowed one is written to room->out); NP_DENY when none is, q.np then the decision on
 * room->out as given. mc_np_pick in assembly/netpol/wasm.ts walks the same way in Wasm. The
 * hooks and the pick harness call this same code. The verdict is in q.verdict.
 */
__attribute__((noinline)) int mc_np_judge(struct mc_np_scratch *room)
{
	__u32 tries;

	if (!room)
		return 0;
	room->q.verdict = NP_ALLOW;
	if (mc_np_decide_at(room, &room->out) == NP_ALLOW)
		return 0;
	room->q.verdict = NP_DENY;
	room->q.np = room->q.v.out;
	if (!room->q.pool)
		return 0;
	tries = mc_pick_range(&room->key, &room->out, &room->q.range);
	for (__u32 i = 1; i <= 255; i++) {
		/* Keeps i a known constant per iteration: folded into a count from `tries`, the
		 * verifier cannot see the loop end. */
		asm volatile("" : "+r"(i));
		if (i > tries)
			break;
		__builtin_memset(&room->q.cand, 0, sizeof(room->q.cand));
		if (mc_pick_candidate(&room->out, &room->q.range, i, &room->q.cand) != VERDICT_TRANSLATE)
			continue;
		if (!mc_backend_family_is(&room->q.cand, room->key.family))
			continue;
		if (mc_np_decide_at(room, &room->q.cand) != NP_ALLOW)
			continue;
		room->out = room->q.cand;
		room->q.verdict = NP_ALLOW;
		return 0;
	}
	return 0;
}

/* The client's identity: the pod whose cgroup the task is in, else 0 (no pod) and the world. */
static __always_inline void mc_np_client(__u64 cgroup_id, __u32 *client, __u32 *client_cidr)
{
	struct np_addr_value *self = bpf_map_lookup_elem(&mc_np_endpoints, &cgroup_id);

	*client = self ? self->pod : 0;
	*client_cidr = self ? self->cidr : NP_ID_WORLD;
}

/*
 * Network policy on a connect()/sendmsg() of the current task to `out` (the backend the routing
 * policy chose for `key` when `pool`, else the address dialled or a consumer route's listener,
 * which have no other choice): 0 to go on with `out`, possibly moved to the next allowed backend
 * of its range; -EPERM when none is allowed, counted by reason and reported (the denial of `out`
 * as given). With no policy isolating any pod this costs one inlined array lookup.
 */
/* Level *index of mc_np_scratch when free on this CPU (then marked busy), else 0. */
static __always_inline struct mc_np_scratch *mc_np_take(__u32 *index)
{
	struct mc_np_scratch *room = bpf_map_lookup_elem(&mc_np_scratch, index);

	if (room && __sync_val_compare_and_swap(&room->busy, 0, 1) == 0)
		return room;
	return 0;
}

static __always_inline int __mc_np_check_to(void *ctx, struct service_key *key, struct decision *out,
					    int pool, __u64 cgroup_id)
{
	struct mc_np_scratch *room;
	struct mc_np_config *cfg;
	__u32 index = 0; /* one key slot for every lookup: the hooks' stack is tight */
	__u64 *count;
	int verdict;

	struct np_identity *own;
	__u32 client, client_cidr;

	cfg = bpf_map_lookup_elem(&mc_np_config, &index);
	if (!cfg || (!cfg->egress && !cfg->ingress))
		return 0;
	mc_np_client(cgroup_id, &client, &client_cidr);
	if (!cfg->ingress) {
		/* mc_np_unselected's first half, before the scratch is taken: no pod is isolated for
		 * ingress, so only the client's egress isolation can deny. */
		if (!client)
			return 0;
		own = bpf_map_lookup_elem(&mc_np_identities, &client);
		if (!own || !own->egress_policy)
			return 0;
	}
	/*
	 * The verdict on `out` as given, its question on this stack: no scratch, one global call.
	 * Only a denial that may move to another slot of the pick goes on to mc_np_judge below.
	 */
	{
		struct mc_np_verdict_query v;

		__builtin_memset(&v, 0, sizeof(v));
		__builtin_memcpy(v.dst.addr, out->addr, sizeof(v.dst.addr));
		v.dst.family = key->family;
		v.client = client;
		v.client_cidr = client_cidr;
		v.port = out->port;
		v.proto = key->proto;
		if (mc_np_decide(&v) == NP_ALLOW)
			return 0;
		if (!pool) {
			index = v.out.reason;
			count = bpf_map_lookup_elem(&mc_np_metrics, &index);
			if (count)
				*count += 1; /* per-CPU slot */
			mc_np_event_emit(bpf_get_socket_cookie(ctx), cgroup_id, client, out->addr, key->family, out->port,
					 key->proto, &v.out);
			return -EPERM;
		}
	}
	index = 0;
	room = mc_np_take(&index);
	for (int level = 1; level < 4 && !room; level++) {
		index = level;
		room = mc_np_take(&index);
	}
	if (!room) {
		index = 0;
		count = bpf_map_lookup_elem(&mc_np_metrics, &index);
		if (count)
			*count += 1;
		return -EPERM;
	}
	__builtin_memset(&room->q, 0, sizeof(room->q));
	room->key = *key;
	room->out = *out;
	room->q.pool = pool;
	room->q.client = client;
	room->q.client_cidr = client_cidr;
	mc_np_judge(room);
	verdict = room->q.verdict;
	if (verdict == NP_ALLOW && pool)
		*out = room->out;
	if (verdict != NP_ALLOW) {
		index = room->q.np.reason;
		count = bpf_map_lookup_elem(&mc_np_metrics, &index);
		if (count)
			*count += 1; /* per-CPU slot */
		mc_np_event_emit(bpf_get_socket_cookie(ctx), cgroup_id, client, out->addr, key->family, out->port,
				 key->proto, &room->q.np);
	}
	room->busy = 0;
	return verdict == NP_ALLOW ? 0 : -EPERM;
}

/* Network policy on the backend the routing policy chose for `key` (see __mc_np_check_to). */
static __always_inline int __mc_np_check_backend(void *ctx, struct service_key *key, struct decision *out,
						 int pool, __u64 cgroup_id)
{
	return __mc_np_check_to(ctx, key, out, pool, cgroup_id);
}

/* Network policy on the address dialled, when it is no Service. */
static __always_inline int __mc_np_check(void *ctx, const __u32 *addr, __u8 family, __u16 port,
					 __u8 proto, __u64 cgroup_id)
{
	struct service_key key = {};
	struct decision out = {};

	__builtin_memcpy(out.addr, addr, sizeof(out.addr));
	out.port = port;
	key.family = family;
	key.proto = proto;
	return __mc_np_check_to(ctx, &key, &out, 0, cgroup_id);
}

#endif /* MESHC_NETPOL_H */
