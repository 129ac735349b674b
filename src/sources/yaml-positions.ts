// Where a decoder field path (e.g. "spec.ingress[0].form", "metadata.labels[app.kubernetes.io/name]")
// is written in a YAML/JSON document, so an error can say "policies.yaml:15:7" instead of only
// "document 2". The decoder works on plain objects and knows nothing of text; the yaml package's
// Document keeps every node's offsets, and its LineCounter turns an offset into line and column.
// A path that leads to nothing (a required field that is missing) gets the nearest node that
// exists on the way: the parent the field belongs in.

import type { ObjectError } from '../cluster/model.ts';
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

export interface Position {
  /** 1-based, as editors and compilers print them. */
  readonly line: number;
  readonly col: number;
}

/**
 * Splits a decoder field path into steps: "a.b[0].c" -> a, b, [0], c. A bracketed step is an index
 * or a map key that may itself contain dots or slashes (label keys), so brackets are read whole.
 * Pseudo-fields such as "(root)" yield no step: they stand for the whole object.
 */
export function pathSteps(path: string): string[] {
  if (path === '' || /^\(.*\)$/.test(path)) return [];
  const steps: string[] = [];
  let cur = '';
  for (let i = 0; i < path.length; i++) {
    const ch = path[i]!;
    if (ch === '.') {
      if (cur !== '') steps.push(cur);
      cur = '';
    } else if (ch === '[') {
      if (cur !== '') steps.push(cur);
      cur = '';
      const end = path.indexOf(']', i + 1);
      if (end === -1) {
        steps.push(path.slice(i + 1));
        return steps;
      }
      steps.push(path.slice(i + 1, end));
      i = end;
    } else cur += ch;
  }
  if (cur !== '') steps.push(cur);
  return steps;
}

function deref(doc: Document, node: unknown): unknown {
  // An alias stands for its anchor's node; point where the value is actually written.
  return isAlias(node) ? node.resolve(doc) : node;
}

function startOf(node: unknown): number | undefined {
  const r = (node as Node | null | undefined)?.range;
  return r ? r[0] : undefined;
}

/**
 * The text offset of the node a field path names inside `doc`. A map field points at its key
 * (where the field is written, which is what an unknown or misspelt field needs); a list entry
 * at the entry. Returns the deepest node that exists along the path.
 */
export function offsetOfPath(doc: Document, path: string): number | undefined {
  let node = deref(doc, doc.contents);
  let best = startOf(node);
  for (const step of pathSteps(path)) {
    if (isSeq(node) && /^\d+$/.test(step)) {
      const item = node.items[Number(step)];
      if (item === undefined) break;
      node = deref(doc, item);
      best = startOf(node) ?? best;
    } else if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === step);
      if (!pair) break;
      best = startOf(pair.key) ?? best;
      node = deref(doc, pair.value);
    } else break;
  }
  return best;
}

/** Line and column (1-based) of a field path, or undefined when the document has no offsets. */
export function positionOfPath(doc: Document, path: string, lines: LineCounter): Position | undefined {
  const offset = offsetOfPath(doc, path);
  return offset === undefined ? undefined : lines.linePos(offset);
}

/**
 * Errors of one object decoded from document `docNumber` (1-based) of `file`, pointed at their
 * line and column: the source becomes "file:line:col" and the document number moves to the end
 * of the message as context. `items` is the path of item indices of a member of a "kind: List"
 * document ([i], or [i, j] in a list in a list; the decoder's paths are relative to the item).
 * An error whose position is unknown keeps its source.
 */
export function locateErrors(errors: readonly ObjectError[], file: string, docNumber: number, doc: Document, lines: LineCounter, items: readonly number[] = []): ObjectError[] {
  const member = items.map((i) => `items[${i}]`).join('.');
  return errors.map((e) => {
    const own = pathSteps(e.field).length === 0 ? '' : e.field;
    const path = [member, own].filter((p) => p !== '').join('.');
    const pos = positionOfPath(doc, path, lines);
    if (!pos) return e;
    const context = member === '' ? `document ${docNumber}` : `document ${docNumber}, ${member}`;
    return { ...e, source: `${file}:${pos.line}:${pos.col}`, message: `${e.message} (${context})` };
  });
}
