// The kernel-only baseline of bench/e2e.ts: the verdicts of the plain evaluator
// (src/policy/evaluator.ts `evaluate`) for a small, fully known topology, written out as static
// iptables rules. It is what a hand-written iptables dataplane would do for the same policies,
// with no userspace on the path, so `palisade agent` can be compared with the cost of the
// kernel alone. Built for a benchmark, not a product: it only covers the pods and ports it is
// given (an isolated pod's traffic on any other port is dropped, which may be stricter than
// policy), and it is recomputed from scratch.
//
// Chain layout (table filter, hooked at the top of FORWARD, where routed pod <-> pod traffic is
// seen on the node, the same hook Palisade's NFQUEUE mode uses):
//   -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT     replies and the rest of a flow
//   -s SRC -d DST -p PROTO --dport LO[:HI] -j ACCEPT         every allowed (src, dst, proto, port)
//                                                            where some side is isolated
//   -d POD -j DROP  /  -s POD -j DROP                        pods isolated for ingress / egress
// A connection both sides leave unisolated matches none of the rules and is accepted by the
// chain policy, as NetworkPolicy says ("if no policies select a pod, all traffic is allowed").

import type { Protocol } from '../../src/cluster/model.ts';
import type { ClusterView } from '../../src/cluster/state.ts';
import { evaluate } from '../../src/policy/evaluator.ts';

export const BASELINE_CHAIN = 'PALBENCH-BASELINE';

export interface BaselineEndpoint {
  /** Pod name, only for comments. */
  readonly name: string;
  /** The pod's addresses, canonical text (one per family at most). */
  readonly ips: readonly string[];
}

/** Destination ports to cover: protocol and an inclusive range. */
export interface BaselinePorts {
  readonly protocol: Protocol;
  readonly from: number;
  readonly to: number;
}

export interface Baseline {
  /** iptables-restore --noflush input, per family (empty string: nothing to install). */
  readonly v4: string;
  readonly v6: string;
  /** How many ACCEPT / DROP rules each family got. */
  readonly accepts: number;
  readonly drops: number;
  /** Every judged tuple and its verdict, for the report. */
  readonly judged: number;
  readonly allowed: number;
}

const family = (ip: string): 4 | 6 => (ip.includes(':') ? 6 : 4);

/**
 * Evaluates every (src pod IP, dst pod IP, protocol, port) of the topology, same family, src != dst
 * pod, and turns the answers into rules. Allowed ports are merged into --dport ranges, which
 * changes the rule count, not the verdicts.
 */
export function buildBaseline(view: ClusterView, pods: readonly BaselineEndpoint[], ports: readonly BaselinePorts[]): Baseline {
  const rules: Record<4 | 6, string[]> = { 4: [], 6: [] };
  const dropIngress = new Set<string>();
  const dropEgress = new Set<string>();
  let judged = 0;
  let allowed = 0;
  let accepts = 0;
  for (const src of pods) {
    for (const dst of pods) {
      if (src === dst) continue; // a pod's traffic to itself never leaves its namespace
      for (const s of src.ips) {
        for (const d of dst.ips) {
          if (family(s) !== family(d)) continue;
          for (const p of ports) {
            let runStart = -1;
            const flush = (end: number): void => {
              if (runStart < 0) return;
              const range = runStart === end ? `${runStart}` : `${runStart}:${end}`;
              rules[family(s)].push(`-A ${BASELINE_CHAIN} -s ${s} -d ${d} -p ${p.protocol.toLowerCase()} -m ${p.protocol.toLowerCase()} --dport ${range} -m comment --comment "${src.name}->${dst.name}" -j ACCEPT`);
              accepts++;
              runStart = -1;
            };
            for (let port = p.from; port <= p.to; port++) {
              const dec = evaluate(view, { src: s, dst: d, protocol: p.protocol, port });
              judged++;
              if (dec.egress.isolated) dropEgress.add(s);
              if (dec.ingress.isolated) dropIngress.add(d);
              // Only allowed tuples that some isolated side would otherwise drop need a rule.
              const needed = dec.allowed && (dec.egress.isolated || dec.ingress.isolated);
              if (dec.allowed) allowed++;
              if (needed && runStart < 0) runStart = port;
              if (!needed) flush(port - 1);
            }
            flush(p.to);
          }
        }
      }
    }
  }
  let drops = 0;
  for (const ip of [...dropIngress].sort()) {
    rules[family(ip)].push(`-A ${BASELINE_CHAIN} -d ${ip} -m comment --comment "ingress-isolated" -j DROP`);
    drops++;
  }
  for (const ip of [...dropEgress].sort()) {
    rules[family(ip)].push(`-A ${BASELINE_CHAIN} -s ${ip} -m comment --comment "egress-isolated" -j DROP`);
    drops++;
  }
  const restore = (fam: 4 | 6): string => {
    if (rules[fam].length === 0) return '';
    return [
      '*filter',
      `:${BASELINE_CHAIN} - [0:0]`,
      `-A ${BASELINE_CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
      ...rules[fam],
      `-I FORWARD 1 -j ${BASELINE_CHAIN}`,
      'COMMIT',
      '',
    ].join('\n');
  };
  return { v4: restore(4), v6: restore(6), accepts, drops, judged, allowed };
}

/** Commands (argv, to run in the node namespace) that remove what buildBaseline installed. */
export function baselineRemoval(fam: 4 | 6): string[][] {
  const bin = fam === 4 ? 'iptables' : 'ip6tables';
  return [
    [bin, '-w', '-D', 'FORWARD', '-j', BASELINE_CHAIN],
    [bin, '-w', '-F', BASELINE_CHAIN],
    [bin, '-w', '-X', BASELINE_CHAIN],
  ];
}
