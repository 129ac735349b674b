// Table-driven checks of the compiled engine's numeric contract (engine-api.ts) that the
// differential test cannot see through decide(): port-less protocols (ICMP), node-local
// engines (sides of other nodes' pods not judged), slots and names, immutability of published
// snapshots, and table sharing between replicas.

import t from 'tap';
import type { ClusterPolicy, NetworkPolicy, Pod } from '../../src/cluster/model.ts';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../../src/cluster/model.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { parseIP } from '../../src/net/address.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { sideAllows, sideReason, sideRule, type RuleSnapshot } from '../../src/policy/engine-api.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { Rng, probeAddresses, randomCluster, randomProbe, stateOf } from '../../support/random-cluster.ts';
import { decideOn } from '../../src/policy/compiler.ts';

const EMPTY = { matchLabels: {}, matchExpressions: [] };
const sel = (matchLabels: Record<string, string>) => ({ matchLabels, matchExpressions: [] });

function pod(ns: string, name: string, ip: string | string[], labels: Record<string, string>, node = 'n1'): Pod {
  return {
    namespace: ns, name, labels, nodeName: node, hostNetwork: false, phase: 'Running',
    ips: Array.isArray(ip) ? ip : [ip],
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
  };
}

function policy(ns: string, name: string, p: Partial<NetworkPolicy>): NetworkPolicy {
  return { namespace: ns, name, podSelector: EMPTY, policyTypes: { ingress: true, egress: false }, ingress: [], egress: [], ...p };
}

function cluster(): ClusterState {
  const s = new ClusterState();
  s.batch(() => {
    s.upsertNamespace({ name: 'a', labels: { 'kubernetes.io/metadata.name': 'a' } });
    s.upsertNode({ name: 'n1', addresses: ['192.168.0.1', 'fd01::1'] });
    s.upsertNode({ name: 'n2', addresses: ['192.168.0.2'] });
    s.upsertPod(pod('a', 'web-1', ['10.0.0.1', 'fd00::1'], { app: 'web' }));
    s.upsertPod(pod('a', 'web-2', '10.0.0.2', { app: 'web' }));
    s.upsertPod(pod('a', 'web-3', '10.0.0.3', { app: 'web' }, 'n2'));
    s.upsertPod(pod('a', 'db', '10.0.0.9', { app: 'db' }));
    // db: ingress only from web on TCP 5432 (a rule WITH ports); web: ingress from anyone on
    // anything (a rule WITHOUT ports), so ICMP reaches web but not db.
    s.upsertPolicy(policy('a', 'db', { podSelector: sel({ app: 'db' }), ingress: [{ peers: [{ podSelector: sel({ app: 'web' }) }], ports: [{ protocol: 'TCP', port: 5432 }] }] }));
    s.upsertPolicy(policy('a', 'web', { podSelector: sel({ app: 'web' }), ingress: [{ peers: [], ports: [] }] }));
  });
  return s;
}

const v4 = (ip: string) => parseIP(ip)!.words[0]!;
function judge(s: RuleSnapshot, src: string, dst: string, proto: number, port: number): [boolean, number, number] {
  const a = parseIP(src)!, b = parseIP(dst)!;
  const ok = a.family === 'IPv4'
    ? s.judge4(a.words[0]!, b.words[0]!, proto, port)
    : s.judge6(a.words[0]!, a.words[1]!, a.words[2]!, a.words[3]!, b.words[0]!, b.words[1]!, b.words[2]!, b.words[3]!, proto, port);
  return [ok, s.egressCode, s.ingressCode];
}

