// SCTP request/answer for the lab, without the kernel's SCTP stack.
//
// This kernel is built without CONFIG_IP_SCTP (socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) fails
// with EPROTONOSUPPORT), but netfilter still tracks SCTP (CONFIG_NF_CT_PROTO_SCTP) and iptables
// still queues it. So the lab speaks just enough SCTP over raw IP sockets: the client sends an
// INIT chunk, the server answers with INIT-ACK, and the client closes the association attempt
// with ABORT. That is a real SCTP handshake start on the wire, judged by Palisade like any other
// new connection, and its answer is a reply in conntrack's eyes.
//
// While a raw socket for protocol 132 is open, the kernel hands it inbound SCTP packets and
// does not answer them with ICMP "protocol unreachable" (ip_local_deliver_finish delivers to raw
// sockets first), so a responder process is all a pod namespace needs. It also plays the part
// of the kernel's SCTP stack for ports nobody serves: an INIT to one gets an ABORT (RFC 9260
// 8.4, "out of the blue"), as a TCP SYN to a closed port gets a RST, so a probe can tell "the
// packets flowed, nobody listens" from a drop.

import { createRequire } from 'node:module';
import { randomInt } from 'node:crypto';

const require = createRequire(import.meta.url);

interface RawSocket {
  on(ev: 'message', cb: (buf: Buffer, addr: string) => void): void;
  on(ev: 'error', cb: (err: Error) => void): void;
  send(buf: Buffer, off: number, len: number, addr: string, before: (() => void) | null, after: (err?: Error) => void): void;
  close(): void;
}
interface RawModule {
  createSocket(o: { addressFamily: number; protocol: number; bufferSize?: number }): RawSocket;
  AddressFamily: { IPv4: number; IPv6: number };
}
const raw = require('raw-socket') as RawModule;

const IPPROTO_SCTP = 132;
const CHUNK_INIT = 1;
const CHUNK_INIT_ACK = 2;
const CHUNK_ABORT = 6;

