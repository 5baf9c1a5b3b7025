// The agent's metrics (src/metrics/metrics.ts) and its /metrics /healthz /readyz server
// (src/metrics/server.ts), alone and bound to a KubeSource on the API server stand-in.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentMetrics } from '../../src/metrics/metrics.ts';
import { MetricsServer, sourceReadiness } from '../../src/metrics/server.ts';
import type { SourceStatus } from '../../src/kube/source.ts';
import { harness, service, waitFor } from './helpers.ts';

/** The value of one sample line, `name{labels} value`, from the exposition text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const status = (over: Partial<SourceStatus>): SourceStatus => ({ synced: false, stale: false, staleForMs: 0, resources: [], ...over });

const metrics = suite('AgentMetrics');

metrics('gauges: services, backends, map entries, capacity and fill ratio', async () => {
  const m = new AgentMetrics({ processMetrics: false });
  m.setServices(12);
  m.setBackends(40);
  m.setMapUsage('mc_services', 512, 65536);
  const text = await m.text();
  assert.is(sample(text, 'meshc_services'), 12);
  assert.is(sample(text, 'meshc_backends'), 40);
  assert.is(sample(text, 'meshc_map_entries{map="mc_services"}'), 512);
  assert.is(sample(text, 'meshc_map_capacity{map="mc_services"}'), 65536);
  assert.is(sample(text, 'meshc_map_fill_ratio{map="mc_services"}'), 512 / 65536);
  assert.throws(() => m.setMapUsage('mc_x', 1, 0), /mc_x: capacity/);
});

metrics('refusals follow the kernel\'s cumulative counts, across a map reset', async () => {
  const m = new AgentMetrics({ processMetrics: false });
  const cases: [number, number][] = [[5, 5], [5, 5], [9, 9], [2, 11], [4, 13]]; // kernel total → exported total
  for (const [kernel, exported] of cases) {
    m.setRefusals('no-endpoints', kernel);
    assert.is(sample(await m.text(), 'meshc_refusals_total{reason="no-endpoints"}'), exported, `after kernel ${kernel}`);
  }
  m.setRefusals('no-local-endpoints', 0);
  assert.is(sample(await m.text(), 'meshc_refusals_total{reason="no-local-endpoints"}'), 0);
});

metrics('programming latency histogram from seenAt to the write', async () => {
  const m = new AgentMetrics({ processMetrics: false });
  m.observeProgramming([{ seenAt: 1000 }, { seenAt: 1990 }, { seenAt: 400 }], 2000);
  const text = await m.text();
  assert.is(sample(text, 'meshc_network_programming_latency_seconds_count'), 3);
  assert.ok(Math.abs(sample(text, 'meshc_network_programming_latency_seconds_sum')! - (1 + 0.01 + 1.6)) < 1e-9);
  assert.is(sample(text, 'meshc_network_programming_latency_seconds_bucket{le="0.01"}'), 1);
  assert.is(sample(text, 'meshc_network_programming_latency_seconds_bucket{le="1"}'), 2);
  assert.is(sample(text, 'meshc_network_programming_latency_seconds_bucket{le="2.5"}'), 3);
});

metrics('source state gauges follow the bound source; apply stats count writes', async () => {
  const m = new AgentMetrics({ processMetrics: false });
  let current = status({});
  m.bindSource({ status: () => current });
  let text = await m.text();
  assert.is(sample(text, 'meshc_kube_synced'), 0);
  current = status({ synced: true, stale: true, staleForMs: 2500 });
  text = await m.text();
  assert.is(sample(text, 'meshc_kube_synced'), 1);
  assert.is(sample(text, 'meshc_kube_stale'), 1);
  assert.is(sample(text, 'meshc_kube_sync_lag_seconds'), 2.5);
  m.recordApply({ written: { mc_backends: 3, mc_services: 1 }, removed: { mc_slots: 2 } }, 12);
  m.watchRestarted('Service', 'expired');
  m.relisted('Service');
  m.objectEvent('EndpointSlice', 'modified');
  text = await m.text();
  assert.is(sample(text, 'meshc_map_writes_total{map="mc_backends",op="write"}'), 3);
  assert.is(sample(text, 'meshc_map_writes_total{map="mc_slots",op="remove"}'), 2);
  assert.is(sample(text, 'meshc_reconciles_total{result="ok"}'), 1);
  assert.is(sample(text, 'meshc_kube_watch_restarts_total{resource="Service",reason="expired"}'), 1);
  assert.is(sample(text, 'meshc_kube_relists_total{resource="Service"}'), 1);
  assert.is(sample(text, 'meshc_kube_object_events_total{resource="EndpointSlice",type="modified"}'), 1);
});

metrics('process metrics include resident memory', async () => {
  const m = new AgentMetrics();
  assert.ok(sample(await m.text(), 'process_resident_memory_bytes')! > 0);
});

const server = suite('MetricsServer');

server('/metrics, /healthz, /readyz that turns 200 at the first full sync', async () => {
  const m = new AgentMetrics({ processMetrics: false });
  const h = await harness({ seed: (s) => s.create(service('default', 'web', '10.96.0.10')), source: { metrics: m }, start: false });
  h.server.failRequests((r) => (r.path.endsWith('/services') && !r.watch ? 503 : undefined));
  m.bindSource(h.source);
  const http = new MetricsServer({ registry: m.registry, readiness: sourceReadiness(h.source), host: '127.0.0.1' });
  await http.start();
  const get = async (path: string) => {
    const response = await fetch(`http://127.0.0.1:${http.port}${path}`);
    return { status: response.status, text: await response.text(), type: response.headers.get('content-type') };
  };
  try {
    await h.source.start();
    assert.is((await get('/healthz')).status, 200);
    await waitFor('the other resources listed', () => h.source.status().resources.filter((r) => r.listed).length === h.source.status().resources.length - 1);
    const notReady = await get('/readyz');
    assert.is(notReady.status, 503);
    assert.match(notReady.text, /waiting for the first full list of Service \(.*503/);
    h.server.failRequests(undefined);
    await h.source.waitForSync(5000);
    assert.is((await get('/readyz')).status, 200);
    const scraped = await get('/metrics');
    assert.match(scraped.type ?? '', /text\/plain/);
    assert.is(sample(scraped.text, 'meshc_kube_synced'), 1);
    assert.ok(sample(scraped.text, 'meshc_kube_object_events_total{resource="Service",type="added"}')! >= 1);
    assert.is((await get('/nope')).status, 404);
  } finally {
    await http.stop();
    await h.close();
  }
});

metrics.run();
server.run();
