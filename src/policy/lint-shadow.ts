// Shadowed rules: a rule allowing nothing that another rule for the same pods does not already
// allow. Only shapes whose cover can be proved from the objects alone are reported.

import type { IPBlock, NetworkPolicy, PolicyPeer, PolicyPort, PolicyRule } from '../cluster/model.ts';
import { cidrWithin } from '../net/address.ts';
import { LINT, polObject, type Finding } from './lint-findings.ts';
import { selectorIsEmpty, selectorKey as canonSelector } from './selector.ts';
import { DIRECTIONS, parseIPBlock, policyHasType } from './spec-facts.ts';

function canonBlock(b: IPBlock): string {
  return JSON.stringify([b.cidr, [...b.except].sort()]);
}

function samePeer(a: PolicyPeer, b: PolicyPeer): boolean {
  const k = (p: PolicyPeer) =>
    JSON.stringify([
      p.podSelector ? canonSelector(p.podSelector) : null,
      p.namespaceSelector ? canonSelector(p.namespaceSelector) : null,
      p.ipBlock ? canonBlock(p.ipBlock) : null,
    ]);
  return k(a) === k(b);
}

/** Is every connection peer r matches also matched by s? Only provable shapes return true. */
function peerCovered(r: PolicyPeer, s: PolicyPeer): boolean {
  if (samePeer(r, s)) return true;
  if (r.ipBlock || s.ipBlock) {
    if (!r.ipBlock || !s.ipBlock) return false;
    const rb = parseIPBlock(r.ipBlock), sb = parseIPBlock(s.ipBlock);
    if (!rb || !sb || !cidrWithin(rb.cidr, sb.cidr)) return false;
    // CIDRs either nest or are disjoint. A hole of s that swallows r's whole range leaves r
    // uncovered; a hole inside r's range must also be a hole of r.
    return sb.except.every((e) => {
      if (cidrWithin(rb.cidr, e)) return false;
      if (!cidrWithin(e, rb.cidr)) return true;
      return rb.except.some((re) => cidrWithin(e, re));
    });
  }
  const sPodAll = !s.podSelector || selectorIsEmpty(s.podSelector);
  if (s.namespaceSelector) {
    const sNsAll = selectorIsEmpty(s.namespaceSelector);
    if (r.namespaceSelector) {
      const nsOk = sNsAll || canonSelector(r.namespaceSelector) === canonSelector(s.namespaceSelector);
      const podOk = sPodAll || (!!r.podSelector && canonSelector(r.podSelector) === canonSelector(s.podSelector!));
      return nsOk && podOk;
    }
    // r: pods of the policy's own namespace. s covers them only when it selects every namespace.
    if (!sNsAll) return false;
    return sPodAll || (!!r.podSelector && canonSelector(r.podSelector) === canonSelector(s.podSelector!));
  }
  // s: podSelector alone = pods of the policy's own namespace.
  if (r.namespaceSelector) return false;
  return sPodAll || (!!r.podSelector && canonSelector(r.podSelector) === canonSelector(s.podSelector!));
}

function portCovered(r: PolicyPort, s: PolicyPort): boolean {
  if (r.protocol !== s.protocol) return false;
  if (s.port === undefined) return true;
  if (r.port === undefined) return false;
  if (typeof r.port === 'string' || typeof s.port === 'string') return r.port === s.port;
  return r.port >= s.port && (r.endPort ?? r.port) <= (s.endPort ?? s.port);
}

function ruleCovered(r: PolicyRule, s: PolicyRule): boolean {
  const peersOk = s.peers.length === 0 || (r.peers.length > 0 && r.peers.every((rp) => s.peers.some((sp) => peerCovered(rp, sp))));
  const portsOk = s.ports.length === 0 || (r.ports.length > 0 && r.ports.every((rp) => s.ports.some((sp) => portCovered(rp, sp))));
  return peersOk && portsOk;
}

export function checkShadowed(pols: readonly NetworkPolicy[], out: Finding[]): void {
  for (const d of DIRECTIONS) {
    const entries: { pol: NetworkPolicy; i: number; rule: PolicyRule; order: number }[] = [];
    for (const pol of pols) {
      if (!policyHasType(pol, d)) continue;
      pol[d].forEach((rule, i) => entries.push({ pol, i, rule, order: entries.length }));
    }
    for (const r of entries) {
      for (const s of entries) {
        if (r === s || r.pol.namespace !== s.pol.namespace) continue;
        // s applies to every pod r applies to: same policy, identical podSelector, or s selects all.
        const sameTargets =
          r.pol === s.pol ||
          selectorIsEmpty(s.pol.podSelector) ||
          canonSelector(r.pol.podSelector) === canonSelector(s.pol.podSelector);
        if (!sameTargets || !ruleCovered(r.rule, s.rule)) continue;
        // Two identical rules cover each other: report only the later one as the duplicate.
        const mutual =
          (r.pol === s.pol || canonSelector(r.pol.podSelector) === canonSelector(s.pol.podSelector)) &&
          ruleCovered(s.rule, r.rule);
        if (mutual && r.order < s.order) continue;
        const by = `${s.pol === r.pol ? '' : `${s.pol.namespace}/${s.pol.name} `}spec.${d}[${s.i}]`;
        out.push({
          code: LINT.SHADOWED_RULE,
          severity: 'warning',
          object: polObject(r.pol),
          field: `spec.${d}[${r.i}]`,
          reason:
            `this rule allows nothing that ${by} does not already allow to the same pods ` +
            `(${mutual ? 'they are identical' : 'its peers and ports are a subset'}); rules are additive, so a narrower rule never restricts a broader one`,
          fix: mutual
            ? `delete the duplicate rule`
            : `delete this rule, or narrow ${by} if it was meant to be limited to what this rule allows`,
        });
        break;
      }
    }
  }
}
