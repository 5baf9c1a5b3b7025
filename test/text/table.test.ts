import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatTable, shareBar } from '../../src/text/table.ts';
import { parseTarget } from '../../src/sim/target.ts';

const table = suite('formatTable');

table('pads columns to the widest cell, right-aligns the given ones, no trailing spaces', () => {
  const lines = formatTable([
    ['NAME', 'COUNT', 'SHARE'],
    ['a', '5', '50.0%', '██'],
    ['longer', '10', '5.0%', ''],
  ], { right: [1, 2] });
  assert.equal(lines, [
    'NAME    COUNT  SHARE',
    'a           5  50.0%  ██',
    'longer     10   5.0%',
  ]);
});

table('the last left-aligned column is not padded; indent goes in front', () => {
  assert.equal(formatTable([['x', 'one'], ['yy', 'two words']], { indent: '  ' }), ['  x   one', '  yy  two words']);
  assert.equal(formatTable([]), []);
});

table('shareBar: width blocks at the whole, none for nothing', () => {
  assert.is(shareBar(1, 2, 30), '█'.repeat(15));
  assert.is(shareBar(3, 3, 4), '████');
  assert.is(shareBar(0, 0, 30), '');
});

table.run();

const target = suite('parseTarget');

const CASES: [string, ReturnType<typeof parseTarget>][] = [
  ['product-api:80', { name: 'product-api', namespace: 'default', port: 80 }],
  ['product-api.shop:http', { name: 'product-api', namespace: 'shop', port: 'http' }],
  [' db.data:5432 ', { name: 'db', namespace: 'data', port: 5432 }],
  ['product-api', undefined],
  ['Product:80', undefined],
  ['a.b.c:80', undefined],
  ['api:', undefined],
];
for (const [text, expected] of CASES) {
  target(`"${text}"`, () => assert.equal(parseTarget(text), expected));
}

target.run();
