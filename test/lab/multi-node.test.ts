// A lab with several nodes (root): `palisade lab up` on manifests holding three Nodes builds one
// namespace per Node joined by an underlay bridge, runs one agent per node (each with --node
// <its name>), plays the host-network pod in its node's namespace, and real TCP/UDP/SCTP probes
// show a real cluster's behaviour: pod -> pod across nodes, pod -> own node and other node,
// host-network pod as client and server; with NetworkPolicies, egress is judged on the source's
// node and ingress on the destination's (each agent's counters show which one dropped); a pod
// moved to another node by `lab up` is judged there; `lab down` removes everything.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Family, Protocol } from '../../src/cluster/model.ts';
import { flushLabConntrack, readAgentStatus, waitForEnforced } from '../../src/lab/lab-agent.ts';
import { labAgents, labNodes, readLabState, type LabState } from '../../src/lab/lab-state.ts';
import { labNetnsPrefix, listNetns, netnsPids, processAlive } from '../../src/lab/netns.ts';
import { runLabProbes, type LabProbe } from '../../src/lab/probe.ts';
import { labDown } from '../../src/lab/topology.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LAB = 'lt-multi';

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'palisade.js'), ...args], { encoding: 'utf8', cwd: ROOT, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function sh(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return r.stdout + r.stderr;
}

const node = (name: string, v4: string, v6: string, podCIDRs?: string[]) => `---
apiVersion: v1
kind: Node
metadata: {name: ${name}, labels: {kubernetes.io/hostname: ${name}}}
${podCIDRs ? `spec: {podCIDRs: [${podCIDRs.map((c) => `"${c}"`).join(', ')}]}\n` : ''}status: {addresses: [{type: InternalIP, address: ${v4}}, {type: InternalIP, address: "${v6}"}]}
`;

const pod = (name: string, role: string, nodeName: string, v4: string, v6: string) => `---
apiVersion: v1
kind: Pod
metadata: {namespace: app, name: ${name}, labels: {name: ${name}, role: ${role}}}
spec:
  nodeName: ${nodeName}
  containers: [{name: c, ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}, {containerPort: 9003, protocol: SCTP}]}]
status: {phase: Running, podIPs: [{ip: ${v4}}, {ip: "${v6}"}]}
`;

// kind's shape: a control plane without pods and two workers; w1 gives its pod CIDRs (routed as
// a whole to it), w2 does not (a route per pod). hostnet-2 is a host-network pod on w2.
const cluster = (server2Node: string) => [
  node('cp', '172.18.0.2', 'fc00:f853:ccd:e793::2'),
  node('w1', '172.18.0.3', 'fc00:f853:ccd:e793::3', ['10.244.1.0/24', 'fd00:10:244:1::/64']),
  node('w2', '172.18.0.4', 'fc00:f853:ccd:e793::4'),
  '---\napiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n',
  '---\napiVersion: v1\nkind: Namespace\nmetadata: {name: host}\n',
  pod('client-1', 'client', 'w1', '10.244.1.10', 'fd00:10:244:1::10'),
  pod('server-1', 'server', 'w1', '10.244.1.11', 'fd00:10:244:1::11'),
  pod('client-2', 'client', 'w2', '10.244.2.10', 'fd00:10:244:2::10'),
  pod('server-2', 'server', server2Node, '10.244.2.11', 'fd00:10:244:2::11'),
  `---
apiVersion: v1
kind: Pod
metadata: {namespace: host, name: hostnet-2, labels: {name: hostnet-2}}
spec:
  nodeName: w2
  hostNetwork: true
  containers: [{name: c, ports: [{containerPort: 34345}, {containerPort: 34347, protocol: UDP}, {containerPort: 34351, protocol: SCTP}]}]
status: {phase: Running, podIPs: [{ip: 172.18.0.4}, {ip: "fc00:f853:ccd:e793::4"}]}
`,
].join('');

// Servers take connections from client-1 only; client-1 may only talk to servers.
const POLICIES = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: app, name: servers-from-client-1}
spec:
  podSelector: {matchLabels: {role: server}}
  ingress: [{from: [{podSelector: {matchLabels: {name: client-1}}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: app, name: client-1-to-servers}
spec:
  podSelector: {matchLabels: {name: client-1}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {role: server}}}]}]
