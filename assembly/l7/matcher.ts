// HTTPRoute match evaluation and precedence over the buffers described in layout.ts.
// Wasm-only (never translated to BPF). No allocation on the request path: the routes buffer is
// validated once when loaded, then each request is matched by walking it in place.

import {
  ROUTES_MAGIC, REQUEST_MAGIC, PATH_EXACT, PATH_PREFIX, PATH_REGEX, VALUE_EXACT, VALUE_REGEX,
  MATCH_HEAD_BYTES, REQUEST_HEADER_BYTES, REQUEST_RECORD_BYTES,
  L7_MATCH, L7_NO_MATCH, L7_BAD_ROUTES, L7_BAD_REQUEST,
} from "./layout";
import { checkProgram, reserveScratch, regexMatches } from "./regex";

const SLASH: u8 = 0x2f;

// Request under evaluation (absolute addresses), set by checkRequest.
let reqBase: usize = 0;
let reqPath: usize = 0;
let reqPathLen: u32 = 0;
let reqMethod: usize = 0;
let reqMethodLen: u32 = 0;
let reqHeaders: usize = 0;
let reqHeaderCount: u32 = 0;
let reqQuery: usize = 0;
let reqQueryCount: u32 = 0;

// Result of the last successful match.
let resultRoute: i32 = -1;
let resultRule: i32 = -1;
let resultMatch: i32 = -1;
let resultRuleRef: u32 = 0;

export function lastRoute(): i32 { return resultRoute; }
export function lastRule(): i32 { return resultRule; }
export function lastMatch(): i32 { return resultMatch; }
export function lastRuleRef(): u32 { return resultRuleRef; }

/** The checked request's header records (layout.ts): absolute base for offsets, table, count. */
export function requestBase(): usize { return reqBase; }
export function requestHeaders(): usize { return reqHeaders; }
export function requestHeaderCount(): u32 { return reqHeaderCount; }
export function requestPath(): usize { return reqPath; }
export function requestPathLength(): u32 { return reqPathLen; }

@inline function u16At(p: usize): u32 { return <u32>load<u16>(p); }

// Largest regex program seen by the running checkRoutes.
let maxProgram: u32 = 0;

/**
 * Structural check of a routes buffer: every count and length stays inside `len` bytes and every
 * regex program is well formed. Reserves the regex scratch space the buffer needs.
 */
export function checkRoutes(base: usize, len: u32): bool {
  maxProgram = 0;
  if (!walkRoutes(base, len)) return false;
  reserveScratch(maxProgram);
  return true;
}

function walkRoutes(base: usize, len: u32): bool {
  if (len < 8 || load<u32>(base) != ROUTES_MAGIC) return false;
  const end = base + <usize>len;
  const routeCount = load<u32>(base + 4);
  let p = base + 8;
  for (let r: u32 = 0; r < routeCount; r++) {
    if (p + 4 > end) return false;
    const ruleCount = load<u32>(p);
    p += 4;
    for (let i: u32 = 0; i < ruleCount; i++) {
      if (p + 8 > end) return false;
      const matchCount = load<u32>(p + 4);
      p += 8;
      for (let m: u32 = 0; m < matchCount; m++) {
        if (p + <usize>MATCH_HEAD_BYTES > end) return false;
        const size = load<u32>(p);
        if (size < MATCH_HEAD_BYTES || p + <usize>size > end) return false;
        if (!checkMatch(p, p + <usize>size)) return false;
        p += <usize>size;
      }
    }
  }
  return p == end;
}

