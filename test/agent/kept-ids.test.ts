// Ids while the source is not synced (a restarted agent that cannot read part of its manifests
// yet keeps the rows a previous agent pinned for it): a new backend or frontend must never take
// an id a kept row uses, or a kept slot would lead to the new backend. Found by the fault suite
// (seed 11: kill -9 while others.yaml was broken, then a change of web: the other Services'
// kept slots reached web's pods).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { adoptIds, reserveKeptIds } from '../../src/agent/adopt.ts';
import { compileTables } from '../../src/tables/compile.ts';
import { TableIds } from '../../src/tables/ids.ts';
import { modelOf, serviceYaml } from '../helpers/policy-harness.ts';

const web = (ips: string[]) => serviceYaml('web', ips.map((ip) => ({ ip })), { clusterIP: '10.96.7.1' });
const other = serviceYaml('other', [{ ip: '10.244.7.11' }, { ip: '10.244.7.12' }], { clusterIP: '10.96.7.2' });

test('kept rows keep their ids through compiles that do not have them', () => {
  const first = compileTables(modelOf(`${web(['10.244.7.1'])}---\n${other}`), { ids: new TableIds() });
  const keptBackends = [...first.backends].filter(([, b]) => b.ip.startsWith('10.244.7.1')).map(([id]) => id);
  const keptService = first.frontends.find((f) => f.vip === '10.96.7.2')!.id;
  for (const reserve of [true, false]) {
    const ids = new TableIds();
    adoptIds(first.rows, ids);
    let reused = false;
    // Two syncs of a source that has web only (others.yaml unreadable): new backends, then newer.
    for (const pods of [['10.244.7.2', '10.244.7.3'], ['10.244.7.4', '10.244.7.5', '10.244.7.6']]) {
      reserveKeptIds(reserve ? first.rows : undefined, ids);
      const next = compileTables(modelOf(web(pods)), { ids });
      const newBackends = [...next.backends].filter(([, b]) => pods.includes(b.ip)).map(([id]) => id);
      assert.is(newBackends.length, pods.length);
      if (newBackends.some((id) => keptBackends.includes(id)) || next.frontends.some((f) => f.id === keptService)) reused = true;
    }
    // Without the reservation the second sync gives web the ids the kept rows use: the bug.
    assert.is(reused, !reserve, reserve ? 'a kept id was given to a new key' : 'the test no longer shows the reuse it guards against');
  }
});

test.run();
