// The observer around the real Classifier and compiled engine: counters, verdict log lines for
// denied new connections only, audit mode letting a denied connection (and its replies) through,
// and audited flows surviving a recompile that denies them.

import t from 'tap';
import { decodeObject, applyDecoded } from '../../src/cluster/decode.ts';
import { buildClusterForCase, loadCases } from '../support/conformance-cases.ts';
import type { Change } from '../../src/cluster/state.ts';
import { ACCEPT, Classifier, DROP } from '../../src/dataplane/classifier.ts';
import { Conntrack } from '../../src/dataplane/conntrack.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { AgentCounters, DIRECTION, PolicyCounters, VERDICT, protoSlot, verdictSlot } from '../../src/agent/metrics.ts';
import { VerdictLog, type LogLine, type VerdictLine } from '../../src/agent/verdict-log.ts';
import { ConnectionObserver, ObservedJudge } from '../../src/agent/observe.ts';
import { packet, replyPacket, PROTO, TCPF } from '../../support/packets.ts';

const DENY_X = {
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'deny-ingress' },
  spec: { podSelector: {}, policyTypes: ['Ingress'] },
};
const ALLOW_Y_TO_XA = {
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'a-from-y' },
  spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] },
};

const TCP = protoSlot(PROTO.TCP);

/** The 9-pod model with policies, the compiled engine, a Classifier with conntrack, observed. */
function setup(policies: unknown[]) {
  const c = loadCases().find((k) => k.file.includes('001-default-deny-ingress'))!;
  const st = buildClusterForCase(c);
  for (const p of policies) applyDecoded(st, decodeObject(p));
  const engine = new CompiledEngine(st);
  const changes: Change[][] = [];
  st.onChange((ch) => changes.push([...ch]));
  const classifier = new Classifier(engine.snapshot(), { conntrack: new Conntrack({ capacity: 1024, seed: 1 }) });
  const lines: LogLine[] = [];
  const observer = new ConnectionObserver({
    counters: new AgentCounters(),
    policies: new PolicyCounters(),
    log: new VerdictLog({ write: (l) => lines.push(JSON.parse(l)), now: () => 0 }),
  });
  observer.bindSnapshot(engine.snapshot(), engine.stats().ruleIds);
  const judge = new ObservedJudge(classifier, observer);
  const send = (pkt: Buffer, now = 1000) => judge.classify(pkt, 0, pkt.length, now);
  return { st, engine, changes, classifier, observer, judge, lines, send };
}


t.test('counts, logs only denied new connections, per-policy counters', async (t) => {
  const { observer, lines, send } = setup([DENY_X, ALLOW_Y_TO_XA]);
  t.equal(send(packet('10.244.2.1', '10.244.1.1', PROTO.TCP, 40000, 80)), ACCEPT, 'y/a -> x/a allowed');
  t.equal(send(replyPacket('10.244.2.1', '10.244.1.1', PROTO.TCP, 40000, 80)), ACCEPT, 'its reply');
  t.equal(send(packet('10.244.3.1', '10.244.1.2', PROTO.TCP, 40001, 80)), DROP, 'z/a -> x/b denied');
  t.equal(send(packet('10.244.3.1', '10.244.1.2', PROTO.TCP, 40001, 80)), DROP, 'retransmitted SYN denied again');

  const c = observer.counters;
  t.equal(c.connections[verdictSlot(VERDICT.ALLOW, DIRECTION.NONE, TCP)], 1);
  t.equal(c.connections[verdictSlot(VERDICT.DENY, DIRECTION.INGRESS, TCP)], 1, 'the retransmitted SYN is the same connection');
  t.equal(c.packets[verdictSlot(VERDICT.DENY, DIRECTION.INGRESS, TCP)], 2, 'but a packet of its own');
  t.equal(observer.repeats, 1);
  t.equal(c.packets[verdictSlot(VERDICT.ALLOW, DIRECTION.NONE, TCP)], 2, 'the reply counted as a packet');
  const pol = observer.policies.read();
  t.same(pol.get('x/a-from-y'), { allow: 1, deny: 0, audit: 0 });
  t.same(pol.get('x/deny-ingress'), { allow: 0, deny: 1, audit: 0 });

  t.equal(lines.length, 1, 'one line per denied new connection (the retransmission is a repeat), none for allowed ones');
  const l = lines[0] as VerdictLine;
  t.same(l.src, { ip: '10.244.3.1', pod: 'z/a' });
  t.same(l.dst, { ip: '10.244.1.2', pod: 'x/b', port: 80 });
  t.equal(l.reason, 'ingress of x/b: denied: isolated by x/deny-ingress, no rule allows');
  t.equal(l.audit, undefined);
});

t.test('allowed connections are logged only when the log asks for them', async (t) => {
  const { observer, send } = setup([DENY_X, ALLOW_Y_TO_XA]);
  const lines: VerdictLine[] = [];
  observer.log = new VerdictLog({ write: (l) => lines.push(JSON.parse(l)), now: () => 0, logAllowed: true });
  t.equal(send(packet('10.244.2.1', '10.244.1.1', PROTO.TCP, 40000, 80)), ACCEPT);
  t.equal(send(replyPacket('10.244.2.1', '10.244.1.1', PROTO.TCP, 40000, 80)), ACCEPT);
  t.equal(lines.length, 1, 'the new connection, not its reply');
  t.equal(lines[0]!.verdict, 'allow');
  t.equal(lines[0]!.reason, 'egress of y/a: allowed: not isolated; ingress of x/a: allowed by x/a-from-y ingress[0]');
});