function checkMatch(p: usize, recEnd: usize): bool {
  const pathType = load<u8>(p + 4);
  const pathLen = u16At(p + 6);
  const methodLen = u16At(p + 8);
  const headerCount = u16At(p + 10);
  const queryCount = u16At(p + 12);
  if (pathType > PATH_REGEX) return false;
  let q = p + <usize>MATCH_HEAD_BYTES;
  if (q + <usize>pathLen + <usize>methodLen > recEnd) return false;
  if (pathType == PATH_REGEX && !noteProgram(q, pathLen)) return false;
  q += <usize>pathLen + <usize>methodLen;
  const pairs = headerCount + queryCount;
  for (let k: u32 = 0; k < pairs; k++) {
    if (q + 3 > recEnd) return false;
    const type = load<u8>(q);
    if (type > VALUE_REGEX) return false;
    q += 3 + <usize>u16At(q + 1);
    if (q + 2 > recEnd) return false;
    const valueLen = u16At(q);
    q += 2;
    if (q + <usize>valueLen > recEnd) return false;
    if (type == VALUE_REGEX && !noteProgram(q, valueLen)) return false;
    q += <usize>valueLen;
  }
  return q == recEnd;
}

function noteProgram(p: usize, len: u32): bool {
  const n = checkProgram(p, len);
  if (n < 0) return false;
  if (<u32>n > maxProgram) maxProgram = <u32>n;
  return true;
}

/** Checks a request buffer and records its fields for matchRequest. */
export function checkRequest(base: usize, len: u32): bool {
  if (len < REQUEST_HEADER_BYTES || load<u32>(base) != REQUEST_MAGIC) return false;
  const pathOff = load<u32>(base + 4);
  const pathLen = load<u32>(base + 8);
  const methodOff = load<u32>(base + 12);
  const methodLen = load<u32>(base + 16);
  const headerCount = load<u32>(base + 20);
  const queryCount = load<u32>(base + 24);
  if (!inside(pathOff, pathLen, len) || !inside(methodOff, methodLen, len)) return false;
  const records = <u64>headerCount + <u64>queryCount;
  if (<u64>REQUEST_HEADER_BYTES + records * <u64>REQUEST_RECORD_BYTES > <u64>len) return false;
  const table = base + <usize>REQUEST_HEADER_BYTES;
  for (let k: u32 = 0; k < <u32>records; k++) {
    const rec = table + <usize>(k * REQUEST_RECORD_BYTES);
    if (!inside(load<u32>(rec), load<u32>(rec + 4), len)) return false;
    if (!inside(load<u32>(rec + 8), load<u32>(rec + 12), len)) return false;
  }
  reqBase = base;
  reqPath = base + <usize>pathOff;
  reqPathLen = pathLen;
  reqMethod = base + <usize>methodOff;
  reqMethodLen = methodLen;
  reqHeaders = table;
  reqHeaderCount = headerCount;
  reqQuery = table + <usize>(headerCount * REQUEST_RECORD_BYTES);
  reqQueryCount = queryCount;
  return true;
}

@inline function inside(off: u32, n: u32, len: u32): bool {
  return <u64>off + <u64>n <= <u64>len;
}

@inline function sameBytes(a: usize, aLen: u32, b: usize, bLen: u32): bool {
  return aLen == bLen && (aLen == 0 || memory.compare(a, b, <usize>aLen) == 0);
}

/**
 * Path match. Exact: the whole path, byte for byte. PathPrefix: whole `/`-separated segments,
 * a trailing `/` of the prefix ignored, so `/abc` and `/abc/` match `/abc`, `/abc/` and
 * `/abc/def` but never `/abcd`.
 */
function pathMatches(type: u8, p: usize, pLen: u32): bool {
  if (type == PATH_EXACT) return sameBytes(reqPath, reqPathLen, p, pLen);
  if (type == PATH_REGEX) return regexMatches(p, reqPath, reqPathLen);
  let n = pLen;
  if (n > 0 && load<u8>(p + <usize>n - 1) == SLASH) n--;
  if (reqPathLen < n) return false;
  if (n > 0 && memory.compare(reqPath, p, <usize>n) != 0) return false;
  return reqPathLen == n || load<u8>(reqPath + <usize>n) == SLASH;
}

/**
 * Value of the first request record named `name`, compared exactly with `value`, or (regex)
 * accepted as a whole by the program in `value`.
 */
