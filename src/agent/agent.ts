// The node agent: loads the compiled programs, attaches every hook to one cgroup through pinned
// bpf_links, and keeps the pinned maps equal to what the source (a manifests directory, or the
// API server) says. Pinned state outlives the agent: routing goes on while it is stopped or
// restarting, and a new agent adopts what it finds instead of starting over.
import { existsSync, mkdirSync, readdirSync, realpathSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { BpfObject, CGROUP2_ROOT, cgroup2Mounts, isBpffs, loadObject, mountBpffs, openPinnedLink, type BpfLink } from '../loader/index.ts';
import type { Diagnostic, Model } from '../model/types.ts';
import { CompileCache, compileTables, type CompiledTables } from '../tables/compile.ts';
import { TableIds } from '../tables/ids.ts';
import { applyTables, type ApplyStats } from '../sinks/apply.ts';
import { hex } from '../tables/codec.ts';
import { KernelSink, readRows } from '../sinks/kernel.ts';
import { isRemovedRow, type TableState } from '../sinks/sink.ts';
import { MAPS, TABLE_WRITE_ORDER, type MapName } from '../tables/layouts.ts';
import type { TableRow } from '../tables/compile.ts';
import { adoptIds, holdLeftIds, reserveKeptIds } from './adopt.ts';
import { writeNames } from './names.ts';
import { ServingLog } from '../proxy/serving-log.ts';
import type { NodeProxy } from './proxy.ts';
import { sumPerCpu } from '../glue/counters.ts';
import { cgroupKey, skippedCgroupIds, skippedPodUids } from './skip.ts';
import { NetpolSync, netpolLog } from './netpol.ts';
import { acquirePinLock, lockOwners } from './pin-lock.ts';
import { clearPin, foreignHooks, pinnedLinkId, pinnedMapId, pinnedProgramIds, stillAttached, type ForeignHook } from './links.ts';

export { CGROUP2_ROOT, cgroup2Mounts };
/** Why an agent without a node proxy decides L7 ports in the kernel (serving log). */
const NO_PROXY = 'meshc agent runs once (no --watch): the node proxy needs a running agent';
export const DEFAULT_PIN = '/sys/fs/bpf/meshc';

/** What the agent reads its desired state from. */
export interface AgentSource {
  read(): Promise<{ model: Model; diagnostics: Diagnostic[]; heldBack?: string[] }>;
  /** Whether the source has seen everything once; until then nothing is removed from the maps. */
  synced?(): boolean;
}

export interface AgentOptions {
  source: AgentSource;
  /** The cgroup v2 directory whose processes are routed. */
  cgroup: string;
  pin: string;
  /** This node's name: decides which endpoints are local (internalTrafficPolicy, zones). */
  node?: string;
  /** Directory with meshc.bpf.o (meshc compile --out). */
  objectDir: string;
  log?: (line: string) => void;
  /** Attach even when another meshc's hooks already route this cgroup (or one above it). */
  forceAttach?: boolean;
  /** The cgroup v2 mount the cgroup is under (where the check for other meshc hooks stops). */
  cgroupRoot?: string;
  /** The node proxy for L7 Service ports (proxy.ts); without it they are decided in the kernel. */
  proxy?: NodeProxy;
  /** Called with each synced model (the node tunnel's plan, src/agent/tunnel.ts). */
  onModel?: (model: Model) => void;
}

export interface SyncResult {
  stats: ApplyStats;
  /** The model the tables were compiled from (src/observe names flows from it). */
  model: Model;
  tables: CompiledTables;
  diagnostics: Diagnostic[];
  heldBack: string[];
  /** False when the source was not synced yet, so stale rows were kept. */
  pruned: boolean;
  /** What did not fit the maps, by object (each also logged); the rest was applied. */
  notApplied: { object: string; reason: string; kept: boolean }[];
}

/**
 * Hook programs for the routed cgroup, and the attach point each needs: the syscall harnesses are
 * never attached, and per-packet (cgroup_skb) programs go on endpoint pods' cgroups only
 * (endpointPrograms): on the routed root every process below it would inherit them.
 */
export function attachablePrograms(obj: BpfObject): { name: string; attachType: string }[] {
  return obj
    .programs()
    .filter((p) => p.type !== 'syscall' && p.type !== 'cgroup_skb' && p.attachType)
    .map((p) => ({ name: p.name, attachType: p.attachType! }));
}

/** Programs the agent attaches to each endpoint pod's cgroup (the ingress check, cgroup_skb). */
export function endpointPrograms(obj: BpfObject): { name: string; attachType: string }[] {
  return obj
    .programs()
    .filter((p) => p.type === 'cgroup_skb' && p.attachType)
    .map((p) => ({ name: p.name, attachType: p.attachType! }));
}

/** Mount points of cgroup v2 hierarchies, from /proc/self/mounts. */
/**
 * Resolves `--cgroup`: an absolute cgroup v2 directory, or a path relative to the cgroup v2
 * mount (found in /proc/self/mounts: /sys/fs/cgroup on most hosts). The root of a hierarchy is
 * refused unless the user asked for it with exactly "/".
 */
export function resolveCgroup(arg: string, mounts = cgroup2Mounts()): string {
  const root = mounts.includes(CGROUP2_ROOT) ? CGROUP2_ROOT : (mounts[0] ?? CGROUP2_ROOT);
  const path = arg === '/' ? root : arg.startsWith('/') ? arg : join(root, arg);
  if (!existsSync(path) || !statSync(path).isDirectory()) throw new Error(`cgroup ${path} does not exist (make it with mkdir under ${root})`);
  if (!existsSync(join(path, 'cgroup.procs'))) throw new Error(`${path} is not a cgroup v2 directory (no cgroup.procs)`);
  const real = realpathSync(path);
  if (arg !== '/' && mounts.some((m) => existsSync(m) && realpathSync(m) === real)) {
    throw new Error(`--cgroup ${arg} is the root cgroup: that would route every process on the host; pass --cgroup / if you mean it`);
  }
  return path;
}

export function pinPaths(pin: string) {
  return { maps: join(pin, 'maps'), links: join(pin, 'links') };
}

export class Agent {
  private obj?: BpfObject;
  private sink?: KernelSink;
  private state?: TableState;
  private readonly ids = new TableIds();
  private readonly cache = new CompileCache();
  private readonly links = new Map<string, BpfLink>();
  private pinnedMaps: string[] = [];
  private lock?: { release(): void; ensure(): void };
  /** Why the agent is not routing as it should right now (a hook it could not put back). */
  private linkProblem: string | undefined;
  private readonly log: (line: string) => void;
  private syncing: Promise<SyncResult> | undefined;
  private again = false;
  private firstFullSync = false;
  private skipped = new Set<bigint>();
  private skippedUids = new Set<string>();
  private netpol?: NetpolSync;
  /** Which Service ports need the node proxy (L7), logged when that changes. */
  private readonly serving = new ServingLog();

  constructor(readonly options: AgentOptions) {
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  /** Loads, adopts pinned state, attaches what is not attached yet, and syncs once. */
  async start(): Promise<SyncResult> {
    const { pin, objectDir } = this.options;
    const cgroup = this.options.cgroup;
    // In the DaemonSet only the pin directory is the host's bpffs: mounting one at /sys/fs/bpf
    // would hide it, and the pins would die with the pod. Mount only where neither is bpffs.
    if (!isBpffs(existingAncestor(pin)) && !isBpffs('/sys/fs/bpf')) mountBpffs('/sys/fs/bpf');
    const paths = pinPaths(pin);
    mkdirSync(pin, { recursive: true });
    this.lock = acquirePinLock(pin, this.log);
    try {
      mkdirSync(paths.maps, { recursive: true });
      mkdirSync(paths.links, { recursive: true });
      const adopting = readdirSync(paths.maps).length > 0;
      this.obj = loadObject(join(objectDir, 'meshc.bpf.o'), { pinRoot: paths.maps });
      this.pinnedMaps = readdirSync(paths.maps).filter((name) => this.obj!.maps().some((m) => m.name === name));
      this.attach(paths.links);
      this.adopting = adopting;
    } catch (error) {
      this.close();
      throw error;
    }
    this.sink = new KernelSink(this.obj);
    if (NetpolSync.supported(this.obj)) this.netpol = new NetpolSync(this.obj, this.options.cgroup, join(paths.links, 'pods'));
    if (this.obj.maps().some((m) => m.name === 'mc_skip')) {
      this.skipped = new Set(this.obj.map('mc_skip').entries().map(([key]) => key.readBigUInt64LE(0)));
    }
    this.state = this.sink.readState();
    if (this.adopting) {
      adoptIds(this.state, this.ids);
      const services = this.state.get('mc_services')!.size;
      this.log(`agent: adopted pinned state in ${pin} (${services} service frontends); stale entries go after the first full sync`);
    }
    this.log(`agent: ${this.links.size} hooks attached to ${cgroup} (links pinned in ${paths.links})`);
    return this.sync();
  }

  private adopting = false;

  /** Opens the pinned links that still attach to the cgroup; attaches and pins the others. */
  private attach(linksDir: string): void {
    const { cgroup, pin } = this.options;
    const programs = attachablePrograms(this.obj!);
    const fresh: string[] = [];
    for (const { name } of programs) {
      const linkPath = join(linksDir, name);
      if (!existsSync(linkPath)) {
        fresh.push(name);
        continue;
      }
      const link = openPinnedLink(linkPath);
      const attachedTo = link.info.cgroupId;
      if (link.info.progId !== 0 && attachedTo !== undefined && BigInt(attachedTo) !== statSync(cgroup, { bigint: true }).ino) {
        link.close();
        throw new Error(`${linkPath} attaches ${name} to another cgroup (id ${attachedTo}) than ${cgroup}: run meshc agent --detach --pin ${pin} first, or use another --pin`);
      }
      if (link.info.progId === 0) {
        link.detach(); // detached from outside while no agent ran: attach anew below
        fresh.push(name);
        continue;
      }
      this.links.set(name, link);
    }
    if (fresh.length === 0) return;
    // Ours: the hooks kept above and every other link pinned here (the tunnel's steering, say).
    const ours = new Set([...[...this.links.values()].map((l) => l.info.progId), ...pinnedProgramIds(linksDir)]);
    const attachTypes = programs.filter((p) => fresh.includes(p.name)).map((p) => p.attachType);
    const root = this.options.cgroupRoot ?? (cgroup2Mounts().filter((m) => resolve(cgroup).startsWith(`${m}/`)).sort((a, b) => b.length - a.length)[0] ?? CGROUP2_ROOT);
    const { meshc, unnamed } = foreignHooks(cgroup, root, attachTypes, ours);
    const named = (list: ForeignHook[]) => [...new Set(list.map((o) => `${o.program} (program ${o.id}) on ${o.cgroup}`))].slice(0, 3).join(', ');
    const nameless = (list: ForeignHook[]) => [...new Set(list.map((o) => `program ${o.id} (${o.attachType}) on ${o.cgroup}`))].slice(0, 3).join(', ');
    const unknownHere = unnamed.filter((o) => o.here);
    if (meshc.length > 0 || unknownHere.length > 0) {
      const where =
        meshc.length > 0
          ? `${cgroup} is already routed by another meshc: ${named(meshc)}`
          : `${cgroup} already has ${nameless(unknownHere)} attached, whose name this agent cannot read without CAP_SYS_ADMIN: it may be another meshc's`;
      if (!this.options.forceAttach) {
        throw new Error(
          `${where}. Two sets of hooks on one cgroup fight over every connect(); ` +
            'stop and detach that agent (meshc agent --detach --pin ITS_PIN), or pass --force-attach to attach beside it',
        );
      }
      this.log(`agent: --force-attach: attaching beside ${meshc.length > 0 ? `another meshc's hooks: ${named(meshc)}` : `programs it cannot name: ${nameless(unknownHere)}`}`);
    }
    const unknownAbove = unnamed.filter((o) => !o.here);
    if (unknownAbove.length > 0) {
      this.log(`agent: warning: ${nameless(unknownAbove)} attached above ${cgroup}; without CAP_SYS_ADMIN this agent cannot read their names, so it cannot tell whether another meshc routes these processes from there`);
    }
    for (const name of fresh) {
      const link = this.obj!.program(name).attachCgroup(cgroup);
      link.pin(join(linksDir, name));
      this.links.set(name, link);
    }
  }

  /**
   * Puts back what someone else took away: a link detached or a pin removed or replaced
   * (`meshc agent --detach` from another shell), a pinned map unlinked. The maps themselves live
   * on while this agent holds them, with their rows. Returns what it restored; on failure, the
   * agent is not ready until a later check succeeds.
   */
  checkLinks(): string[] {
    if (!this.obj) return [];
    const { cgroup, pin } = this.options;
    const paths = pinPaths(pin);
    const restored: string[] = [];
    try {
      mkdirSync(paths.maps, { recursive: true });
      mkdirSync(paths.links, { recursive: true });
      this.lock?.ensure();
      for (const name of this.pinnedMaps) {
        const path = join(paths.maps, name);
        const map = this.obj.map(name);
        const pinned = pinnedMapId(path);
        if (pinned === map.info.id) continue;
        if (pinned !== undefined) clearPin(path, 'map');
        map.pin(path);
        restored.push(`map ${name}: ${pinned === undefined ? 'its pin was removed' : 'its pin was replaced'}; pinned again`);
      }
      for (const [name, link] of this.links) {
        const path = join(paths.links, name);
        if (!stillAttached(link, cgroup)) {
          // The new link is held before the old one is closed and before it is pinned: when the
          // pin directory goes away meanwhile (a --detach from another shell), the next check
          // pins the link it holds instead of asking a closed handle forever.
          clearPin(path, 'link');
          const fresh = this.obj.program(name).attachCgroup(cgroup);
          this.links.set(name, fresh);
          link.close();
          restored.push(`hook ${name}: detached from outside; attached again`);
          fresh.pin(path);
          continue;
        }
        const pinned = pinnedLinkId(path);
        if (pinned === link.info.id) continue;
        if (pinned !== undefined) clearPin(path, 'link');
        link.pin(path);
        restored.push(`hook ${name}: ${pinned === undefined ? 'its pin was removed' : 'its pin was replaced by another link'}; pinned again`);
      }
      if (this.linkProblem) this.log(`agent: hooks and pins are in place again in ${pin}`);
      this.linkProblem = undefined;
    } catch (error) {
      const problem = `cannot put back the hooks on ${cgroup}: ${(error as Error).message}`;
      if (problem !== this.linkProblem) this.log(`agent: ${problem}; not ready until they are`);
      this.linkProblem = problem;
    }
    for (const line of restored) this.log(`agent: ${line}`);
    return restored;
  }

  /** Runs checkLinks() every `intervalMs`; returns the stop function. */
  watchLinks(intervalMs = 1000): () => void {
    const timer = setInterval(() => this.checkLinks(), intervalMs);
    timer.unref?.();
    return () => clearInterval(timer);
  }

  /**
   * Compares every table map with what this agent last wrote and puts back what differs: rows
   * changed or deleted from outside (bpftool map update/delete, a stray writer) are written again,
   * rows the agent never wrote (filled in from outside) are removed. Dependencies go first, as in
   * a sync: backends, slots and rings before the services that point at them, removals of
   * services before what they pointed at. Returns what it repaired, per map. (A sync writes
   * synchronously, so an audit never sees a half-written change.)
   */
  auditMaps(): { map: MapName; rewritten: number; removed: number }[] {
    if (!this.obj || !this.sink || !this.state) return [];
    const repairs: { map: MapName; rewritten: number; removed: number; rows: TableRow[]; extra: TableRow[] }[] = [];
    for (const name of TABLE_WRITE_ORDER) {
      const want = this.state.get(name) ?? new Map<string, TableRow>();
      const have = this.readForAudit(name, want);
      const rows: TableRow[] = [];
      for (const [key, row] of want) {
        const got = have.get(key);
        if (!got || !sameBytes(got.value, row.value)) rows.push(row);
      }
      const extra: TableRow[] = [];
      for (const [key, row] of have) if (!want.has(key)) extra.push(row);
      if (rows.length > 0 || extra.length > 0) repairs.push({ map: name, rewritten: rows.length, removed: extra.length, rows, extra });
    }
    if (repairs.length === 0) return [];
    // Services removed first (no connect() follows a row into a table being repaired), then
    // every map's missing and changed rows in write order, then the other strays.
    for (const r of repairs) if (r.map === 'mc_services' && r.extra.length > 0) this.sink.remove(r.map, r.extra);
    for (const r of repairs) if (r.rows.length > 0) this.sink.write(r.map, r.rows);
    for (const r of [...repairs].reverse()) if (r.map !== 'mc_services' && r.extra.length > 0) this.sink.remove(r.map, r.extra);
    const summary = repairs.map(({ map, rewritten, removed }) => ({ map, rewritten, removed }));
    for (const r of summary) {
      this.log(`agent: map ${r.map} differed from what the agent wrote (changed from outside): ${r.rewritten} rows written again, ${r.removed} rows it never wrote removed`);
    }
    return summary;
  }

  /**
   * A map's rows as they are. A hash map is read whole (its rows are the agent's, few next to
   * max_entries). An array map (mc_backends: 262,144 rows, 0.4 s of CPU to read whole) is read
   * at the indexes the agent holds only: a row written elsewhere at another index is referenced
   * by no slot (slots are audited whole), so no connect() reaches it, and the agent overwrites it
   * whole when it gives that id out.
   */
  private readForAudit(name: MapName, want: Map<string, TableRow>): Map<string, TableRow> {
    const map = this.obj!.map(name);
    if (MAPS[name].kind !== 'array') return new Map(readRows(map, name).map((row) => [hex(row.key), row]));
    const have = new Map<string, TableRow>();
    for (const [key, row] of want) {
      const value = map.lookup(row.key);
      if (value && !isRemovedRow(name, value)) have.set(key, { key: row.key, value: new Uint8Array(value) });
    }
    return have;
  }

  /** Runs auditMaps() every `intervalMs`; returns the stop function. */
  watchMaps(intervalMs = 10000): () => void {
    const timer = setInterval(() => {
      try {
        this.auditMaps();
      } catch (error) {
        this.log(`agent: map audit failed: ${(error as Error).message}`);
      }
    }, intervalMs);
    timer.unref?.();
    return () => clearInterval(timer);
  }

  /** Why the agent is not routing as it should, or undefined. */
  get notRouting(): string | undefined {
    return this.linkProblem;
  }

  /** Re-reads the source and applies the difference. Concurrent calls coalesce into one more run. */
  sync(): Promise<SyncResult> {
    if (this.syncing) {
      this.again = true;
      return this.syncing;
    }
    this.syncing = this.runSync().finally(() => {
      this.syncing = undefined;
      if (this.again) {
        this.again = false;
        void this.sync().catch((error) => this.log(`agent: sync failed: ${(error as Error).message}`));
      }
    });
    return this.syncing;
  }

  private async runSync(): Promise<SyncResult> {
    const started = performance.now();
    const { model, diagnostics, heldBack = [] } = await this.options.source.read();
    const synced = this.options.source.synced?.() ?? true;
    reserveKeptIds(synced ? undefined : this.state, this.ids);
    let tables = compileTables(model, { node: this.options.node, ids: this.ids, cache: this.cache, ...this.options.proxy?.compileOptions(model) });
    // The proxy serves before the maps steer to it; when it cannot, those ports stay in the kernel.
    if (this.options.proxy && !(await this.options.proxy.serve(tables))) tables = compileTables(model, { node: this.options.node, ids: this.ids, cache: this.cache });
    const desired = synced ? tables.rows : keepStale(this.state!, tables.rows);
    const { state, stats } = applyTables(this.sink!, this.state!, desired);
    this.state = state;
    const names = stats.failed.length > 0 ? frontendNames(tables) : new Map<string, string>();
    const notApplied = stats.failed.map((f) => ({ object: f.service === undefined ? 'group sets of HTTPRoute rules that no service row holds' : (names.get(f.service) ?? `service row ${f.service}`), reason: f.reason, kept: f.kept }));
    if (notApplied.length > 0) holdLeftIds(state, desired, this.ids);
    if (synced) this.firstFullSync = true;
    writeNames(this.obj!, tables);
    this.options.proxy?.writeConsumers(this.obj!, model, tables);
    this.skippedUids = skippedPodUids(model);
    this.refreshSkipped();
    if (this.netpol) for (const line of netpolLog(this.netpol.sync(model))) this.log(`agent: ${line}`);
    this.options.onModel?.(model);
    const ms = (performance.now() - started).toFixed(1);
    const written = Object.values(stats.written).reduce((a, b) => a + b, 0);
    const removed = Object.values(stats.removed).reduce((a, b) => a + b, 0);
    const steps = stats.steps > 1 ? ` in ${stats.steps} steps (old and new rows did not fit the maps at once)` : '';
    this.log(`agent: synced ${tables.frontends.length} service frontends, ${tables.backends.size} backends: ${written} rows written, ${removed} removed, ${stats.servicesChanged} services switched${steps} (${ms} ms)`);
    for (const f of notApplied) this.log(`agent: ${f.object}: not applied: ${f.reason}; ${f.kept ? 'its previous version stays in force' : 'it is not routed'} (retried on the next sync)`);
    for (const line of this.serving.changes(tables, this.options.proxy ? this.options.proxy.notServing : NO_PROXY)) this.log(`agent: ${line}`);
    for (const file of heldBack) this.log(`agent: ${file}: its last good version stays in force`);
    return { stats, model, tables, diagnostics, heldBack, pruned: synced, notApplied };
  }

  /**
   * Writes mc_skip from the skipped pods' cgroups as they are now. Runs after each sync; call it
   * again from time to time, since containers come and go without an object changing.
   */
  refreshSkipped(): void {
    if (!this.obj?.maps().some((m) => m.name === 'mc_skip')) return;
    const next = skippedCgroupIds(this.options.cgroup, this.skippedUids);
    const map = this.obj.map('mc_skip');
    const added = [...next].filter((id) => !this.skipped.has(id));
    const gone = [...this.skipped].filter((id) => !next.has(id));
    map.updateBatch(added.map((id) => [cgroupKey(id), new Uint8Array([1])] as const));
    map.deleteBatch(gone.map(cgroupKey));
    this.skipped = next;
  }

  get ready(): boolean {
    return this.firstFullSync && this.linkProblem === undefined;
  }

  /** Rows the agent keeps in each table map, against the map's capacity. */
  mapUsage(): Map<string, { entries: number; capacity: number }> {
    const usage = new Map<string, { entries: number; capacity: number }>();
    for (const [name, rows] of this.state ?? []) usage.set(name, { entries: rows.size, capacity: this.obj!.map(name).maxEntries });
    return usage;
  }

  /** mc_metrics summed over CPUs, by index (bpf/meshc_consts.h MC_METRIC_*). */
  counters(): bigint[] | undefined {
    if (!this.obj?.maps().some((m) => m.name === 'mc_metrics')) return undefined;
    return sumPerCpu(this.obj.map('mc_metrics'));
  }

  /** Stops without touching pinned state: the hooks keep routing with the last maps. */
  close(): void {
    this.netpol?.close();
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.obj?.close();
    this.obj = undefined;
    this.lock?.release();
    this.lock = undefined;
  }
}

/** "Service default/web port 80/TCP (10.96.0.1)" by the hex of each frontend's mc_services key. */
function frontendNames(tables: CompiledTables): Map<string, string> {
  return new Map(tables.frontends.map((f) => [hex(f.keyBytes), `Service ${f.service.meta.namespace}/${f.service.meta.name} port ${f.port.port}/${f.protocol} (${f.vip})`]));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `dir`, or its nearest ancestor that exists. */
function existingAncestor(dir: string): string {
  let at = resolve(dir);
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  return at;
}

/** Until the source is synced, rows it does not mention yet are kept (an incomplete view). */
function keepStale(current: TableState, desired: TableState): TableState {
  const merged: TableState = new Map();
  for (const [name, rows] of desired) merged.set(name, new Map([...(current.get(name) ?? []), ...rows]));
  return merged;
}

/** `meshc agent --detach`: detaches every pinned link and removes all pinned state under `pin`. */
export function detach(pin: string, log: (line: string) => void = () => {}): { links: number; maps: number } {
  const paths = pinPaths(resolve(pin));
  let links = 0;
  let maps = 0;
  const running = lockOwners(resolve(pin)).live.filter((o) => o.pid !== process.pid);
  for (const owner of running) {
    log(`agent: warning: a meshc agent (pid ${owner.pid}) runs on ${pin} and puts its hooks back within seconds; stop it first (SIGTERM) to stop routing`);
  }
  // A running agent pins again what it finds detached, maybe between the listing and the rmdir:
  // then the directory is left as that agent made it (it was warned about above).
  const removeDir = (dir: string) => {
    try {
      rmdirSync(dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (running.length > 0 && (code === 'ENOTEMPTY' || code === 'ENOENT')) {
        log(`agent: ${dir}: the running agent (pid ${running[0]!.pid}) pinned again what was detached`);
        return;
      }
      throw new Error(`cannot remove ${dir} (${code}): something pinned into it while it was being detached; run meshc agent --detach again`, { cause: error });
    }
  };
  const entries = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
  for (const name of entries(paths.links)) {
    try {
      openPinnedLink(join(paths.links, name)).detach();
      links++;
    } catch (error) {
      if (running.length === 0 || existsSync(join(paths.links, name))) throw error;
    }
  }
  if (existsSync(paths.links)) removeDir(paths.links);
  for (const name of entries(paths.maps)) {
    try {
      unlinkSync(join(paths.maps, name)); // a pin is a bpffs inode: unlinking drops the reference
      maps++;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  if (existsSync(paths.maps)) removeDir(paths.maps);
  if (existsSync(pin) && readdirSync(pin).length === 0) {
    try {
      rmdirSync(pin);
    } catch (error) {
      // A mount point (the cleanup DaemonSet's hostPath volume) stays, empty.
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY') throw error;
    }
  }
  log(`agent: detached ${links} hooks and removed ${maps} pinned maps from ${pin}`);
  return { links, maps };
}

