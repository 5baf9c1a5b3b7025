/* sock.bpf.c: cgroup sock_addr hooks: a Service address becomes a backend at connect() and
 * sendmsg(), and the backend becomes the Service address again at recvmsg() and getpeername();
 * cgroup/sock_release gives back a socket's live-connection count.
 * The policy (structs, maps, mc_decide) comes from the generated meshc_policy.h. */
#include "meshc_helpers.h"
#include "meshc_netpol.h"

_Static_assert(MC_REASON_FAMILY_MISMATCH < MC_METRIC_REFUSED_OTHER, "refusal reasons overlap other metrics");

/* Gives back the live-connection count a socket's state holds, if any. */
static __always_inline void __mc_sock_uncount(struct mc_sock_state *state)
{
	struct counter *conns;

	if (!state->counted)
		return;
	state->counted = 0;
	conns = bpf_map_lookup_elem(&mc_conns, &state->backend_id);
	if (conns)
		__sync_fetch_and_add(&conns->value, -1);
}

/* The slot of mc_sock_slots a socket cookie indexes. */
static __always_inline struct mc_sock_slot *__mc_sock_slot(__u64 cookie)
{
	__u32 index = (__u32)cookie & (MC_SOCK_SLOTS - 1);

	return bpf_map_lookup_elem(&mc_sock_slots, &index);
}

/* A socket's state: in its slot, or in mc_socks when the slot says some spilled there. */
static __always_inline struct mc_sock_state *__mc_sock_find(struct mc_sock_slot *slot, __u64 cookie)
{
	if (slot->cookie == cookie)
		return &slot->state;
	if (!slot->spilled)
		return 0;
	return bpf_map_lookup_elem(&mc_socks, &cookie);
}

/*
 * Remembers the service a connect()ed socket dialled (its slot, else mc_socks), and when `count`
 * (a least-connections Service) counts a TCP connection against its backend (cgroup/sock_release
 * gives the count back). With established events on, a TCP connection is watched: its release
 * emits the close event. A socket that connect()s again (after a failed attempt) first gives back the
 * count it held.
 */
static __always_inline void __mc_sock_remember(struct bpf_sock_addr *ctx, const struct service_key *key,
					       const struct decision *out, __u8 revnat_flags, __u64 cgroup_id,
					       __u32 events, int count)
{
	struct mc_sock_state state = {};
	struct mc_sock_state *old;
	struct mc_sock_slot *slot;
	struct counter *conns = 0;
	__u32 backend_id = out->backend_id;
	__u64 cookie = bpf_get_socket_cookie(ctx);
	__u32 peer, *seen;

	mc_addr_copy(state.svc_addr, key->addr);
	mc_addr_copy(state.be_addr, out->addr);
	state.svc_port = key->port;
	state.be_port = out->port;
	state.family = key->family;
	state.flags = revnat_flags;
	state.svc_id = out->svc_id;
	state.backend_id = backend_id;
	state.cgroup_id = cgroup_id;
	if (key->proto == IPPROTO_TCP) {
		if (count) {
			conns = bpf_map_lookup_elem(&mc_conns, &backend_id);
			state.counted = conns != 0;
		}
		state.watched = (events >> MC_EV_ESTABLISHED) & 1;
	}
	slot = __mc_sock_slot(cookie);
	if (!slot)
		return;
	if (slot->cookie == cookie) {
		/* Connected before: give its count back, then take this one. */
		__mc_sock_uncount(&slot->state);
		slot->state = state;
	} else if (slot->cookie == 0 && __sync_val_compare_and_swap(&slot->cookie, 0, cookie) == 0) {
		if (slot->spilled) {
			/* It may have connected before while the slot was taken. */
			old = bpf_map_lookup_elem(&mc_socks, &cookie);
			if (old) {
				__mc_sock_uncount(old);
				if (!bpf_map_delete_elem(&mc_socks, &cookie))
					__sync_fetch_and_add(&slot->spilled, -1);
			}
		}
		slot->state = state;
	} else {
		old = bpf_map_lookup_elem(&mc_socks, &cookie);
		if (old) {
			__mc_sock_uncount(old);
			*old = state;
		} else {
			if (bpf_map_update_elem(&mc_socks, &cookie, &state, BPF_NOEXIST))
				return;
			__sync_fetch_and_add(&slot->spilled, 1);
		}
	}
	peer = mc_peer_slot(out->addr, out->port);
	seen = bpf_map_lookup_elem(&mc_peers, &peer);
	if (seen && !*seen)
		*seen = 1;
	if (conns)
		__sync_fetch_and_add(&conns->value, 1);
	if (!state.counted && !state.watched)
		return;
	mc_metric_inc(MC_METRIC_ESTABLISHED);
	mc_event_emit(events, MC_EV_ESTABLISHED, cookie, cgroup_id, out->svc_id, backend_id, VERDICT_TRANSLATE,
		      REASON_NONE, key->family, key->proto);
}

