// TEST-ONLY RuleSnapshot: a first-match allow/deny table over (src CIDR, dst CIDR, proto, port
// range). It is not NetworkPolicy semantics; it exists so the classifier and conntrack can be
// tested on their own (and the real CompiledEngine is tested against the evaluator elsewhere).
// judge4/judge6 allocate nothing, so it also serves the zero-allocation check.

import { parseCIDR } from '../../src/net/address.ts';
import { ACTION, SIDE, ruleCode, type RuleSnapshot } from '../../src/policy/engine-api.ts';
import type { RuleRef } from '../../src/policy/decision.ts';

export interface TableRule {
  /** CIDR text; absent = any address of either family. */
  src?: string;
  dst?: string;
  /** IP protocol number; absent = any. */
  proto?: number;
  /** Port or [from, to]; absent = any port (including 0). */
  port?: number | [number, number];
  allow: boolean;
}

export interface TablePod {
  name: string;
  ips: string[];
}

export class TableSnapshot implements RuleSnapshot {
  egressCode: number = SIDE.NOT_JUDGED;
  ingressCode: number = SIDE.NOT_JUDGED;
  srcSlot = -1;
  dstSlot = -1;

  private readonly n: number;
  // Per rule: family (0 any, 4, 6) for src and dst, 4 address words + prefix each, proto, ports.
  private readonly sFam: Int8Array;
  private readonly dFam: Int8Array;
  private readonly sW: Uint32Array;
  private readonly dW: Uint32Array;
  private readonly sPfx: Int16Array;
  private readonly dPfx: Int16Array;
  private readonly protoA: Int16Array;
  private readonly portLo: Int32Array;
  private readonly portHi: Int32Array;
  private readonly allowA: Uint8Array;
  private readonly pods4 = new Map<number, number>();
  private readonly pods6 = new Map<string, number>();
  private readonly names: string[];
  /** Counts judge calls (tests check the conntrack fast path skips the table). */
  judgeCalls = 0;

  constructor(readonly generation: number, rules: readonly TableRule[], private readonly defaultAllow: boolean, pods: readonly TablePod[] = []) {
    const n = (this.n = rules.length);
    this.sFam = new Int8Array(n); this.dFam = new Int8Array(n);
    this.sW = new Uint32Array(n * 4); this.dW = new Uint32Array(n * 4);
    this.sPfx = new Int16Array(n); this.dPfx = new Int16Array(n);
    this.protoA = new Int16Array(n).fill(-1);
    this.portLo = new Int32Array(n); this.portHi = new Int32Array(n).fill(65535);
    this.allowA = new Uint8Array(n);
    rules.forEach((r, i) => {
      for (const [text, fam, w, pfx] of [[r.src, this.sFam, this.sW, this.sPfx], [r.dst, this.dFam, this.dW, this.dPfx]] as const) {
        if (text === undefined) continue;
        const c = parseCIDR(text);
        if (!c) throw new Error(`test table: bad CIDR ${text}`);
        fam[i] = c.family === 'IPv4' ? 4 : 6;
        c.words.forEach((x, k) => (w[i * 4 + k] = x));
        pfx[i] = c.prefix;
      }
      if (r.proto !== undefined) this.protoA[i] = r.proto;
      if (typeof r.port === 'number') { this.portLo[i] = r.port; this.portHi[i] = r.port; }
      else if (r.port) { this.portLo[i] = r.port[0]; this.portHi[i] = r.port[1]; }
      this.allowA[i] = r.allow ? 1 : 0;
    });
    this.names = pods.map((p) => p.name);
    pods.forEach((p, slot) => {
      for (const ip of p.ips) {
        const c = parseCIDR(ip.includes(':') ? `${ip}/128` : `${ip}/32`)!;
        if (c.family === 'IPv4') this.pods4.set(c.words[0]!, slot);
        else this.pods6.set(c.words.join(','), slot);
      }
    });
  }

  private static within(w: Uint32Array, at: number, pfx: number, a: number, b: number, c: number, d: number): boolean {
    for (let k = 0; k < 4; k++) {
      const keep = pfx - 32 * k;
      if (keep <= 0) return true;
      const x = k === 0 ? a : k === 1 ? b : k === 2 ? c : d;
      const m = keep >= 32 ? 0xffffffff : (0xffffffff << (32 - keep)) >>> 0;
      if (((x & m) >>> 0) !== w[at + k]) return false;
    }
    return true;
  }

  private run(fam: number, s0: number, s1: number, s2: number, s3: number, d0: number, d1: number, d2: number, d3: number, proto: number, port: number): boolean {
    this.judgeCalls++;
    for (let i = 0; i < this.n; i++) {
      const sf = this.sFam[i]!, df = this.dFam[i]!;
      if (sf !== 0 && (sf !== fam || !TableSnapshot.within(this.sW, i * 4, this.sPfx[i]!, s0, s1, s2, s3))) continue;
      if (df !== 0 && (df !== fam || !TableSnapshot.within(this.dW, i * 4, this.dPfx[i]!, d0, d1, d2, d3))) continue;
      const p = this.protoA[i]!;
      if (p !== -1 && p !== proto) continue;
      if (port < this.portLo[i]! || port > this.portHi[i]!) continue;
      const allow = this.allowA[i] === 1;
      this.egressCode = allow ? ruleCode(i, ACTION.ACCEPT) : SIDE.NO_RULE;
      this.ingressCode = this.egressCode;
      return allow;
    }
    this.egressCode = this.defaultAllow ? SIDE.NOT_ISOLATED : SIDE.NO_RULE;
    this.ingressCode = this.egressCode;
    return this.defaultAllow;
  }

  judge4(src: number, dst: number, proto: number, port: number): boolean {
    this.srcSlot = this.podSlot4(src);
    this.dstSlot = this.podSlot4(dst);
    return this.run(4, src, 0, 0, 0, dst, 0, 0, 0, proto, port);
  }
  judge6(s0: number, s1: number, s2: number, s3: number, d0: number, d1: number, d2: number, d3: number, proto: number, port: number): boolean {
    this.srcSlot = -1;
    this.dstSlot = -1;
    return this.run(6, s0, s1, s2, s3, d0, d1, d2, d3, proto, port);
  }
  podSlot4(addr: number): number {
    return this.pods4.get(addr) ?? -1;
  }
  podSlot6(a: number, b: number, c: number, d: number): number {
    return this.pods6.get(`${a},${b},${c},${d}`) ?? -1;
  }
  isLocal(slot: number): boolean {
    return slot >= 0;
  }
  podName(slot: number): string {
    return this.names[slot] ?? '';
  }
  ruleRef(ruleId: number): RuleRef {
    return { policy: `table/rule-${ruleId}`, direction: 'ingress', index: ruleId };
  }
  isolatingPolicies(): readonly string[] {
    return [];
  }
}
