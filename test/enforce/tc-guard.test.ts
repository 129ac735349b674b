// Source-address validation in the default layout, tc filters on each pod veth's ingress
// (enforce/tc-guard.ts, agent/source-guard.ts), on the real kernel path: pod a forges pod c's
// source address with a raw socket (TCP SYN, UDP, ICMP echo; IPv4 and IPv6) towards pod b. What
// reaches b is counted in b's own namespace (INPUT rules per source and protocol, no target):
// forged packets must count 0 while the same raw sender with a's own address (the control) and
// ordinary connections pass. The agent runs without --source-guard-layout (auto picks tc where
// tc and nft run). Also: drops counted and logged, a new address validated at once, a veth
// recreated under its name guarded again, the watchdog putting back each part (a catch-all, the
// ingress qdisc, the sink's table, the sink device), a pod without an interface dropped by the
// agent's own filter chains while it has none (and not with --fail-open), removal, --no-source-guard after a tc
// run, and the TUN backend. The nft and iptables layouts: test/enforce/spoof-guard.test.ts.

import t, { type Test } from 'tap';
import { join } from 'node:path';
import { readFileSync, rmSync } from 'node:fs';
import { Topology, PODS, clusterYaml, startAgent, statusReaders, waitFor, must, run, type AgentStatusFile } from '../../support/netns.ts';
import { A_NEW, forgingProbe } from '../support/forging-probe.ts';
import { LINEAR_MAX } from '../../src/enforce/tc-filters.ts';

const NODE = 'n1';
const QUEUE = 52;
const METRICS = '127.0.0.1:9837';
const topo = new Topology('tcguard');
t.teardown(() => topo.down());

const SINK = 'palisade-sink';

interface GuardStatus extends AgentStatusFile {
  rulesRestored: number;
  ruleWatchdog?: { fullChecks: number; skippedChecks: number };
  sourceGuard?: { spoofedPackets: number; spoofedByPod: Record<string, number>; noInterfaceDrops: number; podsWithoutInterface: string[]; routeLookups: number; layout: string };
}

const { setUp, probeArrivals, checkForging, checkForgedReported, watch } = forgingProbe(topo);

/** A u32 key as tc prints it: the address words in hex, 8 digits each. */
function hexWords(ip: string): string[] {
  if (!ip.includes(':')) return [ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('')];
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const tl = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - tl.length).fill('0'), ...tl].map((g) => g.padStart(4, '0'));
  return [0, 2, 4, 6].map((i) => groups[i]! + groups[i + 1]!);
}

/**
 * An interface's ingress filters as `tc filter show` prints them, one string per preference:
 * "PREF PROTO KEY... pass" (classid :1) or "PREF PROTO KEY... -> DEV" (mirred ingress redirect).
 */
async function filters(iface: string): Promise<Map<number, string>> {
  const r = await run(topo.in(topo.node, ['tc', 'filter', 'show', 'dev', iface, 'ingress']));
  const out = new Map<number, string>();
  let cur: { pref: number; s: string; flowid?: string } | undefined;
  const flush = () => {
    if (cur) out.set(cur.pref, (out.has(cur.pref) ? `${out.get(cur.pref)} | ` : '') + cur.s + (cur.flowid === ':1' ? ' pass' : cur.flowid ? ` flowid ${cur.flowid}` : ''));
    cur = undefined;
  };
  for (const line of r.stdout.split('\n')) {
    const head = /^filter protocol (\S+) pref (\d+) (\S+) chain \d+ fh \S+::\S+ /.exec(line);
    if (head) {
      flush();
      cur = { pref: Number(head[2]), s: `${head[2]} ${head[1]}${head[3] === 'u32' ? '' : ` ${head[3]}`}`, flowid: /[\s*]flowid ([0-9a-f]*:[0-9a-f]*)/.exec(line)?.[1] };
      continue;
    }
    const m = /^\s+match (\S+) at (\d+)/.exec(line);
    if (m && cur) cur.s += ` ${m[1]}@${m[2]}`;
    const a = /mirred \(Ingress Redirect to device (\S+)\)/.exec(line);
    if (a && cur) cur.s += ` -> ${a[1]}`;
  }
  flush();
  return out;
}

