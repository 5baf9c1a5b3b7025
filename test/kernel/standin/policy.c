/* Hand-written stand-in for the generator's output (src/compiler), used only by test/kernel
 * when the generator is not available: the same contract (struct names, #defines, pinned maps,
 * mc_decide) translated by hand from assembly/policy.ts. Never shipped. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define ALG_RANDOM 0
#define ALG_ROUND_ROBIN 1
#define ALG_MAGLEV 2
#define ALG_LEAST_CONN 3
#define SVC_F_AFFINITY 1
#define SVC_F_LOCAL 2
#define SVC_F_PREFER_ZONE 4
#define SVC_F_L7 8
#define GROUP_F_INVALID 1
#define BACKEND_EMPTY 0
#define BACKEND_READY 1
#define BACKEND_TERMINATING 2
#define VERDICT_PASS 0
#define VERDICT_TRANSLATE 1
#define VERDICT_REFUSE 2
#define REASON_NONE 0
#define REASON_NO_ENDPOINTS 1
#define REASON_NO_LOCAL_ENDPOINTS 2
#define REASON_INVALID_BACKEND 3
#define REASON_TABLE_MISS 4
#define REASON_COUNT 5
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define MAGLEV_RING 1021
#define MAX_GROUPS 16
#define MAX_SERVICES 262144
#define MAX_BACKENDS 262144
#define MAX_SLOTS 1048576
#define MAX_AFFINITY 65536

struct service_key { __u32 addr0, addr1, addr2, addr3; __u16 port; __u8 proto; __u8 family; };
struct service_value {
	__u32 id; __u32 table;
	__u16 ready, ready_zone, ready_local, term, term_zone, term_local;
	__u8 algorithm; __u8 flags; __u16 group_count;
	__u32 affinity_timeout; __u32 groups; __u32 weight_total;
};
struct table_key { __u32 table; __u32 index; };
struct table_value { __u32 value; };
struct backend {
	__u32 addr0, addr1, addr2, addr3; __u16 port; __u8 state; __u8 family;
	__u16 zone, node, weight, pad;
};
struct group_key { __u32 set; __u32 index; };
struct group {
	__u32 weight_end; __u32 table;
	__u16 ready, ready_zone, ready_local, term, term_zone, term_local; __u16 flags, pad;
};
struct affinity_key { __u32 svc_id; __u32 pad; __u64 client; };
struct affinity_value { __u32 backend_id; __u32 table; __u64 last_ns; };
struct counter { __u32 value; };
struct decision {
	__u32 addr0, addr1, addr2, addr3; __u16 port; __u8 verdict; __u8 reason;
	__u32 backend_id, slot, svc_id, table;
};
struct slot_range { __u32 base; __u32 count; };

#define MC_MAP(name_, type_, key_, value_, max_)                                                  \
	struct {                                                                                    \
		__uint(type, type_);                                                                \
		__type(key, key_);                                                                  \
		__type(value, value_);                                                              \
		__uint(max_entries, max_);                                                          \
		__uint(map_flags, (type_) == BPF_MAP_TYPE_HASH ? BPF_F_NO_PREALLOC : 0);          \
		__uint(pinning, LIBBPF_PIN_BY_NAME);                                                \
	} name_ SEC(".maps")

MC_MAP(mc_services, BPF_MAP_TYPE_HASH, struct service_key, struct service_value, MAX_SERVICES);
MC_MAP(mc_slots, BPF_MAP_TYPE_HASH, struct table_key, struct table_value, MAX_SLOTS);
MC_MAP(mc_members, BPF_MAP_TYPE_HASH, struct table_key, struct table_value, MAX_SLOTS);
MC_MAP(mc_maglev, BPF_MAP_TYPE_HASH, struct table_key, struct table_value, MAX_SLOTS);
MC_MAP(mc_backends, BPF_MAP_TYPE_ARRAY, __u32, struct backend, MAX_BACKENDS);
MC_MAP(mc_groups, BPF_MAP_TYPE_HASH, struct group_key, struct group, MAX_SERVICES);
MC_MAP(mc_affinity, BPF_MAP_TYPE_LRU_HASH, struct affinity_key, struct affinity_value, MAX_AFFINITY);
MC_MAP(mc_rr, BPF_MAP_TYPE_ARRAY, __u32, struct counter, MAX_SERVICES);
MC_MAP(mc_conns, BPF_MAP_TYPE_ARRAY, __u32, struct counter, MAX_BACKENDS);

static __always_inline __u32 mc_mix32(__u32 x)
{
	__u32 h = x;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 mc_hash_client(__u64 client)
{
	return mc_mix32((__u32)client ^ mc_mix32((__u32)(client >> 32)));
}

static __always_inline __u8 mc_refuse(struct decision *out, __u8 reason)
{
	out->verdict = VERDICT_REFUSE;
	out->reason = reason;
	return VERDICT_REFUSE;
}

static __always_inline __u8 mc_usable_slots(__u16 ready, __u16 ready_zone, __u16 ready_local, __u16 term,
					     __u16 term_zone, __u16 term_local, __u8 flags,
					     struct slot_range *range)
{
	if (flags & SVC_F_LOCAL) {
		if (ready_local > 0) {
			range->base = 0;
			range->count = ready_local;
			return REASON_NONE;
		}
		if (term_local > 0) {
			range->base = ready;
			range->count = term_local;
			return REASON_NONE;
		}
		return REASON_NO_LOCAL_ENDPOINTS;
	}
	if (ready > 0) {
		range->base = 0;
		range->count = ready;
		if ((flags & SVC_F_PREFER_ZONE) && ready_zone > 0)
			range->count = ready_zone;
		return REASON_NONE;
	}
	if (term > 0) {
		range->base = ready;
		range->count = term;
		if ((flags & SVC_F_PREFER_ZONE) && term_zone > 0)
			range->count = term_zone;
		return REASON_NONE;
	}
	return REASON_NO_ENDPOINTS;
}

static __always_inline __u32 mc_slot_backend(__u32 table, __u32 slot)
{
	struct table_key key = { .table = table, .index = slot };
	struct table_value *row = bpf_map_lookup_elem(&mc_slots, &key);
	if (!row)
		return 0xffffffffu;
	return row->value;
}

static __always_inline __u32 mc_live_connections(__u32 backend_id)
{
	struct counter *c = bpf_map_lookup_elem(&mc_conns, &backend_id);
	if (!c)
		return 0;
	return c->value;
}

static __always_inline __u32 mc_pick(__u8 algorithm, __u32 svc_id, __u32 table, struct slot_range *range,
				     __u64 client, __u32 rand)
{
	__u32 base = range->base, count = range->count;
	if (algorithm == ALG_ROUND_ROBIN) {
		struct counter *c = bpf_map_lookup_elem(&mc_rr, &svc_id);
		if (!c)
			return base + rand % count;
		__u32 position = c->value;
		c->value = position + 1;
		return base + position % count;
	}
	if (algorithm == ALG_MAGLEV) {
		__u32 hash = mc_hash_client(client);
		struct table_key key = { .table = table, .index = hash % MAGLEV_RING };
		struct table_value *row = bpf_map_lookup_elem(&mc_maglev, &key);
		if (row && row->value >= base && row->value < base + count)
			return row->value;
		return base + hash % count;
	}
	if (algorithm == ALG_LEAST_CONN) {
		__u32 first = base + rand % count;
		__u32 second = base + mc_mix32(rand) % count;
		__u32 first_conns = mc_live_connections(mc_slot_backend(table, first));
		__u32 second_conns = mc_live_connections(mc_slot_backend(table, second));
		if (second_conns < first_conns)
			return second;
		return first;
	}
	return base + rand % count;
}

static __always_inline __u8 mc_translate(__u32 table, __u32 slot, struct decision *out)
{
	__u32 backend_id = mc_slot_backend(table, slot);
	struct backend *b = bpf_map_lookup_elem(&mc_backends, &backend_id);
	if (!b || b->state == BACKEND_EMPTY)
		return mc_refuse(out, REASON_TABLE_MISS);
	out->addr0 = b->addr0;
	out->addr1 = b->addr1;
	out->addr2 = b->addr2;
	out->addr3 = b->addr3;
	out->port = b->port;
	out->backend_id = backend_id;
	out->slot = slot;
	out->table = table;
	out->verdict = VERDICT_TRANSLATE;
	out->reason = REASON_NONE;
	return VERDICT_TRANSLATE;
}

static __always_inline __u8 mc_decide_pool(__u8 algorithm, __u8 flags, __u32 svc_id, __u32 table, __u16 ready,
					   __u16 ready_zone, __u16 ready_local, __u16 term, __u16 term_zone,
					   __u16 term_local, __u64 client, __u32 rand, struct decision *out)
{
	struct slot_range range = {};
	__u8 reason = mc_usable_slots(ready, ready_zone, ready_local, term, term_zone, term_local, flags, &range);
	if (reason != REASON_NONE)
		return mc_refuse(out, reason);
	return mc_translate(table, mc_pick(algorithm, svc_id, table, &range, client, rand), out);
}

static __always_inline __u8 mc_decide(struct service_key *key, __u64 client, __u32 rand, __u64 now,
				      struct decision *out)
{
	struct service_value *svc = bpf_map_lookup_elem(&mc_services, key);
	if (!svc) {
		out->verdict = VERDICT_PASS;
		return VERDICT_PASS;
	}
	out->svc_id = svc->id;
	struct affinity_key akey = {};
	if (svc->flags & SVC_F_AFFINITY) {
		akey.svc_id = svc->id;
		akey.client = client;
		struct affinity_value *entry = bpf_map_lookup_elem(&mc_affinity, &akey);
		if (entry && now - entry->last_ns < (__u64)svc->affinity_timeout * 1000000000ull) {
			__u32 table = svc->group_count > 0 ? entry->table : svc->table;
			struct table_key member = { .table = table, .index = entry->backend_id };
			struct table_value *slot = bpf_map_lookup_elem(&mc_members, &member);
			if (slot && mc_translate(table, slot->value, out) == VERDICT_TRANSLATE) {
				entry->last_ns = now;
				return VERDICT_TRANSLATE;
			}
		}
	}
	__u8 verdict = VERDICT_REFUSE;
	if (svc->group_count > 0) {
		if (svc->weight_total == 0) {
			verdict = mc_refuse(out, REASON_INVALID_BACKEND);
		} else {
			__u32 target = rand % svc->weight_total;
			struct group_key gkey = { .set = svc->groups };
			verdict = mc_refuse(out, REASON_TABLE_MISS);
			for (__u32 i = 0; i < MAX_GROUPS; i++) {
				if (i >= svc->group_count)
					break;
				gkey.index = i;
				struct group *g = bpf_map_lookup_elem(&mc_groups, &gkey);
				if (!g)
					break;
				if (target < g->weight_end) {
					if (g->flags & GROUP_F_INVALID)
						verdict = mc_refuse(out, REASON_INVALID_BACKEND);
					else
						verdict = mc_decide_pool(svc->algorithm, svc->flags, svc->id, g->table,
									 g->ready, g->ready_zone, g->ready_local, g->term,
									 g->term_zone, g->term_local, client,
									 mc_mix32(rand ^ 0x9e3779b9u), out);
					break;
				}
			}
		}
	} else {
		verdict = mc_decide_pool(svc->algorithm, svc->flags, svc->id, svc->table, svc->ready, svc->ready_zone,
					 svc->ready_local, svc->term, svc->term_zone, svc->term_local, client, rand, out);
	}
	if (verdict == VERDICT_TRANSLATE && (svc->flags & SVC_F_AFFINITY)) {
		struct affinity_value entry = { .backend_id = out->backend_id, .table = out->table, .last_ns = now };
		bpf_map_update_elem(&mc_affinity, &akey, &entry, BPF_ANY);
	}
	return verdict;
}