`;

type Expect = 'allow' | 'deny';
type Check = LabProbe & { expect: Expect; why: string };
const POD_PORTS: [Protocol, number][] = [['TCP', 80], ['UDP', 53], ['SCTP', 9003]];
const HOST_PORTS: [Protocol, number][] = [['TCP', 34345], ['UDP', 34347], ['SCTP', 34351]];
const checks = (from: string, to: string, expect: Expect, why: string, ports = POD_PORTS, family: Family = 'IPv4'): Check[] =>
  ports.map(([protocol, port]) => ({ from, to, protocol, port, family, expect, why }));

/** Runs checks; a probe that does not meet its expectation is listed with why it was expected. */
async function mismatches(s: LabState, cs: readonly Check[]): Promise<string[]> {
  const rs = await runLabProbes(s, cs, { timeoutMs: 1000, concurrency: 24 });
  // A late answer is not a deny: look again, slowly, before calling it one.
  const late = rs.flatMap((r, i) => (r.verdict === 'deny' && cs[i]!.expect === 'allow' ? [i] : []));
  const again = await runLabProbes(s, late.map((i) => cs[i]!), { timeoutMs: 4000 });
  late.forEach((i, k) => (rs[i] = again[k]!));
  return rs.flatMap((r, i) => {
    const c = cs[i]!;
    // TCP and UDP answers name who answered: the pod dialled, or the node playing a host-network pod.
    const wrongAnswer = r.verdict === 'allow' && r.protocol !== 'SCTP' && r.answeredBy !== (c.to === 'host/hostnet-2' ? 'node:w2' : c.to);
    if ((r.verdict === 'allow') === (c.expect === 'allow') && !wrongAnswer) return [];
    return [`${c.protocol}/${c.port} ${c.family} ${c.from} (${r.src}) -> ${c.to} (${r.dst}): expected ${c.expect} (${c.why}), got ${r.verdict} ${r.detail} ${r.message ?? ''} answered by ${r.answeredBy ?? '-'}`];
  });
}

interface Counters { packets: number; accepts: number; drops: number }

/** Each agent's enforcer counters, from a status file written after `after` (ms). */
async function countersAfter(s: LabState, after: number): Promise<Map<string, Counters>> {
  const out = new Map<string, Counters>();
  for (const a of labAgents(s)) {
    for (let i = 0; ; i++) {
      const st = readAgentStatus(a.statusFile);
      if (st?.updatedAt && Date.parse(st.updatedAt) > after && st.counters) {
        out.set(a.node!, { packets: st.counters.packets ?? 0, accepts: st.counters.accepts ?? 0, drops: st.counters.drops ?? 0 });
        break;
      }
      if (i > 200) throw new Error(`agent of ${a.node} wrote no status after ${new Date(after).toISOString()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return out;
}

