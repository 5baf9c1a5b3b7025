// The generated layouts (src/generated/, from assembly/) against what asc built: every map's key
// and value size as policy.wasm reports it, and the codec's round trip through every layout
// shape (scalars, u64, arrays, text, nested structs). test/ci/generated.test.ts proves the
// generated files are current; test/compiler/layouts.test.ts holds readLayouts to asc's offsets.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import { McEvent, McHarnessSlot, McName, McRevnatKey } from '../../src/generated/glue.ts';
import { decode, encode } from '../../src/tables/codec.ts';
import * as L from '../../src/tables/layouts.ts';

const test = suite('generated layouts');

test('every map has the Wasm id, key size and value size that policy.wasm reports', async () => {
  const { exports } = await loadPolicyWasm();
  for (const spec of Object.values(L.MAPS)) {
    assert.is(exports.map_key_size(spec.wasmId), spec.key.size, `${spec.name} key size`);
    assert.is(exports.map_value_size(spec.wasmId), spec.value.size, `${spec.name} value size`);
  }
});

test('fields tile each struct: in order, aligned, inside its size', () => {
  const width = { u8: 1, u16: 2, u32: 4, u64: 8, char: 1 } as const;
  for (const spec of [...L.STRUCTS, McEvent, McRevnatKey, McHarnessSlot]) {
    let end = 0;
    for (const f of spec.fields) {
      const size = f.type === 'struct' ? (f as { spec: L.StructSpec }).spec.size : width[f.type];
      assert.ok(f.offset >= end, `${spec.name}.${f.name} overlaps the field before it`);
      if (f.type !== 'struct') assert.is(f.offset % size, 0, `${spec.name}.${f.name} aligned`);
      end = f.offset + size * ((f as { count?: number }).count ?? 1);
    }
    assert.ok(end <= spec.size, `${spec.name}: fields end at ${end}, size ${spec.size}`);
  }
});

test('the codec round-trips scalars, u64, arrays, text and nested structs', () => {
  const value = { svc_id: 7, pad: 0, client: 0x1122334455667788n };
  assert.equal(decode(L.AffinityKey, encode(L.AffinityKey, value)), value);
  const key = { cookie: 9n, addr: [1, 2, 3, 4], port: 0x5000, family: 6, pad: 0, pad2: 0 };
  assert.equal(decode(McRevnatKey, encode(McRevnatKey, key)), key);
  assert.is(decode(McName, encode(McName, { text: 'default/product-api:80/TCP' })).text, 'default/product-api:80/TCP');
  assert.is(encode(McName, { text: 'x'.repeat(200) }).indexOf(0), McName.size - 1, 'text is cut to leave its NUL');
  const slot = encode(McHarnessSlot, { key: { port: 0x5000, family: 4 }, rand: 5, out: { verdict: L.VERDICT.translate, svc_id: 3 } });
  const decoded = decode(McHarnessSlot, slot);
  assert.equal([decoded.key.port, decoded.key.family, decoded.rand, decoded.out.verdict, decoded.out.svc_id], [0x5000, 4, 5, 1, 3]);
  assert.is(new DataView(slot.buffer).getUint32(48 + L.Decision.fields.find((f) => f.name === 'svc_id')!.offset, true), 3);
  assert.throws(() => decode(L.ServiceKey, new Uint8Array(L.ServiceKey.size - 1)), /ServiceKey: 19 bytes, need 20/);
});

test('sets of named values: every ALG_*, SVC_F_* and REASON_* constant by name', () => {
  assert.equal(L.ALG, { random: L.ALG_RANDOM, 'round-robin': L.ALG_ROUND_ROBIN, maglev: L.ALG_MAGLEV, 'least-conn': L.ALG_LEAST_CONN });
  assert.equal(Object.keys(L.SVC_F), ['affinity', 'local', 'prefer-zone', 'l7']);
  assert.is(Object.keys(L.REASON).length, L.REASON_COUNT);
  assert.equal(L.REASONS.slice(0, L.REASON_COUNT), Object.keys(L.REASON));
});

test('reason names: the policy\'s, the glue\'s, then reason-N', () => {
  assert.equal([0, 1, 4, 5, 9].map(L.reasonName), ['none', 'no-endpoints', 'table-miss', 'family-mismatch', 'reason-9']);
  assert.equal([6, 17, 132, 1].map(L.protocolName), ['TCP', 'UDP', 'SCTP', 'proto-1']);
});

test.run();