/*
 * A consumer route's listener for this client: VERDICT_TRANSLATE with `out` filled when the
 * caller's cgroup belongs to a namespace with consumer routes on `key`, else VERDICT_PASS.
 */
static __always_inline __u8 __mc_consumer(__u64 cgroup_id, const struct service_key *key, struct decision *out)
{
	struct mc_consumer_key ckey = {};
	struct mc_consumer_value *listener;
	__u32 *ns;

	ns = bpf_map_lookup_elem(&mc_client_ns, &cgroup_id);
	if (!ns)
		return VERDICT_PASS;
	ckey.svc = *key;
	ckey.ns = *ns;
	listener = bpf_map_lookup_elem(&mc_consumer, &ckey);
	if (!listener)
		return VERDICT_PASS;
	mc_addr_copy(out->addr, listener->addr);
	out->port = listener->port;
	out->svc_id = listener->svc_id;
	out->backend_id = listener->backend_id;
	out->verdict = VERDICT_TRANSLATE;
	return VERDICT_TRANSLATE;
}

/* An unconnected UDP sendmsg(): the way back in mc_revnat, written only when missing or stale. */
static __always_inline int __mc_sock_remember_datagram(struct bpf_sock_addr *ctx, struct service_key *key,
						       struct decision *out, __u8 revnat_flags, __u64 cgroup_id,
						       __u32 events)
{
	struct mc_revnat_value rval = {};
	struct mc_revnat_key rkey = {};
	struct mc_revnat_value *known;

	rkey.cookie = bpf_get_socket_cookie(ctx);
	mc_addr_copy(rkey.addr, out->addr);
	rkey.port = out->port;
	rkey.family = key->family;
	known = bpf_map_lookup_elem(&mc_revnat, &rkey);
	if (known && mc_addr_equal(known->addr, key->addr) && known->port == key->port)
		return 1;
	mc_addr_copy(rval.addr, key->addr);
	rval.port = key->port;
	rval.family = key->family;
	rval.flags = revnat_flags;
	rval.svc_id = out->svc_id;
	rval.backend_id = out->backend_id;
	rval.cgroup_id = cgroup_id;
	bpf_map_update_elem(&mc_revnat, &rkey, &rval, BPF_ANY);
	mc_event_emit(events, MC_EV_TRANSLATE, rkey.cookie, cgroup_id, out->svc_id, out->backend_id, VERDICT_TRANSLATE,
		      REASON_NONE, key->family, key->proto);
	return 1;
}

/*
 * Runs the policy for `key`. Returns 1 when the caller must rewrite the destination to out's
 * backend, 0 to leave it, -ECONNREFUSED when the policy refuses. connect() keeps the way back in
 * the socket's storage; an unconnected UDP sendmsg() keeps it in mc_revnat (and emits an event)
 * only when the socket's entry for that backend is missing or stale, not per datagram.
 */
