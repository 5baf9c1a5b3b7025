// The TypeScript side of the byte layouts declared in assembly/layouts.ts, and the maps declared
// in assembly/maps.ts. test/tables/layouts.test.ts checks both against the AssemblyScript
// declaration (through the generator's reader) and against the Wasm module's own sizes.

export type FieldType = 'u8' | 'u16' | 'u32' | 'u64';

export interface FieldSpec {
  name: string;
  type: FieldType;
  offset: number;
}

export interface StructSpec {
  /** The AssemblyScript class name. */
  name: string;
  size: number;
  fields: FieldSpec[];
}

const SIZES: Record<FieldType, number> = { u8: 1, u16: 2, u32: 4, u64: 8 };

function struct(name: string, fields: [string, FieldType][]): StructSpec {
  let offset = 0;
  const specs = fields.map(([field, type]) => {
    if (offset % SIZES[type] !== 0) throw new Error(`${name}.${field}: misaligned at offset ${offset}`);
    const spec = { name: field, type, offset };
    offset += SIZES[type];
    return spec;
  });
  return { name, size: offset, fields: specs };
}

const ADDR: [string, FieldType][] = [['addr0', 'u32'], ['addr1', 'u32'], ['addr2', 'u32'], ['addr3', 'u32']];
const POOL: [string, FieldType][] = [
  ['ready', 'u16'], ['ready_zone', 'u16'], ['ready_local', 'u16'],
  ['term', 'u16'], ['term_zone', 'u16'], ['term_local', 'u16'],
];

export const ServiceKey = struct('ServiceKey', [...ADDR, ['port', 'u16'], ['proto', 'u8'], ['family', 'u8']]);
export const ServiceValue = struct('ServiceValue', [
  ['id', 'u32'], ['table', 'u32'], ...POOL, ['algorithm', 'u8'], ['flags', 'u8'], ['group_count', 'u16'],
  ['affinity_timeout', 'u32'], ['groups', 'u32'], ['weight_total', 'u32'],
]);
export const TableKey = struct('TableKey', [['table', 'u32'], ['index', 'u32']]);
export const TableValue = struct('TableValue', [['value', 'u32']]);
export const Backend = struct('Backend', [
  ...ADDR, ['port', 'u16'], ['state', 'u8'], ['family', 'u8'], ['zone', 'u16'], ['node', 'u16'],
  ['weight', 'u16'], ['pad', 'u16'],
]);
export const GroupKey = struct('GroupKey', [['set', 'u32'], ['index', 'u32']]);
export const Group = struct('Group', [['weight_end', 'u32'], ['table', 'u32'], ...POOL, ['flags', 'u16'], ['pad', 'u16']]);
export const AffinityKey = struct('AffinityKey', [['svc_id', 'u32'], ['pad', 'u32'], ['client', 'u64']]);
export const AffinityValue = struct('AffinityValue', [['backend_id', 'u32'], ['table', 'u32'], ['last_ns', 'u64']]);
export const Counter = struct('Counter', [['value', 'u32']]);
export const Decision = struct('Decision', [
  ...ADDR, ['port', 'u16'], ['verdict', 'u8'], ['reason', 'u8'], ['backend_id', 'u32'], ['slot', 'u32'],
  ['svc_id', 'u32'], ['table', 'u32'],
]);
export const SlotRange = struct('SlotRange', [['base', 'u32'], ['count', 'u32']]);

export const STRUCTS: StructSpec[] = [
  ServiceKey, ServiceValue, TableKey, TableValue, Backend, GroupKey, Group, AffinityKey, AffinityValue,
  Counter, Decision, SlotRange,
];

/** 4-byte index of an array map. */
export const ArrayIndex: StructSpec = struct('u32', [['index', 'u32']]);

export type MapKind = 'hash' | 'array' | 'lru_hash';

export interface MapSpec {
  name: MapName;
  /** Map id inside policy.wasm. */
  wasmId: number;
  kind: MapKind;
  key: StructSpec;
  value: StructSpec;
}

export type MapName =
  | 'mc_services' | 'mc_slots' | 'mc_members' | 'mc_maglev' | 'mc_backends' | 'mc_groups'
  | 'mc_affinity' | 'mc_rr' | 'mc_conns';

export const MAPS: Record<MapName, MapSpec> = {
  mc_services: { name: 'mc_services', wasmId: 0, kind: 'hash', key: ServiceKey, value: ServiceValue },
  mc_slots: { name: 'mc_slots', wasmId: 1, kind: 'hash', key: TableKey, value: TableValue },
  mc_members: { name: 'mc_members', wasmId: 2, kind: 'hash', key: TableKey, value: TableValue },
  mc_maglev: { name: 'mc_maglev', wasmId: 3, kind: 'hash', key: TableKey, value: TableValue },
  mc_backends: { name: 'mc_backends', wasmId: 4, kind: 'array', key: ArrayIndex, value: Backend },
  mc_groups: { name: 'mc_groups', wasmId: 5, kind: 'hash', key: GroupKey, value: Group },
  mc_affinity: { name: 'mc_affinity', wasmId: 6, kind: 'lru_hash', key: AffinityKey, value: AffinityValue },
  mc_rr: { name: 'mc_rr', wasmId: 7, kind: 'array', key: ArrayIndex, value: Counter },
  mc_conns: { name: 'mc_conns', wasmId: 8, kind: 'array', key: ArrayIndex, value: Counter },
};

/** The maps the table compiler writes, in the order new rows must be written. */
export const TABLE_WRITE_ORDER: MapName[] = ['mc_backends', 'mc_slots', 'mc_members', 'mc_maglev', 'mc_groups', 'mc_services'];

// Values of assembly/constants.ts that the host needs.
export const ALGORITHMS = { random: 0, 'round-robin': 1, maglev: 2, 'least-conn': 3 } as const;
export const SVC_F = { affinity: 1, local: 2, preferZone: 4, l7: 8 } as const;
export const GROUP_F_INVALID = 1;
export const BACKEND_STATE = { empty: 0, ready: 1, terminating: 2 } as const;
export const VERDICT = { pass: 0, translate: 1, refuse: 2 } as const;
export const REASONS = ['none', 'no-endpoints', 'no-local-endpoints', 'invalid-backend', 'table-miss'] as const;
export const MAGLEV_RING = 1021;
export const MAX_GROUPS = 16;
export const IPPROTO = { TCP: 6, UDP: 17, SCTP: 132 } as const;
