// The compiled engine's NetworkPolicy rules as table rules: rule ids per policy version and each
// version's rules of a direction as one TableRule list, made once (the counterpart of
// ClusterPolicyIndex.tableRules for the NetworkPolicy tier). Tables built from the same version
// share the list, which is what block-classes.ts keys a policy's identity classes on.

import type { NetworkPolicy } from '../cluster/model.ts';
import { podKey } from '../cluster/model.ts';
import type { RuleRef } from './decision.ts';
import { namedPortsOf, type NamedPort } from './named-ports.ts';
import type { TableRule } from './rule-table.ts';
import type { Direction } from './spec-facts.ts';

interface Version {
  /** First rule id of the version's ingress rules, then of its egress rules (contiguous). */
  readonly ingress: number;
  readonly egress: number;
  rulesIngress?: readonly TableRule[];
  rulesEgress?: readonly TableRule[];
  named?: readonly NamedPort[];
}

export class NetworkPolicyRules {
  private readonly versions = new Map<NetworkPolicy, Version>();
  /** Rules of the versions held (liveRules, asked on every update: kept, not summed over 10,000 policies). */
  private live = 0;

  /** `ruleRefs`: the engine's append-only rule-id list, shared with the cluster policies' rules. */
  constructor(private readonly ruleRefs: RuleRef[]) {}

  /** A version is gone (changed or deleted): its ids are garbage from now on. */
  forget(p: NetworkPolicy): void {
    if (this.versions.delete(p)) this.live -= p.ingress.length + p.egress.length;
  }

  /** Rule ids still referenced by live versions (the engine renumbers when most ids are garbage). */
  liveRules(): number {
    return this.live;
  }

  /** The version's rules of a direction in spec order, as table rules (NetworkPolicy rules accept). */
  tableRules(p: NetworkPolicy, dir: Direction): readonly TableRule[] {
    const v = this.version(p);
    if (dir === 'ingress') return (v.rulesIngress ??= p.ingress.map((rule, i) => npRule(p, v.ingress + i, rule)));
    return (v.rulesEgress ??= p.egress.map((rule, i) => npRule(p, v.egress + i, rule)));
  }

  /** Named ports of the version's ingress rules (owners sharing a table must resolve them alike). */
  ingressNamedPorts(p: NetworkPolicy): readonly NamedPort[] {
    const v = this.version(p);
    return (v.named ??= namedPortsOf(p.ingress.map((rule) => ({ rule }))));
  }

  private version(p: NetworkPolicy): Version {
    let v = this.versions.get(p);
    if (!v) {
      const key = podKey(p);
      const ingress = this.ruleRefs.length;
      p.ingress.forEach((_, index) => this.ruleRefs.push({ policy: key, direction: 'ingress', index }));
      const egress = this.ruleRefs.length;
      p.egress.forEach((_, index) => this.ruleRefs.push({ policy: key, direction: 'egress', index }));
      v = { ingress, egress };
      this.versions.set(p, v);
      this.live += p.ingress.length + p.egress.length;
    }
    return v;
  }
}

function npRule(p: NetworkPolicy, id: number, rule: NetworkPolicy['ingress'][number]): TableRule {
  return { id, policyNamespace: p.namespace, rule, tier: 'networkpolicy', action: 'Accept' };
}
