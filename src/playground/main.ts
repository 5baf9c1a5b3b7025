// The playground page: manifests editor, request simulation, services view, policy tests,
// generated C and share links, all in the browser over the same pure core as the CLI.

import type { EditorView } from 'codemirror';
import { scenarios, seedScenario, sampleTests } from 'meshc:fixtures';
import { parseManifests } from '../model/parse.ts';
import { buildModel } from '../model/build.ts';
import type { Model } from '../model/types.ts';
import { formatIgnored } from '../model/diagnostics.ts';
import { objectKey } from '../model/types.ts';
import { instantiatePolicy, type PolicyInstance } from '../wasm/instance.ts';
import { simulate, SimulateError } from '../sim/simulate.ts';
import { compileTables, type CompiledTables } from '../tables/compile.ts';
import { formatProblem, parseTestFile } from '../policy-tests/format.ts';
import { runTestFile, summaryLine, type TestRun } from '../policy-tests/run.ts';
import { embedManifests, extractManifests } from '../policy-tests/embed.ts';
import { goToLine, setText, showProblems, yamlEditor } from './editors.ts';
import { diagnosticRanges, lineRanges, shortMessage } from './lint.ts';
import { DEFAULT_REQUEST, simulateInput, targetText, type RequestForm } from './request.ts';
import { renderResult } from './results.ts';
import { renderServices } from './services.ts';
import { decodeState, encodeState, type PlaygroundState } from './share.ts';

const MANIFESTS_FILE = 'manifests.yaml';
const TESTS_FILE = 'tests.yaml';
const EDIT_DELAY_MS = 250;
const REQUEST_DELAY_MS = 120;
const HASH_DELAY_MS = 600;

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`playground: no element #${id}`);
  return node as T;
}

