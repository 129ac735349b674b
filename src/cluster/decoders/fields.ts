// Field helpers shared by every decoder (src/cluster/decoders/*.ts): type checks that report
// instead of throw, metadata, labels, protocols, port numbers and CIDRs, all checked the way the
// API server checks them. Each helper adds its problems to the object's Errs, with the field
// path, and returns undefined (or a safe empty value) so decoding goes on and every problem of
// an object is reported at once.

import type { ObjectError, Protocol } from '../model.ts';
import { PROTOCOLS } from '../model.ts';
import type { Decoded } from '../kinds.ts';
import { formatCIDR, formatIP, parseCIDR, parseIP, type ParsedCIDR } from '../../net/address.ts';
import { dnsLabelProblems, dnsSubdomainProblems, labelKeyProblems, labelValueProblems } from '../names.ts';

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

/** Collects the errors of one object. */
export class Errs {
  readonly list: ObjectError[] = [];
  /**
   * What is valid but probably not what was meant, as the API server's warnings say it (kubectl
   * prints them as "Warning: ..."): the object is decoded as written, and the manifests reader
   * shows these with their line.
   */
  readonly warnings: ObjectError[] = [];
  constructor(public object: string, readonly source?: string) {}
  add(field: string, message: string): void {
    this.list.push(this.error(field, message));
  }
  warn(field: string, message: string): void {
    this.warnings.push(this.error(field, message));
  }
  private error(field: string, message: string): ObjectError {
    return this.source === undefined ? { object: this.object, field, message } : { object: this.object, field, message, source: this.source };
  }
  /** Fields of a strictly decoded struct: anything not in `known` is an error. */
  strict(o: Obj, known: readonly string[], path: string): void {
    for (const k of Object.keys(o)) {
      if (!known.includes(k)) this.add(path ? `${path}.${k}` : k, `unknown field "${k}" (known fields: ${known.join(', ')})`);
    }
  }
  obj(v: unknown, path: string): Obj | undefined {
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) {
      this.add(path, `must be an object, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }
  list_(v: unknown, path: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.add(path, `must be a list, got ${describe(v)}`);
      return [];
    }
    return v;
  }
  str(v: unknown, path: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') {
      this.add(path, `must be a string, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }
  int(v: unknown, path: string): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.add(path, `must be an integer, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }
}

/**
 * Where a label's syntax problem goes: an error by default; a cluster policy's peer selector
 * passes its own (selector.ts says why).
 */
export type SyntaxProblem = (field: string, message: string) => void;

export function labelsOf(e: Errs, v: unknown, path: string, syntax: SyntaxProblem = (f, m) => e.add(f, m)): Record<string, string> {
  const out: Record<string, string> = {};
  const o = e.obj(v, path);
  if (!o) return out;
  for (const k of Object.keys(o)) {
    const val = o[k];
    for (const p of labelKeyProblems(k)) syntax(`${path}[${k}]`, `invalid label key ${JSON.stringify(k)}: ${p}`);
    if (typeof val !== 'string') {
      e.add(`${path}[${k}]`, `label value must be a string, got ${describe(val)}`);
      continue;
    }
    for (const p of labelValueProblems(val)) syntax(`${path}[${k}]`, `invalid label value ${JSON.stringify(val)}: ${p}`);
    out[k] = val;
  }
  return out;
}

export interface Meta {
  name?: string;
  namespace?: string;
  labels: Record<string, string>;
}

/**
 * The rule the API server holds a kind's metadata.name to: an RFC 1123 subdomain for most kinds
 * (Pod, Node, NetworkPolicy; a custom resource's by default), an RFC 1123 label for Namespace.
 */
export type NameRule = 'subdomain' | 'label';

const NAME_RULES: Record<NameRule, (s: string) => readonly string[]> = { subdomain: dnsSubdomainProblems, label: dnsLabelProblems };

export function metaOf(e: Errs, raw: Obj, namespaced: boolean, nameRule: NameRule): Meta {
  // "required" only where the field is absent or empty: one of the wrong type already has its
  // error ("must be a string, got number 5"), and "required" beside it would say it is missing.
  const absent = (v: unknown) => v === undefined || v === null || v === '';
  const m = e.obj(raw.metadata, 'metadata');
  if (!m) {
    if (absent(raw.metadata)) e.add('metadata', 'required');
    return { labels: {} };
  }
  const name = e.str(m.name, 'metadata.name');
  if (absent(m.name)) e.add('metadata.name', 'required');
  // Checked for every kind here, as the API server does: a name with '/' would also make a
  // "namespace/name" key (keyOf) that reads as another object's.
  else if (name) for (const p of NAME_RULES[nameRule](name)) e.add('metadata.name', `invalid name ${JSON.stringify(name)}: not an RFC 1123 ${nameRule}, as the API server requires: ${p}`);
  const namespace = namespaced ? e.str(m.namespace, 'metadata.namespace') : undefined;
  if (namespaced) {
    if (absent(m.namespace)) e.add('metadata.namespace', 'required (a manifest must name its namespace; there is no current namespace to default to)');
    // undefined here: the wrong type, said by e.str.
    else if (namespace !== undefined) for (const p of dnsLabelProblems(namespace)) e.add('metadata.namespace', `invalid namespace ${JSON.stringify(namespace)}: ${p}`);
  }
  const labels = labelsOf(e, m.labels, 'metadata.labels');
  return { name: name || undefined, namespace: namespace || undefined, labels };
}

/** metadata.name as written, for naming the object in errors found while reading metadata itself. */
export function rawName(raw: Obj): string {
  const m = raw.metadata;
  return isObj(m) && typeof m.name === 'string' && m.name !== '' ? m.name : '<no name>';
}

/** rawName with metadata.namespace as written for a namespaced kind ("ns/name"), the way keyOf names it. */
export function rawKey(raw: Obj, namespaced: boolean): string {
  if (!namespaced) return rawName(raw);
  const m = raw.metadata;
  const namespace = isObj(m) && typeof m.namespace === 'string' && m.namespace !== '' ? m.namespace : '<no namespace>';
  return `${namespace}/${rawName(raw)}`;
}

export function keyOf(meta: Meta, namespaced: boolean): string {
  const name = meta.name ?? '<no name>';
  return namespaced ? `${meta.namespace ?? '<no namespace>'}/${name}` : name;
}

export function invalid(kind: string, key: string, e: Errs): Decoded {
  return { kind: 'invalid', objectKind: kind, key, errors: e.list };
}

export function decodeProtocol(e: Errs, v: unknown, path: string): Protocol | undefined {
  if (v === undefined || v === null) return 'TCP';
  const s = e.str(v, path);
  if (s === undefined) return undefined;
  if (!(PROTOCOLS as readonly string[]).includes(s)) {
    e.add(path, `unsupported value ${JSON.stringify(s)}: supported values: "TCP", "UDP", "SCTP"`);
    return undefined;
  }
  return s as Protocol;
}

export function validPortNumber(e: Errs, n: number, path: string): boolean {
  if (n < 1 || n > 65535) {
    e.add(path, `invalid value ${n}: must be between 1 and 65535, inclusive`);
    return false;
  }
  return true;
}

export const CIDR_HINT = 'must be an IPv4 or IPv6 address and a prefix length';

/** A CIDR as the API server takes it (no surrounding blanks), or undefined with an error at `path`. */
export function cidrAt(e: Errs, text: string, path: string, hint = CIDR_HINT): ParsedCIDR | undefined {
  const c = parseCIDR(text.trim() === text ? text : '');
  if (!c) e.add(path, `invalid CIDR ${JSON.stringify(text)}: ${hint}`);
  else {
    // "10.244.1.5/24" is read as 10.244.1.0/24, as the API server reads it: 256 addresses where
    // one was probably meant. Kubernetes warns about such values (and v1beta1 cluster policies
    // reject them), so Palisade says it too.
    const written = parseIP(text.slice(0, text.indexOf('/')));
    const network = formatCIDR(c);
    if (written && formatIP(written) !== network.slice(0, network.indexOf('/'))) {
      const one = `${formatIP(written)}/${c.family === 'IPv4' ? 32 : 128}`;
      e.warn(path, `${JSON.stringify(text)} has host bits set: it means ${network}, every address of it; for the one address write ${one}`);
    }
  }
  return c;
}


/** A kind's decoder: one raw object (kind and apiVersion already checked) -> a model value or its errors. Never throws on bad input. */
export type Decoder = (raw: Obj, e: Errs) => Decoded;
