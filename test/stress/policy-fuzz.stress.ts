// Hostile policies: random and adversarial NetworkPolicy objects through the decoder
// (src/cluster/decode.ts decodeObject) and the compiled engine. Each object must either be
// rejected clearly (decodeObject returns 'invalid' with errors naming the object and the field)
// or be compiled correctly (the engine's decide() equals the evaluator's evaluate() on probes
// aimed at the policy), and nothing may throw. Compile time per object is measured and reported.
//
// Adversarial shapes: 500-deep matchExpressions, thousands of ports and port ranges, huge except
// lists, /0 and /128 blocks, unicode in label keys and values, fields missing, and every field
// replaced by a value of the wrong type (null, numbers, NaN, Infinity, strings, lists, objects,
// a 100 kB string, deeply nested lists).
//
// STRESS_POLICY_OBJECTS overrides the number of random objects.

import t from 'tap';
import type { LabelSelector, NetworkPolicy, PolicyPeer, PolicyPort, PolicyRule, Protocol } from '../../src/cluster/model.ts';
import { decodeObject } from '../../src/cluster/decode.ts';
import type { Connection } from '../../src/policy/decision.ts';
import { CompiledEngine } from '../../src/policy/compiler.ts';
import { evaluate } from '../../src/policy/evaluator.ts';
import { Rng, probeAddresses, randomCluster, randomPolicy, randomProbe, stateOf } from '../../support/random-cluster.ts';
import { canonical } from '../../support/differential.ts';
import { bindRow, envInt, round } from './support/results.ts';

const OBJECTS = envInt('STRESS_POLICY_OBJECTS', 800);
const PROBES_PER_POLICY = 40;

type Raw = Record<string, unknown>;

function rawSelector(s: LabelSelector): Raw {
  return { matchLabels: { ...s.matchLabels }, matchExpressions: s.matchExpressions.map((e) => ({ key: e.key, operator: e.operator, values: [...e.values] })) };
}
function rawPeer(p: PolicyPeer): Raw {
  const o: Raw = {};
  if (p.podSelector) o.podSelector = rawSelector(p.podSelector);
  if (p.namespaceSelector) o.namespaceSelector = rawSelector(p.namespaceSelector);
  if (p.ipBlock) o.ipBlock = { cidr: p.ipBlock.cidr, except: [...p.ipBlock.except] };
  return o;
}
function rawPort(p: PolicyPort): Raw {
  const o: Raw = { protocol: p.protocol };
  if (p.port !== undefined) o.port = p.port;
  if (p.endPort !== undefined) o.endPort = p.endPort;
  return o;
}
function rawRule(r: PolicyRule, dir: 'from' | 'to'): Raw {
  return { [dir]: r.peers.map(rawPeer), ports: r.ports.map(rawPort) };
}
/** The API (YAML/JSON) form of a model NetworkPolicy. */
function rawPolicy(p: NetworkPolicy): Raw {
  const types: string[] = [];
  if (p.policyTypes.ingress) types.push('Ingress');
  if (p.policyTypes.egress) types.push('Egress');
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: p.name, namespace: p.namespace },
    spec: {
      podSelector: rawSelector(p.podSelector),
      policyTypes: types,
      ingress: p.ingress.map((r) => rawRule(r, 'from')),
      egress: p.egress.map((r) => rawRule(r, 'to')),
    },
  };
}

const HUGE = 'x'.repeat(100_000);
function nested(depth: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}
const WRONG: readonly (() => unknown)[] = [
  () => null, () => undefined, () => 42, () => -1, () => 3.5, () => NaN, () => Infinity, () => 2 ** 53,
  () => '', () => 'Ingress', () => '80', () => 'ünïcødé/ключ', () => HUGE, () => true, () => [], () => [null],
  () => ({}), () => ({ unexpected: 1 }), () => nested(2000), () => [1, 'two', { three: 3 }], () => '10.0.0.0/33', () => '::/129',
];

