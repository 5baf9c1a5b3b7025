// Byte layout of the two buffers the host hands to the L7 matcher (written by src/l7/encode.ts).
// All integers little-endian; offsets are relative to the start of their buffer.
//
// Routes buffer (one Service frontend, routes already in tie-break order):
//   u32 magic ROUTES_MAGIC, u32 routeCount
//   per route:  u32 ruleCount
//   per rule:   u32 ruleRef (opaque to the matcher: the host's key for the rule's backends),
//               u32 matchCount
//   per match:  a fixed MATCH_HEAD_BYTES head:
//                 u32 byteLength of the whole match record, head included
//                 u8 pathType, u8 reserved, u16 pathLen, u16 methodLen (0: any method),
//                 u16 headerCount, u16 queryCount, u16 reserved
//               then path bytes, method bytes,
//               headerCount x (u8 type, u16 nameLen, name (lower case), u16 valueLen, value),
//               queryCount  x (u8 type, u16 nameLen, name, u16 valueLen, value)
//
// Request buffer:
//   u32 magic REQUEST_MAGIC, u32 pathOff, u32 pathLen, u32 methodOff, u32 methodLen,
//   u32 headerCount, u32 queryCount,
//   headerCount records of u32 nameOff, nameLen (lower case), valueOff, valueLen,
//   queryCount records of the same shape, then the string bytes they point at.
//   Repeated names keep their order; the matcher uses the first occurrence of a name.

export const ROUTES_MAGIC: u32 = 0x3152374c; // "L7R1"
export const REQUEST_MAGIC: u32 = 0x3151374c; // "L7Q1"

export const PATH_EXACT: u8 = 0;
export const PATH_PREFIX: u8 = 1;
/** Not evaluated by the matcher: such a match never matches (the encoder reports it). */
export const PATH_REGEX: u8 = 2;

export const VALUE_EXACT: u8 = 0;
/** Not evaluated by the matcher: such a condition never holds (the encoder reports it). */
export const VALUE_REGEX: u8 = 1;

export const MATCH_HEAD_BYTES: u32 = 16;
export const REQUEST_HEADER_BYTES: u32 = 28;
export const REQUEST_RECORD_BYTES: u32 = 16;

/** l7_match results. */
export const L7_MATCH: i32 = 1;
export const L7_NO_MATCH: i32 = 0;
export const L7_BAD_ROUTES: i32 = -1;
export const L7_BAD_REQUEST: i32 = -2;
