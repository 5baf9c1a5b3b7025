// Exports of the L7 (HTTPRoute) matcher. The host copies an encoded routes buffer and an encoded
// request (layouts in layout.ts) into two scratch buffers owned here, then calls l7_match.
//
//   ptr = l7_routes_buffer(len); write routes; l7_load_routes(len) == 1
//   ptr = l7_request_buffer(len); write request; l7_match(len) -> 1 match / 0 none / <0 error
//   l7_result_route(), l7_result_rule(), l7_result_match(), l7_result_rule_ref()
//
// Scratch buffers are kept alive by module globals (no pinning needed) and reused while they
// are large enough. Allocating one may grow memory: the host must re-read memory.buffer after.

import { checkRoutes, checkRequest, matchRequest, lastRoute, lastRule, lastMatch, lastRuleRef } from "./matcher";
import { L7_BAD_ROUTES, L7_BAD_REQUEST, L7_BAD_EDITS, L7_BAD_REWRITES } from "./layout";
import { checkEdits, editList, editRequest, resultAddress, resultLength } from "./edit";
import { checkRewrites, rewrite, rewriteResult, rewriteResultLength } from "./rewrite";

let routesBuf = new ArrayBuffer(0);
let requestBuf = new ArrayBuffer(0);
let routesLoadedLen: i32 = -1;
let editsBuf = new ArrayBuffer(0);
let editsLoaded = false;
let headersBuf = new ArrayBuffer(0);
let rewritesBuf = new ArrayBuffer(0);
let rewritesLoaded = false;

function ensure(buf: ArrayBuffer, len: u32): ArrayBuffer {
  if (<u32>buf.byteLength >= len) return buf;
  let cap = <u32>buf.byteLength;
  if (cap < 256) cap = 256;
  while (cap < len) cap <<= 1;
  return new ArrayBuffer(<i32>cap);
}

/** Address of a scratch buffer of at least `len` bytes for an encoded routes buffer. */
export function l7_routes_buffer(len: u32): usize {
  routesBuf = ensure(routesBuf, len);
  routesLoadedLen = -1;
  return changetype<usize>(routesBuf);
}

/** Validates the `len` bytes written into the routes buffer; 1 when usable, 0 when malformed. */
export function l7_load_routes(len: u32): i32 {
  routesLoadedLen = -1;
  if (len > <u32>routesBuf.byteLength || !checkRoutes(changetype<usize>(routesBuf), len)) return 0;
  routesLoadedLen = <i32>len;
  return 1;
}

/** Address of a scratch buffer of at least `len` bytes for an encoded request. */
export function l7_request_buffer(len: u32): usize {
  requestBuf = ensure(requestBuf, len);
  return changetype<usize>(requestBuf);
}

/** Matches the request (`len` bytes in the request buffer) against the loaded routes. */
export function l7_match(len: u32): i32 {
  if (routesLoadedLen < 0) return L7_BAD_ROUTES;
  if (len > <u32>requestBuf.byteLength || !checkRequest(changetype<usize>(requestBuf), len)) return L7_BAD_REQUEST;
  return matchRequest(changetype<usize>(routesBuf));
}

export function l7_result_route(): i32 { return lastRoute(); }
export function l7_result_rule(): i32 { return lastRule(); }
export function l7_result_match(): i32 { return lastMatch(); }
export function l7_result_rule_ref(): u32 { return lastRuleRef(); }

/** Address of a scratch buffer of at least `len` bytes for an encoded header edits buffer. */
export function l7_edits_buffer(len: u32): usize {
  editsBuf = ensure(editsBuf, len);
  editsLoaded = false;
  return changetype<usize>(editsBuf);
}

/** Validates the `len` bytes written into the edits buffer; 1 when usable, 0 when malformed. */
export function l7_load_edits(len: u32): i32 {
  editsLoaded = len <= <u32>editsBuf.byteLength && checkEdits(changetype<usize>(editsBuf), len);
  return editsLoaded ? 1 : 0;
}

/**
 * Applies header edits `first` then `second` (-1: none) to the headers of the request last given
 * to l7_match; the edited headers are at l7_edit_result() (l7_edit_result_len() bytes).
 * 1 done, L7_BAD_EDITS when no edits are loaded or an index is out of range.
 */
export function l7_edit_request(first: i32, second: i32): i32 {
  if (!editsLoaded || !editRequest(first, second)) return L7_BAD_EDITS;
  return 1;
}

export function l7_edit_result(): usize { return resultAddress(); }
export function l7_edit_result_len(): u32 { return resultLength(); }

/** Address of a scratch buffer of at least `len` bytes for a header list (a response's, edit result layout). */
export function l7_headers_buffer(len: u32): usize {
  headersBuf = ensure(headersBuf, len);
  return changetype<usize>(headersBuf);
}

/**
 * Applies header edits `first` then `second` (-1: none) to the `len`-byte header list in the
 * headers buffer (ResponseHeaderModifier); the result is at l7_edit_result() as for requests.
 * 1 done, L7_BAD_EDITS when no edits are loaded, an index is out of range or the list is malformed.
 */
export function l7_edit_headers(first: i32, second: i32, len: u32): i32 {
  if (!editsLoaded || len > <u32>headersBuf.byteLength || !editList(first, second, changetype<usize>(headersBuf), len)) return L7_BAD_EDITS;
  return 1;
}

/** Address of a scratch buffer of at least `len` bytes for an encoded redirects and rewrites buffer. */
export function l7_rewrites_buffer(len: u32): usize {
  rewritesBuf = ensure(rewritesBuf, len);
  rewritesLoaded = false;
  return changetype<usize>(rewritesBuf);
}

/** Validates the `len` bytes written into the rewrites buffer; 1 when usable, 0 when malformed. */
export function l7_load_rewrites(len: u32): i32 {
  rewritesLoaded = len <= <u32>rewritesBuf.byteLength && checkRewrites(changetype<usize>(rewritesBuf), len);
  return rewritesLoaded ? 1 : 0;
}

/**
 * Applies redirect or rewrite record `index` to the request last given to l7_match, whose
 * listener (Service) port is `port`: the Location or the new path is at l7_rewrite_result()
 * (u16 length, bytes). 1 done, L7_BAD_REWRITES when none are loaded or the index is out of range.
 */
export function l7_rewrite(index: i32, port: u32): i32 {
  if (!rewritesLoaded || !rewrite(index, port)) return L7_BAD_REWRITES;
  return 1;
}

export function l7_rewrite_result(): usize { return rewriteResult(); }
export function l7_rewrite_result_len(): u32 { return rewriteResultLength(); }