/** Every path (list of keys) into the object tree. */
function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = [], limit = 4000): (string | number)[][] {
  if (out.length >= limit) return out;
  if (Array.isArray(v)) v.forEach((x, i) => { out.push([...prefix, i]); paths(x, [...prefix, i], out, limit); });
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) { out.push([...prefix, k]); paths((v as Raw)[k], [...prefix, k], out, limit); }
  return out;
}
function setAt(root: Raw, path: (string | number)[], value: unknown, remove = false): void {
  let o: any = root;
  for (const k of path.slice(0, -1)) o = o[k];
  const last = path[path.length - 1]!;
  if (remove && !Array.isArray(o)) delete o[last];
  else o[last] = value;
}

/** Adversarial but mostly VALID shapes (they must compile and answer right). */
function adversarial(r: Rng, i: number, addresses: readonly string[]): { raw: Raw; kind: string } {
  const base = rawPolicy(randomPolicy(r, r.pick(['ns0', 'ns1', 'ns2']), `adv${i}`, addresses));
  const spec = base.spec as Raw;
  const k = i % 8;
  if (k === 0) {
    // Deep matchExpressions: hundreds of requirements, long value lists.
    const exprs = [];
    for (let j = 0; j < 500; j++) exprs.push({ key: `k${j % 7}`, operator: r.pick(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: [] as string[] });
    for (const e of exprs) if (e.operator === 'In' || e.operator === 'NotIn') e.values = Array.from({ length: 1 + r.int(100) }, (_, v) => `v${v}`);
    spec.podSelector = { matchExpressions: exprs.slice(0, 50) };
    spec.ingress = [{ from: [{ podSelector: { matchExpressions: exprs } }, { namespaceSelector: { matchExpressions: exprs.slice(0, 200) } }] }];
    return { raw: base, kind: 'deep matchExpressions' };
  }
  if (k === 1) {
    // Thousands of ports: single ports, ranges, named ports, all three protocols.
    const ports: Raw[] = [];
    for (let j = 0; j < 3000; j++) {
      const protocol = r.pick(['TCP', 'UDP', 'SCTP']);
      const port = 1 + r.int(65535);
      ports.push(j % 5 === 0 ? { protocol, port, endPort: Math.min(65535, port + r.int(2000)) } : j % 7 === 0 ? { protocol, port: r.pick(['http', 'dns', 'metrics', 'x-sctp']) } : { protocol, port });
    }
    spec.ingress = [{ ports }];
    spec.egress = [{ ports: ports.slice(0, 1500) }];
    spec.policyTypes = ['Ingress', 'Egress'];
    return { raw: base, kind: 'thousands of ports' };
  }
  if (k === 2) {
    // A huge except list inside a /8, and the same inside an IPv6 /32.
    const except4 = Array.from({ length: 2000 }, (_, j) => `10.${(j >> 8) & 255}.${j & 255}.0/24`);
    const except6 = Array.from({ length: 2000 }, (_, j) => `fd00:${j.toString(16)}::/32`);
    spec.ingress = [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: except4 } }, { ipBlock: { cidr: 'fd00::/8', except: except6 } }] }];
    return { raw: base, kind: 'huge except lists' };
  }
  if (k === 3) {
    // /0 and /128 (and /32) blocks, excepts at the extremes.
    spec.egress = [{ to: [
      { ipBlock: { cidr: '0.0.0.0/0', except: ['10.1.0.1/32', '0.0.0.0/1'] } },
      { ipBlock: { cidr: '::/0', except: ['fd00::1:1/128', '::/1'] } },
      { ipBlock: { cidr: 'fd00::1:2/128' } },
      { ipBlock: { cidr: '10.1.0.2/32' } },
    ] }];
    spec.policyTypes = ['Egress'];
    return { raw: base, kind: '/0 and /128 blocks' };
  }
  if (k === 4) {
    // Unicode in label keys and values (invalid: must be rejected naming the field).
    spec.podSelector = r.chance(0.5)
      ? { matchLabels: { [r.pick(['ключ', 'app', '日本/x'])]: r.pick(['ünïcødé', '🙂']) } }
      : { matchLabels: { [r.pick(['ключ', 'ünï/app', '日本'])]: 'a' } };
    return { raw: base, kind: 'unicode labels' };
  }
  if (k === 5) {
    // Missing fields: drop 1-3 random fields (metadata.name, spec, podSelector, from/to, ...).
    for (let j = 0; j < 1 + r.int(3); j++) {
      const ps = paths(base);
      if (ps.length) setAt(base, r.pick(ps), undefined, true);
    }
    return { raw: base, kind: 'missing fields' };
  }
  // Wrong types everywhere: 1-4 random fields replaced by a value of another type.
  for (let j = 0; j < 1 + r.int(4); j++) {
    const ps = paths(base);
    if (ps.length) setAt(base, r.pick(ps), r.pick(WRONG)());
  }
  return { raw: base, kind: 'wrong types' };
}

