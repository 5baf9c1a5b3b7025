// Reads a tcpdump capture (pcap; Ethernet, or Linux cooked v1/v2 from `-i any`): the TCP
// segments with a payload.
import { readFileSync } from 'node:fs';

export interface Segment {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** Sequence number of the payload's first byte. */
  seq: number;
  payload: Buffer;
}

/** A flow's key, one direction. */
export const flowOf = (s: Segment) => `${s.src}:${s.sport}>${s.dst}:${s.dport}`;

/**
 * The TCP segments with a payload, grouped by flow, in sequence order within one (a capture on
 * several ports may write a flow's segments out of order), retransmissions dropped.
 */
export function readTcpSegments(file: string): Segment[] {
  const isn = new Map<string, number>();
  const segments = readRaw(file, isn);
  const rel = (s: Segment) => (s.seq - (isn.get(flowOf(s)) ?? 0) + 2 ** 32) % 2 ** 32;
  const seen = new Set<string>();
  return segments
    .sort((a, b) => (flowOf(a) === flowOf(b) ? rel(a) - rel(b) : flowOf(a) < flowOf(b) ? -1 : 1))
    .filter((s) => {
      const key = `${flowOf(s)}@${s.seq}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}

function readRaw(file: string, isn: Map<string, number>): Segment[] {
  const buf = readFileSync(file);
  if (buf.length < 24) return [];
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d) throw new Error(`${file}: not a pcap file`);
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  // Link header length and where its EtherType is, by link type.
  const link = ({ 1: { len: 14, type: 12 }, 113: { len: 16, type: 14 }, 276: { len: 20, type: 0 } } as Record<number, { len: number; type: number }>)[u32(20)];
  if (!link) throw new Error(`${file}: link type ${u32(20)}, expected Ethernet (1) or Linux cooked (113, 276)`);
  const out: Segment[] = [];
  for (let off = 24; off + 16 <= buf.length; ) {
    const len = u32(off + 8);
    const frame = buf.subarray(off + 16, off + 16 + len);
    off += 16 + len;
    if (frame.length < link.len + 20 || frame.readUInt16BE(link.type) !== 0x0800) continue;
    const ipHdr = frame.subarray(link.len);
    const ihl = (ipHdr[0]! & 0x0f) * 4;
    if (ipHdr[9] !== 6) continue;
    const total = ipHdr.readUInt16BE(2);
    const tcp = ipHdr.subarray(ihl, total);
    const doff = (tcp[12]! >> 4) * 4;
    const payload = tcp.subarray(doff);
    const segment: Segment = {
      src: [...ipHdr.subarray(12, 16)].join('.'),
      dst: [...ipHdr.subarray(16, 20)].join('.'),
      sport: tcp.readUInt16BE(0),
      dport: tcp.readUInt16BE(2),
      seq: tcp.readUInt32BE(4),
      payload: Buffer.from(payload),
    };
    // SYN: the flow's initial sequence number (payload starts at isn + 1).
    if (tcp[13]! & 0x02) isn.set(flowOf(segment), (segment.seq + 1) % 2 ** 32);
    if (payload.length === 0) continue;
    out.push(segment);
  }
  return out;
}

/**
 * Checks that a flow's bytes (one direction, in capture order) are a sequence of TLS records:
 * each a content type 20-23, version 3.x and a length. Returns the content types seen, or throws
 * with the first offset that is no record header. A capture missing segments can fail this.
 */
export function tlsRecordTypes(bytes: Buffer): number[] {
  const types: number[] = [];
  let off = 0;
  while (off + 5 <= bytes.length) {
    const type = bytes[off]!;
    if (type < 20 || type > 23 || bytes[off + 1] !== 3) throw new Error(`no TLS record at offset ${off} (byte ${type})`);
    types.push(type);
    off += 5 + bytes.readUInt16BE(off + 3);
  }
  return types;
}
