// agentOptionsError: the agent's option checks, one line naming the `palisade agent` flag.

import t from 'tap';
import { agentOptionsError, defaultQueueCount, rulePlan, staticPodRanges, type AgentOptions } from '../../src/agent/options.ts';

const source = { start: async () => {}, stop: () => {} };
const base: AgentOptions = { source, node: 'n1', backend: 'nfqueue' };

t.test('bad options name their flag', async (t) => {
  const cases: [Partial<AgentOptions>, RegExp][] = [
    [{ node: '' }, /^--node: /],
    [{ podIfaces: ['eth0', 'eth0;x'] }, /^--pod-iface: interface "eth0;x"/],
    [{ podCidrs: ['10.0.0.0/33'] }, /^--pod-cidr: "10.0.0.0\/33" is not a valid CIDR/],
    [{ dns: { servers: ['10.96.0.10', 'kube-dns'] } }, /^--dns-servers: "kube-dns" is not a valid IP address/],
    [{ dns: { servers: ['10.96.0.0/40'] } }, /^--dns-servers: "10.96.0.0\/40" is not a valid CIDR/],
    [{ dns: { servers: [] } }, /^--dns-servers: no address given/],
    [{ backend: 'tun', verdictCache: true }, /^--verdict-cache works with the nfqueue backend only, not --backend tun/],
    [{ backend: 'tun', kernelAdmit: true }, /^--kernel-admit works with the nfqueue backend only, not --backend tun/],
    [{ queueAll: true, kernelAdmit: true }, /^--kernel-admit needs the judged sets, which --queue-all turns off/],
    [{ logAllowed: true, kernelAdmit: true }, /^--kernel-admit cannot name each admitted connection/],
  ];
  for (const [o, err] of cases) t.match(agentOptionsError({ ...base, ...o }), err, JSON.stringify(o));
});

t.test('good options pass; defaults fill the rule plan', async (t) => {
  t.equal(agentOptionsError({ ...base, podIfaces: ['veth+'], podCidrs: ['10.1.0.0/16', 'fd00::1'], verdictCache: true }), undefined);
  t.equal(agentOptionsError({ ...base, backend: 'tun', logAllowed: true }), undefined);
  // NFQUEUE: one queue per CPU, the verdict cache on (--log-allowed too: what the cache admits is logged aggregated; off with TUN),
  // kernel admission on with it.
  t.same(rulePlan(base), { mode: 'nfqueue', allowMark: 0x2000000, queue: 0, queues: defaultQueueCount(), failOpen: false, tunDevice: undefined, divertMark: undefined, strict: true, verdictCache: true, kernelAdmit: true });
  // Kernel admission follows the cache, and stays off where it cannot be exact or has nothing to
  // stand on: --log-allowed (a line per connection), --queue-all (no judged sets), TUN.
  const admits: [Partial<AgentOptions>, boolean][] = [
    [{}, true], [{ verdictCache: false }, false], [{ logAllowed: true }, false], [{ queueAll: true }, false], [{ backend: 'tun' }, false],
    [{ kernelAdmit: false }, false], [{ verdictCache: false, kernelAdmit: true }, true],
  ];
  for (const [o, on] of admits) t.equal(rulePlan({ ...base, ...o }).kernelAdmit, on, `kernelAdmit with ${JSON.stringify(o)}`);
  t.ok(defaultQueueCount() >= 1 && defaultQueueCount() <= 64, 'between 1 and 64 queues');
  t.equal(rulePlan({ ...base, logAllowed: true }).verdictCache, true);
  t.equal(agentOptionsError({ ...base, verdictCache: true, logAllowed: true }), undefined, 'the cache and --log-allowed go together');
  t.equal(rulePlan({ ...base, verdictCache: false }).verdictCache, false);
  t.equal(rulePlan({ ...base, backend: 'tun' }).verdictCache, false);
  t.equal(rulePlan({ ...base, queues: 3 }).queues, 3);
  t.match(rulePlan({ ...base, backend: 'tun' }), { mode: 'tun', tunDevice: 'palisade0', divertMark: 0x4000000 });
  t.same(staticPodRanges({ ...base, podCidrs: ['10.1.0.0/16', 'FD00::1'] }), { v4: ['10.1.0.0/16'], v6: ['fd00::1'] });
});
