// Palisade's iptables rules: its own PALISADE-* chains (written by iptables.ts with one
// `iptables-restore --noflush` transaction per table and family), hooked into the built-in chains
// with a single jump each. Only new connections of managed pods reach userspace; everything else
// stays in the kernel.
//
// NFQUEUE mode (table filter, hooked at the top of FORWARD: pod <-> pod and pod <-> elsewhere
// traffic routed through the node):
//
//   PALISADE-FORWARD
//     -m mark --mark A/A                     -> PALISADE-ALLOW   re-injected by the agent (NF_REPEAT)
//     -m connmark --mark A/A                 -> ACCEPT           rest of a flow the agent allowed
//     -m conntrack --ctstate RELATED,ESTABLISHED -> RETURN       flows that predate Palisade
//     (anything else: NEW, INVALID, UNTRACKED)  -> PALISADE-PODS
//   PALISADE-ALLOW: CONNMARK --save-mark (bit A only), ACCEPT
//   PALISADE-PODS:  -i/-o pod interface, -s/-d pod address   -> PALISADE-QUEUE
//   PALISADE-QUEUE: NFQUEUE --queue-num N | --queue-balance N:M [--queue-bypass]
//
// Kernel admission (RulePlan.kernelAdmit, with PodMatch.judgedSets; see admit-sets.ts): new
// connections the current rules allow, by (destination pod, protocol:port, source network), are
// accepted before the queue:
//
//   PALISADE-PODS:  EGRESS set (src) -> PALISADE-QUEUE; INGRESS set (dst), ctstate NEW -> PALISADE-ADMIT;
//                   the rest as above
//   PALISADE-ADMIT: mid-stream TCP (not a SYN)                   -> RETURN
//                   -i pod interface / -s pod range, source not in KNOWN -> RETURN
//                   source in ADMITRET (a cluster pod range, no pod's)  -> RETURN
//                   ADMIT set (dst,dst,src) -> CONNMARK A; connmark A -> ACCEPT
//   (falling through returns to PALISADE-PODS: INGRESS set -> PALISADE-QUEUE, ...)
//
// The verdict mark is saved to the connmark, so later packets of the flow in either direction,
// and later datagrams of a one-way UDP flow (which conntrack still calls NEW until a reply is
// seen), are accepted by the connmark rule without leaving the kernel.
//
// Fail-closed: without --queue-bypass "if no userspace program is listening on an NFQUEUE, then
// all packets that are to be queued are dropped" (iptables-extensions(8), NFQUEUE). While the
// agent is down (or restarting) the rules stay, new connections of managed pods are dropped and
// established ones keep flowing through the connmark/conntrack rules. --queue-bypass (fail-open)
// is used only when asked for.
//
// Pod <-> own node traffic (INPUT/OUTPUT of the node) goes through PALISADE-NODE, hooked at the
// top of INPUT and OUTPUT. NetworkPolicy always allows it ("traffic to and from the node where a
// Pod is running is always allowed"), so while no cluster policy could judge it (PodMatch
// nodeTraffic false) the chain is empty (but for the DNS jumps) and the node's own health checks
// never reach userspace.
// A ClusterNetworkPolicy can deny it (an egress `nodes` or `networks` peer, a fail-closed Deny
// all; the node exemption is part of NetworkPolicy isolation only, see policy/tiers.ts), so
// then PALISADE-NODE holds the same four rules as PALISADE-FORWARD and new pod <-> node
// connections are judged like routed ones:
//
//   PALISADE-NODE (only with nodeTraffic; the DNS jumps, for answers of a DNS server on the
//   node itself, whenever PodMatch.dns lists pods)
//     -m mark --mark A/A -> PALISADE-ALLOW; --sport 53 (udp, tcp) -> PALISADE-DNS;
//     -m connmark --mark A/A -> ACCEPT; -m conntrack --ctstate RELATED,ESTABLISHED -> RETURN;
//     -> PALISADE-PODS
//
// TUN mode (table mangle, hooked at the top of PREROUTING): the same selection, but instead of
// queueing, PALISADE-DIVERT sets the divert mark D; a policy-routing rule sends D-marked packets
// into the TUN device, the agent writes allowed ones back, and packets coming back from the TUN
// set the connmark A (see tun-routing.ts).
//
// This file holds the rules themselves, with no I/O (the table tests compare its lines);
// iptables.ts writes them, reads them back and checks them.

