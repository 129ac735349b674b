// DNS answer latency client for `bench/e2e.ts --dns` (run inside a pod namespace):
//   node --import tsx bench/e2e/dns-client.ts SERVER NAME COUNT
// sends COUNT A queries for NAME to SERVER:53, one at a time from ONE socket (one conntrack
// flow: after the first query, nothing of the query path is judged, so what differs between the
// bench's variants is the answer's path), and prints {"answered", "lost", "p50Us", "p90Us",
// "p99Us", "maxUs"} (round-trip times). A query with no answer within 1 s counts as lost.

import { createSocket } from 'node:dgram';

const [server, name, countText] = process.argv.slice(2);
const count = Number(countText);
if (!server || !name || !Number.isInteger(count) || count < 1) {
  process.stderr.write('usage: dns-client.ts SERVER NAME COUNT\n');
  process.exit(2);
}

function query(id: number): Buffer {
  const parts = [Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of name!.split('.')) parts.push(Buffer.from([l.length]), Buffer.from(l, 'latin1'));
  parts.push(Buffer.from([0, 0, 1, 0, 1]));
  return Buffer.concat(parts);
}

const sock = createSocket(server.includes(':') ? 'udp6' : 'udp4');
const rtts: number[] = [];
let lost = 0;
let waiting: { id: number; sent: bigint; done: () => void; timer: NodeJS.Timeout } | undefined;
sock.on('message', (m) => {
  const w = waiting;
  if (!w || m.length < 2 || m.readUInt16BE(0) !== w.id) return;
  rtts.push(Number(process.hrtime.bigint() - w.sent) / 1000);
  clearTimeout(w.timer);
  waiting = undefined;
  w.done();
});
for (let i = 0; i < count; i++) {
  const id = (i * 7919 + 1) & 0xffff;
  await new Promise<void>((done) => {
    const timer = setTimeout(() => { lost++; waiting = undefined; done(); }, 1000);
    waiting = { id, sent: process.hrtime.bigint(), done, timer };
    sock.send(query(id), 53, server);
  });
}
sock.close();
rtts.sort((a, b) => a - b);
const q = (p: number) => (rtts.length ? Math.round(rtts[Math.min(rtts.length - 1, Math.floor((p / 100) * rtts.length))]! * 10) / 10 : NaN);
process.stdout.write(JSON.stringify({ answered: rtts.length, lost, p50Us: q(50), p90Us: q(90), p99Us: q(99), maxUs: q(100) }) + '\n');
