// The agent's DNS wiring (src/agent/dns-wiring.ts) without a queue or device (TUN plan, no
// routing: nothing is opened): which answers it reads as going to this node's pods, and what
// that costs. Answers are handed to its learner as the enforcer would.

import t from 'tap';
import { ClusterState } from '../../src/cluster/state.ts';
import type { Pod } from '../../src/cluster/model.ts';
import { DnsWiring } from '../../src/agent/dns-wiring.ts';
import type { RulePlan } from '../../src/enforce/iptables.ts';
import { ipv4, ipv6, udp } from '../../support/packets.ts';
import { buildAnswer } from '../../support/dns-messages.ts';

function pod(name: string, ips: string[], node: string, hostNetwork = false): Pod {
  return { namespace: 'x', name, labels: {}, nodeName: node, hostNetwork, phase: 'Running', ips, ports: [] };
}

t.test('answers to local pods are learned; the cluster\'s pods are not walked per answer', async (t) => {
  const st = new ClusterState();
  st.batch(() => {
    st.upsertNamespace({ name: 'x', labels: {} });
    for (let i = 0; i < 200; i++) st.upsertPod(pod(`far-${i}`, [`10.1.${i >> 8}.${i & 255}`], 'n2'));
    st.upsertPod(pod('a', ['10.0.0.1', 'fd00::1'], 'n1'));
    st.upsertPod(pod('host', ['10.0.0.9'], 'n1', true));
  });
  let walks = 0;
  const values = st.pods.values.bind(st.pods);
  st.pods.values = () => { walks++; return values(); };
  const w = await DnsWiring.open(st, { node: 'n1', plan: { mode: 'tun' } as RulePlan, onError: (e) => { throw e; } });
  t.teardown(() => w.close());
  const answer = (to: string, addr: string) => {
    const msg = buildAnswer('api.example.com', [{ name: 'api.example.com', type: to.includes(':') ? 'AAAA' : 'A', data: addr }]);
    const l4 = udp({ sport: 53, dport: 40000 }, msg);
    const p = to.includes(':') ? ipv6({ src: 'fd00::53', dst: to, nextHeader: 17, rawPayload: true }, l4) : ipv4({ src: '10.96.0.10', dst: to, proto: 17, rawPayload: true }, l4);
    w.learner.classify(p, 0, p.length, 0);
  };
  const rows: [to: string, addr: string, learned: boolean, why: string][] = [
    ['10.0.0.1', '192.0.2.1', true, 'a local pod'],
    ['fd00::1', '2001:db8:0:0:0:0:0:1', true, 'a local pod, IPv6'],
    ['10.1.0.5', '192.0.2.2', false, 'a pod on another node'],
    ['10.0.0.9', '192.0.2.3', false, 'a host-network pod'],
    ['10.0.0.77', '192.0.2.4', false, 'no pod'],
  ];
  for (const [to, addr, want, why] of rows) {
    const before = w.learner.store.size;
    answer(to, addr);
    t.equal(w.learner.store.size > before, want, why);
  }
  walks = 0;
  for (let i = 0; i < 100; i++) answer('10.0.0.1', `192.0.2.${100 + (i % 50)}`);
  t.ok(walks <= 1, `100 answers walked the cluster's pods ${walks} time(s)`);
  // Pods that arrive or leave are seen by the next answer.
  st.upsertPod(pod('b', ['10.0.0.2'], 'n1'));
  answer('10.0.0.2', '192.0.2.50');
  t.equal(w.learner.store.about('192.0.2.50', Date.now()).length, 1, 'a pod that arrived since');
  st.deletePod('x/a');
  answer('10.0.0.1', '192.0.2.60');
  t.equal(w.learner.store.about('192.0.2.60', Date.now()).length, 0, 'a pod that left');
});
