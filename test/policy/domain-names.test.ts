// DomainName matching (src/policy/domain-names.ts), table-driven from the API comment's own
// examples (apis/v1alpha2/clusternetworkpolicy_types.go, type DomainName) plus case and the
// trailing dot.

import t from 'tap';
import { domainNameMatches, withLearnedAddresses } from '../../src/policy/domain-names.ts';
import type { ClusterPolicy } from '../../src/cluster/model.ts';

const rows: [pattern: string, name: string, want: boolean, why: string][] = [
  ['kubernetes.io', 'kubernetes.io', true, '"`kubernetes.io` matches only `kubernetes.io`"'],
  ['kubernetes.io', 'www.kubernetes.io', false, '"It does not match www.kubernetes.io"'],
  ['kubernetes.io', 'blog.kubernetes.io', false, '"... blog.kubernetes.io"'],
  ['kubernetes.io', 'my-kubernetes.io', false, '"... my-kubernetes.io"'],
  ['kubernetes.io', 'wikipedia.org', false, '"... or wikipedia.org"'],
  ['blog.kubernetes.io', 'blog.kubernetes.io', true, '"matches only blog.kubernetes.io"'],
  ['blog.kubernetes.io', 'www.kubernetes.io', false, '"It does not match www.kubernetes.io"'],
  ['blog.kubernetes.io', 'kubernetes.io', false, '"... or kubernetes.io"'],
  ['*.kubernetes.io', 'www.kubernetes.io', true, '"*.kubernetes.io matches subdomains": www'],
  ['*.kubernetes.io', 'blog.kubernetes.io', true, 'blog'],
  ['*.kubernetes.io', 'latest.blog.kubernetes.io', true, '"matches one or more entire labels"'],
  ['*.kubernetes.io', 'kubernetes.io', false, '"however kubernetes.io ... do not"'],
  ['*.kubernetes.io', 'wikipedia.org', false, '"... and wikipedia.org do not"'],
  ['*.kubernetes.io', 'my-kubernetes.io', false, '"It does not support partial matches"'],
  ['*.kubernetes.io', 'xkubernetes.io', false, 'no partial label'],
  ['Kubernetes.IO', 'kubernetes.io', true, 'case-insensitive (RFC 4343)'],
  ['*.kubernetes.io', 'WWW.Kubernetes.io', true, 'case-insensitive, wildcard'],
  ['kubernetes.io.', 'kubernetes.io', true, 'the pattern\'s trailing dot: the same name'],
  ['kubernetes.io', 'kubernetes.io.', true, 'the name\'s trailing dot'],
  ['*.kubernetes.io.', 'a.kubernetes.io', true, 'wildcard with a trailing dot'],
];

t.test('DomainName matching', async (t) => {
  for (const [p, n, want, why] of rows) t.equal(domainNameMatches(p, n), want, `${p} vs ${n}: ${why}`);
});

t.test('withLearnedAddresses: sets learned on domainNames peers only, same object when unchanged', async (t) => {
  const sel = { matchLabels: {}, matchExpressions: [] };
  const p: ClusterPolicy = {
    kind: 'ClusterNetworkPolicy', name: 'p', tier: 'Admin', priority: 1, subject: { namespaces: sel }, ingress: [],
    egress: [{ name: '', action: 'Accept', peers: [{ domainNames: ['*.example.com'] }, { networks: ['10.0.0.0/8'] }], protocols: [] }],
  };
  const r = withLearnedAddresses(p, () => ['192.0.2.2', '192.0.2.1', '192.0.2.2']);
  t.same(r.egress[0]!.peers[0]!.learned, ['192.0.2.1', '192.0.2.2'], 'sorted, unique');
  t.same(r.egress[0]!.peers[1], { networks: ['10.0.0.0/8'] }, 'other peers untouched');
  t.equal(withLearnedAddresses(r, () => ['192.0.2.1', '192.0.2.2']), r, 'unchanged: the same object (no re-store)');
  t.not(withLearnedAddresses(r, () => []), r, 'an address gone: a new object');
});
