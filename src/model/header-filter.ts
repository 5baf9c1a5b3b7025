// RequestHeaderModifier filters (on a rule or on a backendRef): the header edits they make.

import type { HeaderEdits } from './types.ts';
import type { FieldPath } from './manifest-doc.ts';
import type { Reporter } from './diagnostics.ts';
import { listAt, mappingAt, mappingsAt, stringAt, type Fields } from './fields.ts';

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

function headerName(value: unknown, path: FieldPath, report: Reporter): string | undefined {
  if (typeof value !== 'string' || !HEADER_NAME.test(value)) {
    report.reject(path, `${JSON.stringify(value)} is not a valid header name`);
    return undefined;
  }
  return value;
}

/** The edits of every RequestHeaderModifier in `owner.filters`, in order; undefined when there is none. */
export function readRequestHeaderEdits(owner: Fields, path: FieldPath, report: Reporter): HeaderEdits | undefined {
  let edits: HeaderEdits | undefined;
  for (const [filter, index] of mappingsAt(owner, 'filters', path, report)) {
    if (filter['type'] !== 'RequestHeaderModifier') continue;
    const at = [...path, 'filters', index, 'requestHeaderModifier'];
    const spec = mappingAt(filter, 'requestHeaderModifier', [...path, 'filters', index], report);
    edits ??= { set: [], add: [], remove: [] };
    for (const key of ['set', 'add'] as const) {
      for (const [entry, i] of mappingsAt(spec, key, at, report)) {
        const name = headerName(entry['name'], [...at, key, i, 'name'], report);
        const value = stringAt(entry, 'value', [...at, key, i], report) ?? '';
        if (/[\r\n\0]/.test(value)) report.reject([...at, key, i, 'value'], 'must not contain CR, LF or NUL');
        if (name) edits[key].push({ name, value });
      }
    }
    listAt(spec, 'remove', at, report).forEach((name, i) => {
      const n = headerName(name, [...at, 'remove', i], report);
      if (n) edits!.remove.push(n);
    });
  }
  return edits;
}