function recordMatches(table: usize, count: u32, type: u8, name: usize, nameLen: u32, value: usize, valueLen: u32): bool {
  for (let k: u32 = 0; k < count; k++) {
    const rec = table + <usize>(k * REQUEST_RECORD_BYTES);
    if (sameBytes(reqBase + <usize>load<u32>(rec), load<u32>(rec + 4), name, nameLen)) {
      const got = reqBase + <usize>load<u32>(rec + 8);
      const gotLen = load<u32>(rec + 12);
      return type == VALUE_EXACT ? sameBytes(got, gotLen, value, valueLen) : regexMatches(value, got, gotLen);
    }
  }
  return false;
}

/**
 * Precedence key of a match (semantics.md B.15), larger wins: Exact path, then PathPrefix length
 * in characters (as written), then having a method, then header count, then query-param count.
 * A RegularExpression path ranks below every prefix (its precedence is implementation-specific).
 */
@inline function precedenceKey(p: usize): u64 {
  const pathType = load<u8>(p + 4);
  const pathLen = <u64>u16At(p + 6);
  const exact: u64 = pathType == PATH_EXACT ? 1 : 0;
  const prefixLen: u64 = pathType == PATH_PREFIX ? pathLen : 0;
  const hasMethod: u64 = u16At(p + 8) > 0 ? 1 : 0;
  return (exact << 56) | (prefixLen << 40) | (hasMethod << 32) | (<u64>u16At(p + 10) << 16) | <u64>u16At(p + 12);
}

function matchHolds(p: usize): bool {
  const pathLen = u16At(p + 6);
  const methodLen = u16At(p + 8);
  const headerCount = u16At(p + 10);
  const queryCount = u16At(p + 12);
  let q = p + <usize>MATCH_HEAD_BYTES;
  if (!pathMatches(load<u8>(p + 4), q, pathLen)) return false;
  q += <usize>pathLen;
  if (methodLen > 0 && !sameBytes(reqMethod, reqMethodLen, q, methodLen)) return false;
  q += <usize>methodLen;
  const pairs = headerCount + queryCount;
  for (let k: u32 = 0; k < pairs; k++) {
    const type = load<u8>(q);
    const nameLen = u16At(q + 1);
    const name = q + 3;
    q = name + <usize>nameLen;
    const valueLen = u16At(q);
    const value = q + 2;
    q = value + <usize>valueLen;
    const ok = k < headerCount
      ? recordMatches(reqHeaders, reqHeaderCount, type, name, nameLen, value, valueLen)
      : recordMatches(reqQuery, reqQueryCount, type, name, nameLen, value, valueLen);
    if (!ok) return false;
  }
  return true;
}

/**
 * Finds the winning match for the checked request in a checked routes buffer. Routes come in
 * tie-break order (oldest, then namespace/name) and rules in list order, so on equal keys the
 * first match found wins; a match whose key cannot beat the best so far is not evaluated.
 */
export function matchRequest(base: usize): i32 {
  const routeCount = load<u32>(base + 4);
  let p = base + 8;
  let found = false;
  let bestKey: u64 = 0;
  for (let r: u32 = 0; r < routeCount; r++) {
    const ruleCount = load<u32>(p);
    p += 4;
    for (let i: u32 = 0; i < ruleCount; i++) {
      const ruleRef = load<u32>(p);
      const matchCount = load<u32>(p + 4);
      p += 8;
      for (let m: u32 = 0; m < matchCount; m++) {
        const size = load<u32>(p);
        const key = precedenceKey(p);
        if ((!found || key > bestKey) && matchHolds(p)) {
          found = true;
          bestKey = key;
          resultRoute = <i32>r;
          resultRule = <i32>i;
          resultMatch = <i32>m;
          resultRuleRef = ruleRef;
        }
        p += <usize>size;
      }
    }
  }
  return found ? L7_MATCH : L7_NO_MATCH;
}

export { L7_BAD_ROUTES, L7_BAD_REQUEST };