t.test(`policy fuzz: ${OBJECTS} random and adversarial objects`, async (t) => {
  const row = bindRow(t, 'hostile', 'policy fuzz (decode + compile)', 'policy-fuzz.stress.ts');
  const rng = new Rng(0xfa11);
  const c = randomCluster(rng, { namespaces: 3, pods: 24, policies: 4 });
  const state = stateOf(c);
  const opts = { localNode: 'node-1' };
  const engine = new CompiledEngine(state, opts);
  state.onChange((ch) => engine.update(ch));
  const pa = probeAddresses(state, c.outside);
  const addresses = [...pa.v4, ...pa.v6, '10.0.0.1', 'fd00::1'];

  let rejected = 0, compiled = 0, crashes = 0, unclear = 0, mismatches = 0, probes = 0;
  let firstCrash = '', firstUnclear = '', firstMismatch = '';
  const compileMs: number[] = [];
  const decodeMs: number[] = [];
  const byKind = new Map<string, { rejected: number; compiled: number; maxMs: number }>();
  for (let i = 0; i < OBJECTS; i++) {
    let raw: Raw, kind: string;
    if (i % 3 === 0) ({ raw, kind } = { raw: rawPolicy(randomPolicy(rng, rng.pick(['ns0', 'ns1', 'ns2', 'orphan']), `rnd${i}`, addresses)), kind: 'random valid' });
    else ({ raw, kind } = adversarial(rng, i, addresses));
    const tally = byKind.get(kind) ?? { rejected: 0, compiled: 0, maxMs: 0 };
    byKind.set(kind, tally);
    let d;
    try {
      const t0 = performance.now();
      d = decodeObject(raw, `fuzz:${i}`);
      decodeMs.push(performance.now() - t0);
    } catch (e) {
      if (crashes++ === 0) firstCrash = `decode of object ${i} (${kind}) threw: ${(e as Error).stack}`;
      continue;
    }
    if (d.kind === 'invalid') {
      rejected++;
      tally.rejected++;
      // The object is named by its kind, or "object" when the kind is unusable; a kind that is a
      // slip for one read here (a mutated "NetworkPolcy") is named as written.
      const written = typeof (raw as { kind?: unknown } | null)?.kind === 'string' ? `${(raw as { kind: string }).kind} ` : undefined;
      const named = (o: string) => /NetworkPolicy|object/.test(o) || (written !== undefined && o.startsWith(written));
      const bad = d.errors.length === 0 || d.errors.some((e) => !e.object || !e.field || !e.message || !named(e.object));
      if (bad && unclear++ === 0) firstUnclear = `object ${i} (${kind}): ${JSON.stringify(d.errors).slice(0, 300)}`;
      continue;
    }
    if (d.kind !== 'NetworkPolicy') {
      // A mutated kind/apiVersion can make it another (ignored or other-kind) object: not ours to compile.
      rejected++;
      tally.rejected++;
      continue;
    }
    compiled++;
    tally.compiled++;
    const p = d.value;
    try {
      const t0 = performance.now();
      state.upsertPolicy(p);
      const ms = performance.now() - t0;
      compileMs.push(ms);
      tally.maxMs = Math.max(tally.maxMs, ms);
      // Probes aimed at the policy: its namespace's pods, its ports and range ends, its blocks.
      const targets: Connection[] = [];
      const ports = new Set<number>([80, 53]);
      for (const rule of [...p.ingress, ...p.egress]) {
        for (const pp of rule.ports.slice(0, 20)) {
          if (typeof pp.port === 'number') { ports.add(pp.port); if (pp.endPort !== undefined) { ports.add(pp.endPort); ports.add(pp.endPort + 1 > 65535 ? 65535 : pp.endPort + 1); } }
        }
      }
      const portList = [...ports];
      const addrs = probeAddresses(state, c.outside);
      for (let j = 0; j < PROBES_PER_POLICY; j++) {
        const probe = randomProbe(rng, addrs);
        targets.push(j % 2 === 0 ? { ...probe, port: rng.pick(portList), protocol: rng.pick(['TCP', 'UDP', 'SCTP'] as Protocol[]) } : probe);
      }
      for (const conn of targets) {
        probes++;
        const a = canonical(engine.decide(conn));
        const b = canonical(evaluate(state, conn, opts));
        if (a !== b && mismatches++ === 0) firstMismatch = `object ${i} (${kind}) ${conn.protocol} ${conn.src} -> ${conn.dst}:${conn.port}: compiled ${a} evaluator ${b}`;
      }
      state.deletePolicy(`${p.namespace}/${p.name}`);
    } catch (e) {
      if (crashes++ === 0) firstCrash = `compile/decide of object ${i} (${kind}) threw: ${(e as Error).stack}`;
      try { state.deletePolicy(`${p.namespace}/${p.name}`); } catch { /* already reported */ }
    }
  }
  // A fresh compile of the end state answers like the incrementally updated engine.
  const fresh = new CompiledEngine(state, opts);
  const addrs = probeAddresses(state, c.outside);
  let freshMismatch = 0;
  for (let j = 0; j < 2000; j++) {
    const conn = randomProbe(rng, addrs);
    if (canonical(fresh.decide(conn)) !== canonical(engine.decide(conn))) freshMismatch++;
  }

  const pct = (a: number[], q: number) => (a.length ? [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(q * a.length))]! : 0);
  Object.assign(row.figures, {
    objects: OBJECTS,
    rejected,
    compiled,
    crashes,
    'unclear rejections': unclear,
    'probes compared': probes,
    'decide != evaluate': mismatches,
    'compile ms p50/p99/max': `${round(pct(compileMs, 0.5))}/${round(pct(compileMs, 0.99))}/${round(pct(compileMs, 1))}`,
    'decode ms max': round(pct(decodeMs, 1)),
  });
  row.note = [...byKind].map(([k, v]) => `${k}: ${v.compiled} compiled (max ${round(v.maxMs)} ms), ${v.rejected} rejected`).join('; ');
  row.tried = { n: OBJECTS, what: 'policy objects' };
  row.wrong = crashes + unclear + mismatches + freshMismatch;
  t.equal(crashes, 0, `nothing threw${firstCrash ? ` (first: ${firstCrash})` : ''}`);
  t.equal(unclear, 0, `every rejection names the object and the field${firstUnclear ? ` (first: ${firstUnclear})` : ''}`);
  t.equal(mismatches, 0, `every compiled policy answers like the evaluator${firstMismatch ? ` (first: ${firstMismatch})` : ''}`);
  t.equal(freshMismatch, 0, 'the engine after all updates equals a fresh compile');
  t.ok(rejected > OBJECTS / 10 && compiled > OBJECTS / 10, `both outcomes exercised (${compiled} compiled, ${rejected} rejected)`);
  for (const kind of ['deep matchExpressions', 'thousands of ports', 'huge except lists', '/0 and /128 blocks']) {
    t.ok((byKind.get(kind)?.compiled ?? 0) > 0, `${kind}: compiled (valid shapes must not be refused)`);
  }
  t.ok((byKind.get('unicode labels')?.compiled ?? 0) === 0, 'unicode label keys/values are refused (not valid Kubernetes labels)');
  // Reported, not asserted (no timing assertions in tests): a compile that never ended would
  // trip tap's per-file timeout instead.
  t.comment(`slowest single compile ${round(pct(compileMs, 1))} ms`);
});