/** What the layout should write on a pod veth for the pod's addresses (one of each family here). */
function expectedFilters(v4: string, v6: string): Map<number, string> {
  const k6 = (ip: string) => hexWords(ip).map((w, i) => `${w}/ffffffff@${8 + 4 * i}`).join(' ');
  return new Map([
    [1, `1 ip ${hexWords(v4)[0]}/ffffffff@12 pass`],
    [2, `2 ipv6 ${k6(v6)} pass`],
    [3, '3 ipv6 fe800000/ffc00000@8 pass'],
    [4, `4 ipv6 ${k6('::')} pass`],
    [201, `201 ip 00000000/00000000@0 -> ${SINK}`],
    [202, `202 ipv6 00000000/00000000@0 -> ${SINK}`],
  ]);
}

const sameFilters = async (iface: string, want: Map<number, string>): Promise<boolean> => {
  const have = await filters(iface);
  return have.size === want.size && [...want].every(([p, s]) => have.get(p) === s);
};

/** Pod d: a local pod whose addresses have no route on the node (its interface is not found). */
const D = { v4: '10.77.9.2', v6: 'fd77:9::2' };
/** A source no pod has, sent the same way as d's (the control for the no-interface drop). */
const STRAY = { v4: '10.77.8.2', v6: 'fd77:8::2' };

const podD = `apiVersion: v1
kind: Pod
metadata: {name: d, namespace: x, labels: {app: d}}
spec:
  nodeName: ${NODE}
  containers: [{name: c, image: i}]
status: {phase: Running, podIP: ${D.v4}, podIPs: [{ip: ${D.v4}}, {ip: "${D.v6}"}]}
`;

async function sinkTable(): Promise<string> {
  const r = await run(topo.in(topo.node, ['nft', 'list', 'table', 'netdev', SINK]));
  return r.code === 0 ? r.stdout : '';
}
const linkExists = async (name: string) => (await run(topo.in(topo.node, ['ip', 'link', 'show', name]))).code === 0;
const ipsetSave = async (set: string) => (await run(topo.in(topo.node, ['ipset', 'save', set]))).stdout;
const chain = async (cmd: string, table: string, name: string) => (await run(topo.in(topo.node, [cmd, '-t', table, '-S', name]))).stdout;

