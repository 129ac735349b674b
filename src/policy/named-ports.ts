// Named ports in rule tables: "named port ... on the destination pod". On ingress the
// destination is the table's owner, so a name is resolved once when the table is built and
// tables are shared only between owners on which every name resolves the same
// (resolutionSignature, see compiler.ts); on egress it is the peer, so the resolution is part of
// the peer's selector class (table-identities.ts).

import type { ContainerPort, PolicyPort, PolicyRule, Protocol } from '../cluster/model.ts';
import { resolveNamedPort } from './spec-facts.ts';

export interface NamedPort {
  readonly name: string;
  readonly protocol: Protocol;
}

export function namedKey(n: NamedPort): string {
  return `${n.protocol}/${n.name}`;
}

const portKeys = new WeakMap<PolicyPort, string>();

/**
 * namedKey of a port given by name, kept per port object: a policy version's ports sit in
 * every table holding the policy, and each table asked once per port class and rule.
 */
export function portNamedKey(p: PolicyPort): string {
  let k = portKeys.get(p);
  if (k === undefined) portKeys.set(p, (k = `${p.protocol}/${String(p.port)}`));
  return k;
}

/** The named ports a table's rules use, in first-use order. */
export function namedPortsOf(rules: readonly { readonly rule: PolicyRule }[]): NamedPort[] {
  const seen = new Map<string, NamedPort>();
  for (const r of rules) {
    for (const p of r.rule.ports) {
      if (typeof p.port === 'string') {
        const key = portNamedKey(p);
        if (!seen.has(key)) seen.set(key, { name: p.port, protocol: p.protocol });
      }
    }
  }
  return [...seen.values()];
}

/** The named ports of a list without repeats (first of each kept, in order). */
export function distinctNamed(named: readonly NamedPort[]): NamedPort[] {
  const done = new Set<string>();
  const out: NamedPort[] = [];
  for (const n of named) {
    const key = namedKey(n);
    if (done.has(key)) continue;
    done.add(key);
    out.push(n);
  }
  return out;
}

/**
 * Resolution signature of a pod for a list of named ports (tables are shared only on equal
 * signatures; callers compare signatures of the same list). A name listed again is left out:
 * the policies of a tier table repeat the same few names, hundreds of times per identity.
 */
export function resolutionSignature(named: readonly NamedPort[], ports: readonly ContainerPort[]): string {
  let s = '';
  const done = new Set<string>();
  for (const n of named) {
    const key = namedKey(n);
    if (done.has(key)) continue;
    done.add(key);
    s += `${key}=${resolveNamedPort(ports, n.name, n.protocol).join(',')};`;
  }
  return s;
}

