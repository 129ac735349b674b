// Tier table keys (tier-keys.ts): owners share an Admin or Baseline ingress table only when they
// select the same policies and every port name of those policies' rules resolves alike on them.
// The four words' keys are kept per (selection pair, owner ports content), and owners' ports
// arrays equal in content are shared (portsOf): ports equal in names but not in numbers must
// still part owners, through the full compile, a guardrail delete's chains, its convergence and
// the re-add.

import t from 'tap';
import type { ClusterPolicy, ContainerPort, Pod } from '../../src/cluster/model.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { evaluate } from '../../src/policy/evaluator.ts';

const EMPTY = { matchLabels: {}, matchExpressions: [] };
const sel = (matchLabels: Record<string, string>) => ({ matchLabels, matchExpressions: [] });

function pod(ns: string, name: string, ip: string, labels: Record<string, string>, ports: ContainerPort[]): Pod {
  return { namespace: ns, name, labels, nodeName: 'n1', hostNetwork: false, phase: 'Running', ips: [ip], ports };
}

/** Denies team b's ingress on the port named `http` (Admin) or on 22 (the guardrail: every pod). */
function cnp(name: string, priority: number, named: boolean): ClusterPolicy {
  return {
    kind: 'ClusterNetworkPolicy', name, tier: 'Admin', priority,
    subject: { namespaces: named ? sel({ team: 'a' }) : EMPTY },
    ingress: [{ name: 'r0', action: 'Deny', peers: [{ namespaces: sel({ team: 'b' }) }], protocols: [named ? { protocol: 'TCP', namedPort: 'http' } : { protocol: 'TCP', port: 22 }] }],
    egress: [],
  } as ClusterPolicy;
}

t.test('owners whose port names resolve differently never share a tier table', async (t) => {
  const state = new ClusterState();
  const http = (port: number): ContainerPort[] => [{ name: 'http', containerPort: port, protocol: 'TCP' }];
  state.batch(() => {
    for (const ns of ['a', 'b']) state.upsertNamespace({ name: ns, labels: { team: ns } });
    // Three identities of one selection: web-1 and web-3 resolve http to 8080, web-2 to 9090.
    state.upsertPod(pod('a', 'web-1', '10.0.1.1', { app: 'web' }, http(8080)));
    state.upsertPod(pod('a', 'web-2', '10.0.1.2', { app: 'web' }, http(9090)));
    state.upsertPod(pod('a', 'web-3', '10.0.1.3', { app: 'web', v: '2' }, http(8080)));
    state.upsertPod(pod('b', 'api', '10.0.2.1', { app: 'api' }, []));
    state.upsert('ClusterNetworkPolicy', cnp('named', 10, true));
    state.upsert('ClusterNetworkPolicy', cnp('guard', 20, false));
  });
  const e = new CompiledEngine(state, { chainAbove: 0 });
  state.onChange((ch) => e.update(ch));
  const check = (what: string) => {
    for (const dst of ['10.0.1.1', '10.0.1.2', '10.0.1.3']) {
      for (const port of [8080, 9090, 22]) {
        const conn = { src: '10.0.2.1', dst, protocol: 'TCP' as const, port };
        t.same(e.decide(conn), evaluate(state, conn), `${what}: -> ${dst}:${port}`);
      }
    }
  };
  check('compiled');
  t.equal(e.stats().tierTables, 3, 'web-1 and web-3 share their Admin ingress table; web-2 has its own, api its own');
  const converge = () => {
    for (let i = 0; i < 100 && e.pendingWork > 0; i++) e.converge();
  };
  state.delete('ClusterNetworkPolicy', 'guard');
  t.ok(e.stats().tierChains >= 2, 'the delete chained the new lists');
  check('guardrail deleted (chains)');
  converge();
  check('guardrail deleted (converged)');
  t.equal(e.stats().tierTables, 2, 'web-1 and web-3 share one, web-2 has its own');
  state.upsert('ClusterNetworkPolicy', cnp('guard', 20, false));
  check('guardrail added again');
  converge();
  check('guardrail added again (converged)');
  // A new identity with a port content seen before takes the table of that content.
  state.upsertPod(pod('a', 'web-4', '10.0.1.4', { app: 'web', v: '3' }, http(9090)));
  converge();
  const conn = { src: '10.0.2.1', dst: '10.0.1.4', protocol: 'TCP' as const, port: 9090 };
  t.same(e.decide(conn), evaluate(state, conn), 'a new owner resolving http to 9090');
  t.equal(e.decide(conn).allowed, false, 'is denied on 9090');
  t.equal(e.stats().tierTables, 3, 'and shares web-2\'s table');
});