static __always_inline int __mc_sock_xlate_fwd(struct bpf_sock_addr *ctx, struct service_key *key, struct decision *out,
					       __u8 revnat_flags, int per_datagram)
{
	__u64 cgroup_id;
	__u32 events;
	__u8 verdict;
	int count, pool;

#ifdef MC_DECIDE_FOUND
	/*
	 * The policy passes any key that is no service, with no other effect (the generator checked
	 * its decide() opens that way): such a connect() skips the policy and its helpers, and only
	 * network policy is asked about the address dialled.
	 */
	struct service_value *svc = bpf_map_lookup_elem(&mc_services, key);
#endif

	cgroup_id = bpf_get_current_cgroup_id();
	if (bpf_map_lookup_elem(&mc_skip, &cgroup_id))
		return 0;
#ifdef MC_DECIDE_FOUND
	/* No service: network policy still decides on the address dialled. */
	if (!svc)
		return __mc_np_check(ctx, key->addr, key->family, key->port, key->proto, cgroup_id);
#endif
	/* A consumer route of the client's namespace first, then the policy. */
	verdict = __mc_consumer(cgroup_id, key, out);
	pool = verdict == VERDICT_PASS; /* the policy picks from the Service's slots */
	/*
	 * The policy calls the input helpers (MC_READ_INPUT*) only on the paths that read them. Its
	 * inputs live in a block of their own, and so do the UDP way back's key and value below:
	 * clang then lays them on the same stack bytes, which sendmsg4 needs (with the network
	 * policy check's calls it is at the kernel's 512 bytes).
	 */
	if (verdict == VERDICT_PASS) {
		struct mc_inputs inputs = { .ctx = ctx };
#ifdef MC_DECIDE_FOUND
		verdict = MC_DECIDE_FOUND(svc, &inputs, key, out);
#else
		verdict = mc_decide_in(&inputs, key, out);
#endif
	}
	if (verdict == VERDICT_PASS)
		return __mc_np_check(ctx, key->addr, key->family, key->port, key->proto, cgroup_id);
#ifdef MC_DECIDE_FOUND
	/* Live-connection counts are read by least-connections: kept for those Services only. */
	count = svc->algorithm == ALG_LEAST_CONN;
#else
	count = 1;
#endif
	events = mc_events_on();
	if (verdict == VERDICT_TRANSLATE && !mc_backend_family_is(out, key->family)) {
		verdict = VERDICT_REFUSE;
		out->reason = MC_REASON_FAMILY_MISMATCH;
	}
	if (verdict != VERDICT_TRANSLATE) {
		mc_metric_refused(out->reason);
		mc_event_emit(events, MC_EV_REFUSE, events ? bpf_get_socket_cookie(ctx) : 0, cgroup_id, out->svc_id, 0,
			      VERDICT_REFUSE, out->reason, key->family, key->proto);
		return -ECONNREFUSED;
	}
	/*
	 * Network policy decides on the backend chosen, not on the Service address; a denied pick
	 * moves to the next allowed backend of its range (out is rewritten), EPERM when none is.
	 */
	if (__mc_np_check_backend(ctx, key, out, pool, cgroup_id))
		return -EPERM;
	mc_metric_inc(MC_METRIC_TRANSLATED);
	if (!per_datagram) {
		mc_event_emit(events, MC_EV_TRANSLATE, events ? bpf_get_socket_cookie(ctx) : 0, cgroup_id, out->svc_id,
			      out->backend_id, VERDICT_TRANSLATE, REASON_NONE, key->family, key->proto);
		__mc_sock_remember(ctx, key, out, revnat_flags, cgroup_id, events, count);
		return 1;
	}

	return __mc_sock_remember_datagram(ctx, key, out, revnat_flags, cgroup_id, events);
}


/* Where a reply from (or the peer) `be` should appear to come from: the service it stands for. */
struct mc_rev {
	__u32 addr[4];
	__u16 port;
	__u8 family;
};

/*
 * The service address a socket's peer `be` (family `family`, port `port`) stands for: the
 * socket's own (connect()), or for UDP one it sent to with sendmsg() (mc_revnat). 0 when found.
 */