import { JUDGED_SETS } from './judged-sets.ts';
import { dnsAnswerRules } from './dns-rules.ts';
import type { PalisadeLines } from './iptables-lines.ts';
import { checkAddress, checkIface } from './rule-values.ts';

export type Family = 4 | 6;
export type RuleMode = 'nfqueue' | 'tun';

export const CHAINS = {
  FORWARD: 'PALISADE-FORWARD',
  ALLOW: 'PALISADE-ALLOW',
  PODS: 'PALISADE-PODS',
  QUEUE: 'PALISADE-QUEUE',
  PREROUTING: 'PALISADE-PREROUTING',
  DIVERT: 'PALISADE-DIVERT',
  CACHED: 'PALISADE-CACHED',
  NODE: 'PALISADE-NODE',
  DNS: 'PALISADE-DNS',
  ADMIT: 'PALISADE-ADMIT',
} as const;

/** The verdict cache's ipsets (hash:ip,port,ip), one per family; see verdict-cache.ts. */
export const CACHE_SETS = { 4: 'PALISADE-CACHE4', 6: 'PALISADE-CACHE6' } as const;

/** Kernel admission's ipsets (hash:ip,port,net), one per family; see admit-sets.ts. */
export const ADMIT_SETS = { 4: 'PALISADE-ADMIT4', 6: 'PALISADE-ADMIT6' } as const;

/** Kernel admission's return sets (hash:net): the sources PALISADE-ADMIT leaves to the queue; see admit-sets.ts. */
export const ADMIT_RETURN_SETS = { 4: 'PALISADE-ADMITRET4', 6: 'PALISADE-ADMITRET6' } as const;

/** Default mark bits; configurable because other software (kube-proxy 0x4000/0x8000, CNIs) owns some. */
export const DEFAULT_ALLOW_MARK = 0x02000000;
export const DEFAULT_DIVERT_MARK = 0x04000000;

export interface RulePlan {
  readonly mode: RuleMode;
  /** Bit(s) meaning "allowed by Palisade", on the packet (verdict) and on the connection (connmark). */
  readonly allowMark: number;
  /** NFQUEUE: first queue and number of queues. */
  readonly queue: number;
  readonly queues: number;
  /** NFQUEUE --queue-bypass: accept instead of drop while nobody listens. Off by default. */
  readonly failOpen: boolean;
  /** TUN: device the agent reads, and the mark that routes into it. */
  readonly tunDevice?: string;
  readonly divertMark?: number;
  /**
   * TUN: the device the DNS learner reads, and the mark that routes DNS answers into it (set
   * together; absent: answers are not diverted). See PodMatch.dns.
   */
  readonly dnsTunDevice?: string;
  readonly dnsDivertMark?: number;
  /**
   * Strict mode (the agent cuts established flows that new rules deny by deleting their
   * conntrack entries, see flow-cutter.ts): TCP packets that conntrack calls NEW without being
   * a SYN are dropped instead of judged. See MIDSTREAM_RULE.
   */
  readonly strict?: boolean;
  /**
   * NFQUEUE only: new connections whose (source, protocol:port, destination) the agent allowed
   * in the current rule generation are accepted in the kernel (CACHE_SETS), see verdict-cache.ts.
   */
  readonly verdictCache?: boolean;
  /**
   * NFQUEUE only, with PodMatch.judgedSets: new connections the current rules allow by
   * (destination pod, protocol:port, source network) are accepted by the kernel from ADMIT_SETS
   * without the queue (PALISADE-ADMIT, see admitRules and admit-sets.ts).
   */
  readonly kernelAdmit?: boolean;
  /**
   * Sets (hash:net, per family) of local pods' addresses whose host interface is not found yet,
   * from a source guard without a PREROUTING hook of its own (enforce/tc-guard.ts): their new
   * connections are dropped before they are queued (so never judged, and conntrack never
   * confirms an entry for them). Absent: the guard's own hook drops them, or --fail-open.
   */
  readonly noIfaceSets?: Readonly<Record<Family, string>>;
}

