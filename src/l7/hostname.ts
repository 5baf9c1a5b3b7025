// Route `hostnames` for the Gateway profile only (semantics.md fact 18); the mesh ignores them
// (fact 33). Used by the conformance replay, whose cases are Gateway-bound.

/** The host part of a Host header: lower-cased, without a port, IPv6 brackets kept. */
export function hostOf(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? h : h.slice(0, end + 1);
  }
  const colon = h.lastIndexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

/**
 * Whether a route hostname matches a host. `*.example.com` matches any name with at least one
 * more label (`a.example.com`, `a.b.example.com`) but not `example.com`; otherwise exact,
 * case-insensitive.
 */
export function hostnameMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  if (p.startsWith('*.')) {
    const suffix = p.slice(1); // ".example.com"
    return host.length > suffix.length && host.endsWith(suffix);
  }
  return p === host;
}

/** How specifically a route's hostnames match a host; null when the route does not apply. */
export interface HostnameRank {
  /** Characters of the longest matching non-wildcard hostname (0 if none). */
  exact: number;
  /** Characters of the longest matching hostname, wildcard or not. */
  any: number;
}

/** A route with no hostnames matches every host with rank {0, 0}. `host` null: no Host name (an address). */
export function hostnameRank(hostnames: readonly string[], host: string | null): HostnameRank | null {
  if (hostnames.length === 0) return { exact: 0, any: 0 };
  if (host === null) return null;
  const h = hostOf(host);
  let matched = false;
  let exact = 0;
  let any = 0;
  for (const name of hostnames) {
    if (!hostnameMatches(name, h)) continue;
    matched = true;
    if (!name.startsWith('*.')) exact = Math.max(exact, name.length);
    any = Math.max(any, name.length);
  }
  return matched ? { exact, any } : null;
}

/**
 * Groups the items whose hostnames match `host` into tiers, most specific first (fact 18: the
 * longest matching non-wildcard hostname, then the longest matching hostname). Match precedence
 * applies within a tier; a caller tries the tiers in order and takes the first that matches.
 */
export function hostnameTiers<T>(items: readonly T[], hostnamesOf: (item: T) => readonly string[], host: string | null): T[][] {
  const ranked: { item: T; rank: HostnameRank }[] = [];
  for (const item of items) {
    const rank = hostnameRank(hostnamesOf(item), host);
    if (rank) ranked.push({ item, rank });
  }
  const tiers = new Map<string, { rank: HostnameRank; items: T[] }>();
  for (const { item, rank } of ranked) {
    const key = `${rank.exact}/${rank.any}`;
    let tier = tiers.get(key);
    if (!tier) tiers.set(key, (tier = { rank, items: [] }));
    tier.items.push(item);
  }
  return [...tiers.values()]
    .sort((a, b) => b.rank.exact - a.rank.exact || b.rank.any - a.rank.any)
    .map((t) => t.items);
}
