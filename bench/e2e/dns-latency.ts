// The DNS phase of `bench/e2e.ts --dns` (issue 16): what a DNS answer's trip through the agent
// adds. Pod c runs a DNS server (test/support/dns-lab-main.ts); pod a asks it for one name, one
// query at a time from one socket (bench/e2e/dns-client.ts), under an NFQUEUE agent whose
// ClusterNetworkPolicy for a either has a `domainNames` rule (variant "agent": every answer to a
// goes through PALISADE-DNS to the agent's DNS queue, is parsed and its record refreshed, then
// delivered) or not (variant "kernel": the same policy without that rule, the answer stays in
// the kernel). Variants alternate within each round (policy file rewritten, the agent's rules
// awaited), and the added latency is the median over rounds of (agent - kernel) in each round.

import { join } from 'node:path';
import { clusterYaml, must, PODS, ROOT, run, startAgent, waitFor, type Topology } from '../../support/netns.ts';
import { domainNamesPolicy } from '../../support/dns-lab-policy.ts';

const NAME = 'bench.example.com';
const ZONE = { [NAME]: [{ type: 'A', data: PODS.b.v4, ttl: 3600 }] };
const DNS_MAIN = join(ROOT, 'test', 'support', 'dns-lab-main.ts');
const CLIENT = join(ROOT, 'bench', 'e2e', 'dns-client.ts');

interface ClientOut { answered: number; lost: number; p50Us: number; p90Us: number; p99Us: number; maxUs: number }
type Variant = 'kernel' | 'agent';

const policy = (names: boolean): string =>
  domainNamesPolicy({ name: 'dns-bench', dnsTo: '{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: c}}}}', dnsProtocols: ['udp'], names: names ? [NAME] : [] });

const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
};

export async function dnsLatency(topo: Topology, o: { rounds: number; queries: number; log: (l: string) => void }): Promise<Record<string, unknown>> {
  const dir = join(topo.dir, 'dns-m');
  await must(['mkdir', '-p', dir]);
  topo.writeFile('dns-m/cluster.yaml', clusterYaml('n1', [53]));
  topo.writeFile('dns-m/cnp.yaml', policy(false));
  const server = topo.spawn(topo.in(topo.ns.c, ['node', '--import', 'tsx', DNS_MAIN, 'server', PODS.c.v4, JSON.stringify(ZONE)]));
  await waitFor('bench dns server', async () => (await run(topo.in(topo.ns.c, ['ss', '-Hlun', 'sport = :53']))).stdout.trim() !== '', 20_000);
  const statusFile = join(topo.dir, 'dns.status.json');
  const agent = await startAgent(topo, ['--node', 'n1', '--manifests', dir, '--backend', 'nfqueue', '--queue', '3', '--queues', '1', '--rescan-ms', '200'], statusFile);
  const answersSeen = (): number => topo.readJSON<{ dns?: { counters: { answers: number } } }>(statusFile)?.dns?.counters.answers ?? 0;
  const dnsRule = async (): Promise<boolean> => (await run(topo.in(topo.node, ['iptables', '-S', 'PALISADE-DNS']))).stdout.includes(`-d ${PODS.a.v4}/32`);
  const client = async (n: number): Promise<ClientOut> => {
    const r = await run(topo.in(topo.ns.a, ['node', '--import', 'tsx', CLIENT, PODS.c.v4, NAME, String(n)]), undefined, 120_000);
    if (r.code !== 0) throw new Error(`dns client failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as ClientOut;
  };
  const samples: ({ variant: Variant; round: number; answersThroughAgent: number } & ClientOut)[] = [];
  try {
    for (let round = 0; round < o.rounds; round++) {
      const order: Variant[] = round % 2 === 0 ? ['kernel', 'agent'] : ['agent', 'kernel'];
      for (const variant of order) {
        topo.writeFile('dns-m/cnp.yaml', policy(variant === 'agent'));
        await waitFor(`${variant}: PALISADE-DNS ${variant === 'agent' ? 'queues' : 'does not queue'} answers to a`, async () => (await dnsRule()) === (variant === 'agent'), 20_000);
        await client(20); // warm-up: the query flow's first packet is judged, the record learned
        const before = answersSeen();
        const out = await client(o.queries);
        // The status file is written every second: give it time to count this run's answers.
        const through = variant === 'agent' ? await waitFor('answers counted', () => (answersSeen() - before >= out.answered ? answersSeen() - before : undefined), 5000).catch(() => answersSeen() - before) : answersSeen() - before;
        samples.push({ variant, round, answersThroughAgent: through, ...out });
        o.log(`dns round ${round + 1}/${o.rounds} ${variant}: p50 ${out.p50Us} us p99 ${out.p99Us} us, ${out.lost} lost, ${through} answers through the agent`);
      }
    }
  } finally {
    const gone = new Promise<void>((res) => (agent.proc.exitCode !== null ? res() : agent.proc.on('exit', () => res())));
    process.kill(agent.status.pid, 'SIGTERM');
    await gone;
    server.kill('SIGKILL');
  }
  const of = (v: Variant) => samples.filter((s) => s.variant === v);
  const added = (f: (s: ClientOut) => number) => median(of('agent').map((s) => {
    const k = samples.find((x) => x.variant === 'kernel' && x.round === s.round);
    return k ? f(s) - f(k) : NaN;
  }));
  const summary = (v: Variant) => ({ p50Us: median(of(v).map((s) => s.p50Us)), p90Us: median(of(v).map((s) => s.p90Us)), p99Us: median(of(v).map((s) => s.p99Us)), lost: of(v).reduce((a, s) => a + s.lost, 0), answersThroughAgent: of(v).reduce((a, s) => a + s.answersThroughAgent, 0) });
  return {
    params: { rounds: o.rounds, queriesPerRound: o.queries, name: NAME },
    results: { kernel: summary('kernel'), agent: summary('agent') },
    addedUs: { p50: Math.round(added((s) => s.p50Us) * 10) / 10, p90: Math.round(added((s) => s.p90Us) * 10) / 10, p99: Math.round(added((s) => s.p99Us) * 10) / 10 },
    samples,
  };
}