/**
 * A TCP packet in ctstate NEW that is not a SYN belongs to a connection whose opening conntrack
 * did not see (nf_conntrack_tcp_loose=1 picks such connections up mid-stream). Which side opened
 * it is unknown, so it cannot be judged as a connection: judging the server's packet b:80 ->
 * a:43210 as "b opens a:43210" would re-admit, in reverse, a flow that strict mode just cut. In
 * strict mode such packets of managed pods are dropped; the flow's client would have to
 * reconnect (SYN) and be judged properly. Without strict mode Palisade deletes no entries, so
 * mid-stream pick-ups only follow someone else's `conntrack -F` and are judged as before.
 */
const MIDSTREAM_MATCH = '-p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -m conntrack --ctstate NEW';

/** What identifies managed pod traffic, per family. */
export interface PodMatch {
  /** iptables interface names or prefixes ("veth+"), for both families. */
  readonly ifaces: readonly string[];
  /** Addresses or CIDRs, canonical; each family's list only holds that family. */
  readonly v4: readonly string[];
  readonly v6: readonly string[];
  /**
   * NFQUEUE mode: judge new pod <-> own node connections too (PALISADE-NODE), because a cluster
   * policy could deny them. Off (absent): they are not hooked.
   */
  readonly nodeTraffic?: boolean;
  /**
   * Queue only what needs judging (judged-sets.ts): new connections from addresses in
   * PALISADE-EGRESS, to addresses in PALISADE-INGRESS, and from or to addresses of the
   * interfaces and ranges above that no known pod owns (not in PALISADE-KNOWN). Absent: every
   * new connection of the interfaces and addresses above.
   */
  readonly judgedSets?: boolean;
  /**
   * Families whose no-interface set (RulePlan.noIfaceSets) has members now: the source guard's
   * last update (agent/source-guard.ts). Only those get the drop rule.
   */
  readonly noIfaceFamilies?: readonly Family[];
  /**
   * Addresses of the pods a domainNames policy selects (agent/dns-wiring.ts). DNS answers to them
   * (replies from port 53 on a flow they opened) go to the DNS learner before delivery, so the
   * agent learns the names before the pod connects: NFQUEUE mode, to the DNS queue (dnsQueue);
   * TUN mode (with plan.dnsTunDevice), marked with dnsDivertMark, which routes them into the DNS
   * TUN device (the learner writes them back).
   */
  readonly dns?: { readonly v4: readonly string[]; readonly v6: readonly string[] };
}


const hex = (m: number): string => '0x' + (m >>> 0).toString(16);

/** The table a mode's chains live in. */
export function table(mode: RuleMode): 'filter' | 'mangle' {
  return mode === 'nfqueue' ? 'filter' : 'mangle';
}

/**
 * Built-in chain -> Palisade chain jumps for a mode. `purpose` stays here, not in the rule: with
 * iptables-nft a `-m comment` is an xtables match the kernel runs on every packet that passes the
 * hook (perf showed `comment_mt` on the forwarding path), and the jump's target already names
 * Palisade's chain.
 */
export function hooks(mode: RuleMode): readonly { readonly table: string; readonly chain: string; readonly target: string; readonly purpose: string }[] {
  return mode === 'nfqueue'
    ? [
      { table: 'filter', chain: 'FORWARD', target: CHAINS.FORWARD, purpose: 'NetworkPolicy for pod traffic routed through this node' },
      { table: 'filter', chain: 'INPUT', target: CHAINS.NODE, purpose: 'cluster policies for pod to node traffic' },
      { table: 'filter', chain: 'OUTPUT', target: CHAINS.NODE, purpose: 'cluster policies for node to pod traffic' },
    ]
    : [{ table: 'mangle', chain: 'PREROUTING', target: CHAINS.PREROUTING, purpose: 'divert new pod connections to the TUN judge' }];
}

