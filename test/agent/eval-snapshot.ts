// A RuleSnapshot answered by the plain evaluator (the spec oracle), for tests of the pieces that
// read snapshots off the hot path (verdict log, audit). Rule ids are assigned to every
// (policy, direction, index) in key order, as a compiled engine would number them.

import type { ClusterView } from '../../src/cluster/state.ts';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, podKey, type Protocol } from '../../src/cluster/model.ts';
import { ACTION, SIDE, ruleCode, type RuleSnapshot } from '../../src/policy/engine-api.ts';
import type { RuleRef, SideDecision } from '../../src/policy/decision.ts';
import { evaluate, isolatingPolicies } from '../../src/policy/evaluator.ts';
import { formatIP } from '../../src/net/address.ts';

export class EvalSnapshot implements RuleSnapshot {
  egressCode = 0;
  ingressCode = 0;
  srcSlot = -1;
  dstSlot = -1;
  private readonly rules: RuleRef[] = [];
  private readonly ruleIds = new Map<string, number>();
  private readonly podKeys: string[];

  constructor(private readonly view: ClusterView, readonly generation = 1) {
    for (const key of [...view.policies.keys()].sort()) {
      const pol = view.policies.get(key)!;
      for (const direction of ['ingress', 'egress'] as const) {
        pol[direction].forEach((_, index) => {
          this.ruleIds.set(`${key} ${direction} ${index}`, this.rules.length);
          this.rules.push({ policy: key, direction, index });
        });
      }
    }
    this.podKeys = [...view.pods.keys()].sort();
  }

  private code(s: SideDecision): number {
    switch (s.reason) {
      case 'rule': return ruleCode(this.ruleIds.get(`${s.rule!.policy} ${s.rule!.direction} ${s.rule!.index}`)!, s.allowed ? ACTION.ACCEPT : ACTION.DENY);
      case 'no-rule': return SIDE.NO_RULE;
      case 'not-isolated': return SIDE.NOT_ISOLATED;
      case 'node': return SIDE.NODE;
      case 'self': return SIDE.SELF;
      default: return SIDE.NOT_JUDGED;
    }
  }

  private judgeText(src: string, dst: string, proto: number, port: number): boolean {
    const protocol: Protocol = proto === IPPROTO_TCP ? 'TCP' : proto === IPPROTO_UDP ? 'UDP' : proto === IPPROTO_SCTP ? 'SCTP' : 'TCP';
    const d = evaluate(this.view, { src, dst, protocol, port });
    this.egressCode = this.code(d.egress);
    this.ingressCode = this.code(d.ingress);
    this.srcSlot = d.srcPod ? this.podKeys.indexOf(d.srcPod) : -1;
    this.dstSlot = d.dstPod ? this.podKeys.indexOf(d.dstPod) : -1;
    return d.allowed;
  }

  judge4(src: number, dst: number, proto: number, port: number): boolean {
    return this.judgeText(formatIP({ family: 'IPv4', words: [src] }), formatIP({ family: 'IPv4', words: [dst] }), proto, port);
  }
  judge6(s0: number, s1: number, s2: number, s3: number, d0: number, d1: number, d2: number, d3: number, proto: number, port: number): boolean {
    return this.judgeText(formatIP({ family: 'IPv6', words: [s0, s1, s2, s3] }), formatIP({ family: 'IPv6', words: [d0, d1, d2, d3] }), proto, port);
  }
  podSlot4(addr: number): number {
    const ip = formatIP({ family: 'IPv4', words: [addr] });
    return this.podKeys.findIndex((k) => this.view.pods.get(k)!.ips.includes(ip));
  }
  podSlot6(a: number, b: number, c: number, d: number): number {
    const ip = formatIP({ family: 'IPv6', words: [a, b, c, d] });
    return this.podKeys.findIndex((k) => this.view.pods.get(k)!.ips.includes(ip));
  }
  isLocal(): boolean {
    return true;
  }
  podName(slot: number): string {
    return this.podKeys[slot]!;
  }
  ruleRef(ruleId: number): RuleRef {
    return this.rules[ruleId]!;
  }
  isolatingPolicies(slot: number, direction: 'ingress' | 'egress'): readonly string[] {
    return isolatingPolicies(this.view, this.view.pods.get(this.podKeys[slot]!)!, direction).map(podKey);
  }
}