static __always_inline int __mc_sock_revnat(struct bpf_sock_addr *ctx, struct mc_revnat_key *key, struct mc_rev *rev)
{
	struct mc_revnat_value *svc;
	struct mc_sock_state *state;
	struct mc_sock_slot *slot;

	key->cookie = bpf_get_socket_cookie(ctx);
	slot = __mc_sock_slot(key->cookie);
	state = slot ? __mc_sock_find(slot, key->cookie) : 0;
	if (state && state->family == key->family && state->be_port == key->port && mc_addr_equal(state->be_addr, key->addr)) {
		mc_addr_copy(rev->addr, state->svc_addr);
		rev->port = state->svc_port;
		rev->family = state->family;
		mc_metric_inc(MC_METRIC_REVERSED);
		return 0;
	}
	if (ctx->protocol != IPPROTO_UDP)
		return -ENOENT;
	svc = bpf_map_lookup_elem(&mc_revnat, key);
	if (!svc)
		return -ENOENT;
	mc_addr_copy(rev->addr, svc->addr);
	rev->port = svc->port;
	rev->family = svc->family;
	mc_metric_inc(MC_METRIC_REVERSED);
	return 0;
}

static __always_inline int __mc_sock4_xlate_fwd(struct bpf_sock_addr *ctx, int per_datagram)
{
	struct service_key key = {};
	struct decision out = {};
	int ret;

	key.addr[0] = ctx->user_ip4;
	key.port = (__u16)ctx->user_port;
	key.proto = (__u8)ctx->protocol;
	key.family = 4;
	ret = __mc_sock_xlate_fwd(ctx, &key, &out, 0, per_datagram);
	if (ret <= 0)
		return ret;
	ctx->user_ip4 = out.addr[0];
	ctx->user_port = out.port;
	return 0;
}

static __always_inline void __mc_sock4_xlate_rev(struct bpf_sock_addr *ctx)
{
	struct mc_revnat_key key = {};
	struct mc_rev rev = {};

	key.addr[0] = ctx->user_ip4;
	key.port = (__u16)ctx->user_port;
	key.family = 4;
	if (__mc_sock_revnat(ctx, &key, &rev))
		return;
	ctx->user_ip4 = rev.addr[0];
	ctx->user_port = rev.port;
}

/* TCP and connected UDP. */
SEC("cgroup/connect4")
int mc_sock4_connect(struct bpf_sock_addr *ctx)
{
	return mc_sock_verdict(__mc_sock4_xlate_fwd(ctx, 0));
}

/* Unconnected UDP (the hook runs only when sendmsg() names a destination). */
SEC("cgroup/sendmsg4")
int mc_sock4_sendmsg(struct bpf_sock_addr *ctx)
{
	return mc_sock_verdict(__mc_sock4_xlate_fwd(ctx, 1));
}

/* UDP replies: the source becomes the service again. recvmsg hooks must return 1. */
SEC("cgroup/recvmsg4")
int mc_sock4_recvmsg(struct bpf_sock_addr *ctx)
{
	__mc_sock4_xlate_rev(ctx);
	return SYS_PROCEED;
}

/* The application sees the ClusterIP it dialled. getpeername hooks must return 1. */
SEC("cgroup/getpeername4")
int mc_sock4_getpeername(struct bpf_sock_addr *ctx)
{
	__mc_sock4_xlate_rev(ctx);
	return SYS_PROCEED;
}

/*
 * IPv6 sockets. A v4-mapped destination (::ffff:a.b.c.d, a dual-stack socket dialling an IPv4
 * service) is decided as the IPv4 service and rewritten to the v4-mapped backend.
 */
static __always_inline int __mc_sock6_xlate_fwd(struct bpf_sock_addr *ctx, int per_datagram)
{
	struct service_key key = {};
	struct decision out = {};
	int ret;

	key.family = mc_addr6_load(key.addr, ctx->user_ip6);
	key.port = (__u16)ctx->user_port;
	key.proto = (__u8)ctx->protocol;
	ret = __mc_sock_xlate_fwd(ctx, &key, &out, key.family == 4 ? MC_REVNAT_F_MAPPED : 0, per_datagram);
	if (ret <= 0)
		return ret;
	mc_addr6_store(ctx->user_ip6, out.addr, key.family);
	ctx->user_port = out.port;
	return 0;
}

