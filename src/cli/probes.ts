// Probe files for `palisade verify`: a YAML or JSON list of
//   { from: ns/pod | IP, to: ns/pod | IP, port, protocol?: TCP|UDP|SCTP, family?: IPv4|IPv6, expect?: allow|deny }
// and the resolution of endpoints to addresses against the loaded cluster. Every problem names
// the probe index and field, and nothing here throws anything but CliError.

import { readFileSync } from 'node:fs';
import { parse as parseYAML } from 'yaml';
import type { Family, Protocol } from '../cluster/model.ts';
import { PROTOCOLS, podKey } from '../cluster/model.ts';
import { podForIP } from '../policy/evaluator.ts';
import { podIsSelectable } from '../policy/spec-facts.ts';
import type { ClusterView } from '../cluster/state.ts';
import { canonicalIP, parseIP } from '../net/address.ts';
import { podsThere } from '../cluster/pods-there.ts';
import { CliError, fileProblem } from './args.ts';
import { familyName, otherFamily } from './manifest-input.ts';

export interface Probe {
  /** As written in the probe file. */
  readonly from: string;
  readonly to: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** Given, or taken from a literal IP endpoint, else IPv4. */
  readonly family: Family;
  readonly expect?: 'allow' | 'deny';
}

const PROBE_FIELDS = ['from', 'to', 'port', 'protocol', 'family', 'expect'];

function describe(v: unknown): string {
  // JSON.stringify writes Infinity and NaN (YAML 1e400, .inf, .nan) as null: said as they are.
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : JSON.stringify(v);
}

/** Is the text a ns/pod reference (as opposed to an IP address)? */
export function isPodRef(s: string): boolean {
  return /^[^/\s]+\/[^/\s]+$/.test(s) && !parseIP(s.split('/')[0]!);
}

function checkEndpoint(v: unknown, where: string, errs: string[]): string | undefined {
  // Absent: said as missing, not as a value "undefined".
  if (v === undefined) {
    errs.push(`${where}: required ("namespace/pod" or an IP address)`);
    return undefined;
  }
  if (typeof v !== 'string' || v.trim() === '') {
    errs.push(`${where}: must be "namespace/pod" or an IP address, got ${describe(v)}`);
    return undefined;
  }
  const s = v.trim();
  if (!isPodRef(s) && !parseIP(s)) {
    errs.push(`${where}: ${JSON.stringify(s)} is neither "namespace/pod" nor an IP address${podNameHint(s)}`);
    return undefined;
  }
  return s;
}

/** For a bare pod name (`web`, a new user's first guess) or a lab probe name, how to write it; nothing for a bad address. */
function podNameHint(s: string): string {
  // `lab probe` names its node and outside hosts; from files the cluster knows them by address.
  if (s === 'node' || /^(node|ext):./.test(s)) return ' (node, node:NAME and ext:NAME are lab probe names; here a node or outside host is its IP address)';
  const looksLikeName = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(s) && !/^[\d.]+$/.test(s);
  return looksLikeName ? ` (a pod is written with its namespace: NAMESPACE/${s})` : '';
}

/**
 * Validates one probe, adding one line per problem to `errs` (every field is checked, so a
 * probe with two mistakes shows both); `where` prefixes them ("probes.yaml: probe[2]").
 * Returns undefined when anything is wrong.
 */
export function collectProbe(raw: unknown, where: string, errs: string[]): Probe | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    errs.push(`${where}: must be a mapping with from, to and port, got ${describe(raw)}`);
    return undefined;
  }
  const before = errs.length;
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!PROBE_FIELDS.includes(k)) errs.push(`${where}.${k}: unknown field (known: ${PROBE_FIELDS.join(', ')})`);
  }
  const from = checkEndpoint(o.from, `${where}.from`, errs);
  const to = checkEndpoint(o.to, `${where}.to`, errs);
  let port: number | undefined;
  if (typeof o.port === 'number' && Number.isInteger(o.port)) port = o.port;
  else if (typeof o.port === 'string' && /^\d+$/.test(o.port)) port = Number(o.port);
  else if (o.port === undefined) errs.push(`${where}.port: required (a port number)`);
  else errs.push(`${where}.port: must be a port number, got ${describe(o.port)}`);
  if (port !== undefined && (port < 1 || port > 65535)) errs.push(`${where}.port: must be between 1 and 65535, got ${port}`);
  let protocol: Protocol = 'TCP';
  if (o.protocol !== undefined && o.protocol !== null) {
    if (typeof o.protocol !== 'string' || !(PROTOCOLS as readonly string[]).includes(o.protocol.toUpperCase())) {
      errs.push(`${where}.protocol: must be TCP, UDP or SCTP, got ${describe(o.protocol)}`);
    } else protocol = o.protocol.toUpperCase() as Protocol;
  }
  const literal = [from, to].map((s) => (s === undefined ? undefined : parseIP(s)?.family)).filter((f): f is Family => f !== undefined);
  let family: Family | undefined;
  if (o.family !== undefined && o.family !== null) {
    family = familyName(o.family);
    if (!family) errs.push(`${where}.family: must be IPv4 or IPv6, got ${describe(o.family)}`);
  } else family = literal[0] ?? 'IPv4';
  if (family) {
    for (const [field, s] of [['from', from], ['to', to]] as const) {
      const f = s === undefined ? undefined : parseIP(s)?.family;
      if (f && f !== family) errs.push(`${where}.${field}: ${s} is an ${f} address but the probe is ${family}`);
    }
  }
  let expect: 'allow' | 'deny' | undefined;
  if (o.expect !== undefined && o.expect !== null) {
    if (o.expect !== 'allow' && o.expect !== 'deny') errs.push(`${where}.expect: must be allow or deny, got ${describe(o.expect)}`);
    else expect = o.expect;
  }
  if (errs.length > before || from === undefined || to === undefined || port === undefined || family === undefined) return undefined;
  return { from, to, port, protocol, family, ...(expect ? { expect } : {}) };
}

