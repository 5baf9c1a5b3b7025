/* sock.bpf.c: cgroup sock_addr hooks: a Service address becomes a backend at connect() and
 * sendmsg(), and the backend becomes the Service address again at recvmsg() and getpeername().
 * The policy (structs, maps, mc_decide) comes from the generated meshc_policy.h. */
#include "meshc_helpers.h"

_Static_assert(MC_REASON_FAMILY_MISMATCH < MC_METRIC_REFUSED_OTHER, "refusal reasons overlap other metrics");

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

/*
 * Runs the policy for `key` and, when it translates, remembers the way back in mc_revnat.
 * Returns 1 when the caller must rewrite the destination to out's backend, 0 to leave it,
 * -ECONNREFUSED when the policy refuses. A UDP sendmsg() writes mc_revnat (and emits an event)
 * only when the socket's entry for that backend is missing or stale, not per datagram.
 */
static __always_inline int __mc_sock_xlate_fwd(void *ctx, struct service_key *key, struct decision *out,
					       __u8 revnat_flags, int per_datagram)
{
	struct mc_revnat_value rval = {};
	struct mc_revnat_key rkey = {};
	struct mc_revnat_value *known;
	__u64 cookie, cgroup_id;
	__u8 verdict;

	cgroup_id = bpf_get_current_cgroup_id();
	if (bpf_map_lookup_elem(&mc_skip, &cgroup_id))
		return 0;
	verdict = __mc_consumer(cgroup_id, key, out);
	if (verdict == VERDICT_PASS)
		verdict = mc_decide(key, bpf_get_netns_cookie(ctx), bpf_get_prandom_u32(), bpf_ktime_get_ns(), out);
	if (verdict == VERDICT_PASS)
		return 0;
	cookie = bpf_get_socket_cookie(ctx);
	if (verdict == VERDICT_TRANSLATE && !mc_backend_family_is(out, key->family)) {
		verdict = VERDICT_REFUSE;
		out->reason = MC_REASON_FAMILY_MISMATCH;
	}
	if (verdict != VERDICT_TRANSLATE) {
		mc_metric_refused(out->reason);
		mc_event_emit(MC_EV_REFUSE, cookie, cgroup_id, out->svc_id, 0, VERDICT_REFUSE, out->reason,
			      key->family, key->proto);
		return -ECONNREFUSED;
	}

	rkey.cookie = cookie;
	mc_addr_copy(rkey.addr, out->addr);
	rkey.port = out->port;
	rkey.family = key->family;
	mc_metric_inc(MC_METRIC_TRANSLATED);
	if (per_datagram) {
		known = bpf_map_lookup_elem(&mc_revnat, &rkey);
		if (known && mc_addr_equal(known->addr, key->addr) && known->port == key->port)
			return 1;
	}
	mc_addr_copy(rval.addr, key->addr);
	rval.port = key->port;
	rval.family = key->family;
	rval.flags = revnat_flags;
	rval.svc_id = out->svc_id;
	rval.backend_id = out->backend_id;
	rval.cgroup_id = cgroup_id;
	bpf_map_update_elem(&mc_revnat, &rkey, &rval, BPF_ANY);
	mc_event_emit(MC_EV_TRANSLATE, cookie, cgroup_id, out->svc_id, out->backend_id, VERDICT_TRANSLATE,
		      REASON_NONE, key->family, key->proto);
	return 1;
}

/* The service a socket's peer address stands for, or NULL. */
static __always_inline struct mc_revnat_value *__mc_sock_revnat(void *ctx, struct mc_revnat_key *key)
{
	struct mc_revnat_value *svc;

	key->cookie = bpf_get_socket_cookie(ctx);
	svc = bpf_map_lookup_elem(&mc_revnat, key);
	if (svc)
		mc_metric_inc(MC_METRIC_REVERSED);
	return svc;
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
	struct mc_revnat_value *svc;

	key.addr[0] = ctx->user_ip4;
	key.port = (__u16)ctx->user_port;
	key.family = 4;
	svc = __mc_sock_revnat(ctx, &key);
	if (!svc)
		return;
	ctx->user_ip4 = svc->addr[0];
	ctx->user_port = svc->port;
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
	struct mc_revnat_value *svc;

	key.family = mc_addr6_load(key.addr, ctx->user_ip6);
	key.port = (__u16)ctx->user_port;
	svc = __mc_sock_revnat(ctx, &key);
	if (!svc)
		return;
	mc_addr6_store(ctx->user_ip6, svc->addr, svc->family);
	ctx->user_port = svc->port;
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
