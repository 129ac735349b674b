// Sends hand-built packets with any source address from inside a namespace: TCP SYN, UDP or
// ICMP echo, IPv4 or IPv6, on the raw-socket addon. Run with `ip netns exec`.
//
//   node --import tsx test/support/spoof-send-main.ts --src IP[,IP...]|random --dst IP
//        --proto tcp|udp|icmp[,...] [--port N] [--count N] [--pps N]
//
// Sends `count` packets for every (source, protocol) pair, sources in the order given.
//
// Why these sockets: IPv4 uses a raw socket of protocol IPPROTO_RAW (255), which implies
// IP_HDRINCL, so the header we write (our source) goes out as is. IPv6 has no IP_HDRINCL option in
// the raw-socket addon's API, but Linux (since 4.5) gives an AF_INET6 raw socket of protocol
// IPPROTO_RAW the same meaning (IPV6_HDRINCL implied): the whole IPv6 header is ours and the
// kernel only routes by its destination. So no AF_PACKET socket (which would need the
// neighbour's MAC address) is needed. `--src random` forges a fresh source per packet (a flood
// of many sources, in the pod's /8 or /16 for IPv4 and fd00::/8 for IPv6).
//
// Exit 0 after sending, 2 on bad usage, 3 when the socket cannot be opened.

import { createRequire } from 'node:module';
import { isIPv4, isIPv6 } from 'node:net';

interface RawSocket {
  on(ev: 'error', cb: (err: Error) => void): void;
  send(buf: Buffer, off: number, len: number, addr: string, before: (() => void) | null, after: (err?: Error) => void): void;
  close(): void;
}
interface RawModule {
  createSocket(o: { addressFamily: number; protocol: number }): RawSocket;
  AddressFamily: { IPv4: number; IPv6: number };
}

function usage(msg: string): never {
  process.stderr.write(`spoof-send: ${msg}\n`);
  process.exit(2);
}

const opts: Record<string, string> = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const k = argv[i]!;
  if (!k.startsWith('--') || argv[i + 1] === undefined) usage(`bad argument ${k}`);
  opts[k.slice(2)] = argv[i + 1]!;
}
const dst = opts.dst ?? usage('--dst is required');
const v6 = isIPv6(dst);
if (!v6 && !isIPv4(dst)) usage(`--dst ${dst}: not an IP address`);
const srcs = (opts.src ?? usage('--src is required')).split(',');
for (const s of srcs) if (s !== 'random' && (v6 ? !isIPv6(s) : !isIPv4(s))) usage(`--src ${s}: not an IPv${v6 ? 6 : 4} address`);
const protos = (opts.proto ?? 'udp').split(',');
for (const p of protos) if (!['tcp', 'udp', 'icmp'].includes(p)) usage(`--proto ${p}: tcp, udp or icmp`);
let proto = protos[0]!;
const port = Number(opts.port ?? '7000');
const count = Number(opts.count ?? '1');
const pps = Number(opts.pps ?? '0');

function v4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}
function v6Bytes(ip: string): Buffer {
  const [head, tail] = ip.includes('::') ? ip.split('::') as [string, string] : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return b;
}

function sum16(buf: Buffer, acc = 0): number {
  for (let i = 0; i + 1 < buf.length; i += 2) acc += buf.readUInt16BE(i);
  if (buf.length % 2) acc += buf[buf.length - 1]! << 8;
  return acc;
}
function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

const PROTO_NUM = { tcp: 6, udp: 17, icmp: v6 ? 58 : 1 } as const;

