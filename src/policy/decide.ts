// Off the hot path: a snapshot's numeric answer in the Decision shape of decision.ts, for the
// differential test, `verify` and `explain` (the same shape the plain evaluator answers).

import { protocolNumber } from '../cluster/model.ts';
import { parseIP } from '../net/address.ts';
import type { Connection, Decision, SideDecision } from './decision.ts';
import { sideAllows, sideJudged, sideReason, sideRule, type RuleSnapshot } from './engine-api.ts';
import type { Direction } from './spec-facts.ts';

const NOT_A_POD: SideDecision = { allowed: true, reason: 'not-a-pod', isolated: false, policies: [] };

function sideOf(snap: RuleSnapshot, code: number, slot: number, dir: Direction): SideDecision {
  if (!sideJudged(code)) return NOT_A_POD;
  const policies = [...snap.isolatingPolicies(slot, dir)];
  const d = { allowed: sideAllows(code), reason: sideReason(code), isolated: policies.length > 0, policies };
  const rule = sideRule(code);
  return rule >= 0 ? { ...d, rule: snap.ruleRef(rule) } : d;
}

/**
 * Judges one connection on a snapshot (judge4/judge6, with `stopAtDenial` as the RuleSnapshot
 * says) and returns whether it is allowed; the snapshot's egressCode, ingressCode, srcSlot and
 * dstSlot hold the rest of the answer. Throws on a connection that names no addresses, mixes
 * families or has a port out of range.
 */
export function judgeOn(snap: RuleSnapshot, conn: Connection, stopAtDenial = false): boolean {
  const src = parseIP(conn.src);
  const dst = parseIP(conn.dst);
  if (!src) throw new Error(`connection source ${JSON.stringify(conn.src)} is not an IP address`);
  if (!dst) throw new Error(`connection destination ${JSON.stringify(conn.dst)} is not an IP address`);
  if (src.family !== dst.family) throw new Error(`connection ${conn.src} -> ${conn.dst} mixes address families`);
  if (!Number.isInteger(conn.port) || conn.port < 0 || conn.port > 65535) throw new Error(`connection port ${conn.port} out of range 0..65535`);
  const proto = protocolNumber(conn.protocol);
  return src.family === 'IPv4'
    ? snap.judge4(src.words[0]!, dst.words[0]!, proto, conn.port, stopAtDenial)
    : snap.judge6(src.words[0]!, src.words[1]!, src.words[2]!, src.words[3]!, dst.words[0]!, dst.words[1]!, dst.words[2]!, dst.words[3]!, proto, conn.port, stopAtDenial);
}

/** Judges one connection on a snapshot (the classifier's generation, for explain/verify) in full and answers like evaluate(). */
export function decideOn(snap: RuleSnapshot, conn: Connection): Decision {
  const allowed = judgeOn(snap, conn);
  const s = snap.srcSlot, d = snap.dstSlot;
  const egress = sideOf(snap, snap.egressCode, s, 'egress');
  const ingress = sideOf(snap, snap.ingressCode, d, 'ingress');
  const out: { -readonly [K in keyof Decision]: Decision[K] } = { allowed, egress, ingress };
  if (s >= 0) out.srcPod = snap.podName(s);
  if (d >= 0) out.dstPod = snap.podName(d);
  return out;
}