static __always_inline void __mc_sock6_xlate_rev(struct bpf_sock_addr *ctx)
{
	struct mc_revnat_key key = {};
	struct mc_rev rev = {};

	key.family = mc_addr6_load(key.addr, ctx->user_ip6);
	key.port = (__u16)ctx->user_port;
	if (__mc_sock_revnat(ctx, &key, &rev))
		return;
	/* Field by field: clang may otherwise address user_ip6 through a moved ctx pointer. */
	if (rev.family == 4) {
		ctx->user_ip6[3] = rev.addr[0];
	} else {
		ctx->user_ip6[0] = rev.addr[0];
		ctx->user_ip6[1] = rev.addr[1];
		ctx->user_ip6[2] = rev.addr[2];
		ctx->user_ip6[3] = rev.addr[3];
	}
	ctx->user_port = rev.port;
}

SEC("cgroup/connect6")
int mc_sock6_connect(struct bpf_sock_addr *ctx)
{
	return mc_sock_verdict(__mc_sock6_xlate_fwd(ctx, 0));
}

SEC("cgroup/sendmsg6")
int mc_sock6_sendmsg(struct bpf_sock_addr *ctx)
{
	return mc_sock_verdict(__mc_sock6_xlate_fwd(ctx, 1));
}

SEC("cgroup/recvmsg6")
int mc_sock6_recvmsg(struct bpf_sock_addr *ctx)
{
	__mc_sock6_xlate_rev(ctx);
	return SYS_PROCEED;
}

SEC("cgroup/getpeername6")
int mc_sock6_getpeername(struct bpf_sock_addr *ctx)
{
	__mc_sock6_xlate_rev(ctx);
	return SYS_PROCEED;
}

/*
 * A socket goes away (close() of its last reference): the live-connection count its connect()
 * took is given back and its slot (or mc_socks entry) is freed. Runs for every inet socket released in the
 * cgroup; one lookup for those meshc never translated. sock_release hooks must return 1.
 */
SEC("cgroup/sock_release")
int mc_sock_release(struct bpf_sock *sk)
{
	struct mc_sock_state *state;
	struct mc_sock_slot *slot;
	__u32 addr[4] = {};
	__u32 peer, *seen;
	__u64 cookie;
	__u32 events;
	__u16 port;

	/*
	 * Only a socket whose peer may be a backend meshc sent one to can have an entry. A socket
	 * without a peer port (never connected, or its connect() failed and the kernel reset it)
	 * cannot tell: it takes the full path.
	 */
	port = (__u16)sk->dst_port;
	if (port) {
		if (sk->family == MC_AF_INET)
			addr[0] = sk->dst_ip4;
		else if (sk->family == MC_AF_INET6)
			mc_addr6_load(addr, sk->dst_ip6);
		peer = mc_peer_slot(addr, port);
		seen = bpf_map_lookup_elem(&mc_peers, &peer);
		if (!seen || !*seen)
			return SYS_PROCEED;
	}
	cookie = bpf_get_socket_cookie(sk);
	slot = __mc_sock_slot(cookie);
	if (!slot)
		return SYS_PROCEED;
	state = __mc_sock_find(slot, cookie);
	if (!state)
		return SYS_PROCEED;
	if (state->counted || state->watched) {
		__mc_sock_uncount(state);
		state->watched = 0;
		mc_metric_inc(MC_METRIC_CLOSED);
		events = mc_events_on();
		mc_event_emit(events, MC_EV_CLOSE, cookie, state->cgroup_id, state->svc_id, state->backend_id,
			      VERDICT_TRANSLATE, REASON_NONE, state->family, IPPROTO_TCP);
	}
	if (state == &slot->state) {
		/* Frees the slot: from here another socket may claim it. */
		__sync_val_compare_and_swap(&slot->cookie, cookie, 0);
	} else if (!bpf_map_delete_elem(&mc_socks, &cookie)) {
		__sync_fetch_and_add(&slot->spilled, -1);
	}
	return SYS_PROCEED;
}
