// The file capture-main.ts writes and the capture test reads: the IP packets a libpcap capture
// saw, in capture order, with the link-layer header already removed.
//
//   "PALCAP1\n"                                     magic
//   repeated: u32 BE ipLength, u8 flags, ipLength bytes
//
// flags bit 0: the frame did not fit the capture buffer (cap's `truncated`), so the IP bytes
// are cut short; bit 1: the frame carried one or more 802.1Q/802.1ad tags, which were skipped.

import { readFileSync } from 'node:fs';

export const CAPTURE_MAGIC = 'PALCAP1\n';
export const CAPTURE_TRUNCATED = 1;
export const CAPTURE_VLAN = 2;

export interface CapturedPacket {
  /** Position in capture order (0-based). */
  readonly index: number;
  /** The IP packet (IPv4 or IPv6 header first). */
  readonly bytes: Buffer;
  readonly flags: number;
}

const ETH_HEADER = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;

/**
 * Offset of the IP header in an Ethernet frame, skipping 802.1Q / 802.1ad tags (4 bytes each:
 * TPID we already read, then TCI and the next EtherType), or -1 when the frame carries no IP.
 * Returns the number of tags skipped in `tags.n`.
 */
export function ipOffsetInEthernet(frame: Buffer, len: number, tags: { n: number }): number {
  tags.n = 0;
  let typeAt = 12;
  for (;;) {
    if (typeAt + 2 > len) return -1;
    const type = frame.readUInt16BE(typeAt);
    if (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) {
      tags.n++;
      typeAt += 4;
      continue;
    }
    if (type !== ETHERTYPE_IPV4 && type !== ETHERTYPE_IPV6) return -1;
    const ip = typeAt + 2;
    return ip >= ETH_HEADER && ip < len ? ip : -1;
  }
}

export function encodeRecord(ip: Buffer, flags: number): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(ip.length, 0);
  head[4] = flags;
  return Buffer.concat([head, ip]);
}

/** Reads a capture file; throws with the offset when it is damaged. */
export function readCaptureFile(path: string): CapturedPacket[] {
  const data = readFileSync(path);
  if (data.subarray(0, CAPTURE_MAGIC.length).toString('latin1') !== CAPTURE_MAGIC) {
    throw new Error(`${path}: not a capture file (bad magic)`);
  }
  const out: CapturedPacket[] = [];
  let p = CAPTURE_MAGIC.length;
  while (p < data.length) {
    if (p + 5 > data.length) throw new Error(`${path}: record header cut at offset ${p}`);
    const len = data.readUInt32BE(p);
    const flags = data[p + 4]!;
    if (p + 5 + len > data.length) throw new Error(`${path}: record at offset ${p} claims ${len} bytes, file ends first`);
    out.push({ index: out.length, bytes: Buffer.from(data.subarray(p + 5, p + 5 + len)), flags });
    p += 5 + len;
  }
  return out;
}
