// The userspace flow table at its limit, in process, with the Classifier and a real
// CompiledEngine: hundreds of thousands of new flows through a table of a few thousand entries.
// New flows must keep being judged exactly as the policy evaluator says, the table never holds
// more than its capacity, evictions are counted and add up, and when the table is full of
// established (assured) flows a new allowed flow is dropped as "table full" (fail closed, like
// Linux), never accepted untracked, while established flows keep passing.
//
// STRESS_CT_FLOWS overrides the number of new flows of the churn phase.

import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ClusterState } from '../../src/cluster/state.ts';
import type { Protocol } from '../../src/cluster/model.ts';
import { Classifier, ACCEPT, DROP, REASON } from '../../src/dataplane/classifier.ts';
import { Conntrack } from '../../src/dataplane/conntrack.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { PROTO, TCPF, packet, replyPacket } from '../../support/packets.ts';
import { bindRow, envInt, round, MB } from './support/results.ts';

const FLOWS = envInt('STRESS_CT_FLOWS', 400_000);
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const NODE = 'node-1';
const IP = { a: '10.9.0.2', b: '10.9.0.3', c: '10.9.0.4', d: '10.9.0.5', out: '10.200.0.9' } as const;

/** b admits TCP/UDP 80 from role=client only; d is egress-isolated (may talk to b:80 only). */
function cluster(): ClusterState {
  const s = new ClusterState();
  s.batch(() => {
    s.upsertNamespace({ name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' } });
    s.upsertNode({ name: NODE, addresses: ['192.168.50.1'] });
    const pod = (name: string, ip: string, labels: Record<string, string>) => s.upsertPod({
      namespace: 'x', name, labels, nodeName: NODE, hostNetwork: false, phase: 'Running', ips: [ip],
      ports: [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 80, protocol: 'UDP' }],
    });
    pod('a', IP.a, { role: 'client' });
    pod('b', IP.b, { role: 'server' });
    pod('c', IP.c, { role: 'other' });
    pod('d', IP.d, { role: 'client' });
    const sel = (l: Record<string, string>) => ({ matchLabels: l, matchExpressions: [] });
    s.upsertPolicy({
      namespace: 'x', name: 'b-in', podSelector: sel({ role: 'server' }), policyTypes: { ingress: true, egress: false },
      ingress: [{ peers: [{ podSelector: sel({ role: 'client' }) }], ports: [{ protocol: 'TCP', port: 80 }, { protocol: 'UDP', port: 80 }] }],
      egress: [],
    });
    s.upsertPolicy({
      namespace: 'x', name: 'd-out', podSelector: sel({ role: 'client', name: 'd' }), policyTypes: { ingress: false, egress: true },
      egress: [{ peers: [{ podSelector: sel({ role: 'server' }) }], ports: [{ protocol: 'TCP', port: 80 }] }],
      ingress: [],
    });
  });
  return s;
}

interface Template {
  readonly buf: Buffer;
  readonly reply: Buffer;
  readonly ack: Buffer;
  readonly allowed: boolean;
  readonly what: string;
}

/** Packet templates for every (src, dst, proto, dport) combination, with the evaluator's verdict. */
function templates(state: ClusterState): Template[] {
  const out: Template[] = [];
  const srcs = [IP.a, IP.c, IP.d, IP.out];
  const dsts = [IP.b, IP.c, IP.d];
  for (const src of srcs) {
    for (const dst of dsts) {
      if (src === dst) continue;
      for (const [proto, name] of [[PROTO.TCP, 'TCP'], [PROTO.UDP, 'UDP']] as const) {
        for (const dport of [80, 81, 8080]) {
          const allowed = evaluate(state, { src, dst, protocol: name as Protocol, port: dport }, { localNode: NODE }).allowed;
          out.push({
            buf: packet(src, dst, proto, 1000, dport),
            reply: replyPacket(src, dst, proto, 1000, dport),
            ack: packet(src, dst, proto, 1000, dport, TCPF.ACK),
            allowed,
            what: `${name} ${src} -> ${dst}:${dport}`,
          });
        }
      }
    }
  }
  return out;
}

/** Sets the source port (IPv4, no options: L4 at 20) of a packet and the destination port of its reply. */
function setPort(p: Buffer, at: 'src' | 'dst', port: number): void {
  const o = at === 'src' ? 20 : 22;
  p[o] = port >> 8;
  p[o + 1] = port & 255;
}

t.test('flow table at its limit', async (t) => {
  const state = cluster();
  const engine = new CompiledEngine(state, { localNode: NODE });
  const tpl = templates(state);
  t.ok(tpl.some((x) => x.allowed) && tpl.some((x) => !x.allowed), 'the mix holds allowed and denied flows');

  await t.test(`churn: ${FLOWS} new flows through a 4096-entry table`, async (t) => {
    const r = bindRow(t, 'load', 'flow table churn (userspace conntrack)', 'conntrack-limit.stress.ts');
    const CAP = 4096;
    const ct = new Conntrack({ capacity: CAP, seed: 11 });
    const cls = new Classifier(engine.snapshot(), { conntrack: ct });
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    let wrong = 0, overCap = 0, tableFull = 0, accepted = 0, denied = 0;
    let firstWrong = '';
    const t0 = performance.now();
    for (let i = 0; i < FLOWS; i++) {
      const x = tpl[i % tpl.length]!;
      // Every flow is new: source port and a time that moves on, so old flows age but do not expire.
      const sport = 1024 + ((i / tpl.length) | 0) % 64000;
      setPort(x.buf, 'src', sport);
      const now = i;
      const v = cls.classify(x.buf, 0, x.buf.length, now);
      if (cls.lastReason === REASON.TABLE_FULL) tableFull++;
      else if ((v === ACCEPT) !== x.allowed || (cls.lastReason !== REASON.POLICY_ALLOW && cls.lastReason !== REASON.POLICY_DENY)) {
        if (wrong++ === 0) firstWrong = `flow ${i}: ${x.what} sport ${sport}: verdict ${v} reason ${cls.lastReason}, evaluator says ${x.allowed ? 'allow' : 'deny'}`;
      }
      if (v === ACCEPT) accepted++;
      else denied++;
      if (ct.entries > CAP) overCap++;
      // Every 7th accepted flow answers (UDP reply / SYN+ACK): those become assured, not evictable.
      if (v === ACCEPT && i % 7 === 0) {
        setPort(x.reply, 'dst', sport);
        cls.classify(x.reply, 0, x.reply.length, now);
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    gc();
    const growth = process.memoryUsage().heapUsed - heapBefore;
    Object.assign(r.figures, {
      'new flows': FLOWS,
      capacity: CAP,
      'flows/s': round(FLOWS / seconds),
      'max entries': ct.entries,
      evictions: ct.evictions,
      'table-full drops': tableFull,
      accepted,
      denied,
      'misjudged': wrong,
      'heap growth KB': round(growth / 1024),
    });
    r.tried = { n: FLOWS, what: 'new flows' };
    r.wrong = wrong + overCap;
    t.equal(wrong, 0, `every new flow judged as the evaluator says${firstWrong ? ` (first: ${firstWrong})` : ''}`);
    t.equal(overCap, 0, 'the table never held more than its capacity');
    t.ok(ct.entries <= CAP, `entries ${ct.entries} <= ${CAP}`);
    t.ok(ct.evictions > 0, `evictions counted (${ct.evictions})`);
    t.equal(ct.inserts - ct.evictions - ct.expirations - ct.entries, 0, 'inserts = live + evicted + expired (nothing unaccounted)');
    t.equal(cls.verdictCounts[0]! + cls.verdictCounts[1]!, cls.reasonCounts.reduce((a, b) => a + b, 0), 'every packet counted with a reason');
    t.ok(growth < 2 * MB, `no heap growth (${round(growth / 1024)} KB)`);
  });

  await t.test('table full of established flows: new allowed flows are dropped, not passed untracked', async (t) => {
    const r = bindRow(t, 'load', 'flow table full of assured flows', 'conntrack-limit.stress.ts');
    const CAP = 2048;
    const ct = new Conntrack({ capacity: CAP, seed: 12 });
    const cls = new Classifier(engine.snapshot(), { conntrack: ct });
    const tcpAllowed = tpl.filter((x) => x.allowed && x.buf[9] === PROTO.TCP);
    // Fill the table with complete handshakes (SYN, SYN+ACK, ACK): assured flows are never evicted.
    let n = 0, sport = 2000;
    while (ct.entries < CAP) {
      const x = tcpAllowed[n++ % tcpAllowed.length]!;
      sport++;
      setPort(x.buf, 'src', sport); setPort(x.reply, 'dst', sport); setPort(x.ack, 'src', sport);
      cls.classify(x.buf, 0, x.buf.length, 1000);
      cls.classify(x.reply, 0, x.reply.length, 1000);
      cls.classify(x.ack, 0, x.ack.length, 1000);
    }
    const established = { x: tcpAllowed[0]!, sport: 2001 };
    let wrongDeny = 0, wrongAllow = 0, full = 0, estOk = 0;
    const N = 50_000;
    for (let i = 0; i < N; i++) {
      const x = tpl[i % tpl.length]!;
      setPort(x.buf, 'src', 40000 + (i % 20000));
      const v = cls.classify(x.buf, 0, x.buf.length, 2000 + i);
      if (!x.allowed && v !== DROP) wrongAllow++;
      if (x.allowed) {
        // Accepted when the clock hand found an evictable (unanswered) entry; else table-full.
        if (cls.lastReason === REASON.TABLE_FULL) full++;
        else if (v !== ACCEPT) wrongDeny++;
      }
      if ((i & 1023) === 0) {
        const e = established.x;
        setPort(e.ack, 'src', established.sport);
        if (cls.classify(e.ack, 0, e.ack.length, 2000 + i) === ACCEPT && cls.lastReason === REASON.ESTABLISHED) estOk++;
      }
    }
    // Once the established flows time out (a day idle), new flows are accepted again.
    const later = 2000 + N + ct.timeouts.tcpEstablished + 1;
    const x = tcpAllowed[1]!;
    setPort(x.buf, 'src', 65000);
    const after = cls.classify(x.buf, 0, x.buf.length, later);
    Object.assign(r.figures, {
      capacity: CAP,
      'assured flows': CAP,
      'new flows tried': N,
      'table-full drops': full,
      'fullDrops counter': ct.fullDrops,
      'denied passed': wrongAllow,
      'established kept': `${estOk}/${Math.ceil(N / 1024)}`,
      'accepted after expiry': after === ACCEPT ? 'yes' : 'no',
    });
    r.tried = { n: N, what: 'new flows into a full table' };
    r.wrong = wrongAllow + wrongDeny;
    t.equal(wrongAllow, 0, 'no denied flow passed');
    t.ok(full > 0, `allowed new flows were dropped as table-full (${full})`);
    t.equal(ct.fullDrops, full, 'each table-full drop counted by the table');
    t.equal(wrongDeny, 0, 'allowed flows were never dropped for another reason');
    t.ok(ct.entries <= CAP, 'never past capacity');
    t.equal(estOk, Math.ceil(N / 1024), 'established flows kept passing');
    t.equal(after, ACCEPT, 'after the established flows expired, a new allowed flow is accepted');
    t.equal(cls.reasonCounts[REASON.INVALID], 0, 'no packet of the test was malformed');
  });
});
