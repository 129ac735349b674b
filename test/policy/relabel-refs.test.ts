// New identities take their reference's class (new-identity-refs.ts) only in tables none of
// whose matchers tells the two apart: pod and namespace relabels that change labels selectors
// read (so the old identity differs on some matchers), each checked against the evaluator, with
// cluster policies (tier tables) and NetworkPolicies (named ports too).

import t from 'tap';
import type { Pod } from '../../src/cluster/model.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { Rng, probeAddresses, randomCluster, randomProbe, stateOf } from '../../support/random-cluster.ts';

t.test('relabels to new identities stay exact in every table (reference classes only where no matcher differs)', async (t) => {
  let wrong = 0, checked = 0, extended = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const r = new Rng(7000 + seed);
    const c = randomCluster(r, { namespaces: 3, pods: 40, policies: 14, clusterPolicies: 4 });
    const state = stateOf(c);
    const e = new CompiledEngine(state);
    state.onChange((ch) => e.update(ch));
    const addrs = probeAddresses(state, c.outside);
    const probes = Array.from({ length: 150 }, () => randomProbe(r, addrs));
    const keys = ['app', 'tier', 'role', 'env', 'team'];
    const values = ['a', 'b', 'c', 'web', 'db', 'client', 'prod'];
    const e0 = e.stats().tablesExtended;
    for (let k = 0; k < 25; k++) {
      if (k % 3 === 2) {
        // A namespace relabel: every identity in it is new, each hinted by its old one.
        const nss = [...state.namespaces.values()];
        const ns = nss[r.int(nss.length)]!;
        state.upsertNamespace({ ...ns, labels: { ...ns.labels, [keys[r.int(keys.length)]!]: `${values[r.int(values.length)]}${k}` } });
      } else {
        // A pod relabel on a key selectors read, to a value seen before or new.
        const pods = [...state.pods.values()];
        const p = pods[r.int(pods.length)]!;
        state.upsertPod({ ...p, labels: { ...p.labels, [keys[r.int(keys.length)]!]: values[r.int(values.length)]!, seq: `s${k}` } });
      }
      for (const p of probes) {
        checked++;
        if (JSON.stringify(e.decide(p)) !== JSON.stringify(evaluate(state, p))) wrong++;
      }
    }
    extended += e.stats().tablesExtended - e0;
  }
  t.ok(extended > 0, `tables were extended (${extended})`);
  t.equal(wrong, 0, `${checked} probes after each relabel agree with the evaluator`);
});

t.test('a new identity with a new combination of matches joins a class of an egress table without named ports (no rebuild)', async (t) => {
  const sel = (matchLabels: Record<string, string>) => ({ matchLabels, matchExpressions: [] });
  const pod = (name: string, ip: string, labels: Record<string, string>): Pod => ({
    namespace: 'a', name, labels, nodeName: 'n1', hostNetwork: false, phase: 'Running', ips: [ip], ports: [],
  });
  const state = new ClusterState();
  state.batch(() => {
    state.upsertNamespace({ name: 'a', labels: {} });
    state.upsertPod(pod('web', '10.0.0.1', { app: 'web' }));
    state.upsertPod(pod('db', '10.0.0.2', { app: 'db' }));
    state.upsertPolicy({
      namespace: 'a', name: 'web', podSelector: sel({ app: 'web' }), policyTypes: { ingress: false, egress: true }, ingress: [],
      egress: [
        { peers: [{ podSelector: sel({ app: 'db' }) }], ports: [{ protocol: 'TCP', port: 5432 }] },
        { peers: [{ podSelector: sel({ role: 'x' }) }], ports: [{ protocol: 'TCP', port: 5432 }] },
      ],
    });
  });
  const e = new CompiledEngine(state);
  state.onChange((ch) => e.update(ch));
  const built = e.stats().tablesBuilt;
  // Both rules pick it (a combination no class has); its first matching rule is the db class's.
  state.upsertPod(pod('db-x', '10.0.0.3', { app: 'db', role: 'x' }));
  t.equal(e.stats().tablesBuilt, built, 'the table joined it to a class, no rebuild');
  for (const port of [5432, 5433]) {
    const conn = { src: '10.0.0.1', dst: '10.0.0.3', protocol: 'TCP' as const, port };
    t.same(e.decide(conn), evaluate(state, conn), `web -> db-x:${port}`);
  }
});

t.test('a new identity finds its class by matches and by what peer-resolved port names resolve to (egress named ports)', async (t) => {
  const sel = (matchLabels: Record<string, string>) => ({ matchLabels, matchExpressions: [] });
  const pod = (name: string, ip: string, labels: Record<string, string>, ports: Pod['ports']): Pod => ({
    namespace: 'a', name, labels, nodeName: 'n1', hostNetwork: false, phase: 'Running', ips: [ip], ports,
  });
  const http = (port: number) => ({ name: 'http', containerPort: port, protocol: 'TCP' as const });
  const state = new ClusterState();
  state.batch(() => {
    state.upsertNamespace({ name: 'a', labels: {} });
    state.upsertPod(pod('web', '10.0.0.1', { app: 'web' }, []));
    // Two classes with the same matches, told apart only by where "http" resolves on them.
    state.upsertPod(pod('db-8080', '10.0.0.2', { app: 'db' }, [http(8080)]));
    state.upsertPod(pod('db-80', '10.0.0.3', { app: 'db' }, [http(80)]));
    state.upsertPolicy({
      namespace: 'a', name: 'web', podSelector: sel({ app: 'web' }), policyTypes: { ingress: false, egress: true }, ingress: [],
      egress: [{ peers: [{ podSelector: sel({ app: 'db' }) }], ports: [{ protocol: 'TCP', port: 'http' }] }],
    });
  });
  const e = new CompiledEngine(state);
  state.onChange((ch) => e.update(ch));
  // No twin (other ports), the matches of both classes: the class whose "http" is 80.
  state.upsertPod(pod('db-new', '10.0.0.4', { app: 'db', v: 'new' }, [http(80), { name: 'metrics', containerPort: 9090, protocol: 'TCP' }]));
  for (const port of [80, 8080]) {
    const conn = { src: '10.0.0.1', dst: '10.0.0.4', protocol: 'TCP' as const, port };
    t.same(e.decide(conn), evaluate(state, conn), `web -> db-new:${port}`);
  }
});