if (process.getuid?.() !== 0) {
  t.test('multi-node lab', { skip: 'needs root (network namespaces, iptables)' }, async () => {});
} else {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-lab-multi-'));
  writeFileSync(join(dir, 'cluster.yaml'), cluster('w2'));
  const labNamespaces = async () => (await listNetns()).filter((n) => n.startsWith(labNetnsPrefix(LAB))).sort();

  t.teardown(async () => {
    await labDown(LAB);
  });

  t.test('lab up: a namespace per Node on an underlay, an agent per node, host-network pod on its node', async (t) => {
    await labDown(LAB);
    const r = cli(['lab', 'up', '--manifests', dir, '--name', LAB]);
    t.equal(r.code, 0, `exit 0 (${r.stderr})`);
    t.match(r.stderr, /host\/hostnet-2 uses the host network: node w2 plays it/);
    t.match(r.stdout, /lab "lt-multi": 3 nodes joined by the bridge in plab\.lt-multi\.underlay/);
    t.match(r.stdout, /app\/server-2\s+w2\s+plab\.lt-multi\.pod\.app_server-2\s+10\.244\.2\.11/);
    t.match(r.stdout, /host\/hostnet-2\s+w2\s+\(host network\)\s+172\.18\.0\.4, fc00:f853:ccd:e793::4\s+TCP 34345\s+UDP 34347\s+SCTP 34351/);
    t.match(r.stdout, /verdict log: \S+verdicts\.log \(palisade logs --lab lt-multi\), shared by the 3 agents/);
    t.same(await labNamespaces(), [
      'plab.lt-multi.node.cp', 'plab.lt-multi.node.w1', 'plab.lt-multi.node.w2',
      'plab.lt-multi.pod.app_client-1', 'plab.lt-multi.pod.app_client-2', 'plab.lt-multi.pod.app_server-1', 'plab.lt-multi.pod.app_server-2',
      'plab.lt-multi.underlay',
    ], 'three nodes, four pods, the underlay; no namespace for the host-network pod');
    const s = readLabState(LAB)!;
    const agents = labAgents(s);
    t.same(agents.map((a) => a.node), ['cp', 'w1', 'w2'], 'one agent per node');
    for (const a of agents) {
      const n = labNodes(s).find((x) => x.name === a.node)!;
      t.ok((await netnsPids(n.netns)).includes(a.pid), `the agent of ${a.node} runs in ${n.netns}`);
      t.equal(a.argv[a.argv.indexOf('--node') + 1], a.node, `started with --node ${a.node}`);
      t.match(sh(['ip', 'netns', 'exec', n.netns, 'iptables', '-S', 'FORWARD']), /PALISADE/, `its rules are in ${n.netns}`);
    }
    // Routes: w1's pod CIDRs as a whole, w2's pods one by one, node addresses, all over ul0 with the node's own address as source.
    const w2 = sh(['ip', '-n', 'plab.lt-multi.node.w2', 'route']);
    t.match(w2, /10\.244\.1\.0\/24 via 169\.254\.100\.2 dev ul0 src 172\.18\.0\.4/, 'w2 routes w1\'s pod CIDR to w1');
    t.notMatch(w2, /10\.244\.1\.10/, 'and no per-pod route for pods inside it');
    t.match(w2, /172\.18\.0\.2 via 169\.254\.100\.1 dev ul0 src 172\.18\.0\.4/, 'w2 routes cp\'s address to cp');
    t.match(sh(['ip', '-n', 'plab.lt-multi.node.w1', 'route']), /10\.244\.2\.11 via 169\.254\.100\.3 dev ul0 src 172\.18\.0\.3/, 'w1 routes w2\'s pod (no pod CIDR) by its /32');
    t.match(sh(['ip', '-n', 'plab.lt-multi.node.cp', '-6', 'route']), /fd00:10:244:2::11 via fe80::100:3 dev ul0 src fc00:f853:ccd:e793::2/, 'IPv6 too');
    // Nothing leaves the lab: no default route anywhere in the nodes, the underlay holds only the bridge and the node ports.
    for (const n of labNodes(s)) t.equal(sh(['ip', '-n', n.netns, 'route', 'show', 'default']).trim() + sh(['ip', '-n', n.netns, '-6', 'route', 'show', 'default']).trim(), '', `no default route in ${n.name}`);
    const ul = sh(['ip', '-n', 'plab.lt-multi.underlay', '-o', 'link']).trim().split('\n').map((l) => l.split(': ')[1]!.split('@')[0]!);
    t.same(ul.filter((l) => l !== 'lo' && l !== 'br0' && !/^un[0-9a-f]{10}$/.test(l)), [], 'underlay: lo, br0 and one port per node');
    t.equal(ul.length, 2 + 3);
    t.notMatch(sh(['ip', '-o', 'link']), /\bun[0-9a-f]{10}\b|\bul0\b/, 'no underlay link in the root namespace');
  });

  t.test('no policy: every path of a cluster answers, TCP/UDP/SCTP, IPv4/IPv6', async (t) => {
    const s = readLabState(LAB)!;
    const cs: Check[] = [
      ...checks('app/client-1', 'app/server-2', 'allow', 'pod -> pod on another node'),
      ...checks('app/client-2', 'app/server-1', 'allow', 'pod -> pod on another node', POD_PORTS, 'IPv6'),
      ...checks('app/client-1', 'app/server-1', 'allow', 'pod -> pod, same node'),
      ...checks('app/client-2', 'host/hostnet-2', 'allow', 'pod -> host-network pod on its own node', HOST_PORTS),
      ...checks('app/client-1', 'host/hostnet-2', 'allow', 'pod -> host-network pod on another node', HOST_PORTS, 'IPv6'),
      ...checks('host/hostnet-2', 'app/server-1', 'allow', 'host-network pod -> pod on another node'),
      ...checks('host/hostnet-2', 'app/server-2', 'allow', 'host-network pod -> pod on its node', POD_PORTS, 'IPv6'),
      ...checks('app/client-1', 'node:w1', 'allow', 'pod -> own node'),
      ...checks('app/client-1', 'node:cp', 'allow', 'pod -> a node without pods'),
      ...checks('node:cp', 'host/hostnet-2', 'allow', 'node -> node', HOST_PORTS, 'IPv6'),
    ];
    t.same(await mismatches(s, cs), [], `${cs.length} probes answered by the endpoint dialled`);
    // The sources are what a cluster shows: pod IPs across nodes (no NAT), the node IP for a host-network pod.
    const [fromHost, fromPod] = await runLabProbes(s, [
      { from: 'host/hostnet-2', to: 'app/server-1', protocol: 'TCP', port: 80, family: 'IPv4' },
      { from: 'app/client-2', to: 'node:w1', protocol: 'UDP', port: 53, family: 'IPv6' },
    ]);
    t.match(fromHost, { src: '172.18.0.4', dst: '10.244.1.11', verdict: 'allow', answeredBy: 'app/server-1' });
    t.match(fromPod, { src: 'fd00:10:244:2::10', dst: 'fc00:f853:ccd:e793::3', verdict: 'allow', answeredBy: 'node:w1' });
    await t.rejects(runLabProbes(s, [{ from: 'node', to: 'app/server-1', protocol: 'TCP', port: 80, family: 'IPv4' }]), /the lab has 3 nodes: say which with node:<name> \(cp, w1, w2\)/);
  });

  t.test('NetworkPolicy: egress judged on the source node, ingress on the destination node', async (t) => {
    const s = readLabState(LAB)!;
    writeFileSync(join(dir, 'policy.yaml'), POLICIES);
    const written = Date.now();
    await waitForEnforced(s, written, 15_000);
    for (const a of labAgents(s)) t.same(readAgentStatus(a.statusFile)!.sourceErrors, [], `${a.node}: manifests read without errors`);
    await flushLabConntrack(s);
    const cs: Check[] = [
      ...checks('app/client-1', 'app/server-2', 'allow', 'cross-node: egress allowed on w1, ingress allowed on w2'),
      ...checks('app/client-1', 'app/server-2', 'allow', 'the same over IPv6', [['TCP', 80]], 'IPv6'),
      ...checks('app/client-2', 'app/server-1', 'deny', 'cross-node: ingress of server-1 denied on w1'),
      ...checks('app/client-2', 'app/server-1', 'deny', 'the same over IPv6', [['SCTP', 9003]], 'IPv6'),
      ...checks('app/client-2', 'app/server-2', 'deny', 'same node: ingress denied'),
      ...checks('host/hostnet-2', 'app/server-2', 'allow', 'host-network client: its node is the pod\'s node (always allowed)'),
      ...checks('host/hostnet-2', 'app/server-1', 'deny', 'host-network client on another node: not exempt'),
      ...checks('host/hostnet-2', 'app/client-1', 'allow', 'client-1 is not isolated for ingress', [['TCP', 80]]),
      ...checks('app/client-1', 'host/hostnet-2', 'deny', 'host-network server on another node: client-1\'s egress denied on w1', HOST_PORTS),
      ...checks('app/server-1', 'host/hostnet-2', 'allow', 'pod -> other node, no egress policy', HOST_PORTS),
      ...checks('app/client-2', 'host/hostnet-2', 'allow', 'host-network server on the client\'s own node', HOST_PORTS),
      ...checks('app/client-1', 'node:w1', 'allow', 'pod -> own node is always allowed', [['TCP', 80]]),
    ];
    t.same(await mismatches(s, cs), [], `${cs.length} probes as a cluster enforces them`);

    // Which agent dropped: client-2 (w2) -> server-1 (w1) is dropped by w1's agent (server-1's
    // ingress), never by w2's; cp's sees nothing.
    await flushLabConntrack(s);
    const before = await countersAfter(s, Date.now());
    const [r] = await runLabProbes(s, [{ from: 'app/client-2', to: 'app/server-1', protocol: 'TCP', port: 80, family: 'IPv4' }], { timeoutMs: 1000 });
    t.equal(r!.verdict, 'deny');
    const after = await countersAfter(s, Date.now());
    const d = (n: string, k: keyof Counters) => after.get(n)![k] - before.get(n)![k];
    t.ok(d('w1', 'drops') >= 1, `w1 dropped it (${d('w1', 'drops')} drops)`);
    t.equal(d('w2', 'drops'), 0, 'w2 dropped nothing');
    // w2 no longer necessarily sees it: only pods a policy judges are queued (judged-sets.ts),
    // and an allowed tuple judged twice before is admitted by w2's verdict cache.
    t.equal(d('cp', 'packets'), 0, 'cp saw nothing');

    // The verdict log shared by the agents has both nodes' verdicts.
    const want = [
      /DENY\s+TCP 10\.244\.2\.10 \(app\/client-2\) -> 10\.244\.1\.11:80 \(app\/server-1\) \[ingress\]: .*app\/servers-from-client-1/,
      /DENY\s+UDP 10\.244\.1\.10 \(app\/client-1\) -> 172\.18\.0\.4:34347 \[egress\]: .*app\/client-1-to-servers/,
      /DENY\s+SCTP 10\.244\.2\.10 \(app\/client-2\) -> 10\.244\.2\.11:9003 \(app\/server-2\) \[ingress\]/,
    ];
    let logs = cli(['logs', '--lab', LAB]);
    for (let i = 0; i < 40 && !want.every((w) => w.test(logs.stdout)); i++) {
      await new Promise((res) => setTimeout(res, 250));
      logs = cli(['logs', '--lab', LAB]);
    }
    t.equal(logs.code, 0, logs.stderr);
    for (const w of want) t.match(logs.stdout, w, 'palisade logs --lab');
    // lab probe knows host-network pods and node:NAME.
    const pf = join(dir, '..', `${LAB}-probes.yaml`);
    writeFileSync(pf, [
      '- {from: host/hostnet-2, to: app/server-1, port: 80, expect: deny}',
      '- {from: app/client-1, to: node:w1, port: 53, protocol: UDP, family: IPv6, expect: allow}',
      '- {from: node:cp, to: host/hostnet-2, port: 34351, protocol: SCTP, expect: allow}',
    ].join('\n') + '\n');
    const pr = cli(['lab', 'probe', '--name', LAB, '--probes', pf, '-o', 'json']);
    t.equal(pr.code, 0, `every expect met (${pr.stderr})`);
    t.match(JSON.parse(pr.stdout), [
      { from: 'host/hostnet-2', src: '172.18.0.4', dst: '10.244.1.11', verdict: 'deny' },
      { from: 'app/client-1', to: 'node:w1', dst: 'fc00:f853:ccd:e793::3', verdict: 'allow', answeredBy: 'node:w1' },
      { from: 'node:cp', src: '172.18.0.2', dst: '172.18.0.4', protocol: 'SCTP', verdict: 'allow' },
    ]);
    const st = cli(['lab', 'status', '--name', LAB]);
    t.match(st.stdout, /^agent of node w1: pid \d+, backend nfqueue, ready, generation \d+; log \S+agent\.w1\.log$/m, 'lab status: every node\'s agent');
    t.match(st.stdout, /^agent of node cp: pid \d+/m);
  });

  t.test('lab up again moves a pod to another node: rewired there, judged by that node\'s agent', async (t) => {
    const old = readLabState(LAB)!;
    writeFileSync(join(dir, 'cluster.yaml'), cluster('w1'));
    const written = Date.now();
    const r = cli(['lab', 'up', '--manifests', dir, '--name', LAB]);
    t.equal(r.code, 0, r.stderr);
    const s = readLabState(LAB)!;
    t.same(labAgents(s).map((a) => a.pid), labAgents(old).map((a) => a.pid), 'the agents keep running');
    t.equal(s.pods.find((p) => p.key === 'app/server-2')!.nodeNetns, 'plab.lt-multi.node.w1');
    t.match(sh(['ip', '-n', 'plab.lt-multi.node.w2', 'route']), /10\.244\.2\.11 via 169\.254\.100\.2 dev ul0/, 'w2 now routes server-2 to w1');
    t.match(sh(['ip', '-n', 'plab.lt-multi.node.w1', 'route']), /10\.244\.2\.11 dev pv\w+ scope link src 172\.18\.0\.3/, 'w1 holds its veth');
    await waitForEnforced(s, written, 15_000);
    await flushLabConntrack(s);
    t.same(await mismatches(s, [
      ...checks('app/client-2', 'app/server-2', 'deny', 'now cross-node: ingress denied on w1'),
      ...checks('host/hostnet-2', 'app/server-2', 'deny', 'no longer its node: not exempt', [['TCP', 80]]),
      ...checks('app/client-1', 'app/server-2', 'allow', 'now the same node', [['TCP', 80], ['UDP', 53]]),
    ]), []);
  });

  t.test('lab down stops every agent and removes every namespace', async (t) => {
    const s = readLabState(LAB)!;
    const pids = labAgents(s).map((a) => a.pid);
    const r = cli(['lab', 'down', '--name', LAB]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /deleted 8 namespace\(s\), removed its state/);
    t.same(pids.filter(processAlive), [], 'agents stopped');
    t.same(await labNamespaces(), []);
    t.notOk(existsSync(s.dir));
    t.ok(readFileSync(join(dir, 'policy.yaml'), 'utf8').length > 0, 'the followed folder is left alone');
  });
}
