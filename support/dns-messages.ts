// Builds DNS response messages for tests (RFC 1035 4.1), optionally with name compression, and a
// slow reference reader used as the fuzz oracle. Written independently of src/dataplane/dns-parser.ts.

export interface RR {
  name: string;
  type: 'A' | 'AAAA' | 'CNAME' | 'TXT' | number;
  ttl?: number;
  /** A: dotted quad; AAAA: 8 hex groups, full form; CNAME: a name; TXT/number: raw bytes. */
  data: string | number[];
  cls?: number;
}

export interface MsgOptions {
  id?: number;
  flags?: number;
  qtype?: number;
  qcount?: number;
  compress?: boolean;
}

const TYPES: Record<string, number> = { A: 1, CNAME: 5, TXT: 16, AAAA: 28 };

export function buildAnswer(question: string, answers: RR[], o: MsgOptions = {}): Buffer {
  const bytes: number[] = [];
  const seen = new Map<string, number>();
  const u16 = (v: number) => bytes.push((v >> 8) & 255, v & 255);
  const u32 = (v: number) => { u16((v >>> 16) & 0xffff); u16(v & 0xffff); };
  const name = (n: string) => {
    const labels = n.replace(/\.$/, '').split('.').filter((l) => l.length > 0);
    for (let i = 0; i < labels.length; i++) {
      const rest = labels.slice(i).join('.').toLowerCase();
      if (o.compress && seen.has(rest)) { u16(0xc000 | seen.get(rest)!); return; }
      if (bytes.length < 0x3fff) seen.set(rest, bytes.length);
      bytes.push(labels[i]!.length, ...Buffer.from(labels[i]!, 'latin1'));
    }
    bytes.push(0);
  };
  u16(o.id ?? 0x1234);
  u16(o.flags ?? 0x8180);
  u16(o.qcount ?? 1);
  u16(answers.length);
  u16(0); u16(0);
  name(question);
  u16(o.qtype ?? 1); u16(1);
  for (const rr of answers) {
    name(rr.name);
    const type = typeof rr.type === 'number' ? rr.type : TYPES[rr.type]!;
    u16(type); u16(rr.cls ?? 1); u32(rr.ttl ?? 300);
    const lenAt = bytes.length;
    u16(0);
    if (rr.type === 'A') bytes.push(...(rr.data as string).split('.').map(Number));
    else if (rr.type === 'AAAA') for (const g of (rr.data as string).split(':')) u16(parseInt(g, 16));
    else if (rr.type === 'CNAME') name(rr.data as string);
    else bytes.push(...(rr.data as number[]));
    const len = bytes.length - lenAt - 2;
    bytes[lenAt] = len >> 8; bytes[lenAt + 1] = len & 255;
  }
  return Buffer.from(bytes);
}