t.test('port-less protocols match only rules without ports', async (t) => {
  const e = new CompiledEngine(cluster());
  const s = e.snapshot();
  const [okDb, , inDb] = judge(s, '10.0.0.1', '10.0.0.9', IPPROTO_ICMP, 0);
  t.equal(okDb, false, 'ICMP web -> db denied: db\'s only rule lists ports');
  t.equal(sideReason(inDb), 'no-rule');
  t.equal(sideRule(inDb), -1, 'the implicit deny names no rule');
  const [okWeb, eg, inWeb] = judge(s, '10.0.0.9', '10.0.0.2', IPPROTO_ICMP, 0);
  t.equal(okWeb, true, 'ICMP db -> web allowed: web\'s rule has no ports');
  t.equal(sideReason(eg), 'not-isolated');
  t.equal(sideReason(inWeb), 'rule', 'allowed by a rule');
  t.equal(sideAllows(inWeb), true);
  t.same(s.ruleRef(sideRule(inWeb)), { policy: 'a/web', direction: 'ingress', index: 0 });
  const [ok6] = judge(s, 'fd00::1', 'fd00::1', IPPROTO_ICMPV6, 0);
  t.equal(ok6, true, 'ICMPv6 to itself');
  t.equal(sideReason(s.egressCode), 'self');
  t.equal(judge(s, '10.0.0.1', '10.0.0.9', IPPROTO_TCP, 5432)[0], true, 'TCP 5432 web -> db allowed');
  t.equal(judge(s, '10.0.0.1', '10.0.0.9', IPPROTO_UDP, 5432)[0], false, 'UDP 5432 web -> db denied');
});

t.test('node-local engine judges only its own pods', async (t) => {
  const state = cluster();
  const e = new CompiledEngine(state, { localNode: 'n2' });
  const s = e.snapshot();
  // web-3 (n2) -> db (n1): egress of web-3 judged here (not isolated), ingress of db is n1's job.
  const [ok, eg, ing] = judge(s, '10.0.0.3', '10.0.0.9', IPPROTO_UDP, 1);
  t.equal(ok, true);
  t.equal(sideReason(eg), 'not-isolated');
  t.equal(sideReason(ing), 'not-a-pod', 'remote pod: not judged');
  t.equal(s.isLocal(s.srcSlot), true);
  t.equal(s.isLocal(s.dstSlot), false);
  t.equal(s.podName(s.dstSlot), 'a/db');
  // Node exemption: n2's address reaches web-3 but n1's is just some address.
  judge(s, '192.168.0.2', '10.0.0.3', IPPROTO_TCP, 1);
  t.equal(sideReason(s.ingressCode), 'node', 'own node');
  t.equal(sideReason(s.egressCode), 'not-a-pod', 'a node is no pod');
  judge(s, '192.168.0.1', '10.0.0.3', IPPROTO_TCP, 1);
  t.equal(sideReason(s.ingressCode), 'rule', 'another node is judged by the rules (web allows all)');
  // Same Decision as the evaluator with the same localNode.
  for (const [src, dst] of [['10.0.0.3', '10.0.0.9'], ['10.0.0.9', '10.0.0.3'], ['10.0.0.1', '10.0.0.3']] as const) {
    const conn = { src, dst, protocol: 'TCP' as const, port: 5432 };
    t.same(e.decide(conn), evaluate(state, conn, { localNode: 'n2' }), `${src} -> ${dst}`);
  }
});

t.test('slots, names, isolating policies', async (t) => {
  const e = new CompiledEngine(cluster());
  const s = e.snapshot();
  const slot = s.podSlot4(v4('10.0.0.9'));
  t.ok(slot >= 0);
  t.equal(s.podName(slot), 'a/db');
  t.same(s.isolatingPolicies(slot, 'ingress'), ['a/db']);
  t.same(s.isolatingPolicies(slot, 'egress'), []);
  const w = parseIP('fd00::1')!.words;
  t.equal(s.podName(s.podSlot6(w[0]!, w[1]!, w[2]!, w[3]!)), 'a/web-1', 'dual-stack pod found by its IPv6 address');
  t.equal(s.podSlot4(v4('10.0.0.77')), -1);
  t.equal(s.podSlot4(v4('192.168.0.1')), -1, 'node address is no pod');
  t.throws(() => s.podName(9999));
  t.throws(() => s.ruleRef(9999));
});