/** Transport header + payload, checksum over the pseudo-header of src/dst. */
function transport(src: Buffer, dstB: Buffer, sport: number): Buffer {
  const payload = Buffer.from('palisade-spoof');
  let l4: Buffer;
  let csumAt: number;
  if (proto === 'tcp') {
    l4 = Buffer.alloc(20);
    l4.writeUInt16BE(sport, 0);
    l4.writeUInt16BE(port, 2);
    l4.writeUInt32BE(0x01020304, 4);
    l4[12] = 5 << 4;
    l4[13] = 0x02; // SYN
    l4.writeUInt16BE(64240, 14);
    csumAt = 16;
  } else if (proto === 'udp') {
    l4 = Buffer.concat([Buffer.alloc(8), payload]);
    l4.writeUInt16BE(sport, 0);
    l4.writeUInt16BE(port, 2);
    l4.writeUInt16BE(l4.length, 4);
    csumAt = 6;
  } else {
    l4 = Buffer.concat([Buffer.alloc(8), payload]);
    l4[0] = v6 ? 128 : 8; // echo request
    l4.writeUInt16BE(sport, 4);
    l4.writeUInt16BE(1, 6);
    csumAt = 2;
  }
  const n = PROTO_NUM[proto as keyof typeof PROTO_NUM];
  // ICMPv4 has no pseudo-header; everything else does.
  let acc = proto === 'icmp' && !v6 ? 0 : sum16(src) + sum16(dstB) + n + l4.length;
  acc = sum16(l4, acc);
  let c = fold(acc);
  if (proto === 'udp' && c === 0) c = 0xffff;
  l4.writeUInt16BE(c, csumAt);
  return l4;
}

function packet(src: string, sport: number): Buffer {
  const n = PROTO_NUM[proto as keyof typeof PROTO_NUM];
  if (!v6) {
    const s = v4Bytes(src);
    const d = v4Bytes(dst);
    const l4 = transport(s, d, sport);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + l4.length, 2);
    ip.writeUInt16BE(sport, 4);
    ip[8] = 64;
    ip[9] = n;
    s.copy(ip, 12);
    d.copy(ip, 16);
    ip.writeUInt16BE(fold(sum16(ip)), 10);
    return Buffer.concat([ip, l4]);
  }
  const s = v6Bytes(src);
  const d = v6Bytes(dst);
  const l4 = transport(s, d, sport);
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(l4.length, 4);
  ip[6] = n;
  ip[7] = 64;
  s.copy(ip, 8);
  d.copy(ip, 24);
  return Buffer.concat([ip, l4]);
}

let seed = 0x9e3779b9 ^ process.pid;
function rnd(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}
function randomSource(): string {
  const r = rnd();
  if (!v6) return `10.${(r >>> 16) & 0xff}.${(r >>> 8) & 0xff}.${(r & 0xfe) + 1}`;
  return `fd00:${(r >>> 16).toString(16)}::${(r & 0xffff).toString(16) || '1'}`;
}

const raw = createRequire(import.meta.url)('raw-socket') as RawModule;
let sock: RawSocket;
try {
  sock = raw.createSocket({ addressFamily: v6 ? raw.AddressFamily.IPv6 : raw.AddressFamily.IPv4, protocol: 255 });
} catch (e) {
  process.stderr.write(`spoof-send: cannot open a raw socket: ${(e as Error).message}\n`);
  process.exit(3);
}
sock.on('error', (e) => {
  process.stderr.write(`spoof-send: ${e.message}\n`);
  process.exit(3);
});

let sent = 0;
let failed = 0;
const send = (src: string, i: number) => new Promise<void>((resolve) => {
  const p = packet(src === 'random' ? randomSource() : src, 20000 + (i % 40000));
  sock.send(p, 0, p.length, dst, null, (err) => {
    if (err) failed++;
    else sent++;
    resolve();
  });
});

const t0 = Date.now();
let n = 0;
for (const s of srcs) {
  for (const p of protos) {
    proto = p;
    for (let i = 0; i < count; i++) {
      await send(s, n++);
      if (pps > 0) {
        const wait = t0 + (n * 1000) / pps - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
  }
}
sock.close();
process.stdout.write(JSON.stringify({ sent, failed }) + '\n');
