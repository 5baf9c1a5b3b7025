// Listener ports at the node address, one per L7 listener. A listener keeps its port while it
// exists (connect4 steers to it, so a reload must not move it); a new one takes the lowest free
// port from the base, in name order, so the same listeners always get the same ports.

export const DEFAULT_FIRST_PORT = 15001;
export const DEFAULT_LAST_PORT = 24999;

export function assignListenerPorts(
  names: readonly string[],
  previous: ReadonlyMap<string, number> = new Map(),
  range: { first: number; last: number } = { first: DEFAULT_FIRST_PORT, last: DEFAULT_LAST_PORT },
): Map<string, number> {
  const ports = new Map<string, number>();
  const taken = new Set<number>();
  for (const name of names) {
    const port = previous.get(name);
    if (port !== undefined && !taken.has(port)) {
      ports.set(name, port);
      taken.add(port);
    }
  }
  let next = range.first;
  for (const name of [...names].sort()) {
    if (ports.has(name)) continue;
    while (taken.has(next)) next++;
    if (next > range.last) throw new Error(`node proxy: more than ${range.last - range.first + 1} L7 listeners; ports ${range.first}-${range.last} are all taken`);
    ports.set(name, next);
    taken.add(next);
  }
  return ports;
}
