// What the lab needs from the machine, checked up front so `palisade lab up` / `palisade demo`
// say exactly what is missing and how to install it instead of failing half way through.
//
// Not needed: socat/ncat (every namespace runs a small Node endpoint, endpoint.ts) and the
// kernel's SCTP module (SCTP is spoken over raw IP sockets, sctp.ts; netfilter tracks it with
// its built-in nf_conntrack SCTP support).

import { createRequire } from 'node:module';
import { run } from './netns.ts';

export interface Prereq {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** How to get it, when missing. */
  readonly fix?: string;
}

async function tool(name: string, argv: string[], fix: string, what: string): Promise<Prereq> {
  try {
    const r = await run(argv, { timeoutMs: 10_000 });
    if (r.code === 0) return { name, ok: true, detail: (r.stdout || r.stderr).split('\n')[0]!.trim() || what };
    return { name, ok: false, detail: `${argv.join(' ')} failed: ${(r.stderr || r.stdout).trim().split('\n')[0]}`, fix };
  } catch {
    return { name, ok: false, detail: `${argv[0]} not found (${what})`, fix };
  }
}

function rawSockets(): Prereq {
  const name = 'raw IP sockets (SCTP probes)';
  try {
    const require = createRequire(import.meta.url);
    const raw = require('raw-socket') as { createSocket(o: { protocol: number; addressFamily: number }): { close(): void }; AddressFamily: { IPv4: number } };
    const s = raw.createSocket({ protocol: 132, addressFamily: raw.AddressFamily.IPv4 });
    s.close();
    return { name, ok: true, detail: 'raw-socket addon loads and can open an IPPROTO_SCTP raw socket' };
  } catch (e) {
    const msg = (e as Error).message;
    const fix = /Cannot find module|was compiled against/i.test(msg)
      ? 'npm ci (builds the raw-socket addon; needs: apt-get install -y build-essential python3)'
      : 'run as root (raw sockets need CAP_NET_RAW)';
    return { name, ok: false, detail: msg.split('\n')[0]!, fix };
  }
}

/** Checks everything; with `agent`, also what the enforcement agent needs in the lab. */
export async function checkLabPrereqs(opts: { agent: boolean }): Promise<Prereq[]> {
  const uid = process.getuid?.();
  const out: Prereq[] = [
    uid === 0
      ? { name: 'root', ok: true, detail: 'running as root' }
      : { name: 'root', ok: false, detail: `running as uid ${uid ?? '?'}: network namespaces, veths and raw sockets need root`, fix: 'run it as root (sudo palisade ...)' },
  ];
  out.push(...await Promise.all([
    tool('ip (iproute2)', ['ip', 'netns', 'list'], 'apt-get install -y iproute2', 'creates the namespaces, veths and routes'),
    ...(opts.agent
      ? [
        tool('iptables', ['iptables', '-V'], 'apt-get install -y iptables', 'the agent installs its rules with it'),
        tool('ip6tables', ['ip6tables', '-V'], 'apt-get install -y iptables', 'the agent installs its IPv6 rules with it'),
        tool('conntrack', ['conntrack', '--version'], 'apt-get install -y conntrack', 'forgets old connections when the policy changes between probe rounds'),
      ]
      : []),
  ]));
  out.push(rawSockets());
  return out;
}

/** One line per missing prerequisite with its fix, or undefined when all are there. */
export function missingReport(ps: readonly Prereq[]): string | undefined {
  const missing = ps.filter((p) => !p.ok);
  if (missing.length === 0) return undefined;
  return ['missing prerequisites:', ...missing.map((p) => `  - ${p.name}: ${p.detail}${p.fix ? `\n      fix: ${p.fix}` : ''}`)].join('\n');
}
