// The Service a simulated connection goes to, as `meshc simulate --to`, policy test files and the
// playground's request panel write it: `name[.namespace]:port`, the port by number or by name.

export interface ServiceTarget {
  name: string;
  namespace: string;
  port: number | string;
}

const TARGET = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.([a-z0-9]([-a-z0-9]*[a-z0-9])?))?:([A-Za-z0-9-]+)$/;

/** `name[.namespace]:port` (namespace `default` when left out), or undefined when it is not that. */
export function parseTarget(text: string): ServiceTarget | undefined {
  const match = TARGET.exec(text.trim());
  if (!match) return undefined;
  const port = /^\d+$/.test(match[6]!) ? Number(match[6]) : match[6]!;
  return { name: match[1]!, namespace: match[4] ?? 'default', port };
}
