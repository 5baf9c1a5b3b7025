// mc_metrics (bpf/meshc_maps.h): the glue's per-CPU counters by MC_METRIC_* index, summed, and
// what each index counts. Indexes below MC_METRIC_REFUSED_OTHER count refusals by reason code;
// those of a code without a name (a user policy's own) are counted as `other`, so every counter
// meshc shows has a name.
import { possibleCpus, type BpfMap } from '../loader/index.ts';
import { MC_METRIC } from '../generated/glue.ts';
import { REASONS } from '../generated/reasons.ts';

const OTHER = MC_METRIC['refused-other'];

/**
 * The totals with the refusals of every unnamed reason code below MC_METRIC_REFUSED_OTHER moved
 * into that `other` counter (their own indexes left empty).
 */
export function foldRefusals(totals: readonly bigint[]): bigint[] {
  const folded = [...totals];
  for (let index = REASONS.length; index < OTHER; index++) {
    if (folded[index] === undefined) continue;
    folded[OTHER] = (folded[OTHER] ?? 0n) + folded[index]!;
    delete folded[index];
  }
  return folded;
}

/** Sums a per-CPU array of u64 counters (mc_metrics): one total per index, refusals folded. */
export function sumPerCpu(map: BpfMap): bigint[] {
  const cpus = possibleCpus();
  const totals: bigint[] = [];
  for (const [key, value] of map.entries()) {
    const index = key.readUInt32LE(0);
    let sum = 0n;
    for (let cpu = 0; cpu < cpus; cpu++) sum += value.readBigUInt64LE(cpu * 8);
    totals[index] = sum;
  }
  return foldRefusals(totals);
}

/** The refusal counters: one per named reason code from 1 (0 is no reason), then the rest as `other`. */
export const REFUSAL_METRICS: { index: number; reason: string }[] = [
  ...REASONS.slice(1, OTHER).map((reason, i) => ({ index: i + 1, reason })),
  { index: OTHER, reason: 'other' },
];

/** Every counter by index, with what `meshc inspect` calls it ("refused no-endpoints", "events lost"). */
export const METRIC_NAMES: [number, string][] = [
  ...REFUSAL_METRICS.map((m): [number, string] => [m.index, `refused ${m.reason}`]),
  ...Object.entries(MC_METRIC)
    .filter(([, index]) => index !== MC_METRIC['refused-other'])
    .map(([name, index]): [number, string] => [index, name.replaceAll('-', ' ')]),
];
