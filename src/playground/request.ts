// The request panel's form values and their translation into a simulator input. Pure.

import type { SimulateInput } from '../sim/simulate.ts';
import { splitPath } from '../policy-tests/format.ts';
import { parseTarget } from '../sim/target.ts';

export interface RequestForm {
  /** `namespace/name` of the client pod, or '' for a new client per connection. */
  from: string;
  /** `name[.namespace]:port` */
  to: string;
  method: string;
  /** Path, optionally with `?query`. */
  path: string;
  /** One `Name: value` per line. */
  headers: string;
  connections: number;
  seed: number;
}

export const MAX_CONNECTIONS = 100_000;

export const DEFAULT_REQUEST: RequestForm = { from: '', to: '', method: 'GET', path: '/', headers: '', connections: 1000, seed: 1 };

export function isRequestForm(value: unknown): value is RequestForm {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return ['from', 'to', 'method', 'path', 'headers'].every((k) => typeof v[k] === 'string') &&
    typeof v.connections === 'number' && typeof v.seed === 'number';
}

/** `name[.namespace]:port`, the namespace left out when it is `default`. */
export function targetText(namespace: string, name: string, port: number): string {
  return `${name}${namespace === 'default' ? '' : `.${namespace}`}:${port}`;
}

export function parseHeaderLines(text: string): { headers: Record<string, string>; problems: string[] } {
  const headers: Record<string, string> = {};
  const problems: string[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      problems.push(`header line ${index + 1}: "${line.trim()}" is not "Name: value"`);
      return;
    }
    headers[name] = line.slice(colon + 1).trim();
  });
  return { headers, problems };
}

/** The simulator input for the form, or the first problem with it. */
export function simulateInput(form: RequestForm): { input: SimulateInput } | { problem: string } {
  const to = parseTarget(form.to);
  if (!to) return { problem: form.to ? `"${form.to}" is not NAME[.NAMESPACE]:PORT` : 'no Service to send to: the manifests have none with a ClusterIP' };
  const { headers, problems } = parseHeaderLines(form.headers);
  if (problems.length > 0) return { problem: problems[0]! };
  if (!form.path.startsWith('/')) return { problem: `path must start with "/", got "${form.path}"` };
  if (!Number.isInteger(form.connections) || form.connections < 1 || form.connections > MAX_CONNECTIONS) {
    return { problem: `connections must be an integer from 1 to ${MAX_CONNECTIONS}` };
  }
  if (!Number.isInteger(form.seed) || form.seed < 0 || form.seed > 0xffffffff) return { problem: 'seed must be an integer from 0 to 4294967295' };
  const { path, query } = splitPath(form.path);
  const input: SimulateInput = {
    to,
    request: { method: form.method.trim() || 'GET', path, headers, query },
    connections: form.connections,
    seed: form.seed,
  };
  if (form.from) input.from = form.from;
  return { input };
}
