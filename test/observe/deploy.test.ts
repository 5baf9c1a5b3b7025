// deploy/grafana-dashboard.json and deploy/prometheus-scrape.yaml: every metric a dashboard query
// names is one the agent exports (its AgentMetrics and FlowMetrics registered in one registry, as
// `meshc agent` does), and the scrape job finds the DaemonSet's pods and their metrics port.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import { AgentMetrics } from '../../src/metrics/metrics.ts';
import { FlowMetrics } from '../../src/metrics/flows.ts';
import { ROOT } from '../helpers/meshc.ts';

const test = suite('deploy: the Grafana dashboard and the Prometheus scrape job');

interface Dashboard {
  panels: { title: string; targets: { expr: string }[] }[];
  templating: { list: { name: string; query: string }[] };
}

async function exported(): Promise<Set<string>> {
  const metrics = new AgentMetrics({ processMetrics: false });
  new FlowMetrics(metrics.registry);
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${m.name}${suffix}`);
  }
  return names;
}

test('every query of the dashboard names metrics the agent exports', async () => {
  const dashboard = JSON.parse(readFileSync(`${ROOT}/deploy/grafana-dashboard.json`, 'utf8')) as Dashboard;
  const names = await exported();
  const queries = [...dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: p.title, expr: t.expr }))), ...dashboard.templating.list.filter((v) => v.name !== 'datasource').map((v) => ({ where: `variable ${v.name}`, expr: v.query }))];
  assert.ok(queries.length >= 10);
  const used = new Set<string>();
  for (const { where, expr } of queries) {
    const found = expr.match(/\bmeshc_[a-z0-9_]+/g) ?? [];
    assert.ok(found.length > 0, `${where}: no meshc metric in ${expr}`);
    for (const name of found) {
      assert.ok(names.has(name), `${where}: ${name} is not exported by the agent`);
      used.add(name.replace(/_(bucket|sum|count)$/, ''));
    }
  }
  // The flow metrics of issue 18 are all on the dashboard.
  for (const name of ['meshc_flow_connections_total', 'meshc_l7_requests_total', 'meshc_l7_request_duration_seconds', 'meshc_flows_lost_total', 'meshc_refusals_total']) assert.ok(used.has(name), name);
});

test('a metric name the agent does not export would fail the check', async () => {
  const names = await exported();
  assert.not.ok(names.has('meshc_l7_request_total'));
  assert.not.ok(names.has('meshc_connections_total'));
});

test('the scrape job keeps the DaemonSet pods by their label and port name', () => {
  const scrape = parse(readFileSync(`${ROOT}/deploy/prometheus-scrape.yaml`, 'utf8')) as { scrape_configs: { job_name: string; kubernetes_sd_configs: { namespaces: { names: string[] } }[]; relabel_configs: { source_labels?: string[]; regex?: string; action?: string }[] }[] };
  const job = scrape.scrape_configs.find((j) => j.job_name === 'meshc-agent')!;
  const daemonset = parseAllDocuments(readFileSync(`${ROOT}/deploy/daemonset.yaml`, 'utf8')).map((d) => d.toJS()).find((o) => o?.kind === 'DaemonSet') as { spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: { ports?: { name: string }[] }[] } } } };
  const kustomization = parse(readFileSync(`${ROOT}/deploy/kustomization.yaml`, 'utf8')) as { namespace: string };
  assert.equal(job.kubernetes_sd_configs[0]!.namespaces.names, [kustomization.namespace]);
  const keepName = job.relabel_configs.find((r) => r.source_labels?.[0] === '__meta_kubernetes_pod_label_app_kubernetes_io_name')!;
  assert.is(daemonset.spec.template.metadata.labels['app.kubernetes.io/name'], keepName.regex);
  const keepPort = job.relabel_configs.find((r) => r.source_labels?.[0] === '__meta_kubernetes_pod_container_port_name')!;
  assert.ok(daemonset.spec.template.spec.containers.some((c) => c.ports?.some((p) => p.name === keepPort.regex)));
});

test.run();
