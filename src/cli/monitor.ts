// `meshc monitor`: the agent's flow events (ring buffer mc_events) as they happen, one line each.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CGROUP2_ROOT, DEFAULT_PIN } from '../agent/agent.ts';
import { EVENT_TYPE_NAMES, addEvents, decodeEvent, eventMask, switchEvents, type EventType } from '../glue/events.ts';
import { openRingBuffer, type BpfMap } from '../loader/index.ts';
import { describeEvent, formatEvent } from '../inspect/events.ts';
import { liveEventContext } from '../inspect/live-context.ts';
import { NoPinnedMapsError, openMeshcMap } from '../inspect/read.ts';
import { untilStopped, type CommandIO } from './io.ts';
import { formatDenial, openDenials } from '../netpol/monitor.ts';
import { InputError, UsageError, integerOption, parseCommand } from './usage.ts';
import { matchesFilter, parseFilter, type FlowFilter } from '../observe/filter.ts';
import { l4Flow } from '../observe/flow.ts';
import { FlowDirectory } from '../observe/directory.ts';
import { formatFlow, readFlows } from '../observe/stream.ts';

/** The ring buffer path has no model: flows are matched by the names the maps carry. */
const NO_DIRECTORY = new FlowDirectory();

/** Flows from the agent's /flows stream (both layers, named), until --count or a signal. */
async function monitorAgent(agent: string, filter: FlowFilter, max: number, count: number, json: boolean, io: CommandIO): Promise<number> {
  const stop = new AbortController();
  let printed = 0;
  void untilStopped({ ...io, signal: io.signal ? AbortSignal.any([io.signal, stop.signal]) : stop.signal }).then(() => stop.abort());
  try {
    await readFlows(agent, filter, max, {
      open() {
        io.stderr.write(`monitor: reading flows from http://${agent}/flows (Ctrl-C stops)\n`);
      },
      flow(flow) {
        if (printed >= count) return;
        io.stdout.write(`${json ? JSON.stringify(flow) : formatFlow(flow)}\n`);
        if (++printed >= count) stop.abort();
      },
      lost(n, why) {
        io.stderr.write(`monitor: ${n} flows lost: ${why}\n`);
      },
      sampledOut(n) {
        io.stderr.write(`monitor: ${n} flows left out in the last second (over --max ${max} a second)\n`);
      },
    }, stop.signal);
  } catch (error) {
    throw new InputError(`meshc monitor: ${(error as Error).message}`);
  } finally {
    stop.abort();
  }
  return 0;
}

/** How often monitor reads what waits in the ring buffer, besides the kernel's batch wakeups. */
const POLL_MS = 100;

const HELP = `Usage: meshc monitor [--pin DIR] [--json] [--count N] [--type T,...] [--backlog]
       meshc monitor --agent HOST:PORT [--type l7|l4] [--json] [--count N] [filters]

Streams the connection events of the agent pinned under --pin as they happen, one line each:
time, client cgroup (id and path), service, backend pod, what happened (translated, refused and
why, established, closed) and protocol. Bytes are not counted by the hooks, so none are shown.
"established" is a TCP connection counted against its backend at connect(); "closed" is its
socket's release.

The hooks write events only while a reader has them on: monitor turns them on (mc_config) when
it starts and off when it stops. The kernel wakes it once a batch waits; it also polls every
${POLL_MS} ms, so an event shows within that time on a quiet node.

The ring buffer has one consumer position: two monitors (or a monitor and another reader) on
the same pin split the events between them instead of each seeing all of them. Run one at a
time. Events that were buffered before monitor started are skipped unless --backlog is given.

Options:
  --pin DIR      the agent's bpffs directory (default ${DEFAULT_PIN})
  --json         one JSON object per line: {time, event, reason?, protocol, family, cookie,
                 cgroup: {id, path}, service: {id, name}, backend: {id, name} | null}
  --count N      exit after N events (after --type filtering)
  --type T,...   only these events: ${EVENT_TYPE_NAMES.join(', ')}, denied (network policy:
                 client, destination, deciding policy; docs/network-policy.md)
  --backlog      also print the events buffered before monitor started
  --agent HOST:PORT  read named flows from the agent's /flows stream (its --metrics-address and
                 --metrics-port) instead of the ring buffer: one record for both paths (time,
                 client pod, Service, backend Service and pod, protocol, verdict and reason; for
                 L7 also method, path, HTTPRoute and rule, status, duration). docs/observe.md
  --type l7      only the requests the node proxy served (needs --agent); --type l4 only the
                 kernel's connections
  --namespace NS, --pod [NS/]NAME, --service [NS/]NAME, --verdict V
                 only flows with this namespace, pod (client or backend), Service (dialled or
                 backend) or verdict (translated, refused, denied, authenticated, redirected)
  --max N        with --agent: flows a second the agent sends at most (default 2000); the rest
                 are said as left out, never dropped in silence
  --cgroup-root DIR  the cgroup v2 mount, for cgroup paths (default ${CGROUP2_ROOT})
  -h, --help     this help

SIGINT or SIGTERM stops it (exit status 0).
`;

export const command = { summary: 'stream the connection events of the agent', run };


