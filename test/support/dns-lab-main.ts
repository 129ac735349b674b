// A DNS server and client for the lab tests of egress to domain names (issue 16).
//   node --import tsx test/support/dns-lab-main.ts server BIND_IP ZONE_JSON [tcp-chunks]
//     answers UDP and TCP port 53 on BIND_IP from ZONE_JSON: {"name": [{"type": "A"|"AAAA"|"CNAME",
//     "data": "...", "ttl": N}]}; a CNAME is followed inside the zone; unknown names get NXDOMAIN.
//     With tcp-chunks each TCP answer is written in three pieces (the first inside the length
//     prefix), 50 ms apart, so it reaches the client over several segments.
//   node --import tsx test/support/dns-lab-main.ts query SERVER NAME udp|tcp A|AAAA
//     asks once, prints "answered BYTES" and exits 0, or exits 1 after 2 s without an answer.

import { createSocket } from 'node:dgram';
import { createConnection, createServer } from 'node:net';
import { buildAnswer, type RR } from '../../support/dns-messages.ts';

const [mode, a1, a2, a3, a4] = process.argv.slice(2);

function question(msg: Buffer): { id: number; name: string; qtype: number } {
  const labels: string[] = [];
  let p = 12;
  while (msg[p]! !== 0) { labels.push(msg.toString('latin1', p + 1, p + 1 + msg[p]!)); p += 1 + msg[p]!; }
  return { id: msg.readUInt16BE(0), name: labels.join('.').toLowerCase(), qtype: msg.readUInt16BE(p + 1) };
}

function answerFor(zone: Record<string, RR[]>, msg: Buffer): Buffer {
  const q = question(msg);
  const rr: RR[] = [];
  let name = q.name;
  for (let hops = 0; hops < 8; hops++) {
    const recs = zone[name] ?? [];
    const c = recs.find((r) => r.type === 'CNAME');
    if (c) { rr.push({ ...c, name }); name = String(c.data); continue; }
    for (const r of recs) if ((r.type === 'A' && q.qtype === 1) || (r.type === 'AAAA' && q.qtype === 28)) rr.push({ ...r, name });
    break;
  }
  const known = zone[q.name] !== undefined;
  return buildAnswer(q.name, rr, { id: q.id, compress: true, qtype: q.qtype, flags: known ? 0x8180 : 0x8183 });
}

function query(name: string, qtype: number): Buffer {
  const labels = name.split('.');
  const parts = [Buffer.from([0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of labels) parts.push(Buffer.from([l.length]), Buffer.from(l, 'latin1'));
  parts.push(Buffer.from([0, qtype >> 8, qtype & 255, 0, 1]));
  return Buffer.concat(parts);
}

if (mode === 'server') {
  const zone = JSON.parse(a2!) as Record<string, RR[]>;
  const chunks = a3 === 'tcp-chunks';
  const six = a1!.includes(':');
  const u = createSocket(six ? 'udp6' : 'udp4');
  u.on('message', (m, r) => u.send(answerFor(zone, m), r.port, r.address));
  u.bind(53, a1);
  createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const a = answerFor(zone, buf.subarray(2, 2 + buf.readUInt16BE(0)));
        const framed = Buffer.concat([Buffer.from([a.length >> 8, a.length & 255]), a]);
        if (!chunks) s.end(framed);
        else {
          // Three writes 50 ms apart (no Nagle): one byte of the length prefix, half the
          // message, the rest; each leaves as its own segment.
          s.setNoDelay(true);
          const cuts = [0, 1, Math.floor(framed.length / 2), framed.length];
          const send = (i: number): void => {
            if (i === 2) { s.end(framed.subarray(cuts[i]!)); return; }
            s.write(framed.subarray(cuts[i]!, cuts[i + 1]!));
            setTimeout(() => send(i + 1), 50);
          };
          send(0);
        }
      }
    });
    s.on('error', () => {});
  }).listen(53, a1);
} else if (mode === 'query') {
  const msg = query(a2!, a4 === 'AAAA' ? 28 : 1);
  const done = (n: number) => { process.stdout.write(`answered ${n}\n`); process.exit(0); };
  setTimeout(() => process.exit(1), 2000);
  if (a3 === 'tcp') {
    const s = createConnection({ host: a1!, port: 53 }, () => s.write(Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 255]), msg])));
    let buf = Buffer.alloc(0);
    s.on('data', (d) => { buf = Buffer.concat([buf, d]); if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(buf.length - 2); });
    s.on('error', () => process.exit(1));
  } else {
    const u = createSocket(a1!.includes(':') ? 'udp6' : 'udp4');
    u.on('message', (m) => done(m.length));
    u.send(msg, 53, a1);
  }
} else {
  process.stderr.write('usage: dns-lab-main.ts server BIND_IP ZONE_JSON | query SERVER NAME udp|tcp A|AAAA\n');
  process.exit(2);
}
