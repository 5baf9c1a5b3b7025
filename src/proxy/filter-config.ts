// The HTTPRoute filters of one chosen rule as HAProxy http-request / http-response rules, in the
// order the Wasm matcher applies them (src/l7/filters.ts): a RequestRedirect answers at once;
// otherwise URLRewrite's hostname (set Host), the rule's RequestHeaderModifier, the picked
// backendRef's, URLRewrite's path; on the response the rule's ResponseHeaderModifier, then the
// backendRef's. A backendRef's filters hold under the same share condition as its use_backend.

import type { HeaderEdits, PathModifier, Redirect, RouteRule } from '../model/types.ts';
import { ruleRequestEdits } from '../l7/filters.ts';
import { bytesRegex, formatWord, quoted, singleQuoted } from './config-words.ts';

export interface RuleLines {
  line(text: string): void;
  comment(text: string): void;
}

/** Host header of the request without its port, as the Wasm matcher reads it (assembly/l7/rewrite.ts). */
const HOST_WITHOUT_PORT = singleQuoted('req.fhdr(host,1),regsub("\\A(\\[[^]]*\\]|[^:]*)[\\x00-\\xff]*\\z","\\1")');

function editLines(lines: RuleLines, phase: 'http-request' | 'http-response', edits: HeaderEdits | undefined, condition: string): void {
  if (!edits) return;
  for (const h of edits.set) lines.line(`${phase} set-header ${quoted(h.name)} ${formatWord(h.value)} if ${condition}`);
  for (const h of edits.add) lines.line(`${phase} add-header ${quoted(h.name)} ${formatWord(h.value)} if ${condition}`);
  for (const name of edits.remove) lines.line(`${phase} del-header ${quoted(name)} if ${condition}`);
}

/** The path after the modifier as log-format text, plus the condition it needs ('' for none). */
function pathFormats(lines: RuleLines, path: PathModifier | undefined, ruleAcl: string, r: number): { when: string; format: string }[] {
  if (!path) return [{ when: '', format: '%[path]' }];
  const escaped = (s: string) => s.replace(/%/g, '%%');
  if (path.type === 'ReplaceFullPath') return [{ when: '', format: escaped(path.value) }];
  const prefix = (path.prefix ?? '/').replace(/\/$/, '');
  const value = path.value;
  const rest = `txn.meshc_rest${r}`;
  lines.line(`http-request set-var(${rest}) ${singleQuoted(`path,regsub("\\A${bytesRegex(prefix)}","")`)} if ${ruleAcl}`);
  if (prefix === '') return [{ when: '', format: `${escaped(value.replace(/\/$/, ''))}%[var(${rest})]` }];
  return [
    { when: `{ path -m str -- ${quoted(prefix)} }`, format: escaped(value === '' ? '/' : value) },
    { when: `!{ path -m str -- ${quoted(prefix)} }`, format: `${escaped(value.replace(/\/$/, ''))}%[var(${rest})]` },
  ];
}

function redirectLines(lines: RuleLines, redirect: Redirect, ruleAcl: string, r: number, servicePort: number): void {
  const scheme = redirect.scheme ?? 'http';
  const port = redirect.port ?? (redirect.scheme === undefined ? servicePort : redirect.scheme === 'https' ? 443 : 80);
  const showPort = !((scheme === 'http' && port === 80) || (scheme === 'https' && port === 443));
  let host: string;
  if (redirect.hostname !== undefined) host = redirect.hostname;
  else {
    lines.line(`http-request set-var(txn.meshc_host) ${HOST_WITHOUT_PORT} if ${ruleAcl}`);
    host = '%[var(txn.meshc_host)]';
  }
  const start = `${scheme}://${host}${showPort ? `:${port}` : ''}`;
  lines.line(`http-request set-var-fmt(txn.meshc_qs) "?%[query]" if ${ruleAcl} { query -m found }`);
  for (const { when, format } of pathFormats(lines, redirect.path, ruleAcl, r)) {
    lines.line(`http-request redirect location ${quoted(`${start}${format}%[var(txn.meshc_qs)]`)} code ${redirect.statusCode} if ${ruleAcl}${when ? ` ${when}` : ''}`);
  }
}

/** The rule's redirect, if it has one (written before its 500s: a redirect needs no backend). */
export function writeRedirect(lines: RuleLines, rule: RouteRule, ruleAcl: string, r: number, servicePort: number): boolean {
  if (!rule.redirect) return false;
  lines.comment(`RequestRedirect (status ${rule.redirect.statusCode})`);
  redirectLines(lines, rule.redirect, ruleAcl, r, servicePort);
  return true;
}

/**
 * The rule's request filters: `shares[i]` is the condition under which backendRef i is picked
 * (undefined when it never is). Returns the http-response rules, written after every request rule.
 */
export function writeRequestFilters(lines: RuleLines, rule: RouteRule, ruleAcl: string, r: number, shares: (string | undefined)[]): string[] {
  if (rule.redirect) return [];
  editLines(lines, 'http-request', ruleRequestEdits(rule), ruleAcl);
  rule.backendRefs.forEach((b, i) => {
    if (shares[i] !== undefined) editLines(lines, 'http-request', b.requestHeaders, `${ruleAcl}${shares[i]}`);
  });
  if (rule.rewrite?.path) {
    for (const { when, format } of pathFormats(lines, rule.rewrite.path, ruleAcl, r)) {
      lines.line(`http-request set-path ${quoted(format)} if ${ruleAcl}${when ? ` ${when}` : ''}`);
    }
  }
  const timeout = Math.min(...[rule.timeouts?.request, rule.timeouts?.backendRequest].filter((t): t is number => !!t));
  if (Number.isFinite(timeout)) lines.line(`http-request set-var(txn.meshc_timeout) int(${timeout}) if ${ruleAcl}`);
  const response: string[] = [];
  const collect: RuleLines = { line: (t) => response.push(t), comment: () => undefined };
  editLines(collect, 'http-response', rule.responseHeaders, ruleAcl);
  rule.backendRefs.forEach((b, i) => {
    if (shares[i] !== undefined) editLines(collect, 'http-response', b.responseHeaders, `${ruleAcl}${shares[i]}`);
  });
  return response;
}
