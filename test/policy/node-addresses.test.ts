// NodeAddresses (engine-addresses.ts): a node's addresses by node index, for the node exemption.
// The arrays are built when read, not at each new node name: a full compile meets every node
// name through its pods first, and building at each name made 5,000 nodes cost 25 M address
// parses (most of the full compile at Kubernetes' scale limits).

import t from 'tap';
import type { Node } from '../../src/cluster/model.ts';
import { NodeAddresses } from '../../src/policy/engine-addresses.ts';

const node = (name: string, i: number): Node => ({ name, labels: {}, addresses: [`172.18.${i >> 8}.${i & 255}`, `fd00::${i.toString(16)}`] }) as Node;

t.test('a node index per name, arrays built once per read after changes', async (t) => {
  const nodes = new Map<string, Node>();
  const na = new NodeAddresses(nodes);
  for (let i = 0; i < 300; i++) nodes.set(`n${i}`, node(`n${i}`, i));
  // Pods name their nodes before the nodes are indexed.
  const idx = [...Array(300).keys()].map((i) => na.indexOf(`n${i}`));
  t.same(idx, [...Array(300).keys()], 'indexes in order of first sight');
  t.equal(na.indexOf('n7'), 7, 'a known name keeps its index');
  na.rebuild();
  const a = na.arrays;
  t.equal(na.builds, 1, 'one build for 300 new names and a rebuild');
  t.equal(na.arrays, a, 'reading again builds nothing');
  t.equal(na.builds, 1);
  t.equal(a.addr4Start[300], 300, 'one IPv4 address per node');
  t.equal(a.addr4[a.addr4Start[258]!], (172 << 24) | (18 << 16) | (1 << 8) | 2, 'node 258 -> 172.18.1.2');
  t.equal(a.addr6Start[300], 1200, 'four words per IPv6 address');
  t.equal(a.addr6[a.addr6Start[10]! + 3], 10, 'node 10 -> fd00::a');

  t.equal(na.indexOf('ghost'), 300, 'a name without a Node object gets the next index');
  const b = na.arrays;
  t.equal(na.builds, 2, 'rebuilt once for the new name');
  t.equal(b.addr4Start[301]! - b.addr4Start[300]!, 0, 'with no addresses');
  nodes.set('ghost', node('ghost', 301));
  na.rebuild();
  t.equal(na.arrays.addr4Start[301]! - na.arrays.addr4Start[300]!, 1, 'its addresses once the Node object arrives');
  t.equal(na.builds, 3);
});
