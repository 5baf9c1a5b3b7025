// TEST DOUBLE support: label and field selectors as the API server parses them for list and watch
// (`labelSelector=app=web,tier!=db,env in (a,b),!legacy`, `fieldSelector=spec.nodeName=n1`).

export type Matcher = (object: Record<string, unknown>) => boolean;

export class SelectorError extends Error {}

/** Splits on commas that are not inside parentheses. */
function terms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (text[i] === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

function labelsOf(object: Record<string, unknown>): Record<string, string> {
  const metadata = object['metadata'] as Record<string, unknown> | undefined;
  return (metadata?.['labels'] as Record<string, string> | undefined) ?? {};
}

export function parseLabelSelector(text: string | null): Matcher {
  if (!text) return () => true;
  const tests = terms(text).map((term): ((labels: Record<string, string>) => boolean) => {
    const set = /^(!?)([A-Za-z0-9_./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (set) {
      const values = set[4]!.split(',').map((v) => v.trim());
      const key = set[2]!;
      return set[3] === 'in' ? (l) => key in l && values.includes(l[key]!) : (l) => !(key in l) || !values.includes(l[key]!);
    }
    const eq = /^([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)$/.exec(term);
    if (eq) {
      const [, key, op, value] = eq as unknown as [string, string, string, string];
      return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
    }
    const exists = /^(!?)([A-Za-z0-9_./-]+)$/.exec(term);
    if (exists) {
      const key = exists[2]!;
      return exists[1] === '!' ? (l) => !(key in l) : (l) => key in l;
    }
    throw new SelectorError(`unable to parse requirement: ${JSON.stringify(term)}`);
  });
  return (object) => {
    const labels = labelsOf(object);
    return tests.every((test) => test(labels));
  };
}

/** The fields the real server supports for every resource, plus the pod ones meshc uses. */
const FIELDS: Record<string, (object: Record<string, unknown>) => string> = {
  'metadata.name': (o) => String((o['metadata'] as Record<string, unknown>)?.['name'] ?? ''),
  'metadata.namespace': (o) => String((o['metadata'] as Record<string, unknown>)?.['namespace'] ?? ''),
  'spec.nodeName': (o) => String((o['spec'] as Record<string, unknown> | undefined)?.['nodeName'] ?? ''),
  'status.phase': (o) => String((o['status'] as Record<string, unknown> | undefined)?.['phase'] ?? ''),
};

const POD_ONLY = new Set(['spec.nodeName', 'status.phase']);

export function parseFieldSelector(text: string | null, kind: string): Matcher {
  if (!text) return () => true;
  const tests = terms(text).map((term) => {
    const m = /^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw new SelectorError(`invalid selector: ${JSON.stringify(term)}; can't understand it`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    const read = FIELDS[field];
    if (!read || (POD_ONLY.has(field) && kind !== 'Pod')) throw new SelectorError(`field label not supported: ${field}`);
    return op === '!=' ? (o: Record<string, unknown>) => read(o) !== value : (o: Record<string, unknown>) => read(o) === value;
  });
  return (object) => tests.every((test) => test(object));
}
