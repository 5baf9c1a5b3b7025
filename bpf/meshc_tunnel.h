/* meshc_tunnel.h: what tunnel.bpf.c shares with the host (src/tunnel/steering.ts reads it through
 * src/generated/glue.ts): its constants, counters and the records of its maps. */
#ifndef MESHC_TUNNEL_H
#define MESHC_TUNNEL_H

#include <linux/bpf.h>

#define MC_TUN_AF_INET 2
#define MC_TUN_IPPROTO_TCP 6
#define MC_TUN_ECONNREFUSED 111
#define MC_TUN_EADDRINUSE 98

#ifndef MC_TUN_DESTS_MAX
#define MC_TUN_DESTS_MAX 65536 /* pod addresses that require authentication */
#endif
#ifndef MC_TUN_PENDING_MAX
#define MC_TUN_PENDING_MAX 65536 /* steered connections not yet accepted by the tunnel */
#endif
#ifndef MC_TUN_BIND_TRIES
#define MC_TUN_BIND_TRIES 8 /* source ports tried when one is taken in the client's netns */
#endif

/* Counters of mc_tun_metrics, by index. */
#define MC_TUN_METRIC_STEERED 0     /* connect()s sent to the tunnel */
#define MC_TUN_METRIC_NO_TUNNEL 1   /* refused: no tunnel configured on the node */
#define MC_TUN_METRIC_NO_PORT 2     /* refused: no free source port to key the record by */
#define MC_TUN_METRIC_RECORD_BUSY 3 /* refused: an explicitly bound port's record is taken */
#define MC_TUN_METRIC_MAX 4

/* Where the node's tunnel listens, and the source ports it keys steered connections by. */
struct mc_tun_config {
	__u32 addr;      /* tunnel listener IPv4 address, network byte order; 0 = no tunnel */
	__u16 port;      /* tunnel listener port, network byte order */
	__u16 port_base; /* first source port handed out, host byte order */
	__u32 port_span; /* how many source ports from port_base, > 0 */
	__u32 next;      /* rolling counter of handed-out ports */
};

/* A steered connection, keyed by its client source port, until the tunnel accepts it. */
struct mc_tun_record {
	__u64 cgroup_id;  /* cgroup of the task that called connect(): the source identity */
	__u64 timestamp;  /* bpf_ktime_get_ns() at connect() */
	__u32 orig_addr;  /* destination the client dialled (after meshc's translation), network byte order */
	__u16 orig_port;  /* its port, network byte order */
	__u16 pad;        /* zero */
};
_Static_assert(sizeof(struct mc_tun_config) == 16, "mc_tun_config size");
_Static_assert(sizeof(struct mc_tun_record) == 24, "mc_tun_record size");

#endif /* MESHC_TUNNEL_H */
