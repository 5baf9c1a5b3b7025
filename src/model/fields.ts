// Reading fields of untyped manifest objects (parsed YAML/JSON). Each reader checks the type and
// reports a rejecting error, naming the field, when the value has the wrong shape.

import type { FieldPath } from './manifest-doc.ts';
import type { Reporter } from './diagnostics.ts';

export type Fields = Record<string, unknown>;

export function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The mapping at `obj[key]`; `{}` when absent; rejects a non-mapping. */
export function mappingAt(obj: Fields, key: string, path: FieldPath, report: Reporter): Fields {
  const value = obj[key];
  if (value === undefined || value === null) return {};
  if (isFields(value)) return value;
  report.reject([...path, key], `must be a mapping, got ${describe(value)}`);
  return {};
}

/** The list at `obj[key]`; `[]` when absent; rejects a non-list. */
export function listAt(obj: Fields, key: string, path: FieldPath, report: Reporter): unknown[] {
  const value = obj[key];
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value;
  report.reject([...path, key], `must be a list, got ${describe(value)}`);
  return [];
}

/** The list items that are mappings, with their index; rejects the others. */
export function mappingsAt(obj: Fields, key: string, path: FieldPath, report: Reporter): [Fields, number][] {
  const items: [Fields, number][] = [];
  listAt(obj, key, path, report).forEach((item, index) => {
    if (isFields(item)) items.push([item, index]);
    else report.reject([...path, key, index], `must be a mapping, got ${describe(item)}`);
  });
  return items;
}

export function stringAt(obj: Fields, key: string, path: FieldPath, report: Reporter): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  report.reject([...path, key], `must be a string, got ${describe(value)}`);
  return undefined;
}

export function booleanAt(obj: Fields, key: string, path: FieldPath, report: Reporter): boolean | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  report.reject([...path, key], `must be true or false, got ${describe(value)}`);
  return undefined;
}

export function integerAt(obj: Fields, key: string, path: FieldPath, report: Reporter): number | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  report.reject([...path, key], `must be an integer, got ${describe(value)}`);
  return undefined;
}

/** An integer within [min, max]; rejects anything else. */
export function integerInRange(
  obj: Fields,
  key: string,
  path: FieldPath,
  report: Reporter,
  range: { min: number; max: number; what: string },
): number | undefined {
  const value = integerAt(obj, key, path, report);
  if (value === undefined) return undefined;
  if (value >= range.min && value <= range.max) return value;
  report.reject([...path, key], `${value} is not a valid ${range.what} (${range.min}-${range.max})`);
  return undefined;
}

/** One of the allowed strings, or `fallback` when absent; rejects any other value. */
export function enumAt<T extends string>(
  obj: Fields,
  key: string,
  path: FieldPath,
  report: Reporter,
  allowed: readonly T[],
  fallback: T,
): T {
  const value = stringAt(obj, key, path, report);
  if (value === undefined || value === '') return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  report.reject([...path, key], `${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
  return fallback;
}

/** A string-to-string map such as labels or a selector; rejects non-string values. */
export function stringMapAt(obj: Fields, key: string, path: FieldPath, report: Reporter): Record<string, string> {
  const map: Record<string, string> = {};
  for (const [name, value] of Object.entries(mappingAt(obj, key, path, report))) {
    if (typeof value === 'string') map[name] = value;
    else report.reject([...path, key, name], `must be a string, got ${describe(value)} (quote it)`);
  }
  return map;
}

export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}
