/* meshc_structs.h: key, value and record layouts of the glue's own maps and events. */
#ifndef MESHC_STRUCTS_H
#define MESHC_STRUCTS_H

#include <linux/types.h>
#include "meshc_consts.h"
#include "meshc_policy.h" /* struct service_key, struct decision */

/* Key of mc_revnat: one backend that one socket was sent to. */
struct mc_revnat_key {
	__u64 cookie;  /* socket cookie (bpf_get_socket_cookie) */
	__u32 addr[4]; /* backend address, network byte order; IPv4 in addr[0], rest zero */
	__u16 port;    /* backend port, network byte order */
	__u8 family;   /* 4 or 6: family of the backend address (4 for v4-mapped) */
	__u8 pad;      /* zero */
	__u32 pad2;    /* zero */
};

/* Value of mc_revnat: the service address the application dialled. */
struct mc_revnat_value {
	__u32 addr[4];    /* service address (ClusterIP), network byte order */
	__u16 port;       /* service port, network byte order */
	__u8 family;      /* 4 or 6 */
	__u8 flags;       /* MC_REVNAT_F_* */
	__u32 svc_id;     /* service id (mc_services value) */
	__u32 backend_id; /* backend id (mc_backends index) */
	__u32 pad;        /* zero */
	__u64 cgroup_id;  /* cgroup of the task that connected */
};

/*
 * Value of mc_socks (by socket cookie, written by connect4/6 when they translate): the way back
 * to the service address for getpeername() and recvmsg(), and the live-connection count the
 * socket holds (TCP).
 */
struct mc_sock_state {
	__u32 svc_addr[4];  /* service address (ClusterIP) the application dialled, network byte order */
	__u32 be_addr[4];   /* backend address the socket was sent to */
	__u16 svc_port;     /* service port, network byte order */
	__u16 be_port;      /* backend port, network byte order */
	__u8 family;        /* 4 or 6: family of both addresses (4 for v4-mapped) */
	__u8 flags;         /* MC_REVNAT_F_* */
	__u8 counted;       /* 1 while the socket holds a count in mc_conns[backend_id] */
	__u8 watched;       /* 1: a TCP connection that had an established event; its release has a close event */
	__u32 svc_id;       /* service id */
	__u32 backend_id;   /* backend id (mc_conns index) */
	__u64 cgroup_id;    /* cgroup of the task that connected */
};

/* Value of mc_sock_slots: one socket's state, in the slot its cookie indexes. */
struct mc_sock_slot {
	__u64 cookie;               /* the socket's cookie; 0 while the slot is free */
	__u32 spilled;              /* sockets of this index kept in mc_socks (the slot was taken) */
	__u32 pad;                  /* zero */
	struct mc_sock_state state;
};

/* Value of mc_config (one entry, index 0): run-time switches written from user space. */
struct mc_config {
	__u32 events;       /* bit (1 << MC_EV_*) enables that event; 0 (all off) until a reader sets it */
	__u32 wakeup_bytes; /* wake the reader once this many bytes wait in mc_events; 0: MC_EVENTS_WAKEUP */
	__u32 pad[2];       /* zero */
};

/* Key of mc_consumer: a Service frontend dialled from one namespace's clients. */
struct mc_consumer_key {
	struct service_key svc; /* the frontend (20 bytes) */
	__u32 ns;               /* namespace id (mc_client_ns value) */
};

/* Value of mc_consumer: the node proxy listener serving that namespace's consumer routes. */
struct mc_consumer_value {
	__u32 addr[4];    /* listener address, network byte order */
	__u16 port;       /* listener port, network byte order */
	__u16 pad;        /* zero */
	__u32 svc_id;     /* service id of the frontend */
	__u32 backend_id; /* mc_backends row of the listener (family check, connection counts) */
};

/* Key of mc_names. */
struct mc_name_key {
	__u32 kind; /* MC_NAME_SERVICE or MC_NAME_BACKEND */
	__u32 id;   /* service id or backend id */
};

/* Value of mc_names: "namespace/name:port/PROTO" of a service, "namespace/pod" of a backend. */
struct mc_name {
	char text[112]; /* NUL-terminated UTF-8 */
};

/* A flow event in mc_events. */
struct mc_event {
	__u64 cookie;     /* socket cookie */
	__u64 cgroup_id;  /* cgroup of the task (0 when unknown) */
	__u64 timestamp;  /* bpf_ktime_get_ns() */
	__u32 svc_id;     /* service id, 0 when unknown */
	__u32 backend_id; /* backend id, 0 when none was chosen */
	__u8 type;        /* MC_EV_* */
	__u8 verdict;     /* VERDICT_* */
	__u8 reason;      /* REASON_* (or MC_REASON_*) when refused */
	__u8 family;      /* 4 or 6 */
	__u8 proto;       /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad[3];      /* zero */
};

/* One decision of the syscall harness: inputs written by the host, outputs by the program. */
struct mc_harness_slot {
	struct service_key key; /* in: destination (20 bytes) */
	__u32 key_pad;          /* zero */
	__u64 client;           /* in: client identity */
	__u64 now;              /* in: monotonic time, ns */
	__u32 rand;             /* in: random word */
	__u8 verdict;           /* out: mc_decide's return value */
	__u8 pad[3];            /* zero */
	struct decision out;    /* out: zeroed, then filled by mc_decide (36 bytes) */
	__u32 out_pad;          /* zero */
};

/* The host reads this layout from src/generated/glue.ts (McHarnessSlot): it is a contract. */
_Static_assert(sizeof(struct service_key) == 20, "service_key changed: update mc_harness_slot");
_Static_assert(sizeof(struct decision) == 36, "decision changed: update mc_harness_slot");
_Static_assert(__builtin_offsetof(struct mc_harness_slot, client) == 24, "mc_harness_slot.client");
_Static_assert(__builtin_offsetof(struct mc_harness_slot, verdict) == 44, "mc_harness_slot.verdict");
_Static_assert(__builtin_offsetof(struct mc_harness_slot, out) == 48, "mc_harness_slot.out");
_Static_assert(sizeof(struct mc_harness_slot) == 88, "mc_harness_slot size");
_Static_assert(sizeof(struct mc_revnat_key) == 32, "mc_revnat_key size");
_Static_assert(sizeof(struct mc_revnat_value) == 40, "mc_revnat_value size");
_Static_assert(sizeof(struct mc_event) == 40, "mc_event size");
_Static_assert(sizeof(struct mc_sock_state) == 56, "mc_sock_state size");
_Static_assert(sizeof(struct mc_config) == 16, "mc_config size");
_Static_assert(sizeof(struct mc_sock_slot) == 72, "mc_sock_slot size");

/* Value of mc_harness: a whole batch, so one map write and one read move it. */
struct mc_harness_batch {
	struct mc_harness_slot slots[MC_HARNESS_BATCH];
};

/* Context of mc_harness_decide (test_run ctx_in). */
struct mc_harness_args {
	__u32 count;      /* in: decisions to run from slot 0 */
	__u32 translated; /* out: how many were VERDICT_TRANSLATE */
};

#endif /* MESHC_STRUCTS_H */
