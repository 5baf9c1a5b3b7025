// Label selectors: reading them from a manifest, as the API server validates them, and matching.
import type { FieldPath } from './manifest-doc.ts';
import type { Reporter } from './diagnostics.ts';
import { isFields, listAt, stringAt, stringMapAt, type Fields } from './fields.ts';
import type { LabelRequirement, LabelSelector } from './netpol-types.ts';

const OPERATORS: readonly LabelRequirement['operator'][] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

export const EVERYTHING: LabelSelector = { matchLabels: {}, matchExpressions: [] };

/** The selector at `obj[key]` (`{}` when absent: everything); bad parts are rejected, naming the field. */
export function readSelector(obj: Fields, key: string, path: FieldPath, report: Reporter): LabelSelector {
  return readSelectorAt(obj[key], [...path, key], report);
}

/** The selector `value` found at `at`. */
export function readSelectorAt(value: unknown, at: FieldPath, report: Reporter): LabelSelector {
  if (value === undefined || value === null) return EVERYTHING;
  if (!isFields(value)) {
    report.reject(at, 'must be a label selector (a mapping with matchLabels and/or matchExpressions)');
    return EVERYTHING;
  }
  const matchLabels = stringMapAt(value, 'matchLabels', at, report);
  const matchExpressions: LabelRequirement[] = [];
  listAt(value, 'matchExpressions', at, report).forEach((item, index) => {
    const itemPath = [...at, 'matchExpressions', index];
    if (!isFields(item)) return report.reject(itemPath, 'must be a mapping with key, operator and values');
    const label = stringAt(item, 'key', itemPath, report);
    const operator = stringAt(item, 'operator', itemPath, report);
    if (!label) return report.reject([...itemPath, 'key'], 'is required');
    if (!operator || !(OPERATORS as readonly string[]).includes(operator)) {
      return report.reject([...itemPath, 'operator'], `${JSON.stringify(operator ?? '')} is not one of ${OPERATORS.join(', ')}`);
    }
    const values = listAt(item, 'values', itemPath, report);
    if (values.some((v) => typeof v !== 'string')) return report.reject([...itemPath, 'values'], 'must be a list of strings');
    const op = operator as LabelRequirement['operator'];
    if ((op === 'In' || op === 'NotIn') && values.length === 0) return report.reject([...itemPath, 'values'], `must not be empty for operator ${op}`);
    if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) return report.reject([...itemPath, 'values'], `must be empty for operator ${op}`);
    matchExpressions.push({ key: label, operator: op, values: values as string[] });
  });
  return { matchLabels, matchExpressions };
}

export function selects(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels)) if (labels[key] !== value) return false;
  for (const { key, operator, values } of selector.matchExpressions) {
    const has = Object.hasOwn(labels, key);
    if (operator === 'Exists' && !has) return false;
    if (operator === 'DoesNotExist' && has) return false;
    if (operator === 'In' && (!has || !values.includes(labels[key]!))) return false;
    if (operator === 'NotIn' && has && values.includes(labels[key]!)) return false;
  }
  return true;
}

/** `app=web,tier in (a,b)`, or `(every pod)` for the empty selector. */
export function formatSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const { key, operator, values } of selector.matchExpressions) {
    if (operator === 'Exists') parts.push(key);
    else if (operator === 'DoesNotExist') parts.push(`!${key}`);
    else parts.push(`${key} ${operator === 'In' ? 'in' : 'notin'} (${values.join(',')})`);
  }
  return parts.length === 0 ? '(everything)' : parts.join(',');
}
