/* meshc_consts.h: constants of the hook glue (the policy's own constants come from the generator). */
#ifndef MESHC_CONSTS_H
#define MESHC_CONSTS_H

#include "meshc_policy.h" /* REASON_COUNT */

/* Return values of cgroup sock_addr programs: 1 lets the call go on, 0 fails it. */
#define SYS_PROCEED 1
#define SYS_REJECT 0

#ifndef ECONNREFUSED
#define ECONNREFUSED 111
#endif
#ifndef ENOENT
#define ENOENT 2
#endif
#ifndef E2BIG
#define E2BIG 7
#endif
#ifndef EAFNOSUPPORT
#define EAFNOSUPPORT 97
#endif

#define MC_AF_INET 2
#define MC_AF_INET6 10
#ifndef IPPROTO_TCP
#define IPPROTO_TCP 6
#endif

/* Build-time limits. */
#ifndef MC_REVNAT_MAX
#define MC_REVNAT_MAX 262144 /* reverse-translation entries (LRU), one per socket and backend */
#endif
#ifndef MC_SOCK_SLOTS
#define MC_SOCK_SLOTS 65536 /* slots of mc_sock_slots (by socket cookie), a power of two */
#endif
#ifndef MC_PEERS_SLOTS
#define MC_PEERS_SLOTS 65536 /* slots of mc_peers, a power of two */
#endif
#ifndef MC_NAMES_MAX
#define MC_NAMES_MAX 524288 /* names of services and backends (mc_names) */
#endif
#ifndef MC_SKIP_MAX
#define MC_SKIP_MAX 65536 /* cgroups opted out with meshc.io/skip (mc_skip) */
#endif
#ifndef MC_CONSUMER_MAX
#define MC_CONSUMER_MAX 65536 /* consumer-route listeners (mc_consumer) and the client cgroups they serve (mc_client_ns) */
#endif
#define MC_NAME_SERVICE 1
#define MC_NAME_BACKEND 2

#ifndef MC_EVENTS_BYTES
#define MC_EVENTS_BYTES (4 * 1024 * 1024) /* ring buffer size, a power of two */
#endif
#ifndef MC_EVENTS_WAKEUP
#define MC_EVENTS_WAKEUP (MC_EVENTS_BYTES / 8) /* records are committed without a wakeup below this */
#endif
#ifndef MC_HARNESS_BATCH
#define MC_HARNESS_BATCH 4096 /* decisions per test_run of mc_harness_decide */
#endif

/* Refusals the glue makes itself, numbered after the policy's REASON_* values. */
#define MC_REASON_FAMILY_MISMATCH (REASON_COUNT + 0) /* backend of another address family */

/* Indexes of mc_metrics. [0, MC_METRIC_REFUSED_OTHER) counts refusals by reason. */
#define MC_METRIC_REFUSED_OTHER 7 /* refusals with a reason above that (a user policy's own) */
#define MC_METRIC_TRANSLATED 8    /* connect()/sendmsg() rewritten to a backend */
#define MC_METRIC_REVERSED 9     /* recvmsg()/getpeername() rewritten back to the service */
#define MC_METRIC_ESTABLISHED 10 /* translated TCP connect()s counted against their backend */
#define MC_METRIC_CLOSED 11      /* of those, the sockets released (count given back) */
#define MC_METRIC_EVENTS_LOST 12 /* events dropped because the ring buffer was full */
#define MC_METRICS_MAX 16

/* mc_event.type; bit (1 << type) of mc_config.events enables the event. */
#define MC_EV_TRANSLATE 1   /* connect()/sendmsg() translated */
#define MC_EV_REFUSE 2      /* connect()/sendmsg() refused */
#define MC_EV_ESTABLISHED 3 /* a translated TCP socket counted against its backend (at connect()) */
#define MC_EV_CLOSE 4       /* that socket released: its count given back */

/* mc_revnat_value.flags */
#define MC_REVNAT_F_MAPPED 1 /* the socket is IPv6 and dialled a v4-mapped address */

#endif /* MESHC_CONSTS_H */
