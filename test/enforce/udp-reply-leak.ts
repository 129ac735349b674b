// The tap half of the enforcement topology (support/netns.ts): checks every backend's agent test
// runs the same way.

import type { Test } from 'tap';
import { join } from 'node:path';
import { B_NO_EGRESS, must, waitFor, type AgentStatusFile, type Topology } from '../../support/netns.ts';

/**
 * The UDP reply-leak check every backend must pass: with b egress-isolated (B_NO_EGRESS written
 * into the agent's manifests folder `dir`), a datagram b sends to c dressed as the "reply" to a
 * flow c never started must not reach c, while replies of allowed connections still flow. Removes
 * the egress policy again before it returns.
 */
export async function checkDeniedUdpReplyLeak(
  t: Test,
  topo: Topology,
  dir: string,
  readers: { status: () => AgentStatusFile; freshStatus: () => Promise<AgentStatusFile> },
): Promise<void> {
  const { status, freshStatus } = readers;
  const gen = (await freshStatus()).generation;
  topo.writeFile('manifests/b-egress.yaml', B_NO_EGRESS);
  await waitFor('b egress policy enforced', () => status().generation > gen);
  const r = await topo.udpReplyLeak();
  t.ok(r.control, 'control: the listener on c receives allowed traffic');
  t.notOk(r.leaked, 'the fake reply from b (egress denied) did not reach c');
  t.ok(await topo.tcp('a', 'b', 8080), 'replies of allowed connections still flow with b egress-isolated');
  const gen2 = status().generation;
  await must(['rm', join(dir, 'b-egress.yaml')]);
  await waitFor('b egress policy removed', () => status().generation > gen2);
}
