// SPIFFE IDs (spiffe://<trust domain>/<path>) as the SPIFFE ID standard defines them, and meshc's
// one shape of them: a Kubernetes ServiceAccount, spiffe://<trust domain>/ns/<namespace>/sa/<name>.
// Parsing is strict: what the standard forbids is an error naming the rule, never a repair.

export interface SpiffeId {
  trustDomain: string;
  /** Begins with '/', or '' for the trust domain's own ID. */
  path: string;
}

export interface ServiceAccountId {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

export class SpiffeIdError extends Error {}

const MAX_ID_LENGTH = 2048;
const MAX_TRUST_DOMAIN_LENGTH = 255;
const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const SEGMENT_CHARS = /^[A-Za-z0-9._-]+$/;

/** Why `name` is not a trust domain name, or undefined when it is one. */
export function trustDomainProblem(name: string): string | undefined {
  if (name === '') return 'the trust domain is empty';
  if (name.length > MAX_TRUST_DOMAIN_LENGTH) return `the trust domain is longer than ${MAX_TRUST_DOMAIN_LENGTH} characters`;
  if (!TRUST_DOMAIN_CHARS.test(name)) return `the trust domain "${name}" may hold only lowercase letters, digits, '.', '-' and '_' (no port, user or uppercase)`;
  return undefined;
}

/** Checks a trust domain name; throws a SpiffeIdError naming the rule it breaks. */
export function checkTrustDomain(name: string): string {
  const problem = trustDomainProblem(name);
  if (problem) throw new SpiffeIdError(problem);
  return name;
}

function pathProblem(path: string): string | undefined {
  if (path === '') return undefined;
  if (!path.startsWith('/')) return 'the path must begin with "/"';
  if (path.endsWith('/')) return 'the path must not end with "/"';
  for (const segment of path.slice(1).split('/')) {
    if (segment === '') return 'the path has an empty segment ("//")';
    if (segment === '.' || segment === '..') return `the path has a "${segment}" segment`;
    if (!SEGMENT_CHARS.test(segment)) return `the path segment "${segment}" may hold only letters, digits, '.', '-' and '_'`;
  }
  return undefined;
}

/** Parses a SPIFFE ID; throws a SpiffeIdError saying which rule `text` breaks. */
export function parseSpiffeId(text: string): SpiffeId {
  const fail = (why: string): never => {
    throw new SpiffeIdError(`SPIFFE ID "${text}": ${why}`);
  };
  if (text.length > MAX_ID_LENGTH) fail(`longer than ${MAX_ID_LENGTH} bytes`);
  if (!text.startsWith('spiffe://')) fail('the scheme must be "spiffe://" (lowercase)');
  if (/[?#]/.test(text)) fail('a query or fragment is not allowed');
  if (text.includes('%')) fail('percent-encoding is not allowed');
  const rest = text.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  const domainProblem = trustDomainProblem(trustDomain);
  if (domainProblem) fail(domainProblem);
  const problem = pathProblem(path);
  if (problem) fail(problem);
  return { trustDomain, path };
}

export function formatSpiffeId(id: SpiffeId): string {
  checkTrustDomain(id.trustDomain);
  const problem = pathProblem(id.path);
  if (problem) throw new SpiffeIdError(`SPIFFE ID path "${id.path}": ${problem}`);
  return `spiffe://${id.trustDomain}${id.path}`;
}

// A Kubernetes object name (DNS-1123 subdomain for ServiceAccounts, label for namespaces) fits in
// a SPIFFE path segment; these checks say so at the edge instead of producing an odd ID.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** The SPIFFE ID of ServiceAccount `namespace/serviceAccount`. */
export function serviceAccountSpiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  checkTrustDomain(trustDomain);
  if (namespace.length > 63 || !DNS_LABEL.test(namespace)) throw new SpiffeIdError(`namespace "${namespace}" is not a Kubernetes namespace name (a DNS label)`);
  if (serviceAccount.length > 253 || !DNS_SUBDOMAIN.test(serviceAccount)) throw new SpiffeIdError(`ServiceAccount "${serviceAccount}" is not a Kubernetes object name (a DNS subdomain)`);
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** The ServiceAccount a meshc SPIFFE ID names; throws when the ID is not of that shape. */
export function parseServiceAccountId(text: string): ServiceAccountId {
  const id = parseSpiffeId(text);
  const m = /^\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id.path);
  if (!m) throw new SpiffeIdError(`SPIFFE ID "${text}": not a ServiceAccount identity (the path must be /ns/<namespace>/sa/<name>)`);
  return { trustDomain: id.trustDomain, namespace: m[1]!, serviceAccount: m[2]! };
}
