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
/** The path bytes are a regex program (below), run against the whole path. */
export const PATH_REGEX: u8 = 2;

export const VALUE_EXACT: u8 = 0;
/** The value bytes are a regex program (below), run against the whole header / parameter value. */
export const VALUE_REGEX: u8 = 1;

// A regex program (compiled by src/l7/regex.ts; a Thompson NFA run as a Pike VM, linear time):
//   u16 instructionCount (0: never matches), u16 classCount,
//   instructionCount x 8 bytes: u8 op, u8 byte, u16 x, u16 y, u16 reserved,
//   classCount x 32 bytes: 256-bit byte sets.
export const RX_HEAD_BYTES: u32 = 4;
export const RX_INSTR_BYTES: u32 = 8;
export const RX_CLASS_BYTES: u32 = 32;
export const OP_BYTE: u8 = 0; // consume `byte`
export const OP_CLASS: u8 = 1; // consume a byte of class x
export const OP_SPLIT: u8 = 2; // continue at x and at y
export const OP_JUMP: u8 = 3; // continue at x
export const OP_MATCH: u8 = 4; // accept when the whole input is consumed
export const OP_BEGIN: u8 = 5; // assert position 0
export const OP_END: u8 = 6; // assert end of input

export const MATCH_HEAD_BYTES: u32 = 16;
export const REQUEST_HEADER_BYTES: u32 = 28;
export const REQUEST_RECORD_BYTES: u32 = 16;

/** l7_match results. */
export const L7_MATCH: i32 = 1;
export const L7_NO_MATCH: i32 = 0;
export const L7_BAD_ROUTES: i32 = -1;
export const L7_BAD_REQUEST: i32 = -2;

// Header edits buffer (RequestHeaderModifier filters, written by src/l7/edits.ts):
//   u32 magic EDITS_MAGIC, u32 editCount
//   per edit: u16 setCount, u16 addCount, u16 removeCount, u16 reserved,
//             setCount + addCount x (u16 nameLen, name, u16 valueLen, value),
//             removeCount x (u16 nameLen, name)
// Edited headers (the result of l7_edit_request):
//   u32 count, count x (u16 nameLen, name, u16 valueLen, value)
export const EDITS_MAGIC: u32 = 0x3145374c; // "L7E1"
export const L7_BAD_EDITS: i32 = -3;

// Redirects and rewrites (RequestRedirect and URLRewrite filters, written by src/l7/filters.ts):
//   u32 magic REWRITES_MAGIC, u32 count
//   per record: u8 kind (REWRITE_*), u8 pathType (PATH_KEEP / PATH_REPLACE_FULL / PATH_REPLACE_PREFIX),
//               u16 statusCode (redirect), u16 port (redirect; 0: not set), u16 reserved,
//               then four strings, each u16 len + bytes: scheme ('' not set), hostname ('' not
//               set), the path modifier's value, the rule's PathPrefix value (ReplacePrefixMatch)
// Result of l7_rewrite: u16 len + the redirect's Location (without the query) or the new path.
export const REWRITES_MAGIC: u32 = 0x3157374c; // "L7W1"
export const REWRITE_REDIRECT: u8 = 1;
export const REWRITE_URL: u8 = 2;
export const PATH_KEEP: u8 = 0;
export const PATH_REPLACE_FULL: u8 = 1;
export const PATH_REPLACE_PREFIX: u8 = 2;
export const L7_BAD_REWRITES: i32 = -4;
