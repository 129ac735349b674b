// Judging one address pair at every interval start (see connectivity.ts, "Ports"), in two steps
// so the common case allocates nothing: scan() calls the compiled engine once per interval and
// keeps the side codes in reused typed arrays; build() turns a scan into the model's runs of
// ports (EdgePart) only for the pairs that are kept. On the benchmark's 10,000-pod cluster three
// quarters of the 524,000 endpoint pairs allow nothing: they are scanned and dropped, never built.

import type { Family, Protocol } from '../cluster/model.ts';
import { PROTOCOLS, protocolNumber } from '../cluster/model.ts';
import type { SideDecision } from '../policy/decision.ts';
import { sideAllows, sideJudged, sideReason, sideRule, type RuleSnapshot } from '../policy/engine-api.ts';
import type { Direction } from '../policy/spec-facts.ts';
import { MAX_PORT, type PortRange, type PortSet } from './ports.ts';
import type { EdgePart } from './connectivity.ts';

const PROTO_NUMBERS = PROTOCOLS.map(protocolNumber);

/** The codes of one scanned pair: interval k of protocol p is at offset[p] + k. */
class Scan {
  egress = new Int32Array(64);
  ingress = new Int32Array(64);
  ok = new Uint8Array(64);
  readonly offset = [0, 0, 0, 0];
  starts: Record<Protocol, Int32Array> | undefined;
  srcSlot = -1;
  dstSlot = -1;
  anyAllowed = false;

  reserve(n: number): void {
    if (n <= this.egress.length) return;
    const size = Math.max(n, this.egress.length * 2);
    this.egress = new Int32Array(size);
    this.ingress = new Int32Array(size);
    this.ok = new Uint8Array(size);
  }
}

/** Shared between the edges judged alike: read-only. */
export interface Judged {
  readonly ports: PortSet;
  readonly parts: EdgePart[];
}

export class PortScanner {
  private readonly scans: Scan[] = [];
  /** Side decisions per direction, policy class (see policyClass) and code. */
  private readonly sides: [Map<number, SideDecision>[], Map<number, SideDecision>[]] = [[], []];
  private readonly slotClass: [number[], number[]] = [[], []];
  private readonly classIds = new Map<string, number>();
  /** Built results by a hash of what decides them (interval starts, side codes, policy classes): equal scans share one. */
  private readonly built = new Map<number, { readonly scan: Int32Array; readonly judged: Judged }[]>();
  private readonly startsIds = new Map<Record<Protocol, Int32Array>, number>();
  /** build()'s lookup key, reused (copied only when a new result is stored). */
  private key = new Int32Array(128);
  private readonly v4: boolean;

  constructor(private readonly snap: RuleSnapshot, family: Family) {
    this.v4 = family === 'IPv4';
  }

  /** Judges s -> d (address words as int32) at every interval start into scan slot n; true when some port is allowed. */
  scan(n: number, s: readonly number[], d: readonly number[], starts: Record<Protocol, Int32Array>): boolean {
    while (this.scans.length <= n) this.scans.push(new Scan());
    const sc = this.scans[n]!;
    const total = starts.TCP.length + starts.UDP.length + starts.SCTP.length;
    sc.reserve(total);
    sc.starts = starts;
    const snap = this.snap, v4 = this.v4, eg = sc.egress, ing = sc.ingress, ok = sc.ok;
    let any = false, o = 0;
    for (let p = 0; p < 3; p++) {
      sc.offset[p] = o;
      const st = starts[PROTOCOLS[p]!], proto = PROTO_NUMBERS[p]!;
      for (let k = 0; k < st.length; k++, o++) {
        const port = st[k]!;
        const allowed = v4
          ? snap.judge4(s[0]!, d[0]!, proto, port)
          : snap.judge6(s[0]!, s[1]!, s[2]!, s[3]!, d[0]!, d[1]!, d[2]!, d[3]!, proto, port);
        eg[o] = snap.egressCode;
        ing[o] = snap.ingressCode;
        ok[o] = allowed ? 1 : 0;
        if (allowed) any = true;
      }
    }
    sc.offset[3] = o;
    // Slots depend on the addresses only: the same for every call of this pair.
    sc.srcSlot = snap.srcSlot;
    sc.dstSlot = snap.dstSlot;
    sc.anyAllowed = any;
    return any;
  }

