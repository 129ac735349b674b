// What verify, explain and matrix share: reading --manifests (reporting every bad document on
// stderr and going on with the rest), and the --protocol / --family / --port flags.
//
// Exit status of these commands: 0 = everything read and (verify) every expectation met;
// 1 = the answer was printed but something must be looked at: some manifest documents were
// invalid or unreadable (they are left out, so a policy the cluster would refuse does not
// count: exactly what the API server would do) or a probe's `expect` was not met;
// 2 = the command could not run (bad flag, bad probe file, unknown pod). A --manifests path
// that does not exist is a bad flag: one line, exit 2, before anything is read.

import { statSync } from 'node:fs';
import type { Family, Protocol } from '../cluster/model.ts';
import { PROTOCOLS, formatObjectError } from '../cluster/model.ts';
import type { ClusterState, ClusterView } from '../cluster/state.ts';
import { parseIP } from '../net/address.ts';
import { loadManifests } from '../sources/manifests.ts';
import { CliError, intFlag } from './args.ts';

export interface CliCluster {
  readonly state: ClusterState;
  /** Number of errors reported (invalid objects, YAML errors, unreadable files in a folder). */
  readonly errorCount: number;
  /** Manifests only: where each object was read (LoadedManifests.sources). */
  readonly sources?: ReadonlyMap<string, string>;
}

/**
 * The --manifests paths, each of which must exist. A typo in a path is a bad flag (exit 2), not
 * an invalid manifest: reading nothing and going on would judge an empty cluster. `name` is the
 * flag the paths came from, for the message (diff reads --before and --after).
 */
export function manifestPathsFlag(flag: unknown, name = 'manifests'): string[] {
  const paths = flag as string[] | undefined;
  if (!paths || paths.length === 0) throw new CliError(`--${name} PATH... is required (files or folders of YAML/JSON)`);
  for (const p of paths) {
    try {
      statSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new CliError(`--${name} ${p}: ${code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
    }
  }
  return paths;
}

/** Loads the manifests, printing notes and one line per error on stderr. `flag` names where the paths came from (manifestPathsFlag). */
export function loadClusterForCli(cmd: string, paths: unknown, opts: { quietNotes?: boolean; flag?: string } = {}): CliCluster {
  manifestPathsFlag(paths, opts.flag);
  const { state, notes, warnings, errors, badDocuments, sources } = loadManifests(paths as string[]);
  if (!opts.quietNotes) for (const n of notes) process.stderr.write(`palisade ${cmd}: note: ${n}\n`);
  // Warnings are said even where notes are not (lint): each names a value that probably does not mean what was meant.
  for (const w of warnings) process.stderr.write(`palisade ${cmd}: warning: ${w}\n`);
  for (const e of errors) process.stderr.write(`palisade ${cmd}: error: ${formatObjectError(e)}\n`);
  if (errors.length > 0) {
    process.stderr.write(`palisade ${cmd}: ${badDocuments} manifest document(s) had errors and were left out (the API server would refuse them too); exit status will be 1\n`);
  }
  return { state, errorCount: errors.length, sources };
}

export function protocolFlag(v: unknown): Protocol {
  if (v === undefined) return 'TCP';
  const s = String(v).toUpperCase();
  if (!(PROTOCOLS as readonly string[]).includes(s)) throw new CliError(`--protocol must be TCP, UDP or SCTP, got "${String(v)}"`);
  return s as Protocol;
}

/** A family as a user writes it, in a flag or a probe file: IPv4, ipv4 or 4 (likewise 6); else undefined. */
export function familyName(v: unknown): Family | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const s = String(v).toLowerCase();
  if (s === 'ipv4' || s === '4') return 'IPv4';
  if (s === 'ipv6' || s === '6') return 'IPv6';
  return undefined;
}

export function familyFlag(v: unknown): Family | undefined {
  if (v === undefined) return undefined;
  const f = familyName(v);
  if (!f) throw new CliError(`--family must be IPv4 or IPv6, got "${String(v)}"`);
  return f;
}

export function otherFamily(f: Family): Family {
  return f === 'IPv4' ? 'IPv6' : 'IPv4';
}

/**
 * For a note on pods left out for having no address of `family`: how to judge their other
 * family's addresses (a single-stack IPv6 cluster read as IPv4, the default), or '' when none of
 * the pods named has one.
 */
export function otherFamilyHint(view: ClusterView, family: Family, podKeys: readonly string[]): string {
  const other = otherFamily(family);
  const has = podKeys.some((k) => view.pods.get(k)?.ips.some((ip) => parseIP(ip)?.family === other));
  return has ? `; --family ${other} judges their ${other} addresses` : '';
}

export function portFlag(v: unknown): number {
  return intFlag(v, 'port', 1, 65535);
}

/**
 * Refuses a positional argument. `flag` names the flag the command reads paths from, so that
 * `palisade matrix ./policies` says where the path goes instead of only that it is unexpected.
 */
export function rejectPositional(positional: string[], flag?: string): void {
  if (positional.length === 0) return;
  throw new CliError(`unexpected argument "${positional[0]}"${flag === undefined ? '' : ` (paths go after ${flag})`}`);
}
