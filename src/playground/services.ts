// The services view: each Service port as the kernel maps hold it after compileTables — the
// frontend (VIP, algorithm, flags), its backend slots, and the weighted groups of route rules.

import type { CompiledTables, FrontendInfo, GroupSetInfo, PoolInfo } from '../tables/compile.ts';
import { ALG, SVC_F } from '../tables/layouts.ts';
import type { RouteMatch } from '../model/types.ts';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function table(caption: string, header: string[], rows: string[][], className: string): HTMLTableElement {
  const t = el('table', { class: className });
  t.append(el('caption', {}, caption));
  const head = el('tr');
  for (const h of header) head.append(el('th', { scope: 'col' }, h));
  const thead = el('thead');
  thead.append(head);
  const body = el('tbody');
  for (const cells of rows) {
    const tr = el('tr');
    for (const c of cells) tr.append(el('td', {}, c));
    body.append(tr);
  }
  t.append(thead, body);
  return t;
}

export function algorithmName(code: number): string {
  return Object.entries(ALG).find(([, v]) => v === code)?.[0] ?? `algorithm ${code}`;
}

export function flagNames(flags: number): string[] {
  return Object.entries(SVC_F).filter(([, bit]) => (flags & bit) !== 0).map(([name]) => name);
}

function matchText(m: RouteMatch): string {
  const parts = [`${m.path.type} ${m.path.value}`];
  for (const h of m.headers) parts.push(`header ${h.name}${h.type === 'Exact' ? '=' : '~'}${h.value}`);
  for (const q of m.queryParams) parts.push(`query ${q.name}${q.type === 'Exact' ? '=' : '~'}${q.value}`);
  if (m.method) parts.push(`method ${m.method}`);
  return parts.join(', ');
}

function groupsText(set: GroupSetInfo): string {
  return set.groups
    .map((g) => {
      const pct = set.total > 0 ? ` (${((100 * g.weight) / set.total).toFixed(1)}%)` : '';
      const target = g.invalid ? `invalid: ${g.invalid}` : `table ${g.pool?.table}`;
      return `${g.service || '(none)'}${g.port ? `:${g.port}` : ''} weight ${g.weight}${pct}, ${target}`;
    })
    .join('; ');
}

function poolTable(pool: PoolInfo): HTMLTableElement {
  const c = pool.counts;
  const caption = `Backend table ${pool.table}${pool.maglev ? ' (Maglev ring)' : ''}: ${c.ready} ready, ${c.term} terminating`;
  const rows = pool.slots.map((b, i) => [String(i), String(b.id), `${b.ip}:${b.port}`, b.state, b.pod ? `${b.pod.namespace}/${b.pod.name}` : '-', [b.nodeName, b.zone].filter(Boolean).join(' / ') || '-']);
  return table(caption, ['Slot', 'Backend id', 'Address', 'State', 'Pod', 'Node / zone'], rows, 'slots');
}

function frontendView(f: FrontendInfo): HTMLElement {
  const svc = f.service;
  const name = `${svc.meta.namespace}/${svc.meta.name}`;
  const article = el('article', { class: 'frontend', 'data-service': name, 'data-port': String(f.port.port) });
  article.append(el('h3', {}, `${name} ${f.vip}:${f.port.port}/${f.protocol}${f.port.name ? ` (${f.port.name})` : ''}`));
  const dl = el('dl');
  const facts: [string, string][] = [
    ['Service id', String(f.id)],
    ['Algorithm', algorithmName(f.algorithm)],
    ['Flags', flagNames(f.flags).join(', ') || 'none'],
  ];
  if (svc.sessionAffinity === 'ClientIP') facts.push(['Affinity timeout', `${svc.affinityTimeoutSeconds} s`]);
  if (f.defaultRule) facts.push(['Per-connection groups', `${f.defaultRule.route.meta.name} rule ${f.defaultRule.ruleIndex}: ${groupsText(f.defaultRule.groupSet)}`]);
  for (const [k, v] of facts) dl.append(el('dt', {}, k), el('dd', {}, v));
  article.append(dl, poolTable(f.pool));
  if (f.rules.size > 0) {
    const rows = [...f.rules.values()].map((info) => {
      const rule = info.route.rules[info.ruleIndex]!;
      return [
        `${info.route.meta.namespace}/${info.route.meta.name}#${info.ruleIndex}${info === f.defaultRule ? ' (kernel default)' : ''}`,
        rule.matches.map(matchText).join(' | '),
        `set ${info.groupSet.set}: ${groupsText(info.groupSet)}`,
      ];
    });
    article.append(table('HTTPRoute rules and their weighted groups', ['Rule', 'Matches', 'Groups'], rows, 'rules'));
  }
  return article;
}

export function renderServices(container: HTMLElement, tables: CompiledTables): void {
  const views = tables.frontends.map(frontendView);
  if (views.length === 0) views.push(el('p', { class: 'muted' }, 'No Service with a ClusterIP: nothing to load-balance.'));
  const warnings = tables.warnings.map((w) => el('li', {}, w));
  if (warnings.length > 0) {
    const list = el('ul', { class: 'warnings' });
    list.append(...warnings);
    views.push(list);
  }
  container.replaceChildren(...views);
}