t.test('published snapshots never change; generations increase', async (t) => {
  const state = cluster();
  const e = new CompiledEngine(state);
  state.onChange((ch) => e.update(ch));
  const s1 = e.snapshot();
  t.equal(judge(s1, '10.0.0.1', '10.0.0.9', IPPROTO_TCP, 5432)[0], true);
  state.upsertPolicy(policy('a', 'db', { podSelector: sel({ app: 'db' }), ingress: [] }));
  const s2 = e.snapshot();
  t.ok(s2.generation > s1.generation);
  t.equal(judge(s2, '10.0.0.1', '10.0.0.9', IPPROTO_TCP, 5432)[0], false, 'new generation denies');
  t.equal(judge(s1, '10.0.0.1', '10.0.0.9', IPPROTO_TCP, 5432)[0], true, 'old generation still allows');
  t.same(s1.ruleRef(sideRule(s1.ingressCode)), { policy: 'a/db', direction: 'ingress', index: 0 });
  state.deletePod('a/db');
  t.equal(e.snapshot().podSlot4(v4('10.0.0.9')), -1, 'deleted pod gone');
  t.equal(s1.podName(s1.podSlot4(v4('10.0.0.9'))), 'a/db', 'still in the old generation');
});

t.test('replicas share tables; relabels to an existing identity build none', async (t) => {
  const state = new ClusterState();
  state.batch(() => {
    state.upsertNamespace({ name: 'a', labels: {} });
    for (let i = 0; i < 50; i++) state.upsertPod(pod('a', `web-${i}`, `10.0.1.${i + 1}`, { app: 'web' }));
    for (let i = 0; i < 50; i++) state.upsertPod(pod('a', `api-${i}`, `10.0.2.${i + 1}`, { app: 'api' }));
    state.upsertPolicy(policy('a', 'web', { podSelector: sel({ app: 'web' }), ingress: [{ peers: [{ podSelector: sel({ app: 'api' }) }], ports: [{ protocol: 'TCP', port: 'http' }] }] }));
    state.upsertPolicy(policy('a', 'deny', { podSelector: EMPTY, policyTypes: { ingress: true, egress: true } }));
  });
  const e = new CompiledEngine(state);
  state.onChange((ch) => e.update(ch));
  const st = e.stats();
  t.equal(st.pods, 100);
  t.equal(st.tables, 3, 'web ingress, api ingress, everyone\'s egress');
  t.equal(st.tableUsers, 200);
  state.upsertPod(pod('a', 'api-0', '10.0.2.1', { app: 'web' }));
  t.equal(e.stats().tables, 3, 'relabel api-0 -> web: tables reused');
  t.equal(e.decide({ src: '10.0.2.2', dst: '10.0.2.1', protocol: 'TCP', port: 8080 }).allowed, false, 'egress denied by deny');
  t.same(e.decide({ src: '10.0.2.2', dst: '10.0.2.1', protocol: 'TCP', port: 8080 }).ingress.rule, { policy: 'a/web', direction: 'ingress', index: 0 }, 'api-0 now takes web ingress');
});

t.test('long runs compact identities and rule ids and stay exact', async (t) => {
  const state = cluster();
  const e = new CompiledEngine(state);
  state.onChange((ch) => e.update(ch));
  // Every relabel to a never-seen value interns a new identity; every policy update new rule ids.
  for (let i = 0; i < 5000; i++) {
    state.upsertPod(pod('a', 'web-2', '10.0.0.2', { app: 'web', rev: String(i) }));
    if (i % 2 === 0) state.upsertPolicy(policy('a', 'db', { podSelector: sel({ app: 'db' }), ingress: [{ peers: [{ podSelector: sel({ app: 'web' }) }], ports: [{ protocol: 'TCP', port: 5432 + (i % 3) }] }] }));
  }
  const st = e.stats();
  t.ok(st.identities < 4200, `identities compacted (${st.identities})`);
  t.ok(st.ruleIds < 4200, `rule ids compacted (${st.ruleIds})`);
  for (const port of [5431, 5432, 5433, 5434]) {
    for (const [src, dst] of [['10.0.0.2', '10.0.0.9'], ['10.0.0.1', '10.0.0.9'], ['10.0.0.9', '10.0.0.2']] as const) {
      const conn = { src, dst, protocol: 'TCP' as const, port };
      t.same(e.decide(conn), evaluate(state, conn), `${src} -> ${dst}:${port}`);
    }
  }
});

