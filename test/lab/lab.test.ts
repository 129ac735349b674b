// The lab without enforcement, on real namespaces (root): `palisade lab up` builds one namespace
// per pod wired to a node namespace; every pod reaches every pod (itself included) and the node
// on every served port over TCP (curl), UDP and SCTP, IPv4 and IPv6, and the answer comes from
// the pod dialled; nothing is wired to the host's network; `lab up` again reconciles; `lab down`
// removes everything, also from the namespace names alone after a crash.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadManifests } from '../../src/sources/manifests.ts';
import { labStateDir, readLabState, type LabState } from '../../src/lab/lab-state.ts';
import { labNetnsPrefix, listNetns, netnsPids, processAlive } from '../../src/lab/netns.ts';
import { LabProbeError, runLabProbes, type LabProbe } from '../../src/lab/probe.ts';
import { labDown, labSpecFromCluster, labUp } from '../../src/lab/topology.ts';
import type { Protocol, Family } from '../../src/cluster/model.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LAB = 'lt-basic';

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'palisade.js'), ...args], { encoding: 'utf8', cwd: ROOT, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function sh(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return r.stdout + r.stderr;
}

const MANIFESTS = `
apiVersion: v1
kind: Node
metadata: {name: node-1}
status: {addresses: [{type: InternalIP, address: 10.0.0.1}, {type: InternalIP, address: "fd00:10::1"}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {ns: x}}
---
apiVersion: v1
kind: Namespace
metadata: {name: "y", labels: {ns: "y"}}
---
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: a, labels: {app: a}}
spec:
  nodeName: node-1
  containers: [{name: c, ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}, {containerPort: 81, protocol: SCTP}]}]
status: {phase: Running, podIPs: [{ip: 10.244.1.1}, {ip: "fd00:10:244::11"}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: b, labels: {app: b}}
spec:
  nodeName: node-1
  containers: [{name: c, ports: [{containerPort: 8080}, {containerPort: 5353, protocol: UDP}, {containerPort: 9999, protocol: SCTP}]}]
status: {phase: Running, podIPs: [{ip: 10.244.1.2}, {ip: "fd00:10:244::12"}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: "y", name: a, labels: {app: a}}
spec:
  nodeName: node-1
  containers: [{name: c, ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}, {containerPort: 81, protocol: SCTP}]}]
status: {phase: Running, podIPs: [{ip: 10.244.2.1}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: "y", name: done, labels: {app: done}}
spec:
  nodeName: node-1
  containers: [{name: c, ports: [{containerPort: 80}]}]
status: {phase: Succeeded, podIPs: [{ip: 10.244.2.9}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: "y", name: hostnet, labels: {app: hostnet}}
spec:
  nodeName: node-1
  hostNetwork: true
  containers: [{name: c, ports: [{containerPort: 10250}]}]
status: {phase: Running, podIPs: [{ip: 10.0.0.1}]}
`;

if (process.getuid?.() !== 0) {
  t.test('lab', { skip: 'the lab needs root (network namespaces)' }, async () => {});
} else {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-lab-test-'));
  writeFileSync(join(dir, 'cluster.yaml'), MANIFESTS);

  t.teardown(async () => {
    await labDown(LAB);
  });

  const labNamespaces = async (lab = LAB) => (await listNetns()).filter((n) => n.startsWith(labNetnsPrefix(lab)));

  t.test('lab up builds a namespace per running pod and the node', async (t) => {
    await labDown(LAB);
    const r = cli(['lab', 'up', '--manifests', dir, '--name', LAB, '--no-agent', '--external', 'inet=192.0.2.10,2001:db8::10']);
    t.equal(r.code, 0, `exit 0 (${r.stderr})`);
    t.match(r.stdout, /x\/a\s+plab\.lt-basic\.pod\.x_a\s+10\.244\.1\.1, fd00:10:244::11\s+TCP 80\s+UDP 53\s+SCTP 81/);
    t.match(r.stderr, /y\/done is Succeeded: no namespace/);
    t.match(r.stderr, /y\/hostnet uses the host network/);
    const ns = await labNamespaces();
    t.same(ns.sort(), ['plab.lt-basic.ext.inet', 'plab.lt-basic.node', 'plab.lt-basic.pod.x_a', 'plab.lt-basic.pod.x_b', 'plab.lt-basic.pod.y_a']);
    const s = readLabState(LAB)!;
    t.ok(s, 'state recorded');
    t.same(s.nodePorts, { tcp: [80, 8080, 10250], udp: [53, 5353], sctp: [81, 9999] }, 'the node serves every pod port and the host-network pod\'s');
    // Addressing as kind's ptp CNI does it.
    t.match(sh(['ip', '-n', 'plab.lt-basic.pod.x_a', 'addr', 'show', 'eth0']), /inet 10\.244\.1\.1\/32[\s\S]*inet6 fd00:10:244::11\/128/);
    t.match(sh(['ip', '-n', 'plab.lt-basic.pod.x_a', 'route']), /default via 169\.254\.1\.1 dev eth0/);
    t.match(sh(['ip', '-n', 'plab.lt-basic.pod.x_a', '-6', 'route']), /default via fe80::1 dev eth0/);
    t.match(sh(['ip', '-n', 'plab.lt-basic.node', 'route']), /10\.244\.1\.1 dev pv\w+ scope link src 10\.0\.0\.1/);
    t.match(sh(['ip', '-n', 'plab.lt-basic.node', 'addr', 'show', 'lo']), /inet 10\.0\.0\.1\/32[\s\S]*inet6 fd00:10::1\/128/);
    t.equal(sh(['ip', 'netns', 'exec', 'plab.lt-basic.node', 'cat', '/proc/sys/net/ipv4/ip_forward']).trim(), '1');
    t.equal(sh(['ip', 'netns', 'exec', 'plab.lt-basic.node', 'cat', '/proc/sys/net/ipv6/conf/all/forwarding']).trim(), '1');
    t.equal(sh(['ip', 'netns', 'exec', 'plab.lt-basic.pod.x_a', 'cat', '/proc/sys/net/ipv4/ip_forward']).trim(), '0', 'pods do not forward');
  });

  t.test('nothing in the lab is wired to the host network', async (t) => {
    const s = readLabState(LAB)!;
    // No default route in the node: anything not for a pod or the node itself has nowhere to go.
    t.equal(sh(['ip', '-n', s.nodeNetns, 'route', 'show', 'default']).trim(), '', 'no IPv4 default route in the node');
    t.equal(sh(['ip', '-n', s.nodeNetns, '-6', 'route', 'show', 'default']).trim(), '', 'no IPv6 default route in the node');
    // Every interface of the node is lo or a pod veth, and every pod veth's peer is in a pod namespace.
    // Only "N: name..." lines are links: while other tests delete their namespaces, iproute2 may
    // also print "Peer netns reference is invalid." for a veth whose peer's netns id it is resolving.
    const links = sh(['ip', '-n', s.nodeNetns, '-o', 'link']).trim().split('\n').filter((l) => /^\d+: /.test(l)).map((l) => l.split(': ')[1]!.split('@')[0]!);
    t.same(links.filter((l) => l !== 'lo' && !/^[px]v[0-9a-f]{10}$/.test(l)), [], 'only lo and pod/outside-host veths in the node');
    t.equal(links.length, 1 + s.pods.length + s.externals.length);
    const rootLinks = sh(['ip', '-o', 'link']);
    for (const p of s.pods) t.notMatch(rootLinks, new RegExp(`\\b${p.hostIf}\\b`), `${p.hostIf} is not in the root namespace`);
    t.equal(sh(['ip', 'netns', 'exec', s.nodeNetns, 'iptables', '-t', 'nat', '-S', 'POSTROUTING']).includes('MASQUERADE'), false, 'no NAT');
  });

  t.test('every pod reaches every pod and the node, every protocol, both families', async (t) => {
    const s = readLabState(LAB)!;
    const ends: { ref: string; ips: readonly string[]; ports: LabState['nodePorts'] }[] = [
      ...s.pods.map((p) => ({ ref: p.key, ips: p.ips, ports: p.ports })),
      { ref: 'node', ips: s.node.ips, ports: s.nodePorts },
      { ref: 'ext:inet', ips: s.externals[0]!.ips, ports: s.nodePorts },
    ];
    const probes: LabProbe[] = [];
    for (const from of ends) {
      for (const to of ends) {
        for (const family of ['IPv4', 'IPv6'] as Family[]) {
          const fam = (ips: readonly string[]) => ips.some((ip) => (family === 'IPv6') === ip.includes(':'));
          if (!fam(from.ips) || !fam(to.ips)) continue;
          for (const [protocol, ports] of [['TCP', to.ports.tcp], ['UDP', to.ports.udp], ['SCTP', to.ports.sctp]] as [Protocol, readonly number[]][]) {
            for (const port of ports) probes.push({ from: from.ref, to: to.ref, port, protocol, family });
          }
        }
      }
    }
    t.ok(probes.length > 100, `${probes.length} probes`);
    const results = await runLabProbes(s, probes, { concurrency: 16, timeoutMs: 2000 });
    const bad = results.filter((r) => r.verdict !== 'allow');
    t.same(bad.map((r) => `${r.protocol}/${r.port} ${r.family} ${r.from} -> ${r.to}: ${r.detail} ${r.message ?? ''}`), [], 'every probe answered');
    // TCP and UDP answers name who answered: the pod dialled, never another one.
    const wrong = results.filter((r) => r.protocol !== 'SCTP' && r.answeredBy !== r.to);
    t.same(wrong.map((r) => `${r.from} -> ${r.to} answered by ${r.answeredBy}`), []);
    t.ok(results.some((r) => r.protocol === 'SCTP' && r.family === 'IPv6' && r.verdict === 'allow'), 'SCTP over IPv6 too');
  });

  t.test('a host-network pod is the node: probes to and from it use the node namespace and address', async (t) => {
    const s = readLabState(LAB)!;
    const [to, from] = await runLabProbes(s, [
      { from: 'x/a', to: 'y/hostnet', port: 10250, protocol: 'TCP', family: 'IPv4' },
      { from: 'y/hostnet', to: 'x/b', port: 5353, protocol: 'UDP', family: 'IPv6' },
    ]);
    t.match(to, { dst: '10.0.0.1', verdict: 'allow', answeredBy: 'node' });
    t.match(from, { src: 'fd00:10::1', dst: 'fd00:10:244::12', verdict: 'allow', answeredBy: 'x/b' });
  });

  t.test('the SCTP exchange is valid SCTP to netfilter', async (t) => {
    const s = readLabState(LAB)!;
    const node = ['ip', 'netns', 'exec', s.nodeNetns];
    // Conntrack checks the CRC32c of SCTP packets entering the node (nf_conntrack_checksum) and
    // follows the INIT / INIT-ACK / ABORT state machine; anything it cannot place is INVALID.
    for (const ipt of ['iptables', 'ip6tables']) sh([...node, ipt, '-I', 'FORWARD', '-p', 'sctp', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP']);
    t.teardown(() => {
      for (const ipt of ['iptables', 'ip6tables']) sh([...node, ipt, '-D', 'FORWARD', '-p', 'sctp', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP']);
    });
    t.equal(sh([...node, 'cat', '/proc/sys/net/netfilter/nf_conntrack_checksum']).trim(), '1', 'conntrack verifies checksums');
    const rs = await runLabProbes(s, [
      { from: 'x/a', to: 'x/b', port: 9999, protocol: 'SCTP', family: 'IPv4' },
      { from: 'x/b', to: 'x/a', port: 81, protocol: 'SCTP', family: 'IPv6' },
    ], { timeoutMs: 2000 });
    t.same(rs.map((r) => r.verdict), ['allow', 'allow'], 'INIT and INIT-ACK pass a node that drops INVALID SCTP');
    const ct = sh([...node, 'conntrack', '-L', '-p', 'sctp']);
    t.match(ct, /sctp .*src=10\.244\.1\.1 dst=10\.244\.1\.2 sport=\d+ dport=9999 .*src=10\.244\.1\.2 dst=10\.244\.1\.1 sport=9999/, 'tracked as one SCTP association attempt, reply seen');
    t.match(ct, /dst=fd00:10:244::11 sport=\d+ dport=81/, 'IPv6 too');
  });

  t.test('probes can fail: closed ports are refused (not denied), unknown endpoints', async (t) => {
    const s = readLabState(LAB)!;
    const [tcp, udp, sctp, extTcp, extSctp] = await runLabProbes(s, [
      { from: 'x/a', to: 'x/b', port: 80, protocol: 'TCP', family: 'IPv4' },
      { from: 'x/a', to: 'x/b', port: 53, protocol: 'UDP', family: 'IPv6' },
      { from: 'x/a', to: 'y/a', port: 9999, protocol: 'SCTP', family: 'IPv4' },
      { from: 'x/a', to: 'ext:inet', port: 9, protocol: 'TCP', family: 'IPv6' },
      { from: 'ext:inet', to: 'x/b', port: 82, protocol: 'SCTP', family: 'IPv6' },
    ], { timeoutMs: 500 });
    t.match(tcp, { verdict: 'refused', detail: 'refused', message: /RST/ }, 'a RST comes back from a port nobody serves');
    t.match(udp, { verdict: 'refused', detail: 'refused', message: /ICMP port unreachable/ }, 'ICMP port unreachable');
    t.match(sctp, { verdict: 'refused', detail: 'refused', message: /ABORT/ }, 'an INIT to a port nobody serves gets an ABORT');
    t.match(extTcp, { verdict: 'refused' }, 'an outside host refuses the ports it does not serve');
    t.match(extSctp, { verdict: 'refused' }, 'from an outside host, SCTP over IPv6');
    // Many closed-port probes at once: every one refused (the kernel's ICMP rate limit would
    // otherwise swallow most port unreachables, and a swallowed one reads as a drop).
    const many = await runLabProbes(s, Array.from({ length: 24 }, (_, i) => ({ from: 'x/a', to: 'x/b', port: 6000 + i, protocol: 'UDP' as Protocol, family: (i % 2 ? 'IPv6' : 'IPv4') as Family })), { timeoutMs: 1000 });
    t.same(many.filter((r) => r.verdict !== 'refused').map((r) => `UDP/${r.port} ${r.family}: ${r.verdict} ${r.detail}`), [], '24 closed UDP ports at once: all refused');
    const noV6 = await runLabProbes(s, [{ from: 'x/a', to: 'y/a', port: 80, protocol: 'TCP', family: 'IPv6' }]).catch((e: unknown) => e);
    t.ok(noV6 instanceof LabProbeError, 'a LabProbeError');
    t.match(String(noV6), /pod y\/a has no IPv6 address/);
    await t.rejects(runLabProbes(s, [{ from: 'y/done', to: 'y/a', port: 80, protocol: 'TCP', family: 'IPv4' }]), /no pod y\/done in the lab \(pods of namespace y: [^)]*finished/);
    await t.rejects(runLabProbes(s, [{ from: 'x/a', to: '192.0.2.1', port: 80, protocol: 'TCP', family: 'IPv4' }]), /belongs to nothing in the lab/);
  });

  t.test('lab probe command: verify\'s probe format plus node, JSON out', async (t) => {
    const pf = join(dir, 'probes.yaml');
    writeFileSync(pf, [
      '- {from: x/a, to: y/a, port: 80, expect: allow}',
      '- {from: node, to: x/b, port: 5353, protocol: UDP, family: IPv6, expect: allow}',
      '- {from: 10.244.2.1, to: node, port: 81, protocol: SCTP}',
      '- {from: x/a, to: x/b, port: 81, protocol: TCP, expect: allow}',
      '- {from: ext:inet, to: x/a, port: 80, family: IPv6, expect: allow}',
      '- {from: x/a, to: ext:inet, port: 8443, expect: deny}',
    ].join('\n'));
    const r = cli(['lab', 'probe', '--name', LAB, '--probes', pf, '-o', 'json', '--timeout', '500']);
    t.equal(r.code, 1, 'exit 1: the last expect is not met');
    const out = JSON.parse(r.stdout) as Record<string, unknown>[];
    t.equal(out.length, 6);
    t.match(out[0], { from: 'x/a', to: 'y/a', port: 80, protocol: 'TCP', family: 'IPv4', verdict: 'allow', allowed: true, src: '10.244.1.1', dst: '10.244.2.1', expect: 'allow', met: true });
    t.match(out[1], { from: 'node', to: 'x/b', protocol: 'UDP', family: 'IPv6', verdict: 'allow', src: 'fd00:10::1', dst: 'fd00:10:244::12' });
    t.match(out[2], { from: '10.244.2.1', to: 'node', protocol: 'SCTP', verdict: 'allow', dst: '10.0.0.1' });
    t.match(out[3], { verdict: 'refused', allowed: true, detail: 'refused', expect: 'allow', met: true }, 'nobody listens, but the policy let it through: expect allow is met');
    t.match(out[4], { from: 'ext:inet', to: 'x/a', verdict: 'allow', src: '2001:db8::10', dst: 'fd00:10:244::11', answeredBy: 'x/a' });
    t.match(out[5], { to: 'ext:inet', verdict: 'refused', allowed: true, expect: 'deny', met: false }, 'a refused connection was not denied');
    const tbl = cli(['lab', 'probe', '--name', LAB, '--probes', pf, '--timeout', '500']);
    const rows = tbl.stdout.trimEnd().split('\n');
    t.match(rows[4], /^3\s+x\/a \(10\.244\.1\.1\)\s+x\/b \(10\.244\.1\.2\)\s+TCP\/81\s+IPv4\s+refused\s+refused \d+ms \(RST: nobody listens on the port\)\s+allow ok$/, 'table: refused, not DENY; expect allow met');
    t.match(rows[6], /TCP\/8443\s+IPv4\s+refused\s+.*deny MISMATCH$/);
    t.notMatch(tbl.stdout, /DENY/);
    const bad = cli(['lab', 'probe', '--name', LAB, '--probes', pf, '--timeout', '5']);
    t.equal(bad.code, 2);
    t.match(bad.stderr, /--timeout must be between 50 and 30000/);
    writeFileSync(pf, '- {from: x/a, to: ext:nowhere, port: 80}\n');
    const ext = cli(['lab', 'probe', '--name', LAB, '--probes', pf]);
    t.equal(ext.code, 2);
    t.match(ext.stderr, /probe\[0\]\.to: no outside host nowhere in the lab/);
  });

  t.test('lab up again reconciles: pods removed, added, ports changed', async (t) => {
    const loaded = loadManifests([dir]);
    const { spec } = labSpecFromCluster(loaded.state);
    const before = readLabState(LAB)!;
    const xaPid = before.endpoints[before.pods.find((p) => p.key === 'x/a')!.netns]!.pid;
    const next = {
      ...spec,
      pods: [
        ...spec.pods.filter((p) => p.namespace !== 'y').map((p) => (p.name === 'a' ? { ...p, ports: { tcp: [80, 81], udp: [53], sctp: [81] } } : p)),
        { namespace: 'y', name: 'c', ips: ['10.244.2.3', 'fd00:10:244::23'], ports: { tcp: [80], udp: [], sctp: [] } },
      ],
    };
    const s = await labUp(next, { name: LAB });
    t.same((await labNamespaces()).sort(), ['plab.lt-basic.node', 'plab.lt-basic.pod.x_a', 'plab.lt-basic.pod.x_b', 'plab.lt-basic.pod.y_c'], 'y/a gone, y/c added, the outside host removed');
    t.equal(s.endpoints[s.pods.find((p) => p.key === 'x/a')!.netns]!.pid, xaPid, 'x/a kept its endpoint (only its ports changed)');
    const rs = await runLabProbes(s, [
      { from: 'y/c', to: 'x/a', port: 81, protocol: 'TCP', family: 'IPv6' },
      { from: 'x/b', to: 'y/c', port: 80, protocol: 'TCP', family: 'IPv4' },
    ]);
    t.same(rs.map((r) => `${r.verdict} ${r.answeredBy}`), ['allow x/a', 'allow y/c']);
    const [noSctp] = await runLabProbes(s, [{ from: 'x/a', to: 'y/c', port: 81, protocol: 'SCTP', family: 'IPv6' }], { timeoutMs: 500 });
    t.equal(noSctp!.verdict, 'refused', 'a pod serving no SCTP port still answers an INIT with ABORT');

    // An endpoint that died is restarted by the next lab up.
    const xb = s.endpoints[s.pods.find((p) => p.key === 'x/b')!.netns]!;
    process.kill(xb.pid!, 'SIGKILL');
    // SIGKILL is delivered asynchronously: until the last of the process's threads has exited,
    // its listening socket still completes handshakes (and then resets them). Wait until
    // nothing listens on the port in x/b's namespace.
    await waitForNoListener(xb.netns, 8080);
    const dead = await runLabProbes(s, [{ from: 'x/a', to: 'x/b', port: 8080, protocol: 'TCP', family: 'IPv4' }], { timeoutMs: 500 });
    t.equal(dead[0]!.verdict, 'refused', 'nobody serves x/b any more: its kernel answers with a RST');
    const repaired = await labUp(next, { name: LAB });
    t.not(repaired.endpoints[xb.netns]!.pid, xb.pid, 'a new endpoint for x/b');
    const back = await runLabProbes(repaired, [{ from: 'x/a', to: 'x/b', port: 8080, protocol: 'TCP', family: 'IPv4' }]);
    t.equal(back[0]!.verdict, 'allow', 'x/b answers again');
  });

  t.test('lab down removes every namespace, process and the state', async (t) => {
    const s = readLabState(LAB)!;
    const pids = (await Promise.all((await labNamespaces()).map((n) => netnsPids(n)))).flat();
    t.ok(pids.length >= 4, 'endpoint processes running');
    const r = cli(['lab', 'down', '--name', LAB]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /deleted 4 namespace\(s\), removed its state/);
    t.same(await labNamespaces(), []);
    t.notOk(existsSync(s.dir), 'state folder gone');
    const alive = pids.filter(processAlive);
    t.same(alive, [], 'every lab process stopped');
  });

  t.test('lab down after a crash: servers killed, state lost, namespaces left', async (t) => {
    const { spec } = labSpecFromCluster(loadManifests([dir]).state);
    const s = await labUp(spec, { name: LAB });
    for (const e of Object.values(s.endpoints)) if (e.pid) process.kill(e.pid, 'SIGKILL');
    spawnSync('rm', ['-rf', labStateDir(LAB)]);
    t.equal((await labNamespaces()).length, 4, 'namespaces left behind');
    const st = cli(['lab', 'status']);
    t.match(st.stdout, /^ {2}lt-basic \(no state: leftovers of a crashed run/m);
    const r = cli(['lab', 'down', '--name', LAB]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /deleted 4 namespace\(s\)/);
    t.same(await labNamespaces(), []);
    // A lab whose name extends this one's is not touched by it (prefix is "plab.<name>.").
    t.notOk((await listNetns()).some((n) => n.startsWith('plab.lt-basic')), 'nothing with the prefix left');
  });

  t.test('lab up refuses bad input with one clear line', async (t) => {
    const r = cli(['lab', 'up', '--manifests', dir, '--name', 'Bad_Name', '--no-agent']);
    t.equal(r.code, 2);
    t.match(r.stderr, /--name: lab name "Bad_Name" must be 1-24 characters/);
    const r2 = cli(['lab', 'probe', '--name', 'lt-nothing', '--probes', join(dir, 'cluster.yaml')]);
    t.equal(r2.code, 2);
    t.match(r2.stderr, /no lab "lt-nothing" here/);
    const r3 = cli(['lab', 'up', '--manifests', dir, '--name', 'lt-nothing', '--verdict-log', '/nonexistent/verdicts.log']);
    t.equal(r3.code, 2);
    t.match(r3.stderr, /--verdict-log \/nonexistent\/verdicts\.log: folder \/nonexistent does not exist/);
    const r4 = cli(['lab', 'up', '--manifests', dir, '--name', 'lt-nothing', '--no-agent', '--verdict-log', join(dir, 'v.log')]);
    t.equal(r4.code, 2);
    t.match(r4.stderr, /--verdict-log needs the agent/);
    t.same((await listNetns()).filter((n) => n.startsWith(labNetnsPrefix('lt-nothing'))), [], 'nothing built');
    t.notMatch(r.stderr + r2.stderr + r3.stderr + r4.stderr, /^\s+at /m, 'no stack trace');
  });
}

/** Resolves once no TCP socket listens on `port` in namespace `netns`. */
async function waitForNoListener(netns: string, port: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const r = spawnSync('ip', ['netns', 'exec', netns, 'ss', '-Hltn', `sport = :${port}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() === '') return;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error(`something still listens on TCP ${port} in ${netns}`);
}
