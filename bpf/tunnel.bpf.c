/* tunnel.bpf.c: steering to the node's tunnel at connect(): a TCP connect() to a pod whose policy
 * requires authentication goes to the local tunnel listener instead, and the tunnel learns the
 * original destination and the client's cgroup from the source port it accepts (docs/tunnel.md).
 *
 * Its own object, attached after meshc's connect4 on the same cgroup (cgroup links run in attach
 * order): it sees the backend meshc chose, not the ClusterIP. The cost for a destination that
 * needs no authentication is one hash lookup.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <linux/in.h>

#include "meshc_tunnel.h"

/* Pod addresses (network byte order) whose connections must go through the tunnel -> 1. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, MC_TUN_DESTS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_tun_dests SEC(".maps");

/* Client source port (host byte order) -> struct mc_tun_record; the tunnel deletes what it reads. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct mc_tun_record);
	__uint(max_entries, MC_TUN_PENDING_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_tun_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct mc_tun_config);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_tun_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, MC_TUN_METRIC_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_tun_metrics SEC(".maps");

static __always_inline void mc_tun_count(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&mc_tun_metrics, &index);

	if (value)
		*value += 1;
}

/*
 * Gives the socket a source port with no record yet and records `rec` under it. A socket the
 * application bound itself keeps its port. -errno when no port could be had.
 */
static __always_inline int __mc_tun4_claim_port(struct bpf_sock_addr *ctx, struct mc_tun_config *cfg,
						struct mc_tun_record *rec)
{
	struct sockaddr_in sin = {};
	struct bpf_sock *sk = ctx->sk;
	__u32 port, i;

	if (!sk)
		return -MC_TUN_EADDRINUSE;
	if (sk->src_port) {
		port = sk->src_port;
		if (bpf_map_update_elem(&mc_tun_pending, &port, rec, BPF_NOEXIST)) {
			mc_tun_count(MC_TUN_METRIC_RECORD_BUSY);
			return -MC_TUN_EADDRINUSE;
		}
		return 0;
	}
	sin.sin_family = MC_TUN_AF_INET;
	for (i = 0; i < MC_TUN_BIND_TRIES; i++) {
		/* A node-wide counter: two pods do not get the same port while records are pending. */
		port = cfg->port_base + __sync_fetch_and_add(&cfg->next, 1) % cfg->port_span;
		if (bpf_map_lookup_elem(&mc_tun_pending, &port))
			continue;
		sin.sin_port = bpf_htons((__u16)port);
		/* Taken in the client's netns: EADDRINUSE, try the next one. */
		if (bpf_bind(ctx, (struct sockaddr *)&sin, sizeof(sin)))
			continue;
		if (bpf_map_update_elem(&mc_tun_pending, &port, rec, BPF_NOEXIST))
			continue;
		return 0;
	}
	mc_tun_count(MC_TUN_METRIC_NO_PORT);
	return -MC_TUN_EADDRINUSE;
}

static __always_inline int __mc_tun4_steer(struct bpf_sock_addr *ctx)
{
	struct mc_tun_record rec = {};
	struct mc_tun_config *cfg;
	__u32 zero = 0;
	__u32 addr = ctx->user_ip4;
	int err;

	if (ctx->protocol != MC_TUN_IPPROTO_TCP)
		return 0;
	if (!bpf_map_lookup_elem(&mc_tun_dests, &addr))
		return 0;
	cfg = bpf_map_lookup_elem(&mc_tun_config, &zero);
	/* Fail closed: authentication required and no tunnel to give it. */
	if (!cfg || !cfg->addr || !cfg->port || !cfg->port_span) {
		mc_tun_count(MC_TUN_METRIC_NO_TUNNEL);
		return -MC_TUN_ECONNREFUSED;
	}
	rec.cgroup_id = bpf_get_current_cgroup_id();
	rec.timestamp = bpf_ktime_get_ns();
	rec.orig_addr = addr;
	rec.orig_port = (__u16)ctx->user_port;
	err = __mc_tun4_claim_port(ctx, cfg, &rec);
	if (err)
		return err;
	ctx->user_ip4 = cfg->addr;
	ctx->user_port = cfg->port;
	mc_tun_count(MC_TUN_METRIC_STEERED);
	return 0;
}

SEC("cgroup/connect4")
int mc_tun4_connect(struct bpf_sock_addr *ctx)
{
	int err = __mc_tun4_steer(ctx);

	if (!err)
		return 1;
	bpf_set_retval(err);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
