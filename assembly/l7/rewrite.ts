// RequestRedirect and URLRewrite: the Location a redirect answers with, or the path a rewrite
// sends on, for the last checked request (layout.ts). The query string is the host's to append:
// both keep it unchanged.
//
// ReplacePrefixMatch replaces the matched prefix (whole segments, its trailing `/` ignored):
// with prefix /foo, /foo/bar -> <value without trailing />/bar, and /foo -> <value> ('/' if empty).
// Redirect defaults (Gateway API): scheme http (the mesh listener's), hostname the request's Host
// without its port; the port is the one set, else the scheme's well-known port when a scheme is
// set, else the listener's (the Service port); :80 for http and :443 for https are left out.

import { REWRITES_MAGIC, REWRITE_REDIRECT, PATH_KEEP, PATH_REPLACE_FULL } from "./layout";
import { requestBase, requestHeaders, requestHeaderCount, requestPath, requestPathLength } from "./matcher";

const SLASH: u8 = 0x2f;

@inline function u16At(p: usize): u32 { return <u32>load<u16>(p); }

let starts = new Array<usize>(0);

/** Structural check of a rewrites buffer; records where each record starts. */
export function checkRewrites(base: usize, len: u32): bool {
  starts = new Array<usize>(0);
  if (len < 8 || load<u32>(base) != REWRITES_MAGIC) return false;
  const end = base + <usize>len;
  const count = load<u32>(base + 4);
  let p = base + 8;
  for (let k: u32 = 0; k < count; k++) {
    if (p + 8 > end) return false;
    starts.push(p);
    p += 8;
    for (let s = 0; s < 4; s++) {
      if (p + 2 > end) return false;
      p += 2 + <usize>u16At(p);
    }
    if (p > end) return false;
  }
  return p == end;
}

export function rewriteCount(): i32 { return starts.length; }

let out = new ArrayBuffer(0);
let outLen: u32 = 0;

export function rewriteResult(): usize { return changetype<usize>(out); }
export function rewriteResultLength(): u32 { return outLen; }

function reserve(n: u32): void {
  if (<u32>out.byteLength < n) out = new ArrayBuffer(<i32>n);
}

@inline function put(at: u32, src: usize, n: u32): u32 {
  memory.copy(changetype<usize>(out) + <usize>at, src, <usize>n);
  return at + n;
}

function putByte(at: u32, b: u8): u32 {
  store<u8>(changetype<usize>(out) + <usize>at, b);
  return at + 1;
}

function putNumber(at: u32, n: u32): u32 {
  let digits: u32 = 1;
  for (let v = n; v >= 10; v /= 10) digits++;
  for (let i: u32 = 0; i < digits; i++) {
    store<u8>(changetype<usize>(out) + <usize>(at + digits - 1 - i), <u8>(0x30 + n % 10));
    n /= 10;
  }
  return at + digits;
}

/** Value of the first `host` header of the request, without a `:port` (an IPv6 literal keeps its brackets). */
function requestHost(): u64 {
  const base = requestBase();
  const table = requestHeaders();
  for (let k: u32 = 0; k < requestHeaderCount(); k++) {
    const rec = table + <usize>(k * 16);
    const name = base + <usize>load<u32>(rec);
    if (load<u32>(rec + 4) != 4 || load<u32>(name) != 0x74736f68) continue; // "host"
    const value = base + <usize>load<u32>(rec + 8);
    const len = load<u32>(rec + 12);
    let n: u32 = 0;
    if (len > 0 && load<u8>(value) == 0x5b) { // '['
      while (n < len && load<u8>(value + <usize>n) != 0x5d) n++;
      if (n < len) n++;
    } else {
      while (n < len && load<u8>(value + <usize>n) != 0x3a) n++;
    }
    return (<u64>value << 32) | <u64>n;
  }
  return 0;
}

@inline function isScheme(p: usize, n: u32, https: bool): bool {
  if (https) return n == 5 && load<u32>(p) == 0x70747468 && load<u8>(p + 4) == 0x73; // "https"
  return n == 4 && load<u32>(p) == 0x70747468; // "http"
}

/** Writes the path after the modifier at `at`; returns the end. */
function writePath(at: u32, pathType: u8, value: usize, valueLen: u32, prefix: usize, prefixLen: u32): u32 {
  const path = requestPath();
  const pathLen = requestPathLength();
  if (pathType == PATH_KEEP) return put(at, path, pathLen);
  if (pathType == PATH_REPLACE_FULL) return put(at, value, valueLen);
  let n = prefixLen;
  if (n > 0 && load<u8>(prefix + <usize>n - 1) == SLASH) n--;
  if (n > pathLen) n = pathLen; // the rule matched, so the path starts with the prefix
  if (n == pathLen) {
    if (valueLen == 0) return putByte(at, SLASH);
    return put(at, value, valueLen);
  }
  let v = valueLen;
  if (v > 0 && load<u8>(value + <usize>v - 1) == SLASH) v--;
  at = put(at, value, v);
  return put(at, path + <usize>n, pathLen - n);
}

/** Record `index` applied to the checked request (listener port: the Service port); false if out of range. */
export function rewrite(index: i32, listenerPort: u32): bool {
  if (index < 0 || index >= starts.length) return false;
  const p = starts[index];
  const kind = load<u8>(p);
  const pathType = load<u8>(p + 1);
  let port = u16At(p + 4);
  let q = p + 8;
  const schemeLen = u16At(q); const scheme = q + 2; q = scheme + <usize>schemeLen;
  const hostLen = u16At(q); const host = q + 2; q = host + <usize>hostLen;
  const valueLen = u16At(q); const value = q + 2; q = value + <usize>valueLen;
  const prefixLen = u16At(q); const prefix = q + 2;
  const requested = requestHost();
  const reqHost = <usize>(requested >> 32);
  const reqHostLen = <u32>(requested & 0xffffffff);
  reserve(16 + schemeLen + hostLen + reqHostLen + valueLen + requestPathLength());
  let at: u32 = 2;
  if (kind == REWRITE_REDIRECT) {
    const https = isScheme(scheme, schemeLen, true);
    if (schemeLen > 0) at = put(at, scheme, schemeLen);
    else { at = putByte(at, 0x68); at = putByte(at, 0x74); at = putByte(at, 0x74); at = putByte(at, 0x70); } // http
    at = putByte(at, 0x3a); at = putByte(at, SLASH); at = putByte(at, SLASH);
    at = hostLen > 0 ? put(at, host, hostLen) : put(at, reqHost, reqHostLen);
    if (port == 0) port = schemeLen == 0 ? listenerPort : https ? 443 : 80;
    const plain = schemeLen == 0 || isScheme(scheme, schemeLen, false);
    if (!((plain && port == 80) || (https && port == 443))) {
      at = putByte(at, 0x3a);
      at = putNumber(at, port);
    }
  }
  at = writePath(at, pathType, value, valueLen, prefix, prefixLen);
  store<u16>(changetype<usize>(out), <u16>(at - 2));
  outLen = at;
  return true;
}