t.test('incremental updates rebuild only affected tables', async (t) => {
  const state = new ClusterState();
  state.batch(() => {
    for (const ns of ['a', 'b']) state.upsertNamespace({ name: ns, labels: { team: ns } });
    for (let i = 0; i < 20; i++) {
      state.upsertPod(pod('a', `web-${i}`, `10.0.1.${i + 1}`, { app: 'web' }));
      state.upsertPod(pod('b', `api-${i}`, `10.0.2.${i + 1}`, { app: 'api' }));
    }
    state.upsertPolicy(policy('a', 'web', { podSelector: sel({ app: 'web' }), ingress: [{ peers: [{ namespaceSelector: sel({ team: 'b' }) }], ports: [] }] }));
    state.upsertPolicy(policy('b', 'api', { podSelector: sel({ app: 'api' }), policyTypes: { ingress: true, egress: true }, ingress: [], egress: [{ peers: [{ podSelector: sel({ app: 'web' }), namespaceSelector: EMPTY }], ports: [{ protocol: 'TCP', port: 'http' }] }] }));
  });
  const e = new CompiledEngine(state);
  state.onChange((ch) => e.update(ch));
  const base = e.stats();
  t.equal(base.tables, 3, 'web ingress, api ingress, api egress');
  t.equal(base.tablesBuilt, 3);

  state.upsertPod(pod('a', 'web-20', '10.0.1.21', { app: 'web' }));
  t.equal(e.stats().tablesBuilt, 3, 'a replica (existing identity) builds nothing');
  state.upsertPod(pod('b', 'api-0', '10.0.2.1', { app: 'api', canary: 'yes' }));
  t.equal(e.stats().tablesBuilt, 3, 'a new identity the selectors already classify builds nothing');
  t.ok(e.stats().tablesExtended >= 1, 'the tables that select it were extended');
  state.deletePod('a/web-3');
  t.equal(e.stats().tablesBuilt, 3, 'a delete builds nothing');
  state.upsertPolicy(policy('a', 'web', { podSelector: sel({ app: 'web' }), ingress: [{ peers: [{ namespaceSelector: sel({ team: 'b' }) }], ports: [{ protocol: 'TCP', port: 80 }] }] }));
  t.equal(e.stats().tablesBuilt, 4, 'a policy update rebuilds only the table of that policy');
  t.equal(e.stats().tables, 3);
  for (const [src, dst, port] of [['10.0.2.1', '10.0.1.1', 80], ['10.0.2.1', '10.0.1.1', 8080], ['10.0.2.2', '10.0.1.21', 8080], ['10.0.1.4', '10.0.2.5', 1]] as const) {
    const conn = { src, dst, protocol: 'TCP' as const, port };
    t.same(e.decide(conn), evaluate(state, conn), `${src} -> ${dst}:${port}`);
  }
});

