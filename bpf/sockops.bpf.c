/* sockops.bpf.c: TCP connection lifecycle of translated connections: live-connection counts per
 * backend in mc_conns (least-connections reads them) and established/close flow events. */
#include "meshc_helpers.h"

/*
 * remote_port holds the port in network byte order; kernels put it in the upper 16 bits of the
 * u32 on little-endian machines (a historical quirk shared with sk_msg), older documentation
 * says the lower. Port 0 never connects, so whichever half is non-zero is the port.
 */
static __always_inline __u16 mc_sockops_remote_port(struct bpf_sock_ops *skops)
{
	__u32 port = skops->remote_port;

	return port >> 16 ? (__u16)(port >> 16) : (__u16)port;
}

/* The mc_revnat key of this connection's socket and peer. */
static __always_inline int __mc_sockops_revnat_key(struct bpf_sock_ops *skops, struct mc_revnat_key *key)
{
	key->cookie = bpf_get_socket_cookie(skops);
	key->port = mc_sockops_remote_port(skops);
	if (skops->family == MC_AF_INET) {
		key->addr[0] = skops->remote_ip4;
		key->family = 4;
		return 0;
	}
	if (skops->family != MC_AF_INET6)
		return -EAFNOSUPPORT;
	key->family = mc_addr6_load(key->addr, skops->remote_ip6);
	return 0;
}

/* A connection meshc translated is up: count it against its backend, watch for its close. */
static __always_inline void __mc_sockops_established(struct bpf_sock_ops *skops)
{
	struct mc_revnat_key key = {};
	struct mc_revnat_value *svc;
	struct mc_sock_state *state;
	struct counter *conns;
	struct bpf_sock *sk;
	__u32 backend_id;

	if (__mc_sockops_revnat_key(skops, &key))
		return;
	svc = bpf_map_lookup_elem(&mc_revnat, &key);
	if (!svc)
		return;
	sk = skops->sk;
	if (!sk)
		return;
	state = bpf_sk_storage_get(&mc_sock_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!state || state->counted)
		return;
	backend_id = svc->backend_id;
	conns = bpf_map_lookup_elem(&mc_conns, &backend_id);
	if (!conns)
		return;
	__sync_fetch_and_add(&conns->value, 1);
	state->backend_id = backend_id;
	state->svc_id = svc->svc_id;
	state->cgroup_id = svc->cgroup_id;
	state->counted = 1;
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
	mc_metric_inc(MC_METRIC_ESTABLISHED);
	mc_event_emit(MC_EV_ESTABLISHED, key.cookie, svc->cgroup_id, svc->svc_id, backend_id, VERDICT_TRANSLATE,
		      REASON_NONE, key.family, IPPROTO_TCP);
}

/* The connection is gone: give its count back, forget its reverse entry. */
static __always_inline void __mc_sockops_closed(struct bpf_sock_ops *skops)
{
	struct mc_revnat_key key = {};
	struct mc_sock_state *state;
	struct counter *conns;
	struct bpf_sock *sk;
	__u32 backend_id;

	sk = skops->sk;
	if (!sk)
		return;
	state = bpf_sk_storage_get(&mc_sock_state, sk, 0, 0);
	if (!state || !state->counted)
		return;
	state->counted = 0;
	backend_id = state->backend_id;
	conns = bpf_map_lookup_elem(&mc_conns, &backend_id);
	if (conns)
		__sync_fetch_and_add(&conns->value, -1);
	mc_metric_inc(MC_METRIC_CLOSED);
	if (__mc_sockops_revnat_key(skops, &key))
		return;
	bpf_map_delete_elem(&mc_revnat, &key);
	mc_event_emit(MC_EV_CLOSE, key.cookie, state->cgroup_id, state->svc_id, backend_id, VERDICT_TRANSLATE,
		      REASON_NONE, key.family, IPPROTO_TCP);
}

/*
 * Only active (client-side) connections can be ones meshc translated: a passive one belongs to
 * a listening socket, whose cookie never went through connect(). Leaving them out keeps every
 * accepted connection on the node off this path.
 */
SEC("sockops")
int mc_sockops(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		__mc_sockops_established(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE)
			__mc_sockops_closed(skops);
		break;
	}
	return 1;
}
