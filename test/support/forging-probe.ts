// What reaches pod b, per source address and protocol, for the source-guard lab tests
// (test/enforce/spoof-guard.test.ts, tc-guard.test.ts): a raw sender in a pod's namespace
// (spoof-send-main.ts, the `raw-socket` package) sends TCP SYN, UDP and ICMP echo with any
// source address, and counting rules in b's INPUT (no target, named by comment) count arrivals.
// A probe's packets are sent before a control's on the same path: once every control packet is
// at b, the probe's had every chance to arrive, so their count is final without a sleep.
import type { Test } from 'tap';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { PODS, ROOT, clusterYaml, must, waitFor, type PodName, type Topology } from '../../support/netns.ts';

export const PROTOS = ['tcp', 'udp', 'icmp'] as const;
export type Proto = (typeof PROTOS)[number];
/** A pod's (or a made-up source's) address per family. */
export interface Pair { readonly v4: string; readonly v6: string }

/** Pod a's address after the tests' address change (Topology.readdressPod): in a's /24, no pod's before. */
export const A_NEW: Pair = { v4: '10.77.1.3', v6: 'fd77:1::3' };

const SENDER = join(ROOT, 'test', 'support', 'spoof-send-main.ts');
const PER = 3;
const l4 = (fam: 4 | 6, proto: Proto) => (proto === 'icmp' ? (fam === 4 ? '-p icmp' : '-p ipv6-icmp') : `-p ${proto} --dport 7000`);

export function forgingProbe(topo: Topology) {
  /** Sends PER raw packets per (source, protocol) from pod `from`'s namespace to pod b, sources in order. */
  async function send(from: PodName, srcs: readonly string[], fam: 4 | 6, extra: readonly string[] = []): Promise<void> {
    const dst = fam === 4 ? PODS.b.v4 : PODS.b.v6;
    const out = await must(topo.in(topo.ns[from], ['node', '--import', 'tsx', SENDER, '--src', srcs.join(','), '--dst', dst, '--proto', PROTOS.join(','), '--port', '7000', '--count', String(PER), ...extra]));
    const r = JSON.parse(out) as { sent: number; failed: number };
    if (r.sent !== PER * srcs.length * PROTOS.length) throw new Error(`sender sent ${r.sent} (${r.failed} failed)`);
  }

  /** Counting rules in b's INPUT for (source, protocol). */
  async function watch(src: string, fam: 4 | 6): Promise<void> {
    const lines = PROTOS.map((p) => `-A INPUT -s ${src} ${l4(fam, p)} -m comment --comment "seen-${src}-${p}"`);
    await must(topo.in(topo.ns.b, [fam === 4 ? 'iptables-restore' : 'ip6tables-restore', '--noflush']), `*filter\n${lines.join('\n')}\nCOMMIT\n`);
  }

  /** Packets that reached b from `src` with `proto`. */
  async function seen(src: string, fam: 4 | 6, proto: Proto): Promise<number> {
    const text = await must(topo.in(topo.ns.b, [fam === 4 ? 'iptables-save' : 'ip6tables-save', '-c', '-t', 'filter']));
    const line = text.split('\n').find((l) => l.includes(`"seen-${src}-${proto}"`));
    if (!line) throw new Error(`no counting rule for ${src} ${proto}`);
    return Number(/^\[(\d+):/.exec(line)![1]);
  }

  /**
   * Sends `probe`'s then `control`'s packets from pod `from` (one family); once the control's are
   * all at b, calls `check` per protocol with how many of the probe's (of PER) arrived.
   */
  async function probeArrivals(from: PodName, probe: string, control: string, fam: 4 | 6, check: (proto: Proto, arrived: number) => void): Promise<void> {
    const p0 = await Promise.all(PROTOS.map((p) => seen(probe, fam, p)));
    const c0 = await Promise.all(PROTOS.map((p) => seen(control, fam, p)));
    await send(from, [probe, control], fam);
    for (const [i, proto] of PROTOS.entries()) {
      await waitFor(`control ${control} IPv${fam} ${proto} at b`, async () => (await seen(control, fam, proto)) - c0[i]! >= PER, 15_000);
      check(proto, (await seen(probe, fam, proto)) - p0[i]!);
    }
  }

  /** Forged from `from` with `victim`'s address: none arrive (all without the guard). Honest (own address) from the same pod: all arrive. */
  async function checkForging(t: Test, from: PodName, own: Pair, victim: Pair, guarded: boolean): Promise<void> {
    for (const fam of [4, 6] as const) {
      const forgedSrc = fam === 4 ? victim.v4 : victim.v6;
      const ownSrc = fam === 4 ? own.v4 : own.v6;
      await probeArrivals(from, forgedSrc, ownSrc, fam, (proto, forged) => {
        if (guarded) t.equal(forged, 0, `IPv${fam} ${proto}: forged source ${forgedSrc} from ${from} never reaches b`);
        else t.equal(forged, PER, `IPv${fam} ${proto}: without the guard the forged packets from ${from} reach b`);
        t.pass(`IPv${fam} ${proto}: ${from}'s packets with its own address ${ownSrc} reach b`);
      });
    }
  }

  /**
   * Pod a's forging of c's addresses as the agent reports it: the per-pod metric at `metrics`
   * (host:port), and verdict-log lines in `vlog` naming pod x/a, interface va and the forged source.
   */
  async function checkForgedReported(t: Test, metrics: string, vlog: string): Promise<void> {
    const m = await must(topo.in(topo.node, ['curl', '-sS', `http://${metrics}/metrics`]));
    const metric = /^palisade_spoofed_packets_total\{pod="x\/a"\} (\d+)$/m.exec(m);
    t.ok(metric && Number(metric[1]) >= 18, `metrics: palisade_spoofed_packets_total{pod="x/a"} ${metric?.[1]}`);
    const lines = await waitFor('verdict log lines', () => {
      const l = readFileSync(vlog, 'utf8').split('\n').filter((x) => x.includes('spoofed-source')).map((x) => JSON.parse(x) as { pod: string; iface: string; src: { ip: string } });
      return l.some((x) => x.src.ip === PODS.c.v6) && l.some((x) => x.src.ip === PODS.c.v4) ? l : undefined;
    }, 30_000);
    for (const [fam, ip] of [[4, PODS.c.v4], [6, PODS.c.v6]] as const) {
      const line = lines.find((x) => x.src.ip === ip)!;
      t.same({ pod: line.pod, iface: line.iface }, { pod: 'x/a', iface: 'va' }, `IPv${fam} line names pod x/a and interface va`);
    }
  }

  /**
   * The lab both tests start from: pods up, b serving TCP/UDP 8080, the manifests folder (its
   * path returned) with node `node`'s cluster, and b counting what comes from a, c, A_NEW and
   * `sources`.
   */
  async function setUp(node: string, sources: readonly Pair[] = []): Promise<string> {
    await topo.up();
    await topo.servers('b', 8080);
    const dir = join(topo.dir, 'manifests');
    await must(['mkdir', '-p', dir]);
    topo.writeFile('manifests/cluster.yaml', clusterYaml(node, [8080]));
    for (const p of [PODS.a, PODS.c, A_NEW, ...sources]) {
      await watch(p.v4, 4);
      await watch(p.v6, 6);
    }
    return dir;
  }

  return { send, watch, seen, probeArrivals, checkForging, checkForgedReported, setUp };
}
