// explain's words about names (issue 16): which names an address is by DNS, according to a node
// agent's live records (--dns-status, dns-input.ts), and why a domainNames peer matched it or
// did not. Matching itself is the engines' (the peers carry the addresses the agent's resolver
// gave them); the records here only say which name made the difference.

import type { ClusterPolicyPeer } from '../cluster/model.ts';
import type { ClusterView } from '../cluster/state.ts';
import { describeRecord, type NameRecord } from '../dataplane/name-store.ts';
import { canonicalIP } from '../net/address.ts';
import { clusterRules } from '../policy/cluster-facts.ts';
import { ruleLabel } from '../policy/decision.ts';
import { peerNamesMatch } from '../policy/domain-names.ts';
import type { Explanation } from '../policy/evaluator.ts';
import { ageText, type LiveDns } from './dns-input.ts';
import type { SideTierWalk } from './explain-tiers.ts';

/** Live records of the address, newest first, one per distinct name chain. */
function liveRecords(dns: LiveDns, ip: string): NameRecord[] {
  const seen = new Set<string>();
  return dns.store.about(canonicalIP(ip) ?? ip, dns.now).filter((r) => {
    const k = r.names.join(' ');
    return !seen.has(k) && (seen.add(k), true);
  });
}

/** The newest record of the file for the address that has expired by now. */
function expiredRecord(dns: LiveDns, ip: string): NameRecord | undefined {
  const a = canonicalIP(ip) ?? ip;
  let best: NameRecord | undefined;
  for (const r of dns.records) if (r.address === a && r.expiresAt <= dns.now && (!best || r.expiresAt > best.expiresAt)) best = r;
  return best;
}

function recordsText(rs: readonly NameRecord[], now: number): string {
  return rs.map((r) => describeRecord(r, now)).join('; ');
}

/** "no live record names 10.0.3.7 (its record for api.example.com expired 3 s ago)" */
function noRecordText(dns: LiveDns, ip: string): string {
  const x = expiredRecord(dns, ip);
  const expired = x ? ` (its record for ${x.names.join(' -> ')} expired ${ageText(dns.now - x.expiresAt)} ago)` : '';
  return `no live record names ${ip}${expired}`;
}

/**
 * Under the verdict: what the destination is by DNS, and, when the source pod runs on another
 * node than the records', that its own agent judges it with other records.
 */
export function dnsAddressLines(view: ClusterView, x: Explanation, dns: LiveDns): string[] {
  const ip = x.dst.ip;
  const rs = liveRecords(dns, ip);
  const out = [`DNS (${dns.source}): ${rs.length ? recordsText(rs, dns.now) : noRecordText(dns, ip)}`];
  const node = x.src.pod !== undefined ? view.pods.get(x.src.pod)?.nodeName : undefined;
  if (dns.node !== undefined && node !== undefined && node !== dns.node) {
    out.push(`note: ${x.src.pod} runs on node ${node}, and these are node ${dns.node}'s records: each node's agent judges its pods with the names its own pods looked up`);
  }
  return out;
}

/** The live records of the address that the peer's names cover (what made the peer match). */
function coveringRecords(dns: LiveDns, p: ClusterPolicyPeer, ip: string): NameRecord[] {
  return liveRecords(dns, ip).filter((r) => r.names.some((n) => peerNamesMatch(p.domainNames!, n)));
}

/** Under a domainNames peer that matched: the records that made it match. */
export function domainPeerMatchText(dns: LiveDns | undefined, p: ClusterPolicyPeer, ip: string): string | undefined {
  if (!dns || !p.domainNames) return undefined;
  const rs = coveringRecords(dns, p, ip);
  return rs.length ? recordsText(rs, dns.now) : undefined;
}

const MAX_LISTED = 4;

/** Why a domainNames peer did not match the address. */
export function domainPeerWhy(dns: LiveDns | undefined, p: ClusterPolicyPeer, ip: string): string {
  const names = p.domainNames!;
  if (!dns) {
    return 'a domainNames peer matches only addresses a node agent learned from DNS answers, and explain has none: ' +
      '--dns-status FILE (the agent\'s status file) judges with that node\'s live records';
  }
  const rs = liveRecords(dns, ip);
  // Only a bug can get here (the peer's addresses come from these very records): say it, never a false "does not cover".
  if (coveringRecords(dns, p, ip).length) return `${recordsText(coveringRecords(dns, p, ip), dns.now)}, yet the peer's learned addresses do not include it (a Palisade bug: please report it)`;
  if (rs.length) {
    const cover = names.length === 1 ? `which ${names[0]} does not cover` : `which none of ${names.join(', ')} covers`;
    return `${recordsText(rs, dns.now)}, ${cover}`;
  }
  const learned = p.learned ?? [];
  const listed = learned.length > MAX_LISTED ? `${learned.slice(0, MAX_LISTED).join(', ')} and ${learned.length - MAX_LISTED} more` : learned.join(', ');
  const others = learned.length ? `live records give them ${listed}` : 'no live record gives them an address';
  return `${noRecordText(dns, ip)}; the rule's names: ${names.join(', ')} (${others})`;
}

const VERB = { Accept: ['allowed', 'not allowed'], Deny: ['denied', 'not denied'], Pass: ['passed on', 'not passed on'] } as const;

/**
 * Under the egress side's summary: for every domainNames rule the walk checked, the name that
 * made it match ("allowed by admin/p/r: 10.0.3.7 is api.example.com (...)") or why none did.
 */
export function domainRuleLines(view: ClusterView, x: Explanation, walk: SideTierWalk, dns: LiveDns | undefined): string[] {
  const ip = x.dst.ip;
  const out: string[] = [];
  for (const step of walk.steps) {
    if (step.tier !== 'admin' && step.tier !== 'baseline') continue;
    for (const c of step.checks) {
      const pol = view.clusterPolicies.get(c.ref.policy);
      const rule = pol && clusterRules(pol, 'egress')[c.ref.index];
      if (!rule || c.effect !== 'as-written' || !rule.peers.some((p) => p.domainNames)) continue;
      const [yes, no] = VERB[rule.action];
      const label = ruleLabel(c.ref);
      const peer = c.peer !== undefined ? rule.peers[c.peer] : undefined;
      if (peer?.domainNames) {
        const why = domainPeerMatchText(dns, peer, ip) ?? `${ip} is among the addresses learned for ${peer.domainNames.join(', ')}`;
        out.push(c.matched ? `${yes} by ${label}: ${why}` : `${no} by ${label}: ${why}, but no protocols entry matches ${x.connection.protocol}/${x.connection.port}`);
      } else if (!c.matched && c.failedClause === 'peers') {
        for (const p of rule.peers) if (p.domainNames) out.push(`${no} by ${label}: ${domainPeerWhy(dns, p, ip)}`);
      }
    }
  }
  return out;
}