t.test('a new identity with a combination of matches new to a table joins a class that answers alike (no rebuild)', async (t) => {
  const state = new ClusterState();
  state.batch(() => {
    state.upsertNamespace({ name: 'a', labels: { team: 'a' } });
    state.upsertPod(pod('a', 'db', '10.0.0.1', { app: 'db' }));
    state.upsertPod(pod('a', 'web', '10.0.0.2', { app: 'web' }));
    state.upsertPod(pod('a', 'ops', '10.0.0.3', { tier: 'ops' }));
    state.upsertPod(pod('a', 'other', '10.0.0.4', { app: 'other' }));
    // Rule 0 admits app=web; rule 1 admits tier=ops on 22 only. A pod with both labels matches
    // both rules, which no identity did: a new signature, but rule 0 decides first everywhere,
    // so it answers exactly as app=web does.
    state.upsertPolicy(policy('a', 'db', {
      podSelector: sel({ app: 'db' }),
      ingress: [
        { peers: [{ podSelector: sel({ app: 'web' }) }], ports: [] },
        { peers: [{ podSelector: sel({ tier: 'ops' }) }], ports: [{ protocol: 'TCP', port: 22 }] },
        { peers: [{ podSelector: sel({ app: 'other' }) }], ports: [{ protocol: 'TCP', port: 80 }] },
      ],
    }));
  });
  const e = new CompiledEngine(state);
  state.onChange((ch) => e.update(ch));
  const built = e.stats().tablesBuilt;
  state.upsertPod(pod('a', 'both', '10.0.0.5', { app: 'web', tier: 'ops' }));
  t.equal(e.stats().tablesBuilt, built, 'no table rebuilt');
  // New labels, the same matches as tier=ops: its signature, found directly.
  state.upsertPod(pod('a', 'ops-2', '10.0.0.6', { tier: 'ops', extra: 'x' }));
  t.equal(e.stats().tablesBuilt, built, 'still none');
  // Rules 1 and 2: 22 and 80, answers no class has. It becomes a class of its own, still no rebuild.
  state.upsertPod(pod('a', 'ops-other', '10.0.0.7', { tier: 'ops', app: 'other' }));
  t.equal(e.stats().tablesBuilt, built, 'a new class, no rebuild');
  t.equal(e.stats().tables, 1, 'one table');
  for (const src of ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.0.7']) {
    for (const port of [22, 80]) {
      const conn = { src, dst: '10.0.0.1', protocol: 'TCP' as const, port };
      t.same(e.decide(conn), evaluate(state, conn), `${src} -> db:${port}`);
    }
  }
});

t.test('relabels that make new identities extend tables in place; older snapshots keep every answer', async (t) => {
  const r = new Rng(4242);
  const c = randomCluster(r, { namespaces: 4, pods: 60, policies: 25 });
  const state = stateOf(c);
  const e = new CompiledEngine(state);
  state.onChange((ch) => e.update(ch));
  const addrs = probeAddresses(state, c.outside);
  const probes = Array.from({ length: 400 }, () => randomProbe(r, addrs));
  const kept: { snap: RuleSnapshot; answers: string[] }[] = [];
  const answer = (s: RuleSnapshot) => probes.map((p) => JSON.stringify(decideOn(s, p)));
  const labelKeys = ['app', 'tier', 'role', 'env'];
  const values = ['a', 'b', 'c', 'web', 'db', 'client', 'x1', 'x2'];
  const extendedBefore = e.stats().tablesExtended, inPlaceBefore = e.stats().tablesExtendedInPlace;
  for (let k = 0; k < 120; k++) {
    if (k % 10 === 0) kept.push({ snap: e.snapshot(), answers: answer(e.snapshot()) });
    const pods = [...state.pods.values()];
    const p = pods[r.int(pods.length)]!;
    // A fresh label value each time: a new identity for every relabel.
    state.upsertPod({ ...p, labels: { ...p.labels, [labelKeys[r.int(labelKeys.length)]!]: values[r.int(values.length)]!, uniq: `u${k}` } });
  }
  const inPlace = e.stats().tablesExtendedInPlace - inPlaceBefore, copies = e.stats().tablesExtended - extendedBefore - inPlace;
  t.ok(inPlace > 0 && copies > 0, `tables were extended in place (${inPlace}) and as copies (${copies})`);
  let changed = 0;
  for (const { snap, answers } of kept) {
    const now = answer(snap);
    for (let i = 0; i < probes.length; i++) if (now[i] !== answers[i]) changed++;
  }
  t.equal(changed, 0, `${kept.length} older snapshots x ${probes.length} probes answer as when published`);
  let wrong = 0;
  for (const p of probes) if (JSON.stringify(e.decide(p)) !== JSON.stringify(evaluate(state, p))) wrong++;
  t.equal(wrong, 0, 'the current snapshot agrees with the evaluator');
});