t.test('the tc layout (the default): spoofed sources dropped on the pod veths, honest traffic passes', async (t) => {
  const dir = await setUp(NODE, [D, STRAY]);
  const statusFile = join(topo.dir, 'status.json');
  const vlog = join(topo.dir, 'verdicts.jsonl');
  const args = ['--node', NODE, '--manifests', dir, '--backend', 'nfqueue', '--queue', String(QUEUE), '--rescan-ms', '300', '--rules-check-ms', '300', '--verdict-log', vlog, '--metrics', METRICS];
  const status = () => topo.readJSON<GuardStatus>(statusFile)!;
  const { freshStatus } = statusReaders(topo, statusFile);
  /**
   * x/a's drops once everything sent before the call is counted. A status written after the call
   * may carry counters a tick read before it (status is written on its own timer): wait until
   * the tick count is two past that status's, so a whole tick began and ended after the call.
   */
  const ticks = (s: GuardStatus) => s.ruleWatchdog!.fullChecks + s.ruleWatchdog!.skippedChecks;
  const spoofedA = async () => {
    const base = ticks((await freshStatus()) as GuardStatus);
    const s = await waitFor('two watchdog ticks', () => {
      const x = status();
      return ticks(x) >= base + 2 ? x : undefined;
    }, 30_000);
    return s.sourceGuard!.spoofedByPod['x/a'] ?? 0;
  };
  const restoredAfter = async (what: string, before: number) => waitFor(`${what}: restoration counted`, () => status().rulesRestored > before, 60_000);
  let agent = await startAgent(topo, args, statusFile);

  await t.test('the guard is u32 filters on each pod veth and a sink, nothing in PREROUTING', async (t) => {
    t.equal(status().sourceGuard!.layout, 'tc', 'status: layout tc (auto, no flag)');
    for (const p of ['a', 'b', 'c'] as const) {
      t.same(await filters(PODS[p].nodeIf), expectedFilters(PODS[p].v4, PODS[p].v6), `${PODS[p].nodeIf}: the pod's addresses pass (pref 1, 2), link-local and :: pass (3, 4), the rest redirected into the sink (201, 202)`);
    }
    const qd = await must(topo.in(topo.node, ['tc', 'qdisc', 'show', 'dev', 'va']));
    t.match(qd, /qdisc ingress ffff: parent ffff:fff1/, 'an ingress qdisc on va');
    t.notMatch(qd, 'clsact', 'not clsact (it would hook va\'s egress too)');
    t.ok(await linkExists(SINK) && await linkExists('palisade-sinkp'), 'the sink veth pair');
    const table = await sinkTable();
    t.match(table, `type filter hook ingress device "${SINK}" priority -500; policy drop;`, 'the sink table: bound to the sink\'s ingress, policy drop');
    t.match(table, /update @forged4 \{ ether daddr \. ip saddr \} counter packets \d+ bytes \d+ drop/, 'IPv4 forged sources recorded with the gateway MAC');
    t.match(table, /update @forged6 \{ ether daddr \. ip6 saddr \} counter packets \d+ bytes \d+ drop/, 'IPv6 too');
    for (const fam of ['ip', 'ip6', 'inet']) t.not((await run(topo.in(topo.node, ['nft', 'list', 'table', fam, 'palisade-guard']))).code, 0, `no ${fam} palisade-guard table`);
    for (const cmd of ['iptables', 'ip6tables']) t.notMatch(await must(topo.in(topo.node, [cmd, '-t', 'raw', '-S'])), 'PALISADE', `${cmd}: no raw PALISADE chains`);
    const sets = await must(topo.in(topo.node, ['ipset', 'list', '-n']));
    t.notMatch(sets, 'PALISADE-SRC', 'no iptables-layout guard sets');
    t.match(sets, 'PALISADE-TCNOIF4', 'the no-interface sets are there');
    // Every pod's interface is found: no rule reads the empty sets (a set match on every new flow).
    for (const cmd of ['iptables', 'ip6tables']) t.notMatch(await must(topo.in(topo.node, [cmd, '-S'])), 'TCNOIF', `${cmd}: no drop rule while every pod has its interface`);
  });

  await t.test('a forging c\'s address: TCP SYN, UDP, ICMP, IPv4 and IPv6', async (t) => {
    await checkForging(t, 'a', PODS.a, PODS.c, true);
    t.ok(await topo.tcp('a', 'b', 8080), 'a -> b:8080 (a real connection) passes');
    t.ok(await topo.tcp('a', 'b', 8080, 6), 'IPv6 a -> b:8080 passes');
    t.ok(await topo.tcp('c', 'b', 8080), 'c -> b:8080 (the victim\'s own traffic) passes');
    t.ok(await topo.tcp('c', 'b', 8080, 6), 'IPv6 c -> b:8080 passes');
    t.ok(await topo.udp('a', 'b', 8080), 'UDP a -> b:8080 echoed');
  });

  await t.test('an interface holding more pods\' addresses than LINEAR_MAX: hashed by the last byte, every honest source passes, a forgery sharing a bucket is sunk', async (t) => {
    // Pods behind a's veth (as behind one bridge port; the e2e bench's tuple clients are such):
    // six more addresses of each family on va, in a's /24 and /64.
    const extra = Array.from({ length: LINEAR_MAX + 2 }, (_, i) => ({ v4: `10.77.1.${16 + i}`, v6: `fd77:1::${(16 + i).toString(16)}` }));
    for (const p of extra) {
      await watch(p.v4, 4);
      await watch(p.v6, 6);
    }
    const gen = status().generation;
    topo.writeFile('manifests/behind-va.yaml', extra.map((p, i) => `apiVersion: v1\nkind: Pod\nmetadata: {name: behind-va-${i}, namespace: x, labels: {app: behind-va}}\n` +
      `spec: {nodeName: ${NODE}, containers: [{name: c, image: i}]}\nstatus: {phase: Running, podIP: ${p.v4}, podIPs: [{ip: ${p.v4}}, {ip: "${p.v6}"}]}\n`).join('---\n'));
    await waitFor('new generation enforced', () => status().generation > gen, 60_000);
    const shown = await must(topo.in(topo.node, ['tc', 'filter', 'show', 'dev', 'va', 'ingress']));
    const tables: string[] = [];
    for (const [pref, at] of [[1, 12], [2, 20]] as const) {
      // Table ids are the agent's choice (tc-filters.ts, PLACEHOLDER_TABLE): read, then followed.
      const table = new RegExp(`pref ${pref} u32 chain 0 fh ([0-9a-f]+): ht divisor 256`).exec(shown)?.[1];
      t.ok(table && parseInt(table, 16) < 0x800, `pref ${pref}: a hash table of 256 buckets (${table})`);
      tables.push(table ?? 'none');
      t.match(shown, new RegExp(`pref ${pref} u32 chain 0 fh 8[0-9a-f]+::800 order \\d+ key ht 8[0-9a-f]+ bkt 0 link ${table}:[^]*?hash mask 000000ff at ${at}`), `pref ${pref}: the root links there, hashing the source's last byte`);
    }
    t.not(tables[0], tables[1], 'a table of its own per family');
    t.match(shown, new RegExp(`fh ${tables[0]}:2:800 order \\d+ key ht ${tables[0]} bkt 2 \\*flowid :1[^]*?match 0a4d0102/ffffffff at 12`), 'a\'s own 10.77.1.2 in bucket 2');
    // c's 10.77.3.2 and fd77:3::2 fall in a's bucket 2: the bucket's node compares the whole address.
    await checkForging(t, 'a', PODS.a, PODS.c, true);
    await checkForging(t, 'a', extra.at(-1)!, PODS.c, true);
    t.ok(await topo.tcp('a', 'b', 8080), 'a -> b:8080 (a real connection) passes');

    // Someone deletes the IPv4 link: every honest IPv4 source falls through to the catch-all
    // (fail-closed) until the watchdog writes the preference anew, into a new table; the table
    // left unlinked is deleted at the next ticks.
    const link = /fh (8[0-9a-f]+::[0-9a-f]+) order \d+ key ht 8[0-9a-f]+ bkt 0 link /.exec(await must(topo.in(topo.node, ['tc', 'filter', 'show', 'dev', 'va', 'ingress', 'pref', '1'])))?.[1];
    t.ok(link, `the IPv4 link node: ${link}`);
    const before = status().rulesRestored;
    await must(topo.in(topo.node, ['tc', 'filter', 'del', 'dev', 'va', 'ingress', 'pref', '1', 'handle', link!, 'u32']));
    await waitFor('the link put back', () => status().rulesRestored > before, 60_000);
    await checkForging(t, 'a', extra[0]!, PODS.c, true);
    const tablesOf = async (pref: number) => [...(await must(topo.in(topo.node, ['tc', 'filter', 'show', 'dev', 'va', 'ingress', 'pref', String(pref)]))).matchAll(/fh ([0-9a-f]+): ht divisor 256/g)].map((m) => m[1]);
    await waitFor('one table a family again', async () => (await tablesOf(1)).length === 1 && (await tablesOf(2)).length === 1, 30_000);
    t.not((await tablesOf(1))[0], tables[0], 'IPv4: a new table, the unlinked one deleted');
    t.equal((await tablesOf(2))[0], tables[1], 'IPv6: untouched');

    // Back to one address per family: the plain walk again, as written for a lone pod.
    const gen2 = status().generation;
    const restored = status().rulesRestored;
    rmSync(join(topo.dir, 'manifests', 'behind-va.yaml'));
    await waitFor('new generation enforced', () => status().generation > gen2, 60_000);
    // The old tables are deleted at the next ticks (the kernel releases a link's hold after an
    // RCU grace period); until then they are listed, unlinked, under their preferences.
    await waitFor('va: no hash table left', async () => !(await must(topo.in(topo.node, ['tc', 'filter', 'show', 'dev', 'va', 'ingress']))).includes('divisor 256'), 30_000);
    t.pass('va: no hash table left');
    t.same(await filters('va'), expectedFilters(PODS.a.v4, PODS.a.v6), 'va: the key node walk again');
    t.equal(status().rulesRestored, restored, 'nothing put back meanwhile (a table left unlinked reads as intact)');
    await checkForging(t, 'a', PODS.a, PODS.c, true);
  });

  await t.test('the drops are counted per pod and logged with pod, interface and forged address', async (t) => {
    const s = await waitFor('spoofed packets counted', () => {
      const g = status().sourceGuard;
      return g && (g.spoofedByPod['x/a'] ?? 0) >= 18 ? g : undefined;
    }, 30_000);
    t.ok(s.spoofedPackets >= 18, `status counts ${s.spoofedPackets} spoofed packets`);
    t.ok((s.spoofedByPod['x/a'] ?? 0) >= 18, `counted for pod x/a: ${s.spoofedByPod['x/a']}`);
    t.notOk(s.spoofedByPod['x/c'], 'nothing counted for the victim c');
    await checkForgedReported(t, METRICS, vlog);
    t.notMatch(await sinkTable(), PODS.c.v4, 'the records read are deleted from the sink\'s set');
  });

  await t.test('an idle node: nothing put back, no route lookups beyond the refresh', async (t) => {
    const s0 = status();
    await new Promise((r) => setTimeout(r, 2000));
    const s1 = status();
    t.equal(s1.rulesRestored, s0.rulesRestored, 'nothing put back while idle (the filters, the sink and the sets read back as written)');
    t.ok(s1.sourceGuard!.routeLookups - s0.sourceGuard!.routeLookups <= 1, `route lookups while idle for 2 s: ${s1.sourceGuard!.routeLookups - s0.sourceGuard!.routeLookups} (at most the 10-tick refresh)`);
  });

  await t.test('a pod re-added with a new address is validated against the new one at once', async (t) => {
    await topo.readdressPod('a', PODS.a, A_NEW);
    const gen = status().generation;
    topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080]).replaceAll(PODS.a.v4, A_NEW.v4).replaceAll(`"${PODS.a.v6}"`, `"${A_NEW.v6}"`));
    await waitFor('new generation enforced', () => status().generation > gen, 60_000);
    t.same(await filters('va'), expectedFilters(A_NEW.v4, A_NEW.v6), 'va\'s honest filters name the new addresses, the old ones are gone');
    await checkForging(t, 'a', A_NEW, PODS.a, true);
    await checkForging(t, 'a', A_NEW, PODS.c, true);
  });

  await t.test('a pod\'s veth recreated under the same name: filters back at the next ticks, forging dropped again', async (t) => {
    // The new veth comes without the qdisc (unguarded until the agent follows, at most a tick).
    // The tick sees the name under another index (KernelGuard.stale) and writes the interface
    // whole after a route lookup: an interface change, not tampering.
    const s0 = status();
    const index = await topo.recreateVeth('a', A_NEW);
    t.not(index.after, index.before, 'va recreated under a new index');
    await waitFor('filters back on the new va', () => sameFilters('va', expectedFilters(A_NEW.v4, A_NEW.v6)), 30_000);
    t.pass('the new va has its filters');
    const n0 = readFileSync(vlog, 'utf8').split('\n').filter((x) => x.includes('spoofed-source')).length;
    await checkForging(t, 'a', A_NEW, PODS.c, true);
    t.ok(await topo.tcp('a', 'b', 8080), 'a -> b:8080 passes again');
    t.ok(await topo.tcp('a', 'b', 8080, 6), 'IPv6 a -> b:8080 passes again');
    // The forged records name the interface by its MAC, which the new veth changed.
    await waitFor('forged sources from the new va logged under va', () => readFileSync(vlog, 'utf8').split('\n').filter((x) => x.includes('spoofed-source')).slice(n0).some((x) => {
      const l = JSON.parse(x) as { pod: string; iface: string };
      return l.iface === 'va' && l.pod === 'x/a';
    }), 30_000);
    t.pass('the forged sources from the new va are logged as pod x/a on va');
    const s1 = status();
    t.equal(s1.generation, s0.generation, 'within one generation (no pod change)');
    t.ok(s1.sourceGuard!.routeLookups > s0.sourceGuard!.routeLookups, 'the new index brought a route lookup');
    t.equal(s1.rulesRestored, s0.rulesRestored, 'followed as an interface change, not repaired as tampering');
  });

  await t.test('the rule watchdog puts each part back', async (t) => {
    const want = () => expectedFilters(A_NEW.v4, A_NEW.v6);
    // Each tampering is one command (a tc batch for two steps): no tick sees half of it.
    const cases: { name: string; tamper: string[][]; input?: string; back: () => Promise<boolean> }[] = [
      { name: 'a deleted catch-all filter', tamper: [['tc', 'filter', 'del', 'dev', 'va', 'ingress', 'pref', '201']], back: () => sameFilters('va', want()) },
      {
        name: 'a catch-all made to pass',
        tamper: [['tc', '-batch', '-']],
        input: 'filter del dev va ingress pref 202\nfilter add dev va ingress pref 202 protocol ipv6 u32 match u32 0 0 classid :1\n',
        back: () => sameFilters('va', want()),
      },
      { name: 'a deleted ingress qdisc', tamper: [['tc', 'qdisc', 'del', 'dev', 'va', 'ingress']], back: () => sameFilters('va', want()) },
      { name: 'the sink table deleted', tamper: [['nft', 'delete', 'table', 'netdev', SINK]], back: async () => (await sinkTable()).includes('policy drop') },
      {
        name: 'another program\'s filter passing everything before the catch-alls (pref 150)',
        tamper: [['tc', 'filter', 'add', 'dev', 'va', 'ingress', 'pref', '150', 'protocol', 'all', 'u32', 'match', 'u32', '0', '0', 'classid', ':1']],
        back: () => sameFilters('va', want()),
      },
      {
        name: 'the sink device deleted',
        tamper: [['ip', 'link', 'del', SINK]],
        back: async () => (await linkExists(SINK)) && (await sameFilters('va', want())) && (await sameFilters('vc', expectedFilters(PODS.c.v4, PODS.c.v6))),
      },
    ];
    for (const c of cases) {
      const before = status().rulesRestored;
      const spoofed = await spoofedA();
      for (const argv of c.tamper) await must(topo.in(topo.node, argv), c.input);
      await restoredAfter(c.name, before);
      await waitFor(`${c.name}: back`, c.back, 30_000);
      t.pass(`${c.name}: restoration counted, put back`);
      await checkForging(t, 'a', A_NEW, PODS.c, true);
      // Exactly the 18 forged packets just sent: a catch-all written anew starts its counter at
      // 0 while its twin of the other family keeps its own, and neither is counted twice.
      await waitFor(`${c.name}: drops counted again`, () => (status().sourceGuard!.spoofedByPod['x/a'] ?? 0) >= spoofed + 18, 30_000);
      const now = await spoofedA();
      t.equal(now - spoofed, 18, `${c.name}: the 18 drops after it counted for x/a, no more (${spoofed} -> ${now})`);
    }
    t.ok(await topo.tcp('a', 'b', 8080), 'a -> b:8080 (honest) passes');
    t.ok(await topo.tcp('c', 'b', 8080, 6), 'IPv6 c -> b:8080 passes');

    // Another program's filter after the catch-alls sees only honest packets: left alone.
    const before = status().rulesRestored;
    await must(topo.in(topo.node, ['tc', 'filter', 'add', 'dev', 'va', 'ingress', 'pref', '300', 'protocol', 'ip', 'u32', 'match', 'ip', 'dst', '10.1.2.3/32', 'classid', ':5']));
    await checkForging(t, 'a', A_NEW, PODS.c, true);
    await freshStatus();
    const s1 = (await freshStatus()) as GuardStatus;
    t.equal(s1.rulesRestored, before, 'a foreign filter after the catch-alls (pref 300) is not tampering');
    t.equal((await filters('va')).get(300), '300 ip 0a010203/ffffffff@16 flowid :5', 'and it is left in place');
    await must(topo.in(topo.node, ['tc', 'filter', 'del', 'dev', 'va', 'ingress', 'pref', '300']));
  });

  /**
   * d's sources sent from c's namespace over vz, a path into the node that no guard watches (its
   * peer in c's namespace, no pod's route through it): dropped (`dropped`) or delivered; a stray
   * source (no pod's) is the control, always delivered.
   */
  const checkNoIface = async (t: Test, dropped: boolean) => {
    for (const fam of [4, 6] as const) {
      const dSrc = fam === 4 ? D.v4 : D.v6;
      await probeArrivals('c', dSrc, fam === 4 ? STRAY.v4 : STRAY.v6, fam, (proto, n) => {
        if (dropped) t.equal(n, 0, `IPv${fam} ${proto}: pod d's source ${dSrc} (no interface) never reaches b`);
        else t.equal(n, 3, `IPv${fam} ${proto}: with --fail-open pod d's source ${dSrc} reaches b`);
      });
    }
  };

  await t.test('a local pod whose interface is not found: dropped by the agent\'s filter chains', async (t) => {
    await must(['ip', '-n', topo.node, 'link', 'add', 'vz', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', topo.ns.c]);
    await must(['ip', '-n', topo.node, 'link', 'set', 'vz', 'up']);
    await must(['ip', '-n', topo.ns.c, 'link', 'set', 'eth1', 'up']);
    const vzMac = (JSON.parse(await must(['ip', '-n', topo.node, '-j', 'link', 'show', 'vz'])) as { address: string }[])[0]!.address;
    await must(['ip', '-n', topo.ns.c, 'route', 'add', `${PODS.b.v4}/32`, 'dev', 'eth1']);
    await must(['ip', '-n', topo.ns.c, 'neigh', 'replace', PODS.b.v4, 'lladdr', vzMac, 'dev', 'eth1']);
    await must(['ip', '-n', topo.ns.c, '-6', 'route', 'add', `${PODS.b.v6}/128`, 'dev', 'eth1']);
    await must(['ip', '-n', topo.ns.c, '-6', 'neigh', 'replace', PODS.b.v6, 'lladdr', vzMac, 'dev', 'eth1']);
    const gen = status().generation;
    topo.writeFile('manifests/cluster.yaml', clusterYaml(NODE, [8080]).replaceAll(PODS.a.v4, A_NEW.v4).replaceAll(`"${PODS.a.v6}"`, `"${A_NEW.v6}"`) + '---\n' + podD);
    await waitFor('pod d enforced', () => status().generation > gen && status().sourceGuard!.podsWithoutInterface.includes('x/d'), 60_000);
    t.same(status().sourceGuard!.podsWithoutInterface, ['x/d'], 'status: x/d has no interface');
    t.match(await ipsetSave('PALISADE-TCNOIF4'), `add PALISADE-TCNOIF4 ${D.v4}`, 'd\'s IPv4 address in PALISADE-TCNOIF4');
    t.match(await ipsetSave('PALISADE-TCNOIF6'), `add PALISADE-TCNOIF6 ${D.v6}`, 'd\'s IPv6 address in PALISADE-TCNOIF6');
    for (const [cmd, f] of [['iptables', 4], ['ip6tables', 6]] as const) {
      const fwd = (await chain(cmd, 'filter', 'PALISADE-FORWARD')).split('\n');
      t.ok(fwd.indexOf('-A PALISADE-FORWARD -j PALISADE-PODS') === fwd.indexOf('-A PALISADE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN') + 1, `${cmd}: PALISADE-FORWARD enters PALISADE-PODS right after the established return`);
      const pods = (await chain(cmd, 'filter', 'PALISADE-PODS')).split('\n').filter((l) => l.startsWith('-A '));
      t.equal(pods[0], `-A PALISADE-PODS -m set --match-set PALISADE-TCNOIF${f} src -j DROP`, `${cmd}: PALISADE-PODS drops d's sources first, before anything is queued`);
      // No cluster policy judges pod <-> node traffic here: PALISADE-NODE stays empty, and d
      // reaches its node as an unknown local pod would.
      t.notMatch(await chain(cmd, 'filter', 'PALISADE-NODE'), 'TCNOIF', `${cmd}: PALISADE-NODE stays without rules (no cluster policy judges node traffic)`);
    }
    await checkNoIface(t, true);
    const s = await waitFor('no-interface drops counted', () => {
      const g = status().sourceGuard!;
      return g.noInterfaceDrops >= 18 ? g : undefined;
    }, 30_000);
    t.ok(s.noInterfaceDrops >= 18, `status: ${s.noInterfaceDrops} no-interface drops`);
    const restored = status().rulesRestored;

    // d's interface found later (its routes appear: vz): looked up again every tick until then.
    const routes = [['route', `${D.v4}/32`, 'dev', 'vz'], ['-6', 'route', `${D.v6}/128`, 'dev', 'vz']];
    for (const r of routes) await must(['ip', '-n', topo.node, ...r.slice(0, -3), 'add', ...r.slice(-3)]);
    await waitFor('d bound to vz', () => status().sourceGuard!.podsWithoutInterface.length === 0, 30_000);
    await waitFor('vz guarded', () => sameFilters('vz', expectedFilters(D.v4, D.v6)), 30_000);
    t.pass('d found on vz: vz gets d\'s filters');
    t.notMatch(await ipsetSave('PALISADE-TCNOIF4'), D.v4, 'd\'s address left PALISADE-TCNOIF4');
    t.notMatch(await ipsetSave('PALISADE-TCNOIF6'), D.v6, 'and PALISADE-TCNOIF6');
    // Found by the watchdog (no generation): the drop rule follows the emptied sets.
    for (const cmd of ['iptables', 'ip6tables']) await waitFor(`${cmd}: drop rule gone`, async () => !(await must(topo.in(topo.node, [cmd, '-S']))).includes('TCNOIF'), 30_000);
    t.pass('no rule reads the emptied sets');
    // Now d's own sources pass on vz and anything else from vz (the stray source) is forged.
    await checkForging(t, 'c', D, STRAY, true);
    // Its routes gone again (no interface change: found at the periodic lookup): fail-closed again.
    for (const r of routes) await must(['ip', '-n', topo.node, ...r.slice(0, -3), 'del', ...r.slice(-3)]);
    await waitFor('d without an interface again', () => status().sourceGuard!.podsWithoutInterface.includes('x/d'), 30_000);
    await waitFor('vz no longer guarded', async () => (await filters('vz')).size === 0, 30_000);
    t.match(await ipsetSave('PALISADE-TCNOIF4'), `add PALISADE-TCNOIF4 ${D.v4}`, 'd\'s address back in PALISADE-TCNOIF4');
    for (const [cmd, f] of [['iptables', 4], ['ip6tables', 6]] as const) {
      t.match(await chain(cmd, 'filter', 'PALISADE-PODS'), `-A PALISADE-PODS -m set --match-set PALISADE-TCNOIF${f} src -j DROP`, `${cmd}: the drop rule is back with d's address`);
    }
    await checkNoIface(t, true);
    t.equal(status().rulesRestored, restored, 'a pod without an interface, found, lost: never tampering');
  });

  await t.test('stopping the agent removes the filters, the sink and the sets', async (t) => {
    agent.proc.kill('SIGTERM');
    await new Promise((r) => agent.proc.on('exit', r));
    for (const i of ['va', 'vb', 'vc']) {
      t.equal((await filters(i)).size, 0, `${i}: no filters`);
      t.notMatch(await must(topo.in(topo.node, ['tc', 'qdisc', 'show', 'dev', i])), /qdisc (ingress|clsact)/, `${i}: no ingress qdisc`);
    }
    t.notOk(await linkExists(SINK), 'no sink device');
    t.notOk(await linkExists('palisade-sinkp'), 'nor its peer');
    t.equal(await sinkTable(), '', 'no sink table');
    t.equal((await must(topo.in(topo.node, ['ipset', 'list', '-n']))).trim(), '', 'no ipsets left');
    for (const cmd of ['iptables', 'ip6tables']) t.notMatch(await must(topo.in(topo.node, [cmd, '-S'])), 'PALISADE', `${cmd}: filter table clean`);
  });

  await t.test('--fail-open: the pod without an interface is not dropped, no drop rule', async (t) => {
    agent = await startAgent(topo, [...args, '--fail-open'], statusFile);
    t.equal(status().sourceGuard!.layout, 'tc', 'layout tc');
    t.same(status().sourceGuard!.podsWithoutInterface, ['x/d'], 'status still names x/d');
    for (const cmd of ['iptables', 'ip6tables']) t.notMatch(await must(topo.in(topo.node, [cmd, '-S'])), 'TCNOIF', `${cmd}: no rule reads the no-interface sets`);
    await checkNoIface(t, false);
    await checkForging(t, 'a', A_NEW, PODS.c, true);
  });

  await t.test('--no-source-guard after a tc run (killed, its filters left): no filters, forged packets pass', async (t) => {
    agent.proc.kill('SIGKILL');
    await new Promise((r) => agent.proc.on('exit', r));
    t.ok((await filters('va')).size > 0, 'the killed agent left its filters');
    const a2 = await startAgent(topo, [...args, '--no-source-guard'], statusFile);
    for (const i of ['va', 'vb', 'vc']) t.equal((await filters(i)).size, 0, `${i}: no filters`);
    t.notOk(await linkExists(SINK), 'no sink device');
    t.equal(await sinkTable(), '', 'no sink table');
    t.notMatch(await must(topo.in(topo.node, ['ipset', 'list', '-n'])), 'TCNOIF', 'no no-interface sets');
    await checkForging(t, 'a', A_NEW, PODS.c, false);
    a2.proc.kill('SIGTERM');
    await new Promise((r) => a2.proc.on('exit', r));
  });

  await t.test('TUN backend with the default layout: the same guard', async (t) => {
    const a3 = await startAgent(topo, ['--node', NODE, '--manifests', dir, '--backend', 'tun', '--tun-name', `pt${process.pid % 100000}`, '--rescan-ms', '300', '--rules-check-ms', '300'], statusFile);
    t.equal(status().sourceGuard!.layout, 'tc', 'layout tc');
    t.same(await filters('vc'), expectedFilters(PODS.c.v4, PODS.c.v6), 'vc filtered');
    for (const [cmd, f] of [['iptables', 4], ['ip6tables', 6]] as const) {
      t.match(await chain(cmd, 'mangle', 'PALISADE-PODS'), `-A PALISADE-PODS -m set --match-set PALISADE-TCNOIF${f} src -j DROP`, `${cmd}: the mangle PALISADE-PODS chain (entered from PREROUTING) drops pods without an interface`);
    }
    await checkForging(t, 'a', A_NEW, PODS.c, true);
    // The --fail-open run let d's ICMP echoes through and b answered: those flows are established
    // (the drop, like the judge, applies to new connections only); forgotten first.
    for (const src of [D.v4, D.v6]) await run(topo.in(topo.node, ['conntrack', '-D', '-s', src]));
    await checkNoIface(t, true);
    t.ok(await topo.tcp('c', 'b', 8080), 'c -> b:8080 passes through the TUN judge');
    a3.proc.kill('SIGTERM');
    await new Promise((r) => a3.proc.on('exit', r));
    t.equal((await filters('va')).size, 0, 'va clean after the TUN agent stopped');
  });
});
