// meshc monitor's pieces without the kernel: struct mc_event decoding, naming and the one-line
// format, and cgroup ids back to paths (inode numbers, so any directory tree will do).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CgroupPaths } from '../../src/inspect/cgroups.ts';
import { ALL_EVENTS, EVENT_BYTES, addEvents, decodeEvent, encodeEvent, eventMask, switchEvents, type RawEvent } from '../../src/glue/events.ts';
import { MC_EV, McConfig } from '../../src/generated/glue.ts';
import { decode, encode } from '../../src/tables/codec.ts';
import type { BpfMap } from '../../src/loader/index.ts';
import { describeEvent, formatEvent, type EventContext } from '../../src/inspect/events.ts';

const RAW: RawEvent = {
  cookie: 0x1122334455667788n, cgroupId: 4242n, timestamp: 5_000_000_000n, svcId: 3, backendId: 9,
  type: 1, verdict: 1, reason: 0, family: 4, proto: 6,
};

const NAMES = new Map([['1:3', 'default/product-api:80/TCP'], ['2:9', 'default/product-api-v1-abc']]);
const CONTEXT: EventContext = {
  name: (kind, id) => NAMES.get(`${kind}:${id}`) ?? null,
  cgroupPath: (id) => (id === 4242n ? '/meshc-demo-x' : null),
  monotonicToUnixNs: 1_700_000_000_000_000_000n,
};

const events = suite('monitor: events');

events('decode reads every field of struct mc_event at its offset (40 bytes)', () => {
  const bytes = encodeEvent(RAW);
  assert.is(bytes.length, EVENT_BYTES);
  // Offsets of bpf/meshc_structs.h, independently of encodeEvent.
  const view = new DataView(bytes.buffer);
  assert.is(view.getBigUint64(8, true), 4242n);
  assert.is(view.getUint32(28, true), 9);
  assert.is(bytes[36], 6);
  assert.equal(decodeEvent(bytes), RAW);
  assert.throws(() => decodeEvent(bytes.subarray(0, 39)), /39 bytes, struct mc_event has 40/);
});

events('a translated event gets time, cgroup path, service and pod names', () => {
  const e = describeEvent(RAW, CONTEXT);
  assert.equal(e, {
    time: new Date(1_700_000_005_000).toISOString(),
    event: 'translated',
    protocol: 'TCP',
    family: 4,
    cookie: String(0x1122334455667788n),
    cgroup: { id: '4242', path: '/meshc-demo-x' },
    service: { id: 3, name: 'default/product-api:80/TCP' },
    backend: { id: 9, name: 'default/product-api-v1-abc' },
  });
  assert.is(formatEvent(e), `${e.time.slice(11, 23)}  cgroup 4242 /meshc-demo-x  default/product-api:80/TCP  -> default/product-api-v1-abc  translated  TCP/IPv4`);
});

events('a refusal carries its reason; no backend, unknown names and cgroups still print', () => {
  const e = describeEvent({ ...RAW, type: 2, verdict: 2, reason: 1, backendId: 0, svcId: 77, cgroupId: 5n, proto: 17, family: 6 }, CONTEXT);
  assert.is(e.event, 'refused');
  assert.is(e.reason, 'no-endpoints');
  assert.is(e.backend, null);
  assert.equal(e.service, { id: 77, name: null });
  assert.equal(e.cgroup, { id: '5', path: null });
  assert.match(formatEvent(e), /cgroup 5  service 77  -> \(none\)  refused \(no-endpoints\)  UDP\/IPv6$/);
  assert.is(describeEvent({ ...RAW, type: 3 }, CONTEXT).event, 'established');
  assert.is(describeEvent({ ...RAW, type: 4 }, CONTEXT).event, 'closed');
  assert.is(describeEvent({ ...RAW, type: 9 }, CONTEXT).event, 'type-9');
});

events('control characters in names never reach the terminal', () => {
  const context = { ...CONTEXT, name: () => 'evil\u001b[2Jname' };
  assert.not.match(formatEvent(describeEvent(RAW, context)), '\u001b');
});

const cgroups = suite('monitor: cgroup ids to paths');

cgroups('an id is the directory inode; new directories are found on a rescan, at most once per interval', () => {
  const root = mkdtempSync(join(tmpdir(), 'meshc-cgroups-'));
  try {
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    let now = 0;
    const paths = new CgroupPaths(root, 1000, () => now);
    const ino = (p: string) => statSync(join(root, p), { bigint: true }).ino;
    assert.is(paths.resolve(ino('a/b')), '/a/b');
    assert.is(paths.resolve(statSync(root, { bigint: true }).ino), '/');
    mkdirSync(join(root, 'c'));
    assert.is(paths.resolve(ino('c')), null, 'no rescan within the interval');
    now = 1500;
    assert.is(paths.resolve(ino('c')), '/c');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

events('switchEvents sets mc_config.events and keeps wakeup_bytes; ALL_EVENTS has the bit of each MC_EV type', () => {
  assert.is(ALL_EVENTS, (1 << MC_EV.translate) | (1 << MC_EV.refuse) | (1 << MC_EV.established) | (1 << MC_EV.close));
  let stored = encode(McConfig, { events: 0, wakeup_bytes: 4096, pad: [0, 0] });
  let updates = 0;
  const map = {
    lookup: (key: Uint8Array) => (new DataView(key.buffer).getUint32(0, true) === 0 ? Buffer.from(stored) : undefined),
    update: (_key: Uint8Array, value: Uint8Array) => {
      stored = Uint8Array.from(value);
      updates++;
    },
  } as unknown as BpfMap;
  assert.ok(switchEvents(map, ALL_EVENTS));
  assert.equal(decode(McConfig, stored), { events: ALL_EVENTS, wakeup_bytes: 4096, pad: [0, 0] });
  assert.not.ok(switchEvents(map, ALL_EVENTS), 'already set: not written again');
  assert.is(updates, 1);
  assert.ok(switchEvents(map, 0));
  assert.is(decode(McConfig, stored).events, 0);
  // addEvents keeps what another reader has on; eventMask gives the bits of the types named.
  assert.is(eventMask(['translated', 'refused']), (1 << MC_EV.translate) | (1 << MC_EV.refuse));
  assert.is(eventMask(['closed', 'denied']), 1 << MC_EV.close);
  assert.ok(switchEvents(map, 1 << MC_EV.established));
  assert.ok(addEvents(map, eventMask(['translated'])));
  assert.equal(decode(McConfig, stored), { events: (1 << MC_EV.established) | (1 << MC_EV.translate), wakeup_bytes: 4096, pad: [0, 0] });
  assert.not.ok(addEvents(map, 1 << MC_EV.translate), 'already on: not written again');
});

events.run();
cgroups.run();