t.test('Admin and Baseline tiers have tables of their own, shared by the identities they select', async (t) => {
  const state = new ClusterState();
  const cnp = (name: string, tier: 'Admin' | 'Baseline', priority: number, team: string | undefined, port: number): ClusterPolicy => ({
    kind: 'ClusterNetworkPolicy', name, tier, priority,
    subject: { namespaces: team === undefined ? EMPTY : sel({ team }) },
    ingress: [{ name: 'r0', action: 'Deny', peers: [{ namespaces: sel({ team: 'b' }) }], protocols: [{ protocol: 'TCP', port }] }],
    egress: [],
  });
  state.batch(() => {
    for (const ns of ['a', 'b']) state.upsertNamespace({ name: ns, labels: { team: ns } });
    for (let i = 0; i < 20; i++) {
      state.upsertPod(pod('a', `web-${i}`, `10.0.1.${i + 1}`, { app: 'web' }));
      state.upsertPod(pod('b', `api-${i}`, `10.0.2.${i + 1}`, { app: 'api' }));
    }
    state.upsertPolicy(policy('b', 'api', { podSelector: sel({ app: 'api' }), ingress: [{ peers: [{ namespaceSelector: EMPTY }], ports: [] }] }));
    state.upsert('ClusterNetworkPolicy', cnp('guard', 'Admin', 10, undefined, 22));
    state.upsert('ClusterNetworkPolicy', cnp('base', 'Baseline', 10, 'a', 80));
  });
  // Counts the tables each change needs, one at most: built in the update with chainAbove 1
  // (the default chains every one, tier-tables.ts).
  const e = new CompiledEngine(state, { chainAbove: 1 });
  state.onChange((ch) => e.update(ch));
  const check = (what: string) => {
    for (const [src, dst, port] of [['10.0.2.1', '10.0.1.1', 22], ['10.0.2.1', '10.0.1.1', 80], ['10.0.2.1', '10.0.1.1', 81], ['10.0.1.1', '10.0.2.2', 80], ['10.0.2.3', '10.0.2.2', 22]] as const) {
      const conn = { src, dst, protocol: 'TCP' as const, port };
      t.same(e.decide(conn), evaluate(state, conn), `${what}: ${src} -> ${dst}:${port}`);
    }
  };
  check('built');
  const st = e.stats();
  t.equal(st.tierTables, 2, 'one Admin ingress table for both identities, one Baseline ingress table for web');
  t.equal(st.tables, 3, 'and the NetworkPolicy table of api ingress');
  state.upsertPod(pod('a', 'web-20', '10.0.1.21', { app: 'web' }));
  t.equal(e.stats().tablesBuilt, st.tablesBuilt, 'a replica builds nothing');
  state.upsertPolicy(policy('b', 'api', { podSelector: sel({ app: 'api' }), ingress: [{ peers: [{ namespaceSelector: sel({ team: 'a' }) }], ports: [] }] }));
  t.equal(e.stats().tablesBuilt, st.tablesBuilt + 1, 'a NetworkPolicy update rebuilds its table only, no tier table');
  check('NetworkPolicy updated');
  state.upsert('ClusterNetworkPolicy', cnp('base', 'Baseline', 10, 'a', 81));
  t.equal(e.stats().tablesBuilt, st.tablesBuilt + 2, 'a cluster policy update rebuilds only the tier table holding it');
  t.equal(e.stats().tierTables, 2);
  check('cluster policy updated');

  // A version with the same rules (priority, subject) keeps the policy's tables: only owners
  // whose list of policies changes order or members take or build another table.
  state.upsert('ClusterNetworkPolicy', cnp('guard2', 'Admin', 20, 'a', 23));
  const b0 = e.stats().tablesBuilt;
  t.equal(b0, st.tablesBuilt + 3, 'a new policy selecting web builds its Admin table [guard, guard2]');
  state.upsert('ClusterNetworkPolicy', cnp('guard', 'Admin', 15, undefined, 22));
  t.equal(e.stats().tablesBuilt, b0, 'a priority change keeping the order builds nothing');
  check('priority changed, order kept');
  state.upsert('ClusterNetworkPolicy', cnp('guard', 'Admin', 30, undefined, 22));
  t.equal(e.stats().tablesBuilt, b0 + 1, 'a reorder builds the table of the new order [guard2, guard] only');
  check('reordered');
  state.upsert('ClusterNetworkPolicy', cnp('guard2', 'Admin', 20, 'b', 23));
  t.equal(e.stats().tablesBuilt, b0 + 2, 'a subject change builds api\'s new list; web takes the table of [guard]');
  check('subject changed');
});