/** Chains of a plan, in the order they are declared. */
export function chainsOf(plan: Pick<RulePlan, 'mode' | 'verdictCache' | 'dnsDivertMark' | 'kernelAdmit'>): readonly string[] {
  return plan.mode === 'nfqueue'
    ? [CHAINS.FORWARD, CHAINS.ALLOW, CHAINS.PODS, CHAINS.QUEUE, CHAINS.NODE, ...(plan.verdictCache ? [CHAINS.CACHED] : []), CHAINS.DNS, ...(plan.kernelAdmit ? [CHAINS.ADMIT] : [])]
    : [CHAINS.PREROUTING, CHAINS.PODS, CHAINS.DIVERT, ...(plan.dnsDivertMark ? [CHAINS.DNS] : [])];
}

/** The chains podRules rewrites (flushed first when the selection changes). */
export function podChains(plan: RulePlan): string[] {
  return plan.mode === 'nfqueue' ? [CHAINS.PODS, CHAINS.NODE, CHAINS.DNS, ...(plan.kernelAdmit ? [CHAINS.ADMIT] : [])] : [CHAINS.PODS, ...(plan.dnsDivertMark ? [CHAINS.DNS] : [])];
}


function queueTarget(plan: RulePlan): string {
  // --queue-cpu-fanout: the queue is chosen by the CPU that handles the packet, not a flow hash.
  const q = plan.queues > 1 ? `--queue-balance ${plan.queue}:${plan.queue + plan.queues - 1} --queue-cpu-fanout` : `--queue-num ${plan.queue}`;
  return `-j NFQUEUE ${q}${plan.failOpen ? ' --queue-bypass' : ''}`;
}