function debounce(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

function li(text: string, attrs: Record<string, string> = {}): HTMLLIElement {
  const item = document.createElement('li');
  for (const [k, v] of Object.entries(attrs)) item.setAttribute(k, v);
  item.textContent = text;
  return item;
}

class Playground {
  private model: Model | undefined;
  private tables: CompiledTables | undefined;
  private manifestsView!: EditorView;
  private testsView!: EditorView;
  private generation = 0;
  private applyingText = false;
  private readonly form = byId<HTMLFormElement>('request');
  private readonly scheduleReload = debounce(() => this.reload(), EDIT_DELAY_MS);
  private readonly scheduleSimulate = debounce(() => this.simulate(), REQUEST_DELAY_MS);
  private readonly scheduleHash = debounce(() => void this.writeHash(), HASH_DELAY_MS);

  constructor(private readonly instance: PolicyInstance, private state: PlaygroundState) {}

  start(): void {
    this.setUpScenarios();
    this.manifestsView = yamlEditor(byId('manifests-editor'), this.state.manifests, 'Manifests (YAML)', (text) => {
      this.state.manifests = text;
      if (!this.applyingText) this.markEdited();
      this.scheduleReload();
      this.scheduleHash();
    });
    this.testsView = yamlEditor(byId('tests-editor'), this.state.tests, 'Policy tests (YAML)', (text) => {
      this.state.tests = text;
      this.markTestsStale();
      this.scheduleHash();
    });
    this.writeForm(this.state.request);
    this.form.addEventListener('input', () => {
      this.state.request = this.readForm();
      this.scheduleSimulate();
      this.scheduleHash();
    });
    this.form.addEventListener('submit', (event) => event.preventDefault());
    this.setUpTabs();
    byId('run-tests').addEventListener('click', () => this.runTests());
    byId('export-tests').addEventListener('click', () => this.exportTests());
    byId<HTMLInputElement>('import-tests').addEventListener('change', (event) => void this.importTests(event.target as HTMLInputElement));
    byId('share').addEventListener('click', () => void this.share());
    this.reload();
  }

  private setUpScenarios(): void {
    const select = byId<HTMLSelectElement>('fixture');
    const edited = new Option('(edited)', '');
    edited.disabled = true;
    select.append(edited, ...scenarios.map((s) => new Option(s.name, s.name)));
    select.value = this.state.fixture ?? '';
    this.describeScenario();
    select.addEventListener('change', () => {
      const scenario = scenarios.find((s) => s.name === select.value);
      if (!scenario) return;
      this.state.fixture = scenario.name;
      this.state.request = { ...DEFAULT_REQUEST, connections: this.state.request.connections, seed: this.state.request.seed };
      this.writeForm(this.state.request);
      this.applyingText = true;
      setText(this.manifestsView, scenario.manifests);
      this.applyingText = false;
      this.describeScenario();
      this.reload();
    });
  }

  private describeScenario(): void {
    const about = scenarios.find((s) => s.name === this.state.fixture)?.about;
    byId('fixture-about').textContent = about ?? 'Your own manifests.';
  }

  private markEdited(): void {
    if (this.state.fixture === null) return;
    this.state.fixture = null;
    byId<HTMLSelectElement>('fixture').value = '';
    this.describeScenario();
  }

  private setUpTabs(): void {
    const tabs = Array.from(document.querySelectorAll<HTMLButtonElement>('[role="tab"]'));
    let cLoaded = false;
    for (const tab of tabs) {
      tab.addEventListener('click', () => {
        for (const other of tabs) {
          const selected = other === tab;
          other.setAttribute('aria-selected', String(selected));
          byId(other.getAttribute('aria-controls')!).hidden = !selected;
        }
        if (tab.id === 'tab-c' && !cLoaded) {
          cLoaded = true;
          import('./c-view.ts')
            .then((m) => m.showGeneratedC(byId('c-status'), byId('c-editor')))
            .catch((error: unknown) => {
              byId('c-status').textContent = `Could not load the generated C: ${(error as Error).message}`;
            });
        }
        if (tab.id === 'tab-tests') this.testsView.requestMeasure();
      });
    }
  }

  /** Verdicts on screen no longer describe the current manifests or tests. */
  private markTestsStale(): void {
    const results = byId('test-results');
    if (results.childElementCount === 0 || results.classList.contains('stale')) return;
    results.classList.add('stale');
    byId('tests-summary').append(' (changed since this run: run the tests again)');
  }

  /** Manifests changed: rebuild the model, show its problems, the services and the result. */
  private reload(): void {
    this.markTestsStale();
    const text = this.state.manifests;
    let model: Model;
    try {
      model = buildModel(parseManifests(text, MANIFESTS_FILE));
    } catch (error) {
      // The loader reports bad input as diagnostics; reaching here is a meshc bug. Say so on the
      // page and keep the last good model rather than leaving a dead page behind.
      byId('load-status').textContent = `meshc could not load these manifests (a bug in meshc, please report it): ${(error as Error).message}`;
      byId('load-status').className = 'has-errors';
      return;
    }
    this.model = model;
    showProblems(this.manifestsView, diagnosticRanges(text, model.diagnostics));
    const list = byId('diagnostics');
    list.replaceChildren(...model.diagnostics.map((d) => {
      const item = li('', { class: d.severity, 'data-line': String(d.line ?? 1) });
      const jump = document.createElement('button');
      jump.type = 'button';
      jump.className = 'link';
      jump.textContent = `line ${d.line ?? 1}`;
      jump.addEventListener('click', () => goToLine(this.manifestsView, d.line ?? 1));
      item.append(jump, ` ${d.severity}: ${shortMessage(d)}`);
      return item;
    }));
    const errors = model.diagnostics.filter((d) => d.severity === 'error').length;
    const warnings = model.diagnostics.length - errors;
    const ignored = formatIgnored(model.ignored);
    byId('load-status').textContent =
      `${model.services.size} Service(s), ${model.pods.size} pod(s), ${model.routes.length} HTTPRoute(s)` +
      (errors + warnings > 0 ? `; ${errors} error(s), ${warnings} warning(s): objects with errors are left out.` : '; no problems.') +
      (ignored ? ` ${ignored[0]!.toUpperCase()}${ignored.slice(1)}.` : '');
    byId('load-status').className = errors > 0 ? 'has-errors' : '';
    this.tables = compileTables(model);
    renderServices(byId('services'), this.tables);
    this.fillRequestChoices(model, this.tables);
    this.simulate();
  }

  private fillRequestChoices(model: Model, tables: CompiledTables): void {
    const to = this.form.elements.namedItem('to') as HTMLSelectElement;
    const from = this.form.elements.namedItem('from') as HTMLSelectElement;
    const targets: string[] = [];
    let preferred: string | undefined;
    for (const f of tables.frontends) {
      const text = targetText(f.service.meta.namespace, f.service.meta.name, f.port.port);
      if (targets.includes(text)) continue;
      targets.push(text);
      if (!preferred && f.routes.length > 0) preferred = text;
    }
    to.replaceChildren(...targets.map((t) => new Option(t, t)));
    const request = this.state.request;
    if (!targets.includes(request.to)) request.to = preferred ?? targets[0] ?? '';
    to.value = request.to;
    const pods = [...model.pods.values()].map((p) => objectKey(p.meta.namespace, p.meta.name)).sort();
    from.replaceChildren(new Option('(a new client per connection)', ''), ...pods.map((p) => new Option(p, p)));
    if (!pods.includes(request.from)) request.from = '';
    from.value = request.from;
  }

  private readForm(): RequestForm {
    const value = (name: string) => (this.form.elements.namedItem(name) as HTMLInputElement).value;
    return {
      from: value('from'),
      to: value('to'),
      method: value('method'),
      path: value('path'),
      headers: value('headers'),
      connections: Number(value('connections')),
      seed: Number(value('seed')),
    };
  }

  private writeForm(form: RequestForm): void {
    for (const [name, v] of Object.entries(form)) {
      const field = this.form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null;
      if (!field) continue;
      if (field instanceof HTMLSelectElement && !Array.from(field.options).some((o) => o.value === String(v))) field.append(new Option(String(v), String(v)));
      field.value = String(v);
    }
  }

  private simulate(): void {
    if (!this.model) return;
    const els = { route: byId('result-route'), refused: byId('result-refused'), chart: byId('chart'), warnings: byId('result-warnings') };
    const parsed = simulateInput(this.state.request);
    if ('problem' in parsed) {
      renderResult(els, parsed);
    } else {
      try {
        renderResult(els, { result: simulate(this.model, this.instance, parsed.input) });
      } catch (error) {
        if (!(error instanceof SimulateError)) throw error;
        renderResult(els, { problem: error.message });
      }
    }
    this.generation++;
    byId('result').dataset.generation = String(this.generation);
    if (this.generation === 1) performance.mark('meshc:first-result');
  }

  private runTests(): void {
    if (!this.model) return;
    const text = this.state.tests;
    const parsed = parseTestFile(text, TESTS_FILE);
    const run = runTestFile(parsed, this.model, this.instance);
    showProblems(this.testsView, lineRanges(text, run.problems.map((p) => ({ line: p.line, severity: 'error' as const, message: formatProblem(p) }))));
    this.renderRun(run, parsed.suite?.manifests !== undefined);
  }

  private renderRun(run: TestRun, ownManifests: boolean): void {
    const summary = byId('tests-summary');
    summary.textContent = summaryLine(run) + (ownManifests ? ' (this page tests the manifests on the left; the file\'s `manifests` is used by meshc test)' : '');
    summary.className = run.ok ? 'ok' : 'not-ok';
    byId('test-problems').replaceChildren(...run.problems.map((p) => li(formatProblem(p), { class: 'error' })));
    byId('test-results').classList.remove('stale');
    byId('test-results').replaceChildren(...run.verdicts.map((v) => {
      const item = li('', { class: v.status, 'data-name': v.name, 'data-status': v.status });
      const badge = document.createElement('strong');
      badge.className = 'status';
      badge.textContent = v.status.toUpperCase();
      item.append(badge, ` ${v.name} `);
      if (v.line !== undefined) {
        const jump = document.createElement('button');
        jump.type = 'button';
        jump.className = 'link';
        jump.textContent = `line ${v.line}`;
        jump.addEventListener('click', () => goToLine(this.testsView, v.line!));
        item.append(jump);
      }
      for (const [cls, text] of [['reason', v.reason], ['actual', v.actual && `got: ${v.actual}`]] as const) {
        if (!text) continue;
        const p = document.createElement('p');
        p.className = cls;
        p.textContent = text;
        item.append(p);
      }
      return item;
    }));
    byId('tests-summary').dataset.ok = String(run.ok);
  }

  private exportTests(): void {
    let text: string;
    try {
      text = embedManifests(this.state.tests, this.state.manifests);
    } catch (error) {
      byId('tests-summary').textContent = `Cannot export: ${(error as Error).message}`;
      return;
    }
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([text], { type: 'text/yaml' }));
    link.download = `${this.state.fixture ?? 'playground'}.tests.yaml`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 0);
  }

  private async importTests(input: HTMLInputElement): Promise<void> {
    const file = input.files?.[0];
    if (!file) return;
    const parts = extractManifests(await file.text());
    setText(this.testsView, parts.tests);
    if (parts.manifests !== undefined) setText(this.manifestsView, parts.manifests);
    byId('tests-summary').textContent = parts.referenced
      ? `Imported ${file.name}: it names its manifests by path, which a page cannot read; its tests run against the manifests on the left.`
      : `Imported ${file.name}${parts.manifests !== undefined ? ' with its manifests' : ''}.`;
    input.value = '';
  }

  private async writeHash(): Promise<string> {
    const fragment = await encodeState(this.state);
    history.replaceState(null, '', fragment);
    return fragment;
  }

  private async share(): Promise<void> {
    await this.writeHash();
    const output = byId('share-output');
    const field = byId<HTMLInputElement>('share-url');
    field.value = location.href;
    output.hidden = false;
    field.select();
    try {
      await navigator.clipboard.writeText(location.href);
      byId('share').textContent = 'Link copied';
    } catch {
      byId('share').textContent = 'Share link';
    }
  }
}

async function main(): Promise<void> {
  const wasm = fetch('policy.wasm').then((r) => {
    if (!r.ok) throw new Error(`policy.wasm: HTTP ${r.status}`);
    return r.arrayBuffer();
  });
  const seed = scenarios.find((s) => s.name === seedScenario) ?? scenarios[0];
  const state = (await decodeState(location.hash)) ?? {
    fixture: seed?.name ?? null,
    manifests: seed?.manifests ?? '',
    request: { ...DEFAULT_REQUEST },
    tests: sampleTests,
  };
  const instance = await instantiatePolicy(await wasm);
  new Playground(instance, state).start();
}

main().catch((error: unknown) => {
  const status = document.getElementById('load-status');
  if (status) status.textContent = `The playground failed to start: ${(error as Error).message}`;
  throw error;
});
