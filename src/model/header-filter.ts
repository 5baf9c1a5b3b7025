// RequestHeaderModifier and ResponseHeaderModifier filters (on a rule or on a backendRef): the
// header edits they make.

import type { HeaderEdits } from './types.ts';
import type { FieldPath } from './manifest-doc.ts';
import type { Reporter } from './diagnostics.ts';
import { listAt, mappingAt, mappingsAt, stringAt, type Fields } from './fields.ts';

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
/** Hop-by-hop and framing headers: a proxy owns them, so edits to them are not applied. */
const NOT_EDITABLE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-length']);

function headerName(value: unknown, path: FieldPath, report: Reporter): string | undefined {
  if (typeof value !== 'string' || !HEADER_NAME.test(value)) {
    report.reject(path, `${JSON.stringify(value)} is not a valid header name`);
    return undefined;
  }
  if (NOT_EDITABLE.has(value.toLowerCase())) {
    report.error(path, `${value} is a hop-by-hop or framing header; the node proxy owns it, so this edit is not applied`);
    return undefined;
  }
  return value;
}

/** The edits of every filter of `type` in `owner.filters`, in order; undefined when there is none. */
export function readHeaderEdits(
  owner: Fields, path: FieldPath, report: Reporter,
  type: 'RequestHeaderModifier' | 'ResponseHeaderModifier' = 'RequestHeaderModifier',
): HeaderEdits | undefined {
  const key = type === 'RequestHeaderModifier' ? 'requestHeaderModifier' : 'responseHeaderModifier';
  let edits: HeaderEdits | undefined;
  for (const [filter, index] of mappingsAt(owner, 'filters', path, report)) {
    if (filter['type'] !== type) continue;
    const at = [...path, 'filters', index, key];
    const spec = mappingAt(filter, key, [...path, 'filters', index], report);
    edits ??= { set: [], add: [], remove: [] };
    for (const op of ['set', 'add'] as const) {
      for (const [entry, i] of mappingsAt(spec, op, at, report)) {
        const name = headerName(entry['name'], [...at, op, i, 'name'], report);
        const value = stringAt(entry, 'value', [...at, op, i], report) ?? '';
        if (/[\r\n\0]/.test(value)) report.reject([...at, op, i, 'value'], 'must not contain CR, LF or NUL');
        if (value === '') report.reject([...at, op, i, 'value'], 'must not be empty (the CRD requires at least one character)');
        if (name) edits[op].push({ name, value });
      }
    }
    listAt(spec, 'remove', at, report).forEach((name, i) => {
      const n = headerName(name, [...at, 'remove', i], report);
      if (n) edits!.remove.push(n);
    });
  }
  return edits;
}
