// mc_metrics (bpf/meshc_maps.h): the glue's per-CPU counters by MC_METRIC_* index, summed, and
// what each index counts. Indexes below MC_METRIC_REFUSED_OTHER count refusals by reason code.
import { possibleCpus, type BpfMap } from '../loader/index.ts';
import { MC_METRIC } from '../generated/glue.ts';
import { reasonName } from '../tables/layouts.ts';

/** Sums a per-CPU array of u64 counters (mc_metrics): one total per index. */
export function sumPerCpu(map: BpfMap): bigint[] {
  const cpus = possibleCpus();
  const totals: bigint[] = [];
  for (const [key, value] of map.entries()) {
    const index = key.readUInt32LE(0);
    let sum = 0n;
    for (let cpu = 0; cpu < cpus; cpu++) sum += value.readBigUInt64LE(cpu * 8);
    totals[index] = sum;
  }
  return totals;
}

/** The refusal counters: one per reason code from 1 (0 is no reason), then the rest as `other`. */
export const REFUSAL_METRICS: { index: number; reason: string }[] = [
  ...Array.from({ length: MC_METRIC['refused-other'] - 1 }, (_, i) => ({ index: i + 1, reason: reasonName(i + 1) })),
  { index: MC_METRIC['refused-other'], reason: 'other' },
];

/** Every counter by index, with what `meshc inspect` calls it ("refused no-endpoints", "events lost"). */
export const METRIC_NAMES: [number, string][] = [
  ...REFUSAL_METRICS.map((m): [number, string] => [m.index, `refused ${m.reason}`]),
  ...Object.entries(MC_METRIC)
    .filter(([, index]) => index !== MC_METRIC['refused-other'])
    .map(([name, index]): [number, string] => [index, name.replaceAll('-', ' ')]),
];