// CRC32c (Castagnoli), reflected polynomial 0x82F63B78, as RFC 9260 appendix A requires for
// the SCTP checksum. Conntrack verifies it on packets entering through PRE_ROUTING.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(buf: Buffer, off = 0, len = buf.length - off): number {
  let c = 0xffffffff;
  for (let i = off; i < off + len; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function finish(pkt: Buffer): Buffer {
  pkt.writeUInt32BE(0, 8);
  // RFC 9260 6.8: the CRC32c result is placed in the checksum field in little-endian order
  // relative to the way the computation is defined (i.e. written as a little-endian uint32).
  pkt.writeUInt32LE(crc32c(pkt), 8);
  return pkt;
}

function header(srcPort: number, dstPort: number, vtag: number, bodyLen: number): Buffer {
  const pkt = Buffer.alloc(12 + bodyLen);
  pkt.writeUInt16BE(srcPort, 0);
  pkt.writeUInt16BE(dstPort, 2);
  pkt.writeUInt32BE(vtag >>> 0, 4);
  return pkt;
}

/** INIT: verification tag 0 (RFC 9260 8.5.1), our initiate tag, one stream each way. */
export function buildInit(srcPort: number, dstPort: number, initiateTag: number): Buffer {
  const pkt = header(srcPort, dstPort, 0, 20);
  pkt.writeUInt8(CHUNK_INIT, 12);
  pkt.writeUInt16BE(20, 14);
  pkt.writeUInt32BE(initiateTag >>> 0, 16);
  pkt.writeUInt32BE(65536, 20); // a_rwnd
  pkt.writeUInt16BE(1, 24); // outbound streams
  pkt.writeUInt16BE(1, 26); // inbound streams
  pkt.writeUInt32BE(initiateTag >>> 0, 28); // initial TSN
  return finish(pkt);
}

/** INIT-ACK carrying the mandatory State Cookie parameter (type 7), tagged with the peer's initiate tag. */
export function buildInitAck(srcPort: number, dstPort: number, peerTag: number, ourTag: number): Buffer {
  const pkt = header(srcPort, dstPort, peerTag, 20 + 8);
  pkt.writeUInt8(CHUNK_INIT_ACK, 12);
  pkt.writeUInt16BE(28, 14);
  pkt.writeUInt32BE(ourTag >>> 0, 16);
  pkt.writeUInt32BE(65536, 20);
  pkt.writeUInt16BE(1, 24);
  pkt.writeUInt16BE(1, 26);
  pkt.writeUInt32BE(ourTag >>> 0, 28);
  pkt.writeUInt16BE(7, 32); // State Cookie
  pkt.writeUInt16BE(8, 34);
  pkt.writeUInt32BE(ourTag >>> 0, 36);
  return finish(pkt);
}

export function buildAbort(srcPort: number, dstPort: number, peerTag: number): Buffer {
  const pkt = header(srcPort, dstPort, peerTag, 4);
  pkt.writeUInt8(CHUNK_ABORT, 12);
  pkt.writeUInt16BE(4, 14);
  return finish(pkt);
}

interface SctpView {
  srcPort: number;
  dstPort: number;
  vtag: number;
  chunk: number;
  initiateTag: number;
}

/** Finds the SCTP header in what a raw socket delivered (IPv4 sockets include the IP header, IPv6 ones do not). */
function view(buf: Buffer, v6: boolean): SctpView | undefined {
  let off = 0;
  if (!v6) {
    if (buf.length < 20 || buf[0]! >> 4 !== 4) return undefined;
    off = (buf[0]! & 0x0f) * 4;
  }
  if (buf.length < off + 16) return undefined;
  const chunk = buf[off + 12]!;
  return {
    srcPort: buf.readUInt16BE(off),
    dstPort: buf.readUInt16BE(off + 2),
    vtag: buf.readUInt32BE(off + 4),
    chunk,
    initiateTag: buf.length >= off + 20 ? buf.readUInt32BE(off + 16) : 0,
  };
}

function open(v6: boolean): RawSocket {
  return raw.createSocket({
    addressFamily: v6 ? raw.AddressFamily.IPv6 : raw.AddressFamily.IPv4,
    protocol: IPPROTO_SCTP,
    bufferSize: 65536,
  });
}

/**
 * Answers INIT on the given ports with INIT-ACK and INIT on any other port with ABORT, in both
 * families, until closed.
 */
export function startSctpResponder(ports: ReadonlySet<number>, onError: (e: Error) => void = () => {}): { close(): void } {
  const socks: RawSocket[] = [];
  for (const v6 of [false, true]) {
    let s: RawSocket;
    try {
      s = open(v6);
    } catch (e) {
      onError(e as Error);
      continue;
    }
    s.on('error', onError);
    s.on('message', (buf, addr) => {
      const p = view(buf, v6);
      if (!p || p.chunk !== CHUNK_INIT || p.vtag !== 0) return;
      // The ABORT answering an INIT carries the INIT's initiate tag, T bit clear (RFC 9260 8.4).
      const reply = ports.has(p.dstPort)
        ? buildInitAck(p.dstPort, p.srcPort, p.initiateTag, randomInt(1, 0xffffffff))
        : buildAbort(p.dstPort, p.srcPort, p.initiateTag);
      s.send(reply, 0, reply.length, addr, null, (err) => err && onError(err));
    });
    socks.push(s);
  }
  return { close: () => socks.forEach((s) => s.close()) };
}

export type SctpOutcome = 'answered' | 'refused' | 'timeout' | 'error';

/**
 * Sends INIT to addr:port and resolves 'answered' when the matching INIT-ACK arrives within
 * timeoutMs, 'refused' when an ABORT answers it (nobody serves the port), 'timeout' when
 * nothing does. Sends ABORT after an INIT-ACK so conntrack can forget the attempt.
 */
export function sctpExchange(addr: string, port: number, timeoutMs: number): Promise<SctpOutcome> {
  const v6 = addr.includes(':');
  const s = open(v6);
  const srcPort = randomInt(20000, 60000);
  const tag = randomInt(1, 0xffffffff);
  return new Promise<SctpOutcome>((resolve) => {
    let done = false;
    const end = (o: SctpOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // Give the ABORT a moment to leave before the socket goes away.
      setTimeout(() => s.close(), 20);
      resolve(o);
    };
    const timer = setTimeout(() => end('timeout'), timeoutMs);
    s.on('error', () => end('error'));
    s.on('message', (buf, from) => {
      const p = view(buf, v6);
      if (!p || from !== addr || p.vtag !== tag || p.srcPort !== port || p.dstPort !== srcPort) return;
      if (p.chunk === CHUNK_ABORT) return end('refused');
      if (p.chunk !== CHUNK_INIT_ACK) return;
      const abort = buildAbort(srcPort, port, p.initiateTag);
      s.send(abort, 0, abort.length, addr, null, () => {});
      end('answered');
    });
    const init = buildInit(srcPort, port, tag);
    s.send(init, 0, init.length, addr, null, (err) => err && end('error'));
  });
}

/** sctpExchange reduced to "did the INIT-ACK come back". */
export async function sctpProbe(addr: string, port: number, timeoutMs: number): Promise<boolean> {
  return (await sctpExchange(addr, port, timeoutMs)) === 'answered';
}