/** The rules of every Palisade chain except PALISADE-PODS, as iptables-restore lines (no table header). */
export function chainRules(plan: RulePlan, family: Family = 4): string[] {
  const a = hex(plan.allowMark);
  if (plan.mode === 'nfqueue') {
    return [
      `-A ${CHAINS.FORWARD} -m mark --mark ${a}/${a} -j ${CHAINS.ALLOW}`,
      // DNS answers before the connmark rule: they belong to flows it would accept unseen.
      `-A ${CHAINS.FORWARD} -p udp -m udp --sport 53 -j ${CHAINS.DNS}`,
      `-A ${CHAINS.FORWARD} -p tcp -m tcp --sport 53 -j ${CHAINS.DNS}`,
      `-A ${CHAINS.FORWARD} -m connmark --mark ${a}/${a} -j ACCEPT`,
      `-A ${CHAINS.FORWARD} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
      `-A ${CHAINS.FORWARD} -j ${CHAINS.PODS}`,
      `-A ${CHAINS.ALLOW} -j CONNMARK --save-mark --nfmask ${a} --ctmask ${a}`,
      `-A ${CHAINS.ALLOW} -j ACCEPT`,
      ...(plan.strict ? [`-A ${CHAINS.QUEUE} ${MIDSTREAM_MATCH} -j DROP`] : []),
      // A connection the agent already allowed in this rule generation (same source, protocol,
      // port and destination) is accepted here, marked as if the agent had said so. After the
      // strict rule: a mid-stream packet is still dropped.
      ...(plan.verdictCache ? [
        `-A ${CHAINS.QUEUE} -m set --match-set ${CACHE_SETS[family]} src,dst,dst -j ${CHAINS.CACHED}`,
        `-A ${CHAINS.CACHED} -j CONNMARK --set-xmark ${a}/${a}`,
        `-A ${CHAINS.CACHED} -j ACCEPT`,
      ] : []),
      `-A ${CHAINS.QUEUE} ${queueTarget(plan)}`,
    ];
  }
  if (!plan.tunDevice || !plan.divertMark) throw new Error('tun mode needs tunDevice and divertMark');
  const d = hex(plan.divertMark);
  const tun = checkIface(plan.tunDevice);
  const dnsTun = plan.dnsDivertMark && plan.dnsTunDevice ? checkIface(plan.dnsTunDevice) : undefined;
  return [
    // DNS answers the learner wrote back: replies of a flow already judged, delivered as they are.
    ...(dnsTun ? [`-A ${CHAINS.PREROUTING} -i ${dnsTun} -j RETURN`] : []),
    // Whatever the agent writes back into the TUN was allowed: remember it on the connection.
    `-A ${CHAINS.PREROUTING} -i ${tun} -j CONNMARK --set-xmark ${a}/${a}`,
    `-A ${CHAINS.PREROUTING} -i ${tun} -j RETURN`,
    // DNS answers before the connmark rule: they belong to flows it would let through unseen.
    ...(dnsTun ? ['udp', 'tcp'].map((p) => `-A ${CHAINS.PREROUTING} -p ${p} -m ${p} --sport 53 -j ${CHAINS.DNS}`) : []),
    `-A ${CHAINS.PREROUTING} -m connmark --mark ${a}/${a} -j RETURN`,
    // Unlike an NFQUEUE drop, a diverted packet is forwarded (into the TUN), so its conntrack
    // entry is confirmed even when the agent then drops it. Such a connection carries the divert
    // bit in its connmark without the allow bit: every packet of it, in either direction, is
    // judged again, so a "reply" from the peer cannot turn a denied flow into an established one.
    `-A ${CHAINS.PREROUTING} -m connmark --mark ${d}/${d} -j ${CHAINS.DIVERT}`,
    `-A ${CHAINS.PREROUTING} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
    `-A ${CHAINS.PREROUTING} -j ${CHAINS.PODS}`,
    ...(plan.strict ? [`-A ${CHAINS.DIVERT} ${MIDSTREAM_MATCH} -j DROP`] : []),
    `-A ${CHAINS.DIVERT} -j MARK --set-xmark ${d}/${d}`,
    `-A ${CHAINS.DIVERT} -j CONNMARK --set-xmark ${d}/${d}`,
  ];
}

/**
 * The no-interface drop (RulePlan.noIfaceSets): PALISADE-PODS's first rule, so it sits where
 * every new connection enters that chain (PALISADE-FORWARD, TUN's PALISADE-PREROUTING, and
 * PALISADE-NODE only while node traffic is judged), after the rules that let established flows
 * through. Written only while the family's set has members (PodMatch.noIfaceFamilies): a set
 * match costs every new flow (about 2 % of a flood of new UDP flows, bench:e2e), and an empty
 * set matches nothing.
 */
function noIfaceDrop(plan: RulePlan, pods: PodMatch, family: Family): string[] {
  return plan.noIfaceSets && pods.noIfaceFamilies?.includes(family) ? [`-A ${CHAINS.PODS} -m set --match-set ${plan.noIfaceSets[family]} src -j DROP`] : [];
}

/**
 * PALISADE-PODS for one family: traffic from or to a pod interface or address goes to the judge.
 * In NFQUEUE mode also PALISADE-NODE, which follows the selection (see nodeTraffic).
 */
export function podRules(plan: RulePlan, pods: PodMatch, family: Family): string[] {
  const target = plan.mode === 'nfqueue' ? CHAINS.QUEUE : CHAINS.DIVERT;
  const out: string[] = [];
  const dns = plan.mode === 'nfqueue' || plan.dnsDivertMark ? pods.dns?.[family === 4 ? 'v4' : 'v6'] ?? [] : [];
  // A DNS server on the node itself (node-local-dns, a host-network cache) answers through
  // OUTPUT, i.e. PALISADE-NODE: its answers go to PALISADE-DNS too, before the connmark accept.
  const dnsJumps = dns.length > 0 && plan.mode === 'nfqueue' ? ['udp', 'tcp'].map((p) => `-A ${CHAINS.NODE} -p ${p} -m ${p} --sport 53 -j ${CHAINS.DNS}`) : [];
  if (plan.mode === 'nfqueue' && pods.nodeTraffic) {
    const a = hex(plan.allowMark);
    out.push(
      `-A ${CHAINS.NODE} -m mark --mark ${a}/${a} -j ${CHAINS.ALLOW}`,
      ...dnsJumps,
      `-A ${CHAINS.NODE} -m connmark --mark ${a}/${a} -j ACCEPT`,
      `-A ${CHAINS.NODE} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
      `-A ${CHAINS.NODE} -j ${CHAINS.PODS}`,
    );
  } else out.push(...dnsJumps);
  // Without nodeTraffic no no-interface drop either: a pod without an interface reaches its own
  // node as an unknown local pod does (NetworkPolicy always allows it), and the chain stays empty,
  // so the node's own traffic through INPUT and OUTPUT meets no rule at all.
  out.push(...dnsAnswerRules(CHAINS.DNS, plan, dns.map((raw) => checkAddress(raw).text)));
  const unknown = (dir: 'src' | 'dst') => (pods.judgedSets ? ` -m set ! --match-set ${JUDGED_SETS.known[family]} ${dir}` : '');
  out.push(...noIfaceDrop(plan, pods, family));
  if (pods.judgedSets) {
    out.push(`-A ${CHAINS.PODS} -m set --match-set ${JUDGED_SETS.egress[family]} src -j ${target}`);
    if (plan.mode === 'nfqueue' && plan.kernelAdmit) out.push(...admitRules(plan, pods, family));
    out.push(`-A ${CHAINS.PODS} -m set --match-set ${JUDGED_SETS.ingress[family]} dst -j ${target}`);
    // A mid-stream TCP packet coming FROM a pod judged for ingress (or TO one judged for egress)
    // is the far end of a flow strict mode may have cut: it goes to the queue chain too, whose
    // strict rule drops it (MIDSTREAM_MATCH), so the server speaking first cannot reopen the flow.
    out.push(`-A ${CHAINS.PODS} -m set --match-set ${JUDGED_SETS.ingress[family]} src ${MIDSTREAM_MATCH} -j ${target}`);
    out.push(`-A ${CHAINS.PODS} -m set --match-set ${JUDGED_SETS.egress[family]} dst ${MIDSTREAM_MATCH} -j ${target}`);
  }
  for (const i of pods.ifaces) {
    checkIface(i);
    // In TUN mode rules live in PREROUTING, where there is no output interface yet.
    out.push(`-A ${CHAINS.PODS} -i ${i}${unknown('src')} -j ${target}`);
    if (plan.mode === 'nfqueue') out.push(`-A ${CHAINS.PODS} -o ${i}${unknown('dst')} -j ${target}`);
  }
  for (const raw of family === 4 ? pods.v4 : pods.v6) {
    const { text, family: f } = checkAddress(raw);
    if (f !== family) throw new Error(`${raw} listed as IPv${family} but is IPv${f}`);
    out.push(`-A ${CHAINS.PODS} -s ${text}${unknown('src')} -j ${target}`);
    out.push(`-A ${CHAINS.PODS} -d ${text}${unknown('dst')} -j ${target}`);
  }
  return out;
}

/**
 * Kernel admission (RulePlan.kernelAdmit): the jump from PALISADE-PODS and PALISADE-ADMIT itself.
 * The jump comes after the EGRESS-set rule, so a source whose egress is judged is always queued,
 * and before the INGRESS-set rule, so what PALISADE-ADMIT does not accept is queued as before.
 * Only ctstate NEW: INVALID and UNTRACKED packets are no connection an entry could speak for.
 */
function admitRules(plan: RulePlan, pods: PodMatch, family: Family): string[] {
  const a = hex(plan.allowMark);
  const known = JUDGED_SETS.known[family];
  const out = [
    // Only towards a pod judged for ingress: every entry's destination is one, and the other
    // new connections of the node's pods skip the chain's rules.
    `-A ${CHAINS.PODS} -m set --match-set ${JUDGED_SETS.ingress[family]} dst -m conntrack --ctstate NEW -j ${CHAINS.ADMIT}`,
    // A mid-stream TCP packet (ctstate NEW, not a SYN) is not a connection's opening: strict
    // mode must drop it, and without strict mode the agent judges it (see MIDSTREAM_MATCH).
    `-A ${CHAINS.ADMIT} -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j RETURN`,
  ];
  // A source in the node's pod interfaces or ranges that no known pod holds (spoofed, or a pod
  // the engine has not seen yet) is judged by the agent (dropped when failing closed), never
  // admitted by a network entry that happens to cover its address.
  for (const i of pods.ifaces) out.push(`-A ${CHAINS.ADMIT} -i ${checkIface(i)} -m set ! --match-set ${known} src -j RETURN`);
  for (const raw of family === 4 ? pods.v4 : pods.v6) {
    const { text, family: f } = checkAddress(raw);
    if (f !== family) throw new Error(`${raw} listed as IPv${family} but is IPv${f}`);
    out.push(`-A ${CHAINS.ADMIT} -s ${text} -m set ! --match-set ${known} src -j RETURN`);
  }
  // The same for the whole cluster's pod ranges, which entries may name as networks: an address
  // of them no pod or node holds matches the return set (its addresses are nomatch exceptions).
  out.push(`-A ${CHAINS.ADMIT} -m set --match-set ${ADMIT_RETURN_SETS[family]} src -j RETURN`);
  // Marked as if the agent had accepted it: the rest of the flow is accepted by PALISADE-FORWARD's
  // connmark rule, and strict mode treats it as one of the agent's (as PALISADE-CACHED does).
  // The set's counter counts the connection (the later packets never get here): admit-sets.ts.
  out.push(
    `-A ${CHAINS.ADMIT} -m set --match-set ${ADMIT_SETS[family]} dst,dst,src -j CONNMARK --set-xmark ${a}/${a}`,
    `-A ${CHAINS.ADMIT} -m connmark --mark ${a}/${a} -j ACCEPT`,
  );
  return out;
}

/**
 * What is wrong with Palisade's rules in one table, compared with the plan (chains, hook jumps,
 * number of rules per chain) and with `baseline`, the lines read back right after Palisade last
 * wrote them (iptables prints rules in its own normal form, so the plan's text is not compared
 * literally). Empty when intact.
 */
export function ruleProblems(plan: RulePlan, pods: PodMatch, family: Family, cur: PalisadeLines, baseline?: PalisadeLines): string[] {
  const problems: string[] = [];
  const expected = new Map<string, number>();
  for (const l of [...chainRules(plan, family), ...podRules(plan, pods, family)]) {
    const c = /^-A (\S+) /.exec(l)![1]!;
    expected.set(c, (expected.get(c) ?? 0) + 1);
  }
  for (const c of chainsOf(plan)) {
    if (!cur.chains.includes(c)) {
      problems.push(`chain ${c} missing`);
      continue;
    }
    const have = cur.rules.get(c) ?? [];
    const want = baseline?.rules.get(c);
    if (want !== undefined && baseline!.chains.includes(c)) {
      if (have.length !== want.length || have.some((l, i) => l !== want[i])) problems.push(`chain ${c} altered (${have.length} rules, expected ${want.length})`);
    } else if (have.length !== (expected.get(c) ?? 0)) {
      problems.push(`chain ${c} has ${have.length} rules, expected ${expected.get(c) ?? 0}`);
    }
  }
  for (const h of hooks(plan.mode)) {
    if (!cur.jumps.some((j) => j.startsWith(`-A ${h.chain} `) && j.includes(`-j ${h.target}`))) problems.push(`jump ${h.chain} -> ${h.target} missing`);
  }
  return problems;
}