  /** Scan n as the allowed ports and the runs of equal decisions (protocol by protocol, ascending). */
  build(n: number): Judged {
    const sc = this.scans[n]!;
    // What build() reads: the starts, the codes, and the slots only through their policy classes.
    const total = sc.offset[3]!;
    let startsId = this.startsIds.get(sc.starts!);
    if (startsId === undefined) this.startsIds.set(sc.starts!, (startsId = this.startsIds.size));
    if (this.key.length < 3 + 2 * total) this.key = new Int32Array(2 * (3 + 2 * total));
    const key = this.key.subarray(0, 3 + 2 * total);
    key[0] = startsId;
    key[1] = this.policyClass(sc.srcSlot, 0);
    key[2] = this.policyClass(sc.dstSlot, 1);
    key.set(sc.egress.subarray(0, total), 3);
    key.set(sc.ingress.subarray(0, total), 3 + total);
    let h = 0;
    for (let x = 0; x < key.length; x++) h = (Math.imul(h, 31) + key[x]!) | 0;
    let bucket = this.built.get(h);
    if (!bucket) this.built.set(h, (bucket = []));
    for (const b of bucket) if (sameInts(b.scan, key)) return b.judged;
    const judged = this.buildScan(sc);
    bucket.push({ scan: key.slice(), judged });
    return judged;
  }

  private buildScan(sc: Scan): Judged {
    const parts: EdgePart[] = [];
    const allowed: Record<Protocol, PortRange[]> = { TCP: [], UDP: [], SCTP: [] };
    for (let p = 0; p < 3; p++) {
      const protocol = PROTOCOLS[p]!;
      const st = sc.starts![protocol];
      const base = sc.offset[p]!;
      const runs = allowed[protocol];
      // Runs of one pair of side codes (few per protocol: a linear search beats a keyed map).
      const eCodes: number[] = [], iCodes: number[] = [], oks: boolean[] = [], ranges: PortRange[][] = [];
      let cur = -1;
      for (let k = 0; k < st.length; k++) {
        const from = st[k]!, to = k + 1 < st.length ? st[k + 1]! - 1 : MAX_PORT;
        const e = sc.egress[base + k]!, i = sc.ingress[base + k]!, ok = sc.ok[base + k] === 1;
        if (cur < 0 || eCodes[cur] !== e || iCodes[cur] !== i) {
          cur = -1;
          for (let x = 0; x < eCodes.length; x++) if (eCodes[x] === e && iCodes[x] === i) cur = x;
          if (cur < 0) {
            cur = eCodes.length;
            eCodes.push(e);
            iCodes.push(i);
            oks.push(ok);
            ranges.push([]);
          }
        }
        const rs = ranges[cur]!;
        const last = rs[rs.length - 1];
        if (last && last.to + 1 === from) rs[rs.length - 1] = { from: last.from, to };
        else rs.push({ from, to });
        if (ok) {
          const lr = runs[runs.length - 1];
          if (lr && lr.to + 1 === from) runs[runs.length - 1] = { from: lr.from, to };
          else runs.push({ from, to });
        }
      }
      for (let x = 0; x < eCodes.length; x++) {
        parts.push({ protocol, ranges: ranges[x]!, allowed: oks[x]!, egress: this.side(eCodes[x]!, sc.srcSlot, 'egress'), ingress: this.side(iCodes[x]!, sc.dstSlot, 'ingress') });
      }
    }
    return { ports: allowed, parts };
  }

  /**
   * The side decision of a code on a slot. Interned by content (direction, the slot's isolating
   * policies, code) so that equal decisions are one object: parts compare them by identity, and
   * the members of a group (one template, the same policies) share them.
   */
  private side(code: number, slot: number, dir: Direction): SideDecision {
    const d = dir === 'egress' ? 0 : 1;
    const cls = this.policyClass(slot, d);
    const byClass = this.sides[d];
    let m = byClass[cls];
    if (!m) byClass[cls] = m = new Map();
    let out = m.get(code);
    if (!out) {
      // As decide.ts reads a side code (the answer evaluate() gives for the side).
      if (!sideJudged(code)) out = { allowed: true, reason: 'not-a-pod', isolated: false, policies: [] };
      else {
        const policies = [...this.snap.isolatingPolicies(slot, dir)];
        const base = { allowed: sideAllows(code), reason: sideReason(code), isolated: policies.length > 0, policies };
        const rule = sideRule(code);
        out = rule >= 0 ? { ...base, rule: this.snap.ruleRef(rule) } : base;
      }
      m.set(code, out);
    }
    return out;
  }

  /** A small number per distinct list of isolating policies of a slot in a direction (0: no slot). */
  private policyClass(slot: number, d: 0 | 1): number {
    if (slot < 0) return 0;
    const bySlot = this.slotClass[d];
    let c = bySlot[slot];
    if (c === undefined) {
      const key = this.snap.isolatingPolicies(slot, d === 0 ? 'egress' : 'ingress').join(' ');
      const known = this.classIds.get(key);
      c = known ?? this.classIds.size + 1;
      if (known === undefined) this.classIds.set(key, c);
      bySlot[slot] = c;
    }
    return c;
  }
}

function sameInts(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
