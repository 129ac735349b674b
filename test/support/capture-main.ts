// Packet capture with the `cap` libpcap binding, as a child process: a process can only capture
// in its own network namespace, so the test starts this under `ip netns exec NS`.
//
//   node --import tsx test/support/capture-main.ts --dev eth0 --filter 'ip or ip6' --out FILE
//        [--count N] [--stop-marker TEXT] [--timeout MS]
//
// Prints "ready <linktype>" on stdout once the device is open and the filter attached (packets
// sent after that line are captured), then captures until N IP packets were seen, a packet
// containing the marker bytes was seen (it is kept), "stop" or EOF arrives on stdin, SIGTERM,
// or the timeout. Then it writes FILE (capture-file.ts) and prints "done <packets> <skipped>".
// Exit codes: 0 done, 2 usage, 3 cap could not be loaded or could not open the device (the
// test skips on 3), 4 a frame with a link type we cannot strip.

import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { CAPTURE_MAGIC, CAPTURE_TRUNCATED, CAPTURE_VLAN, encodeRecord, ipOffsetInEthernet } from './capture-file.ts';

interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): void;
  on(ev: 'packet', cb: (nbytes: number, truncated: boolean) => void): void;
}
interface CapModule {
  Cap: { new (): CapHandle; findDevice(ip?: string): string | undefined };
}

function usage(msg: string): never {
  process.stderr.write(`capture: ${msg}\nusage: capture-main.ts --dev IF --out FILE [--filter BPF] [--count N] [--stop-marker TEXT] [--timeout MS]\n`);
  process.exit(2);
}

const opts: Record<string, string> = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (!a.startsWith('--') || i + 1 >= argv.length) usage(`bad argument ${JSON.stringify(a)}`);
  opts[a.slice(2)] = argv[++i]!;
}
for (const k of Object.keys(opts)) {
  if (!['dev', 'out', 'filter', 'count', 'stop-marker', 'timeout'].includes(k)) usage(`unknown flag --${k}`);
}
const out = opts.out ?? usage('--out is required');
const filter = opts.filter ?? 'ip or ip6';
const count = opts.count === undefined ? Infinity : Number(opts.count);
const timeoutMs = opts.timeout === undefined ? 20_000 : Number(opts.timeout);
if (!(count === Infinity || (Number.isInteger(count) && count > 0))) usage(`--count must be a positive integer, got ${opts.count}`);
if (!(timeoutMs > 0)) usage(`--timeout must be a positive number of ms, got ${opts.timeout}`);
const marker = opts['stop-marker'] !== undefined ? Buffer.from(opts['stop-marker']) : undefined;

// `cap` is CommonJS with a native addon; ESM reaches it through require.
let capMod: CapModule;
try {
  capMod = createRequire(import.meta.url)('cap') as CapModule;
} catch (err) {
  process.stderr.write(`capture: cannot load cap: ${(err as Error).message}\n`);
  process.exit(3);
}
const device = opts.dev ?? capMod.Cap.findDevice();
if (!device) {
  process.stderr.write('capture: no --dev and Cap.findDevice() found no device\n');
  process.exit(3);
}

const cap = new capMod.Cap();
// One frame at a time lands in this buffer (cap copies into it before each 'packet' event).
// 64 KiB + headroom: libpcap's snaplen in cap is 65535 and GSO frames on veth can reach it.
const frame = Buffer.alloc(65536 + 64);
let linkType: string;
try {
  linkType = cap.open(device, filter, 4 * 1024 * 1024, frame);
} catch (err) {
  process.stderr.write(`capture: cannot open ${device}: ${(err as Error).message}\n`);
  process.exit(3);
}
if (linkType !== 'ETHERNET' && linkType !== 'RAW') {
  process.stderr.write(`capture: ${device} has link type ${linkType}; only ETHERNET and RAW are stripped\n`);
  cap.close();
  process.exit(4);
}

const records: Buffer[] = [Buffer.from(CAPTURE_MAGIC, 'latin1')];
let packets = 0;
let skipped = 0;
let stopped = false;
const tags = { n: 0 };

cap.on('packet', (nbytes, truncated) => {
  if (stopped) return;
  let ip = 0;
  let flags = truncated ? CAPTURE_TRUNCATED : 0;
  if (linkType === 'ETHERNET') {
    ip = ipOffsetInEthernet(frame, nbytes, tags);
    if (ip < 0) {
      skipped++;
      return;
    }
    if (tags.n > 0) flags |= CAPTURE_VLAN;
  }
  const bytes = Buffer.from(frame.subarray(ip, nbytes));
  records.push(encodeRecord(bytes, flags));
  packets++;
  if (packets >= count || (marker !== undefined && bytes.includes(marker))) stop();
});

const timer = setTimeout(() => {
  process.stderr.write(`capture: timeout after ${timeoutMs} ms with ${packets} packets\n`);
  stop();
}, timeoutMs);

function stop(): void {
  if (stopped) return;
  stopped = true;
  clearTimeout(timer);
  cap.close();
  writeFileSync(out, Buffer.concat(records));
  process.stdout.write(`done ${packets} ${skipped}\n`, () => process.exit(0));
}

process.on('SIGTERM', stop);
process.stdin.setEncoding('utf8');
let input = '';
process.stdin.on('data', (d: string) => {
  input += d;
  if (input.includes('stop')) stop();
});
process.stdin.on('end', stop);
process.stdout.write(`ready ${linkType}\n`);
