// Audit mode: which denials pass as "would deny". Table-driven on the denying side(s) and which
// namespaces are in audit, plus the same through a RuleSnapshot judging real policies.

import t from 'tap';
import { decodeObject, applyDecoded } from '../../src/cluster/decode.ts';
import { buildClusterForCase, loadCases } from '../support/conformance-cases.ts';
import { IPPROTO_TCP } from '../../src/cluster/model.ts';
import { parseIP } from '../../src/net/address.ts';
import {
  AUDIT_ANNOTATION, ENFORCE_ALL, auditAllows, auditAllowsCodes, auditConfig, parseAuditAnnotation, type AuditConfig,
} from '../../src/agent/audit.ts';
import { EvalSnapshot } from './eval-snapshot.ts';

const cfg = (global: boolean, ...ns: string[]): AuditConfig => ({ global, namespaces: new Set(ns) });

const TABLE: { name: string; cfg: AuditConfig; egress: boolean; ingress: boolean; src?: string; dst?: string; want: boolean }[] = [
  { name: 'nothing denied: nothing to audit', cfg: cfg(true), egress: false, ingress: false, src: 'x/a', dst: 'y/b', want: false },
  { name: 'enforcing everywhere', cfg: ENFORCE_ALL, egress: false, ingress: true, src: 'x/a', dst: 'y/b', want: false },
  { name: 'global audit', cfg: cfg(true), egress: true, ingress: true, src: 'x/a', dst: 'y/b', want: true },
  { name: 'ingress denied, destination namespace in audit', cfg: cfg(false, 'y'), egress: false, ingress: true, src: 'x/a', dst: 'y/b', want: true },
  { name: 'ingress denied, only the SOURCE namespace in audit', cfg: cfg(false, 'x'), egress: false, ingress: true, src: 'x/a', dst: 'y/b', want: false },
  { name: 'egress denied, source namespace in audit', cfg: cfg(false, 'x'), egress: true, ingress: false, src: 'x/a', dst: 'y/b', want: true },
  { name: 'egress denied, only the destination namespace in audit', cfg: cfg(false, 'y'), egress: true, ingress: false, src: 'x/a', dst: 'y/b', want: false },
  { name: 'both denied, one side enforcing', cfg: cfg(false, 'x'), egress: true, ingress: true, src: 'x/a', dst: 'y/b', want: false },
  { name: 'both denied, both in audit', cfg: cfg(false, 'x', 'y'), egress: true, ingress: true, src: 'x/a', dst: 'y/b', want: true },
  { name: 'denied side with no known pod stays denied', cfg: cfg(false, 'x'), egress: true, ingress: false, src: undefined, dst: 'y/b', want: false },
];

for (const r of TABLE) {
  t.test(r.name, async (t) => {
    t.equal(auditAllows(r.cfg, { egress: r.egress, ingress: r.ingress }, r.src, r.dst), r.want);
  });
}

t.test('annotation parsing: only true/false, typos keep enforcing and are reported', async (t) => {
  t.same(parseAuditAnnotation(undefined), { audit: false });
  t.same(parseAuditAnnotation('true'), { audit: true });
  t.same(parseAuditAnnotation('True'), { audit: true });
  t.same(parseAuditAnnotation('false'), { audit: false });
  const bad = parseAuditAnnotation('yes');
  t.equal(bad.audit, false);
  t.match(bad.error, /must be "true" or "false", got "yes"; enforcing/);
  const { config, errors } = auditConfig(false, [
    { name: 'x', annotations: { [AUDIT_ANNOTATION]: 'true' } },
    { name: 'y', annotations: { [AUDIT_ANNOTATION]: 'ture' } },
    { name: 'z' },
  ]);
  t.same([...config.namespaces], ['x']);
  t.equal(errors.length, 1);
  t.equal(errors[0]!.object, 'Namespace y');
  t.equal(errors[0]!.field, 'metadata.annotations["palisade.io/audit"]');
  // The cluster state's namespaces plug in as they are (no annotations decoded yet: enforce).
  const st = buildClusterForCase(loadCases()[0]!);
  t.same(auditConfig(false, st.namespaces.values()).config.namespaces.size, 0);
});

t.test('from side codes of a snapshot judging real policies', async (t) => {
  const c = loadCases().find((k) => k.file.includes('001-default-deny-ingress'))!;
  const st = buildClusterForCase(c);
  for (const raw of [
    { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'deny-in' }, spec: { podSelector: {} } },
    { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'z', name: 'deny-out' }, spec: { podSelector: {}, policyTypes: ['Egress'] } },
  ]) applyDecoded(st, decodeObject(raw));
  const snap = new EvalSnapshot(st);
  const ip = (s: string) => parseIP(s)!.words[0]!;
  const judge = (src: string, dst: string) => {
    const allowed = snap.judge4(ip(src), ip(dst), IPPROTO_TCP, 80);
    return { allowed, args: [snap.egressCode, snap.ingressCode, snap.srcSlot, snap.dstSlot] as const };
  };
  // y/a -> x/a: denied by x's ingress.
  const a = judge('10.244.2.1', '10.244.1.1');
  t.equal(a.allowed, false);
  t.equal(auditAllowsCodes(cfg(false, 'x'), snap, ...a.args), true, 'x in audit');
  t.equal(auditAllowsCodes(cfg(false, 'y'), snap, ...a.args), false, 'y in audit does not matter');
  // z/a -> x/a: denied on both sides.
  const b = judge('10.244.3.1', '10.244.1.1');
  t.equal(auditAllowsCodes(cfg(false, 'x'), snap, ...b.args), false);
  t.equal(auditAllowsCodes(cfg(false, 'x', 'z'), snap, ...b.args), true);
  t.equal(auditAllowsCodes(cfg(true), snap, ...b.args), true);
  // y/a -> y/b: allowed, nothing to audit.
  const ok = judge('10.244.2.1', '10.244.2.2');
  t.equal(ok.allowed, true);
  t.equal(auditAllowsCodes(cfg(true), snap, ...ok.args), false);
});
