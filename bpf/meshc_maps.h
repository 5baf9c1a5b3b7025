/* meshc_maps.h: the glue's own maps (metrics, events, reverse translation, harness) and settings. */
#ifndef MESHC_MAPS_H
#define MESHC_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "meshc_consts.h"
#include "meshc_structs.h"

/*
 * Run-time switches (struct mc_config at index 0), written by user space: flow events are off
 * until a reader (meshc monitor) turns them on, and off again when it leaves.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct mc_config);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_config SEC(".maps");

/* Counters by MC_METRIC_* index (refusals by reason below MC_METRIC_TRANSLATED); summed over CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, MC_METRICS_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_metrics SEC(".maps");

/* Flow events (struct mc_event) for the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MC_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_events SEC(".maps");

/*
 * Reverse translation of unconnected UDP (sendmsg() naming a Service), Cilium-style: (socket
 * cookie, backend) -> the service address the application dialled; recvmsg() reads it. One
 * unconnected socket may talk to several Services, so it is keyed by backend as well. Connected
 * sockets (connect4/6) keep theirs in mc_socks instead. LRU: entries of sockets that went
 * away age out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct mc_revnat_key);
	__type(value, struct mc_revnat_value);
	__uint(max_entries, MC_REVNAT_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_revnat SEC(".maps");

/*
 * Per-socket state of translated connect()s: reverse translation for getpeername() and
 * recvmsg(), and the live-connection count the socket holds. Written once at connect(), cleared
 * at the socket's release (cgroup/sock_release). A socket's state goes in the slot of
 * mc_sock_slots its cookie indexes (an inlined array access: no helper, no lock; the slot is
 * claimed with a compare-and-swap of its cookie); only when another live socket holds that slot
 * does it go to mc_socks, and the slot counts it (`spilled`) so lookups know to look there.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct mc_sock_slot);
	__uint(max_entries, MC_SOCK_SLOTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_sock_slots SEC(".maps");

/*
 * The sockets whose slot was taken, by cookie. LRU only so that entries of sockets whose release
 * no program saw (hooks detached meanwhile) age out; per-CPU lists.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u64);
	__type(value, struct mc_sock_state);
	__uint(max_entries, MC_REVNAT_MAX);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_socks SEC(".maps");

/*
 * A one-hash filter of the backends connect4/6 sent sockets to: slot (hash of address and port)
 * -> 1. cgroup/sock_release looks a socket's peer up here before anything else, so the release
 * of a socket meshc never translated costs an inlined array read, no helper. Slots are never
 * cleared; a stale or shared slot only sends a release down the full path.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, MC_PEERS_SLOTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_peers SEC(".maps");

/*
 * Cgroups whose processes meshc leaves alone (pods or namespaces annotated meshc.io/skip: "true",
 * so meshc can share a node with a sidecar mesh): cgroup id -> 1. The agent writes the pod's
 * cgroup and every cgroup below it, since a process sits in its container's cgroup.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, __u8);
	__uint(max_entries, MC_SKIP_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_skip SEC(".maps");

/*
 * Consumer routes (HTTPRoutes in the client's namespace): the namespace id of a client cgroup,
 * written by the agent for the pods of namespaces that have consumer routes (their cgroups and
 * every cgroup below), and the node proxy listener each (frontend, namespace) goes to. A
 * connect() from such a cgroup to such a frontend goes to that listener; everything else takes
 * the policy's decision.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, __u32);
	__uint(max_entries, MC_CONSUMER_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_client_ns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct mc_consumer_key);
	__type(value, struct mc_consumer_value);
	__uint(max_entries, MC_CONSUMER_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_consumer SEC(".maps");

/*
 * Kubernetes names of service and backend ids (struct mc_name_key -> struct mc_name), written by
 * the agent for `meshc inspect` and `meshc monitor`. No program reads it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct mc_name_key);
	__type(value, struct mc_name);
	__uint(max_entries, MC_NAMES_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mc_names SEC(".maps");

/* Input and output of mc_harness_decide: one batch (never pinned: tests and benchmarks only). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct mc_harness_batch);
	__uint(max_entries, 1);
} mc_harness SEC(".maps");

#endif /* MESHC_MAPS_H */
