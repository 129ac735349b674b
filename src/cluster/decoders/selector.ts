// metav1.LabelSelector, decoded strictly (unknown fields are errors) with the API server's
// label-selector validation. Shared by every policy kind.
//
// That validation is Go code the API server runs for its built-in kinds (NetworkPolicy). A
// custom resource (the cluster policies) gets only its CRD's schema, which types the fields
// but checks no label syntax, operator or values count: the API server stores
// `operator: Bogus`, or In with no values. Such a selector cannot be built, and what that means
// is the caller's (a peer fails closed, a subject has no safe meaning): those problems go to
// `syntax`, errors unless the caller says otherwise. Type errors and missing fields stay errors
// (the schema rejects them).

import type { LabelSelector, LabelSelectorRequirement, SelectorOperator } from '../model.ts';
import { labelKeyProblems, labelValueProblems } from '../names.ts';
import { type Errs, type SyntaxProblem, labelsOf } from './fields.ts';

const OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

export function decodeSelector(e: Errs, v: unknown, path: string, syntax: SyntaxProblem = (f, m) => e.add(f, m)): LabelSelector | undefined {
  const o = e.obj(v, path);
  if (!o) return undefined;
  e.strict(o, ['matchLabels', 'matchExpressions'], path);
  const matchLabels = labelsOf(e, o.matchLabels, `${path}.matchLabels`, syntax);
  const matchExpressions: LabelSelectorRequirement[] = [];
  e.list_(o.matchExpressions, `${path}.matchExpressions`).forEach((r, i) => {
    const rp = `${path}.matchExpressions[${i}]`;
    const ro = e.obj(r, rp);
    if (!ro) {
      if (r === null || r === undefined) e.add(rp, 'must be an object, got null');
      return;
    }
    e.strict(ro, ['key', 'operator', 'values'], rp);
    const key = e.str(ro.key, `${rp}.key`);
    if (key === undefined) {
      if (ro.key === undefined || ro.key === null) e.add(`${rp}.key`, 'required');
    } else for (const p of labelKeyProblems(key)) syntax(`${rp}.key`, `invalid label key ${JSON.stringify(key)}: ${p}`);
    const op = e.str(ro.operator, `${rp}.operator`);
    const values: string[] = [];
    e.list_(ro.values, `${rp}.values`).forEach((x, j) => {
      const s = e.str(x, `${rp}.values[${j}]`);
      if (s === undefined) {
        if (x === null || x === undefined) e.add(`${rp}.values[${j}]`, 'must be a string, got null');
        return;
      }
      for (const p of labelValueProblems(s)) syntax(`${rp}.values[${j}]`, `invalid label value ${JSON.stringify(s)}: ${p}`);
      values.push(s);
    });
    if (op === undefined) {
      if (ro.operator === undefined || ro.operator === null) e.add(`${rp}.operator`, 'required');
      return;
    }
    if (!(OPERATORS as readonly string[]).includes(op)) {
      syntax(`${rp}.operator`, `invalid value ${JSON.stringify(op)}: not a valid selector operator (In, NotIn, Exists, DoesNotExist)`);
      return;
    }
    if ((op === 'In' || op === 'NotIn') && values.length === 0) {
      syntax(`${rp}.values`, "must be specified when `operator` is 'In' or 'NotIn'");
    }
    if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) {
      syntax(`${rp}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    }
    if (key !== undefined) matchExpressions.push({ key, operator: op as SelectorOperator, values });
  });
  return { matchLabels, matchExpressions };
}