t.test('audit: a denied connection in an audited namespace passes, replies too, logged as would-deny', async (t) => {
  const { observer, lines, send } = setup([DENY_X]);
  observer.audit = { global: false, namespaces: new Set(['x']) };
  t.equal(send(packet('10.244.3.1', '10.244.1.2', PROTO.TCP, 40001, 80)), ACCEPT);
  t.equal(send(replyPacket('10.244.3.1', '10.244.1.2', PROTO.TCP, 40001, 80)), ACCEPT, 'reply tracked');
  t.equal(send(packet('10.244.3.1', '10.244.1.2', PROTO.TCP, 40001, 80, TCPF.ACK)), ACCEPT, 'rest of the flow');
  t.equal(lines.length, 1);
  t.equal((lines[0] as VerdictLine).audit, true);
  t.equal(observer.counters.connections[verdictSlot(VERDICT.AUDIT, DIRECTION.INGRESS, TCP)], 1);
  t.same(observer.policies.read().get('x/deny-ingress'), { allow: 0, deny: 0, audit: 1 });
  t.equal(observer.audited, 1);

  // Audit of the SOURCE namespace does not open a connection the destination denies.
  observer.audit = { global: false, namespaces: new Set(['z']) };
  t.equal(send(packet('10.244.3.2', '10.244.1.3', PROTO.TCP, 40002, 80)), DROP);
});

t.test('strict recompile: audited flows are kept, others are listed to cut', async (t) => {
  for (const audited of [false, true]) {
    const { st, engine, changes, classifier, observer, lines, send } = setup([]);
    t.equal(send(packet('10.244.3.3', '10.244.1.3', PROTO.TCP, 40003, 80)), ACCEPT, 'open before any policy');
    t.equal(send(replyPacket('10.244.3.3', '10.244.1.3', PROTO.TCP, 40003, 80)), ACCEPT);
    applyDecoded(st, decodeObject(DENY_X));
    const snap = engine.update(changes.flat());
    observer.bindSnapshot(snap, engine.stats().ruleIds);
    classifier.setSnapshot(snap);
    if (audited) observer.audit = { global: false, namespaces: new Set(['x']) };
    t.equal(classifier.rejudge(2000), 1, 'the new policy denies the open flow');
    const left = observer.reviewDeniedFlows(classifier, 2000);
    t.equal(left, audited ? 0 : 1, audited ? 'audited flow kept' : 'flow left to cut');
    t.equal(send(packet('10.244.3.3', '10.244.1.3', PROTO.TCP, 40003, 80, TCPF.ACK), 2001), audited ? ACCEPT : DROP);
    if (audited) t.equal((lines[lines.length - 1] as VerdictLine).audit, true);
  }
});

t.test('a connection both sides deny: the egress side denies it; audit of that side meets the ingress side', async (t) => {
  // z/a -> x/b: z's pods are isolated for egress, x's for ingress, and no rule lets it through.
  const DENY_Z_EGRESS = {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'z', name: 'deny-egress' },
    spec: { podSelector: {}, policyTypes: ['Egress'] },
  };
  const conn = (sport: number) => packet('10.244.3.1', '10.244.1.2', PROTO.TCP, sport, 80);
  const { observer, lines, send } = setup([DENY_X, DENY_Z_EGRESS]);
  const c = observer.counters;

  // Enforced: the classifier stops at the egress denial, as the packet would stop at z/a's node.
  t.equal(send(conn(41000)), DROP);
  t.equal(c.connections[verdictSlot(VERDICT.DENY, DIRECTION.EGRESS, TCP)], 1, 'counted as the egress side\'s denial');
  t.same(observer.policies.read().get('z/deny-egress'), { allow: 0, deny: 1, audit: 0 });
  t.equal(observer.policies.read().get('x/deny-ingress'), undefined, 'the ingress side was not judged: nothing counted');
  t.equal((lines[0] as VerdictLine).reason, 'egress of z/a: denied: isolated by z/deny-egress, no rule allows');
  t.equal((lines[0] as VerdictLine).direction, 'egress');

  // z in audit: its egress denial is waved through, and the packet meets x/b's ingress, which
  // enforces: still denied, now by both sides.
  observer.audit = { global: false, namespaces: new Set(['z']) };
  t.equal(send(conn(41001)), DROP, 'the audited egress side does not open what the ingress side denies');
  t.equal(c.connections[verdictSlot(VERDICT.DENY, DIRECTION.BOTH, TCP)], 1);
  t.same(observer.policies.read().get('x/deny-ingress'), { allow: 0, deny: 1, audit: 0 });
  t.equal((lines[1] as VerdictLine).reason, 'egress of z/a: denied: isolated by z/deny-egress, no rule allows; and ingress of x/b: denied: isolated by x/deny-ingress, no rule allows');

  // Both in audit: it passes, logged as would-deny on both sides.
  observer.audit = { global: false, namespaces: new Set(['z', 'x']) };
  t.equal(send(conn(41002)), ACCEPT);
  t.equal(c.connections[verdictSlot(VERDICT.AUDIT, DIRECTION.BOTH, TCP)], 1);
  t.equal((lines[2] as VerdictLine).audit, true);
});
