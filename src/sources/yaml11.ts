// kubectl reads manifests as YAML 1.1 (sigs.k8s.io/yaml), this reader as YAML 1.2 (the yaml
// package's core schema). A few unquoted values differ between the two: yes/no/on/off (and y/n)
// are text here and booleans to kubectl, which the API server refuses where text is expected (a
// label value); a number with a leading 0 is decimal here and octal to kubectl; one with an
// underscore (8_080) is text here and a number to kubectl. The value is read as written here
// (the agent enforcing a folder is the one judge of it) and each such value is warned about,
// so that verify's answer for a file is not taken for what the cluster would do with it.

import { type Document, isPair, isScalar, isSeq, visit } from 'yaml';

/** A plain value YAML 1.1 reads otherwise: the steps (keys, indices) from the document down, and why. */
export interface Yaml11Surprise {
  readonly steps: readonly (string | number)[];
  readonly message: string;
}

const BOOLEAN_11 = /^(y|Y|yes|Yes|YES|on|On|ON|n|N|no|No|NO|off|Off|OFF)$/;
const TRUE_11 = /^(y|Y|yes|Yes|YES|on|On|ON)$/;

/** Why YAML 1.1 reads the plain scalar `source` (read here as `value`) otherwise, or undefined. */
function surprise(source: string, value: unknown): string | undefined {
  if (BOOLEAN_11.test(source)) {
    return `unquoted ${source} is the text "${source}" here, but kubectl (YAML 1.1) reads the boolean ${TRUE_11.test(source)}, which the API server refuses where text is expected; write "${source}" in quotes`;
  }
  const m = /^([-+]?)(0b[01_]+|[0-9][0-9_]*)$/.exec(source);
  if (!m) return undefined;
  const digits = m[2]!.replace(/_/g, '');
  const magnitude = digits.startsWith('0b') ? parseInt(digits.slice(2), 2) : /^0[0-7]+$/.test(digits) ? parseInt(digits, 8) : Number(digits);
  const read = m[1] === '-' ? -magnitude : magnitude;
  if (read === value) return undefined;
  if (typeof value === 'string') return `unquoted ${source} is the text "${source}" here, but kubectl (YAML 1.1) reads the number ${read}; write it without the ${digits.startsWith('0b') ? '0b' : '_'}`;
  return `unquoted ${source} is ${String(value)} here, but kubectl (YAML 1.1) reads ${read} (a leading 0 means octal); write it without the leading 0`;
}

/** Every plain value of `doc` (not a key) that YAML 1.1 reads otherwise. */
export function yaml11Surprises(doc: Document): Yaml11Surprise[] {
  const out: Yaml11Surprise[] = [];
  visit(doc, {
    Scalar(key, node, path) {
      if (key === 'key' || node.type !== 'PLAIN' || typeof node.source !== 'string') return;
      const message = surprise(node.source, node.value);
      if (message === undefined) return;
      const chain = [...path, node];
      const steps: (string | number)[] = [];
      for (let i = 0; i < chain.length - 1; i++) {
        const a = chain[i];
        if (isPair(a)) steps.push(String(isScalar(a.key) ? a.key.value : a.key));
        else if (isSeq(a)) steps.push(a.items.indexOf(chain[i + 1] as never));
      }
      out.push({ steps, message });
    },
  });
  return out;
}

/**
 * The surprises under the item at `prefix` (its steps from the document), each with a decoder-
 * style field path relative to it ("spec.ports[0].port", "metadata.labels[example.com/x]").
 */
export function surprisesUnder(all: readonly Yaml11Surprise[], prefix: readonly (string | number)[]): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  for (const s of all) {
    if (s.steps.length <= prefix.length || prefix.some((p, i) => s.steps[i] !== p)) continue;
    const field = s.steps.slice(prefix.length).map((x) => (typeof x === 'number' ? `[${x}]` : /^[A-Za-z0-9_-]+$/.test(x) ? `.${x}` : `[${x}]`)).join('').replace(/^\./, '');
    out.push({ field, message: s.message });
  }
  return out;
}
