// What the lab needs from the machine, checked up front so `palisade lab up` / `palisade demo`
// say exactly what is missing and how to install it instead of failing half way through.
//
// Not needed: socat/ncat (every namespace runs a small Node endpoint, endpoint.ts) and the
// kernel's SCTP module (SCTP is spoken over raw IP sockets, sctp.ts; netfilter tracks it with
// its built-in nf_conntrack SCTP support).

import { accessSync, closeSync, constants, openSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { installHint } from '../enforce/command.ts';
import { tunModuleHint } from '../enforce/kernel-modules.ts';
import { ADDON_BUILD_HINT, ADDON_PATH, addonProblem } from '../enforce/native.ts';
import { run } from './netns.ts';

export interface Prereq {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** How to get it, when missing. */
  readonly fix?: string;
}

/** What the checks look at: this process's by default; a test gives its own. */
export interface PrereqHost {
  /** The uid the lab would run as. */
  readonly uid?: number;
  /** Where the tools are looked up, as $PATH. */
  readonly path?: string;
  /** The native addon the agent loads. */
  readonly addonPath?: string;
  /** The device the TUN backend opens. */
  readonly tunDevice?: string;
}

/** The executable `name` in the first folder of `path` that holds one, as the shell finds it. */
function onPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch { /* not here */ }
  }
  return undefined;
}

async function tool(name: string, argv: string[], what: string, path: string): Promise<Prereq> {
  const fix = installHint(argv[0]!)!;
  // Looked up here rather than left to spawn's ENOENT, so "not installed" is told apart from a
  // tool that is there and fails (and a test can give its own PATH).
  const file = onPath(argv[0]!, path);
  if (!file) return { name, ok: false, detail: `${argv[0]} not found on PATH (${what})`, fix };
  try {
    const r = await run([file, ...argv.slice(1)], { timeoutMs: 10_000 });
    if (r.code === 0) return { name, ok: true, detail: (r.stdout || r.stderr).split('\n')[0]!.trim() || what };
    return { name, ok: false, detail: `${argv.join(' ')} failed: ${(r.stderr || r.stdout).trim().split('\n')[0]}`, fix };
  } catch (e) {
    return { name, ok: false, detail: `${argv.join(' ')} could not be run: ${(e as Error).message}`, fix };
  }
}

/**
 * The agent's addon (NFQUEUE, TUN and the verdict cache's sets): loaded here, so a build for
 * another Node is found before the lab is built, not when its agent starts and fails.
 */
function addon(file: string): Prereq {
  const name = 'native addon';
  const problem = addonProblem(file);
  return problem ? { name, ok: false, detail: `${problem}; the agent binds its queue with it`, fix: ADDON_BUILD_HINT } : { name, ok: true, detail: file };
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

/**
 * The TUN backend's device, opened as the agent will open it (and closed: an open alone makes no
 * device); the agent's own error says what is missing (kernel-modules.ts), so it is asked here.
 */
function tunDevice(file: string): Prereq {
  const name = 'TUN device';
  try {
    closeSync(openSync(file, 'r+'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Without root it cannot be opened, which the root line says already.
    if (code !== 'EACCES' && code !== 'EPERM') {
      return { name, ok: false, detail: `${file}: ${(e as Error).message} (the agent's TUN backend opens it)`, fix: tunModuleHint(code) ?? 'modprobe tun, or use --backend nfqueue' };
    }
  }
  return { name, ok: true, detail: file };
}

/** Checks everything; with `agent`, also what the enforcement agent needs in the lab. */
export async function checkLabPrereqs(opts: { agent: boolean; backend?: 'nfqueue' | 'tun' }, host: PrereqHost = {}): Promise<Prereq[]> {
  const uid = host.uid ?? process.getuid?.();
  const path = host.path ?? process.env.PATH ?? '';
  const out: Prereq[] = [
    uid === 0
      ? { name: 'root', ok: true, detail: 'running as root' }
      : { name: 'root', ok: false, detail: `running as uid ${uid ?? '?'}: network namespaces, veths and raw sockets need root`, fix: 'run it as root (sudo palisade ...)' },
  ];
  out.push(...await Promise.all([
    tool('ip (iproute2)', ['ip', 'netns', 'list'], 'creates the namespaces, veths and routes', path),
    ...(opts.agent
      ? [
        tool('iptables', ['iptables', '-V'], 'the agent installs its rules with it', path),
        tool('ip6tables', ['ip6tables', '-V'], 'the agent installs its IPv6 rules with it', path),
        tool('conntrack', ['conntrack', '--version'], 'forgets old connections when the policy changes between probe rounds', path),
        // `ipset help`, not `-v`: -v asks the kernel too, and fails without root.
        tool('ipset', ['ipset', 'help'], 'the agent\'s verdict cache and kernel admission sets are made with it', path),
      ]
      : []),
  ]));
  if (opts.agent) out.push(addon(host.addonPath ?? ADDON_PATH));
  if (opts.agent && opts.backend === 'tun') out.push(tunDevice(host.tunDevice ?? '/dev/net/tun'));
  out.push(rawSockets());
  return out;
}

/** One line per missing prerequisite with its fix, or undefined when all are there. */
export function missingReport(ps: readonly Prereq[]): string | undefined {
  const missing = ps.filter((p) => !p.ok);
  if (missing.length === 0) return undefined;
  return ['missing prerequisites:', ...missing.map((p) => `  - ${p.name}: ${p.detail}${p.fix ? `\n      fix: ${p.fix}` : ''}`)].join('\n');
}
