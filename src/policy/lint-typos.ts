// The typo check: a selector term that matches nothing, one or two edits away from a label that
// exists. It reads intent, so its finding is worded as a question.

import type { LabelSelector, Labels } from '../cluster/model.ts';
import { LINT, type Finding } from './lint-findings.ts';

// ---------------------------------------------------------------------------------------------
// Edit distance (optimal string alignment: a transposition counts as one edit, the common typo).

export function editDistance(a: string, b: string, cap = 3): number {
  if (a === b) return 0;
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  const rows = a.length + 1, cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = v;
    }
  }
  return d[rows * cols - 1]!;
}

/** How many edits we call a typo: none for 1-2 character strings (pod=a vs pod=b is not a typo). */
function tolerance(s: string): number {
  return s.length >= 8 ? 2 : s.length >= 3 ? 1 : 0;
}

export interface LabelUniverse {
  readonly pairs: Map<string, Set<string>>; // key -> values present
}

export function universe(labelSets: Iterable<Labels>): LabelUniverse {
  const pairs = new Map<string, Set<string>>();
  for (const ls of labelSets) {
    for (const [k, v] of Object.entries(ls)) {
      let s = pairs.get(k);
      if (!s) pairs.set(k, (s = new Set()));
      s.add(v);
    }
  }
  return { pairs };
}

export interface TypoHit {
  readonly term: string;
  readonly suggestion: string;
  readonly distance: number;
  readonly path: string;
}

function nearestPair(u: LabelUniverse, k: string, v: string): { k: string; v: string; d: number } | undefined {
  let best: { k: string; v: string; d: number } | undefined;
  for (const [k2, values] of u.pairs) {
    const dk = editDistance(k, k2);
    if (dk > tolerance(k)) continue;
    for (const v2 of values) {
      const dv = editDistance(v, v2);
      if (dv > tolerance(v)) continue;
      const d = dk + dv;
      if (d >= 1 && d <= 2 && (!best || d < best.d)) best = { k: k2, v: v2, d };
    }
  }
  return best;
}

/** Terms of a selector that match no object on their own, with a near label that does exist. */
export function typos(sel: LabelSelector, u: LabelUniverse, path: string): TypoHit[] {
  const out: TypoHit[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels)) {
    if (u.pairs.get(k)?.has(v)) continue;
    const n = nearestPair(u, k, v);
    if (n) out.push({ term: `${k}=${v}`, suggestion: `${n.k}=${n.v}`, distance: n.d, path: `${path}.matchLabels` });
  }
  sel.matchExpressions.forEach((r, i) => {
    if (r.operator === 'In') {
      if (r.values.some((v) => u.pairs.get(r.key)?.has(v))) return;
      for (const v of r.values) {
        const n = nearestPair(u, r.key, v);
        if (n) out.push({ term: `${r.key} in (${v})`, suggestion: `${n.k}=${n.v}`, distance: n.d, path: `${path}.matchExpressions[${i}]` });
      }
    } else if (r.operator === 'Exists') {
      if (u.pairs.has(r.key)) return;
      for (const k2 of u.pairs.keys()) {
        const d = editDistance(r.key, k2);
        if (d >= 1 && d <= tolerance(r.key)) {
          out.push({ term: `${r.key} (Exists)`, suggestion: k2, distance: d, path: `${path}.matchExpressions[${i}]` });
          break;
        }
      }
    }
    // NotIn / DoesNotExist: a typo there makes the selector match MORE, never nothing.
  });
  return out;
}

export function pushTypos(obj: string, hits: TypoHit[], what: string, out: Finding[]): void {
  for (const h of hits) {
    out.push({
      code: LINT.LABEL_TYPO,
      severity: 'warning',
      object: obj,
      field: h.path,
      reason: `"${h.term}" matches no ${what}, but ${what}s carry "${h.suggestion}" (${h.distance} edit${h.distance > 1 ? 's' : ''} away): a typo?`,
      fix: `did you mean ${h.suggestion}? change ${h.path} to use "${h.suggestion}"`,
    });
  }
}
