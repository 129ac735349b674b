// Local pod ranges: a pod's first packets can reach the classifier before its IP reaches the
// agent. An address in the node's pod CIDRs that no pod in the snapshot holds must not be judged
// as "no pod" (and allowed): it is dropped, or accepted when the classifier fails open. Uses the
// TEST-ONLY TableSnapshot so the classifier's own logic is isolated.

import t from 'tap';
import { Classifier, ACCEPT, DROP, REASON_NAMES } from '../../src/dataplane/classifier.ts';
import { Conntrack } from '../../src/dataplane/conntrack.ts';
import { TableSnapshot } from '../support/table-snapshot.ts';
import { PROTO, packet } from '../../support/packets.ts';

// Local pod range 10.244.1.0/24 and fd00:10:244:1::/64; node address 10.0.0.1 / fd00::1.
// Known pods: x/a (10.244.1.1), x/b (10.244.1.2, isolated: nothing may reach it), remote r/a
// (10.244.9.1, another node's range). Unknown local: 10.244.1.99. Outside: 192.0.2.7.
const KNOWN = '10.244.1.1', ISOLATED = '10.244.1.2', REMOTE = '10.244.9.1', UNKNOWN = '10.244.1.99', OUTSIDE = '192.0.2.7', NODE = '10.0.0.1';
const KNOWN6 = 'fd00:10:244:1::1', UNKNOWN6 = 'fd00:10:244:1::99', NODE6 = 'fd00::1', OUTSIDE6 = '2001:db8::7';

function snapshot(): TableSnapshot {
  return new TableSnapshot(1, [
    { dst: `${ISOLATED}/32`, allow: false },
  ], true, [{ name: 'x/a', ips: [KNOWN, KNOWN6] }, { name: 'x/b', ips: [ISOLATED] }, { name: 'r/a', ips: [REMOTE] }]);
}

const RANGES = { cidrs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], nodeAddresses: [NODE, NODE6] };

type Row = [name: string, src: string, dst: string, failClosed: string, failOpen: string];
const rows: Row[] = [
  ['unknown local source -> known pod', UNKNOWN, KNOWN, 'unknown-local-pod', 'policy-allow'],
  ['known pod -> unknown local destination', KNOWN, UNKNOWN, 'unknown-local-pod', 'policy-allow'],
  ['unknown local source -> isolated pod (policy denies first)', UNKNOWN, ISOLATED, 'policy-deny', 'policy-deny'],
  ['unknown local source -> outside address', UNKNOWN, OUTSIDE, 'unknown-local-pod', 'policy-allow'],
  ['unknown local source -> remote pod', UNKNOWN, REMOTE, 'unknown-local-pod', 'policy-allow'],
  ['unknown local IPv6 source -> known pod', UNKNOWN6, KNOWN6, 'unknown-local-pod', 'policy-allow'],
  ['known IPv6 pod -> unknown local IPv6', KNOWN6, UNKNOWN6, 'unknown-local-pod', 'policy-allow'],
  ['known pod -> known pod: judged normally', KNOWN, REMOTE, 'policy-allow', 'policy-allow'],
  ['known pod -> isolated pod: judged normally', KNOWN, ISOLATED, 'policy-deny', 'policy-deny'],
  ['outside -> remote pod: outside the ranges, unaffected', OUTSIDE, REMOTE, 'policy-allow', 'policy-allow'],
  ['outside IPv6 -> outside IPv6: unaffected', OUTSIDE6, '2001:db8::8', 'policy-allow', 'policy-allow'],
  ['node -> unknown local: the node is always allowed', NODE, UNKNOWN, 'policy-allow', 'policy-allow'],
  ['unknown local -> node: the node is always allowed', UNKNOWN, NODE, 'policy-allow', 'policy-allow'],
  ['IPv6 node -> unknown local IPv6', NODE6, UNKNOWN6, 'policy-allow', 'policy-allow'],
];

t.test('new connections touching unknown local addresses follow the fail mode', async (t) => {
  for (const failOpen of [false, true]) {
    for (const withCt of [false, true]) {
      const c = new Classifier(snapshot(), { failOpen, conntrack: withCt ? new Conntrack({ capacity: 64, seed: 1 }) : undefined });
      c.setLocalPodRanges(RANGES);
      for (const [name, src, dst, closed, open] of rows) {
        for (const proto of [PROTO.TCP, PROTO.UDP]) {
          const want = failOpen ? open : closed;
          const q = packet(src, dst, proto, 40000, 80);
          const v = c.classify(q, 0, q.length, 0);
          const label = `${name} (proto ${proto}, ${failOpen ? 'fail-open' : 'fail-closed'}${withCt ? ', conntrack' : ''})`;
          t.equal(REASON_NAMES[c.lastReason], want, label);
          t.equal(v, want === 'policy-allow' ? ACCEPT : DROP, label);
        }
      }
    }
  }
});

t.test('no ranges: unknown addresses are judged as before (no pod, allowed)', async (t) => {
  const c = new Classifier(snapshot());
  const q = packet(UNKNOWN, KNOWN, PROTO.TCP, 40000, 80);
  t.equal(c.classify(q, 0, q.length, 0), ACCEPT);
  t.equal(REASON_NAMES[c.lastReason], 'policy-allow');
});

t.test('ranges can be replaced and cleared; bad text keeps the previous ranges', async (t) => {
  const c = new Classifier(snapshot());
  const q = packet(UNKNOWN, KNOWN, PROTO.TCP, 40000, 80);
  c.setLocalPodRanges({ cidrs: ['10.244.1.0/24'] });
  t.equal(c.classify(q, 0, q.length, 0), DROP, 'inside the range: dropped');
  t.throws(() => c.setLocalPodRanges({ cidrs: ['10.244.2.0/33'] }), /not a valid CIDR/);
  t.equal(c.classify(q, 0, q.length, 0), DROP, 'previous ranges still in force');
  c.setLocalPodRanges({ cidrs: ['10.244.2.0/24'] });
  t.equal(c.classify(q, 0, q.length, 0), ACCEPT, 'range moved: allowed');
  c.setLocalPodRanges({ cidrs: [] });
  t.equal(c.classify(q, 0, q.length, 0), ACCEPT, 'cleared');
  t.throws(() => c.setLocalPodRanges({ cidrs: Array.from({ length: 65 }, (_, i) => `10.${i}.0.0/16`) }), /too many/);
});

t.test('strict re-judge cuts a flow whose pod disappeared inside a local range', async (t) => {
  const ct = new Conntrack({ capacity: 64, seed: 1 });
  const c = new Classifier(snapshot(), { conntrack: ct });
  c.setLocalPodRanges(RANGES);
  const q = packet(KNOWN, REMOTE, PROTO.TCP, 40000, 80);
  t.equal(c.classify(q, 0, q.length, 0), ACCEPT);
  // Next generation: x/a is gone, its address is an unknown local address now.
  c.setSnapshot(new TableSnapshot(2, [], true, [{ name: 'r/a', ips: [REMOTE] }]));
  t.equal(c.rejudge(1), 1, 'flow reported as denied');
  t.equal(c.classify(q, 0, q.length, 2), DROP);
  t.equal(REASON_NAMES[c.lastReason], 'flow-denied');
});