/** Unix time minus CLOCK_MONOTONIC, in ns (libuv's hrtime is CLOCK_MONOTONIC, as is bpf_ktime_get_ns). */
function monotonicOffset(): bigint {
  return BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
}

async function run(args: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand('monitor', args, {
    pin: { type: 'string' },
    json: { type: 'boolean' },
    count: { type: 'string' },
    type: { type: 'string' },
    backlog: { type: 'boolean' },
    'cgroup-root': { type: 'string' },
    agent: { type: 'string' },
    namespace: { type: 'string' },
    pod: { type: 'string' },
    service: { type: 'string' },
    verdict: { type: 'string' },
    max: { type: 'string' },
  }, false);
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const count = values.count === undefined ? Infinity : integerOption('monitor', 'count', values.count, 0, 1);
  let filter: FlowFilter;
  try {
    filter = parseFilter({ namespace: values.namespace, pod: values.pod, service: values.service, verdict: values.verdict }, 'meshc monitor');
  } catch (error) {
    throw new UsageError((error as Error).message.replace('verdict', '--verdict'));
  }
  const layers = values.type?.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t === 'l7' || t === 'l4') ?? [];
  if (layers.length > 0 || values.agent !== undefined) {
    if (values.type && layers.length !== values.type.split(',').length) throw new UsageError('meshc monitor: --type l7 and l4 cannot be mixed with kernel event types (translated, refused, ...)');
    if (values.agent === undefined) throw new UsageError("meshc monitor: --type l7 reads the agent's flows: give --agent HOST:PORT (the agent's --metrics-address and --metrics-port)");
    if (layers.length === 1) filter.layer = layers[0] === 'l7' ? 'L7' : 'L4';
    const max = values.max === undefined ? 2000 : integerOption('monitor', 'max', values.max, 2000, 1);
    return monitorAgent(values.agent, filter, max, count, values.json === true, io);
  }
  const types = new Set<string>(values.type ? values.type.split(',').map((t) => t.trim()) : [...EVENT_TYPE_NAMES, 'denied']);
  for (const t of types) {
    if (!EVENT_TYPE_NAMES.includes(t as EventType) && t !== 'denied') throw new UsageError(`meshc monitor: --type "${t}" is not one of ${EVENT_TYPE_NAMES.join(', ')}, denied`);
  }
  const pin = resolve(values.pin ?? DEFAULT_PIN);
  let events: BpfMap;
  let namesMap: BpfMap | undefined;
  let config: BpfMap | undefined;
  try {
    events = openMeshcMap(pin, 'mc_events');
    if (existsSync(join(pin, 'maps', 'mc_names'))) namesMap = openMeshcMap(pin, 'mc_names');
    if (existsSync(join(pin, 'maps', 'mc_config'))) config = openMeshcMap(pin, 'mc_config');
  } catch (error) {
    if (error instanceof NoPinnedMapsError) throw new InputError(`meshc monitor: ${error.message}`);
    throw error;
  }
  if (events.type !== 'ringbuf') throw new InputError(`meshc monitor: ${pin}/maps/mc_events is a ${events.type} map, not a ring buffer`);

  const context = liveEventContext(namesMap, resolve(values['cgroup-root'] ?? CGROUP2_ROOT), monotonicOffset());

  const filtered = Object.keys(filter).length > 0;
  let printed = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  let skipping = !values.backlog;
  let skipped = 0;
  const reader = openRingBuffer(events, (record) => {
    if (printed >= count) return;
    if (skipping) {
      skipped++;
      return;
    }
    const event = describeEvent(decodeEvent(record), context);
    if (!types.has(event.event)) return;
    if (filtered && !matchesFilter(l4Flow(event, NO_DIRECTORY), filter)) return;
    io.stdout.write(`${values.json ? JSON.stringify(event) : formatEvent(event)}\n`);
    printed++;
    if (printed >= count) done();
  }, { start: false, pollMs: POLL_MS });
  reader.consume();
  skipping = false;
  // Older agents' objects have no run-time switch: their hooks always write events.
  if (config) addEvents(config, eventMask(types));
  // Network policy denials (mc_np_events) interleave with the flow events.
  const denials = types.has('denied') ? openDenials(pin, values.backlog === true, (id) => context.cgroupPath(id), context.monotonicToUnixNs, (denial) => {
    if (printed >= count) return;
    io.stdout.write(`${values.json ? JSON.stringify(denial) : formatDenial(denial)}\n`);
    printed++;
    if (printed >= count) done();
  }) : undefined;
  if (skipped > 0) io.stderr.write(`monitor: skipped ${skipped} events buffered before it started (--backlog shows them)\n`);
  const stop = new AbortController();
  void untilStopped({ ...io, signal: io.signal ? AbortSignal.any([io.signal, stop.signal]) : stop.signal }).then(() => done());
  reader.start();
  denials?.start();
  io.stderr.write(`monitor: reading events from ${pin}/maps/mc_events (Ctrl-C stops)\n`);
  try {
    await finished;
  } finally {
    stop.abort();
    try {
      if (config) switchEvents(config, 0);
    } finally {
      reader.close();
      denials?.close();
      events.close();
      namesMap?.close();
      config?.close();
    }
  }
  return 0;
}