/** Validates one probe; `where` prefixes errors. Throws one CliError listing every problem. */
export function checkProbe(raw: unknown, where: string): Probe {
  const errs: string[] = [];
  const p = collectProbe(raw, where, errs);
  if (!p || errs.length > 0) throw new CliError(errs.join('\n'));
  return p;
}

/** Parses probe file text (YAML or JSON: a list, or a mapping with a `probes` list). */
export function parseProbes(text: string, file: string): Probe[] {
  let doc: unknown;
  try {
    doc = parseYAML(text);
  } catch (e) {
    const pos = (e as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    // A second document is the one mistake the reader's words (naming its own API) do not explain.
    const msg = (e as { code?: string }).code === 'MULTIPLE_DOCS'
      ? 'a second document (after a --- line): a probe file is one list of probes'
      : (e as Error).message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new CliError(`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: bad YAML/JSON: ${msg}`);
  }
  if (doc && typeof doc === 'object' && !Array.isArray(doc) && 'probes' in doc) doc = (doc as { probes: unknown }).probes;
  if (!Array.isArray(doc)) throw new CliError(`${file}: must be a list of probes ({from, to, port, protocol?, family?}), got ${describe(doc)}`);
  if (doc.length === 0) throw new CliError(`${file}: has no probes`);
  // Every probe is checked before giving up, so one run shows every mistake in the file.
  const errs: string[] = [];
  const probes = doc.map((p, i) => collectProbe(p, `${file}: probe[${i}]`, errs));
  if (errs.length > 0) throw new CliError(errs.join('\n'));
  return probes as Probe[];
}

export function readProbeFile(file: string): Probe[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`${file}: ${fileProblem(e)}`);
  }
  return parseProbes(text, file);
}

/**
 * The address of an endpoint in a family: a literal IP as is (an IP that belongs to no pod is
 * a node's or an outside host's, which the evaluator works out), a ns/pod its IP of that family.
 */
export function resolveEndpoint(view: ClusterView, endpoint: string, family: Family, where: string): string {
  if (!isPodRef(endpoint)) {
    const ip = parseIP(endpoint);
    if (!ip) throw new CliError(`${where}: ${JSON.stringify(endpoint)} is neither "namespace/pod" nor an IP address`);
    if (ip.family !== family) throw new CliError(`${where}: ${endpoint} is an ${ip.family} address but the probe is ${family}`);
    return canonicalIP(endpoint)!;
  }
  const pod = view.pods.get(endpoint);
  if (!pod) throw new CliError(`${where}: no pod ${endpoint} in the input (${podsThere(view.pods.values(), endpoint.split('/')[0]!)})`);
  const ip = pod.ips.find((a) => parseIP(a)?.family === family);
  if (!ip) {
    // A single-stack IPv6 cluster judged as IPv4 (the default) is the usual way here: say how to ask.
    const other = otherFamily(family);
    const hint = pod.ips.some((a) => parseIP(a)?.family === other) ? `; for its ${other} address give ${where.startsWith('--') ? `--family ${other}` : `family: ${other}`}` : '';
    throw new CliError(`${where}: pod ${endpoint} has no ${family} address (status.podIPs: ${pod.ips.length ? pod.ips.join(', ') : 'none'})${hint}`);
  }
  // Another pod claiming the same address wins it (evaluator.ts's contract): the connection
  // would be judged as that pod's, so an answer labelled with this pod would be another's.
  const owner = podForIP(view, ip);
  if (podIsSelectable(pod) && owner && owner !== pod) {
    throw new CliError(
      `${where}: pod ${endpoint} does not own ${ip} for policy: pod ${podKey(owner)} holds it too and wins ` +
        `(a Running pod first, then the smaller namespace/name), so ${ip} is judged as ${podKey(owner)}; name ${podKey(owner)} or fix the stale pod`,
    );
  }
  return ip;
}
