// `palisade matrix`'s table, laid out for a width: the full-name table when it fits, else
// numbered columns. A row and a column per pod, both named "namespace/name", make a line of
// about (pods + 1) x the longest name: 45 Deployment replicas take 2,000 columns, which a
// terminal wraps into noise.

import { alignedLines, shownWidth } from './text-table.ts';

/** Cells per group in the numbered layout: a space every 5 columns to count by. */
const GROUP = 5;

/**
 * The table of `cells[i][j]` (from pod `keys[i]` to pod `keys[j]`, one character each) as lines
 * of at most `limit` columns where it can be done. The full-name table when it fits (header
 * "-" and the names, tab-separated and aligned, the e2e suite's truth table); else rows "N
 * ns/name" and columns numbered N, column N being row N's pod, the numbers written downwards
 * over their columns (tens above ones) and one character a cell, in blocks of as many columns
 * as fit, each block with every row. Only the row labels can make a line longer than `limit`.
 */
export function matrixLines(keys: readonly string[], cells: readonly (readonly string[])[], limit: number): string[] {
  const named = alignedLines([['-', ...keys], ...keys.map((k, i) => [k, ...cells[i]!])], '\t');
  if (Math.max(...named.map(shownWidth)) <= limit) return named;
  const labels = keys.map((k, i) => `${String(i + 1).padStart(String(keys.length).length)} ${k}`);
  const labelWidth = Math.max(...labels.map((l) => l.length)) + 2;
  // A block of g groups takes g x (GROUP + 1) - 1 columns after the labels; one group at least.
  const perBlock = GROUP * Math.max(1, Math.floor((limit - labelWidth + 1) / (GROUP + 1)));
  const spaced = (chars: string[]) => chars.map((c, j) => (j > 0 && j % GROUP === 0 ? ' ' : '') + c).join('');
  const out: string[] = [];
  for (let start = 0; start < keys.length; start += perBlock) {
    const cols = keys.slice(start, start + perBlock).map((_, j) => start + j);
    if (start > 0) out.push('');
    // As many lines of digits as the block's last number has: none of them blank.
    const digits = String(cols.at(-1)! + 1).length;
    for (let d = 0; d < digits; d++) out.push((' '.repeat(labelWidth) + spaced(cols.map((c) => String(c + 1).padStart(digits)[d]!))).trimEnd());
    labels.forEach((l, i) => out.push(l.padEnd(labelWidth) + spaced(cols.map((c) => cells[i]![c]!))));
  }
  return out;
}
