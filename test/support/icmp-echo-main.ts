// One ICMP / ICMPv6 echo request with a chosen identifier, and a wait for its reply: `ping`
// for tests, on the raw-socket addon the project already builds (iputils ping is not a
// dependency). Run it inside a namespace with `ip netns exec`.
//
//   node --import tsx test/support/icmp-echo-main.ts --dst IP --id N [--size BYTES] [--timeout MS]
//
// Exit 0 when the matching echo reply arrived, 1 on timeout, 2 on bad usage, 3 when the raw
// socket cannot be opened. A request larger than the path MTU is fragmented by the kernel
// (raw sockets without IP_HDRINCL go through ip_append_data / ip6_append_data, like ping's).

import { createRequire } from 'node:module';
import { isIPv4, isIPv6 } from 'node:net';

interface RawSocket {
  on(ev: 'message', cb: (buf: Buffer, addr: string) => void): void;
  on(ev: 'error', cb: (err: Error) => void): void;
  send(buf: Buffer, off: number, len: number, addr: string, before: (() => void) | null, after: (err?: Error) => void): void;
  close(): void;
}
interface RawModule {
  createSocket(o: { addressFamily: number; protocol: number }): RawSocket;
  AddressFamily: { IPv4: number; IPv6: number };
}

function usage(msg: string): never {
  process.stderr.write(`icmp-echo: ${msg}\nusage: icmp-echo-main.ts --dst IP --id N [--size BYTES] [--timeout MS]\n`);
  process.exit(2);
}

const opts: Record<string, string> = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  if (!argv[i]!.startsWith('--') || i + 1 >= argv.length) usage(`bad argument ${JSON.stringify(argv[i])}`);
  opts[argv[i]!.slice(2)] = argv[i + 1]!;
}
const dst = opts.dst ?? usage('--dst is required');
const v6 = isIPv6(dst);
if (!v6 && !isIPv4(dst)) usage(`--dst ${dst} is not an IP address`);
const id = Number(opts.id);
const size = opts.size === undefined ? 32 : Number(opts.size);
const timeoutMs = opts.timeout === undefined ? 2000 : Number(opts.timeout);
if (!Number.isInteger(id) || id < 0 || id > 0xffff) usage(`--id must be 0..65535, got ${opts.id}`);
if (!Number.isInteger(size) || size < 0 || size > 60000) usage(`--size must be 0..60000, got ${opts.size}`);

const raw = createRequire(import.meta.url)('raw-socket') as RawModule;
let sock: RawSocket;
try {
  sock = raw.createSocket({ addressFamily: v6 ? raw.AddressFamily.IPv6 : raw.AddressFamily.IPv4, protocol: v6 ? 58 : 1 });
} catch (err) {
  process.stderr.write(`icmp-echo: cannot open a raw socket: ${(err as Error).message}\n`);
  process.exit(3);
}

// Echo request (RFC 792 / RFC 4443 4.1): type, code 0, checksum, identifier, sequence, data.
const msg = Buffer.alloc(8 + size);
msg[0] = v6 ? 128 : 8;
msg.writeUInt16BE(id, 4);
msg.writeUInt16BE(1, 6);
for (let i = 0; i < size; i++) msg[8 + i] = i & 0xff;
if (!v6) {
  // ICMPv4 has no pseudo header; the kernel leaves the checksum of a raw ICMP socket to us.
  // (For ICMPv6 raw sockets the kernel always fills it in, RFC 3542 3.1.)
  let sum = 0;
  for (let i = 0; i + 1 < msg.length; i += 2) sum += msg.readUInt16BE(i);
  if (msg.length & 1) sum += msg[msg.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  msg.writeUInt16BE(~sum & 0xffff, 2);
}

const timer = setTimeout(() => {
  process.stderr.write(`icmp-echo: no reply from ${dst} (id ${id}) within ${timeoutMs} ms\n`);
  sock.close();
  process.exit(1);
}, timeoutMs);

sock.on('error', (err) => {
  process.stderr.write(`icmp-echo: ${err.message}\n`);
  process.exit(1);
});
sock.on('message', (buf, addr) => {
  // IPv4 raw sockets deliver the IP header too; IPv6 raw sockets deliver only the ICMPv6 message.
  const at = v6 ? 0 : (buf[0]! & 0x0f) << 2;
  if (buf.length < at + 8) return;
  const replyType = v6 ? 129 : 0;
  if (buf[at] === replyType && buf.readUInt16BE(at + 4) === id && buf.length - at === msg.length) {
    clearTimeout(timer);
    process.stdout.write(`reply from ${addr} id ${id} bytes ${buf.length - at}\n`);
    sock.close();
    process.exit(0);
  }
});
sock.send(msg, 0, msg.length, dst, null, (err) => {
  if (err) {
    process.stderr.write(`icmp-echo: send to ${dst} failed: ${err.message}\n`);
    process.exit(1);
  }
});
