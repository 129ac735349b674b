// The status file with the dns section at the name store's cap: made in steps and written a slice
// at a time (status-file.ts, dns-status.ts), it must be the very text the agent wrote when it
// made the whole file at once (that writer is kept below, as it was, as the reference), stay
// atomic (a reader sees the old file or the new one, whole), and writes must not overlap.

import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DnsLearner } from '../../src/agent/dns-learner.ts';
import { dnsStatusSection, type DnsStatusSection } from '../../src/agent/dns-status.ts';
import { SLICE_STEPS, StatusFile, statusJson } from '../../src/agent/status-file.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { onTheLoop } from '../../support/loop-ticker.ts';
import type { NameRecord, NameStore } from '../../src/dataplane/name-store.ts';

// --- The writer as it was before the status file was made in steps (the reference). ---------

const isRowBefore = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

function statusJsonBefore(v: unknown, indent = ''): string | undefined {
  if (typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON: () => unknown }).toJSON();
  if (typeof v !== 'object' || v === null) return JSON.stringify(v);
  const inner = indent + '  ';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    const rows = v.every(isRowBefore);
    const items = v.map((x) => (rows ? JSON.stringify(x) : statusJsonBefore(x, inner)) ?? 'null');
    return `[\n${items.map((s) => inner + s).join(',\n')}\n${indent}]`;
  }
  const fields: string[] = [];
  for (const [k, x] of Object.entries(v)) {
    const s = statusJsonBefore(x, inner);
    if (s !== undefined) fields.push(`${inner}${JSON.stringify(k)}: ${s}`);
  }
  return fields.length === 0 ? '{}' : `{\n${fields.join(',\n')}\n${indent}}`;
}

function describeBefore(r: NameRecord, now: number): string {
  const ago = Math.max(0, Math.round((now - r.learnedAt) / 1000));
  const names = r.names.length > 1 ? `${r.names[r.names.length - 1]} (via ${r.names.slice(0, -1).join(' -> ')})` : r.names[0];
  return `${r.address} is ${names} (learned ${ago} s ago from ${r.server}, TTL ${r.ttl} s)`;
}

function listBefore(store: NameStore, now: number): NameRecord[] {
  const cmp = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);
  return store.list(-Infinity).filter((r) => r.expiresAt > now).sort((a, b) => cmp(a.pod, b.pod) || cmp(a.address, b.address) || cmp(a.names[0] ?? '', b.names[0] ?? ''));
}

function sectionBefore(learner: DnsLearner, queue: Record<string, unknown>, now: number) {
  const c = learner.counters;
  return {
    at: new Date(now).toISOString(),
    records: listBefore(learner.store, now).map((r) => ({
      pod: r.pod, address: r.address, names: r.names, server: r.server, ttl: r.ttl,
      learnedAt: new Date(r.learnedAt).toISOString(),
      expiresInSeconds: Math.max(0, Math.round((r.expiresAt - now) / 1000)),
      text: describeBefore(r, now),
    })),
    counters: { answers: c.answers, parsed: c.parsed, partial: c.partial, errors: c.errors, republished: c.republished, ...learner.store.counters, tcp: learner.tcp.counters, queue },
  };
}

// --- A name store that changes between writes. -----------------------------------------------

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0, 123);

function random(seed: number): (k: number) => number {
  let s = seed;
  return (k) => (s = (s * 1103515245 + 12345) % 2 ** 31) % k;
}

/** Names JSON has to escape, or not, and some that sort before and after the usual ones. */
const NAME_PARTS = ['api.example.com', 'a"quote.example', 'back\\slash.example', 'tab\there.example', 'ünï.example', '例え.jp', 'emoji😀.example', 'lone\ud800.example', 'Z.example', '0.example', 'nul\u0000.example', 'x'.repeat(60) + '.example'];

function churningStore(seed: number, o: { total: number; perPod: number }) {
  const rand = random(seed);
  let now = T0;
  const learner = new DnsLearner(new ClusterState(), () => true, { minTtl: 5, maxTtl: 120, ...o }, () => now);
  const pods = ['10.0.0.1', '10.0.0.2', '10.0.1.1', 'fd00::1', 'fd00::a', '10.0.0.10'];
  const name = (): string => `${rand(50)}.${NAME_PARTS[rand(NAME_PARTS.length)]}`;
  const address = (): string => (rand(4) === 0 ? `2001:db8::${rand(300).toString(16)}` : `203.0.${rand(8)}.${rand(256)}`);
  const learn = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const chain = Array.from({ length: 1 + (rand(5) === 0 ? 1 + rand(3) : 0) }, name);
      learner.store.learn(pods[rand(pods.length)], address(), chain, rand(3) === 0 ? 'fd00::53' : '10.96.0.10', rand(200), now - rand(3000));
    }
  };
  /** Time passes; records come (some with the key of a live one: learned again), go, or are past their expiry but still held. */
  const step = (): void => {
    now += rand(15_000);
    learn(rand(o.total / 4));
    const held = learner.store.list(-Infinity);
    for (let i = 0, n = rand(held.length / 8 + 1); i < n; i++) {
      const r = held[rand(held.length)];
      // The same key: the same names (a refresh) or another chain for the same question.
      learner.store.learn(r.pod, r.address, rand(2) === 0 ? r.names : [r.names[0], name()], r.server, rand(200), now - rand(2000));
    }
    if (rand(3) === 0) learner.store.expire(now - rand(20_000));
    if (rand(6) === 0) learner.store.dropPod(pods[rand(pods.length)]);
  };
  return { learner, step, now: () => now };
}

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'palisade-status-dns-'));
}

t.test('the file is the text the writer made at once, write after write of a changing store', async (t) => {
  const rows: { name: string; seed: number; total: number; perPod: number; writes: number }[] = [
    { name: 'a few records', seed: 1, total: 40, perPod: 20, writes: 30 },
    { name: 'more records than a step, per-pod cap evicting', seed: 2, total: 3000, perPod: 400, writes: 12 },
    { name: 'total cap evicting', seed: 3, total: 1200, perPod: 1200, writes: 12 },
  ];
  for (const r of rows) {
    const s = churningStore(r.seed, r);
    const file = join(dir(), 'status.json');
    const sf = new StatusFile(file, () => {});
    let differ = 0, empty = 0;
    for (let w = 0; w < r.writes; w++) {
      s.step();
      const now = s.now();
      const status = { node: 'n1', dns: dnsStatusSection(s.learner, { q: w }, now), after: { list: [1, { a: undefined }], none: undefined } };
      const want = statusJsonBefore({ ...status, dns: sectionBefore(s.learner, { q: w }, now) }) + '\n';
      await sf.write(() => status, { force: true });
      if (readFileSync(file, 'utf8') !== want) differ++;
      if (statusJson(status) + '\n' !== want) differ++;
      if (JSON.stringify(status) !== JSON.stringify({ ...status, dns: sectionBefore(s.learner, { q: w }, now) })) differ++;
      if (!want.includes('"records": [\n')) empty++;
    }
    t.equal(differ, 0, `${r.name}: the file, statusJson and JSON.stringify are as before at each of ${r.writes} writes`);
    t.ok(empty < r.writes, `${r.name}: some writes had records`);
    s.learner.close();
  }
});

t.test('listings that overlap, or are left half way, give the same rows', async (t) => {
  const s = churningStore(4, { total: 2000, perPod: 2000 });
  const sep = ',\n    ';
  const want = (): string => sectionBefore(s.learner, {}, s.now()).records.map((r) => JSON.stringify(r)).join(sep);
  const steps = (section: DnsStatusSection) => section.records.statusRows(sep)[Symbol.iterator]();
  for (let round = 0; round < 6; round++) {
    s.step();
    // Step by step, a then b: b's listing runs while a's is in progress.
    const ia = steps(dnsStatusSection(s.learner, {}, s.now())), ib = steps(dnsStatusSection(s.learner, {}, s.now()));
    const ca: string[] = [], cb: string[] = [];
    for (let da = false, db = false; !da || !db; ) {
      if (!da) {
        const x = ia.next();
        if (x.done) da = true;
        else if (x.value) ca.push(x.value);
      }
      if (!db) {
        const x = ib.next();
        if (x.done) db = true;
        else if (x.value) cb.push(x.value);
      }
    }
    t.equal(ca.join(sep), want(), `round ${round}: the first listing`);
    t.equal(cb.join(sep), want(), `round ${round}: the one that ran while it was in progress`);
    // One left after a few steps (a write that failed): the next is still right.
    const left = steps(dnsStatusSection(s.learner, {}, s.now()));
    for (let i = 0; i < 3 ** round; i++) left.next();
    left.return?.(undefined);
    s.step();
    const after: string[] = [];
    for (const x of dnsStatusSection(s.learner, {}, s.now()).records.statusRows(sep)) if (x) after.push(x);
    t.equal(after.join(sep), want(), `round ${round}: after one left after ${3 ** round} steps`);
  }
  s.learner.close();
});

/** A learner holding `n` records learned in random order (the store lists them sorted: learning order is not that). */
function fullStore(n: number) {
  const rand = random(5);
  let now = T0;
  const learner = new DnsLearner(new ClusterState(), () => true, { total: n, perPod: n }, () => now);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rand(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const learn = (i: number, at: number): void => void learner.store.learn(`10.244.${(i >> 9) & 255}.${((i & 511) % 250) + 2}`, `203.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, [`svc${i % 5000}.example.com`], '10.96.0.10', 300, at);
  order.forEach((i, k) => learn(i, now - Math.floor((k / n) * 290_000)));
  let next = n;
  /** 8 s on (the wait between writes of a file this size): 2 % learned again, 3 % new, the expired gone. */
  const churn = (): void => {
    now += 8000;
    for (let k = 0; k < n / 50; k++) learn(rand(next), now - rand(8000));
    for (let k = 0; k < (n * 3) / 100; k++) learn(next++, now - rand(8000));
    learner.store.expire(now);
  };
  return { learner, churn, now: () => now };
}

t.test('a write of 65,536 records holds the loop a few steps at a time', async (t) => {
  // Made at once it held the loop about 270 ms (every new connection waited that long). What is
  // checked is the shape, not a time (the host's speed and its garbage collector vary): the dns
  // rows come in steps of a bounded number of records, and the file takes at most SLICE_STEPS
  // of them before it awaits (lets the loop run). The CPU figures are printed for whoever looks.
  const s = fullStore(65536);
  const file = join(dir(), 'status.json');
  const sf = new StatusFile(file, () => {});
  for (const w of ['first', 'after 8 s of churn']) {
    if (w !== 'first') s.churn();
    const section = dnsStatusSection(s.learner, {}, s.now());
    let steps = 0;
    for (const _ of section.records.statusRows(',')) steps++;
    t.ok(steps >= 65536 / 512, `${w}: the rows of 65,536 records come in ${steps} steps (512 records a step at most)`);
    // Steps taken in one synchronous stretch (the code between two awaits, which nothing else on
    // the loop can interrupt): a microtask queued at a stretch's first step runs when it ends.
    let taken = 0, most = 0, inStretch = 0;
    const counted = { dns: { statusRows: (sep: string) => (function* () {
      for (const x of section.records.statusRows(sep)) {
        taken++;
        if (inStretch === 0) queueMicrotask(() => { inStretch = 0; });
        most = Math.max(most, ++inStretch);
        yield x;
      }
    })() } };
    const m = await onTheLoop(() => sf.write(() => counted, { force: true }));
    t.ok(taken >= 65536 / 512, `${w}: the write took its rows in ${taken} steps`);
    t.ok(most <= SLICE_STEPS, `${w}: at most ${SLICE_STEPS} steps without letting the loop run (took ${most}; the loop turned ${m.turns} times)`);
    t.comment(`${w}: longest hold ${Math.round(m.longestCpu)} ms of CPU (${Math.round(m.longest)} ms on the clock)`);
  }
  await sf.write(() => ({ dns: dnsStatusSection(s.learner, {}, s.now()) }), { force: true });
  t.equal(readFileSync(file, 'utf8'), statusJsonBefore({ dns: sectionBefore(s.learner, {}, s.now()) }) + '\n', 'and the file is as before');
  s.learner.close();
});

t.test('a reader sees the old file or the new one, whole, while a write is made in slices', async (t) => {
  const s = fullStore(20000);
  const d = dir();
  const file = join(d, 'status.json'), tmp = `${file}.${process.pid}.tmp`;
  const sf = new StatusFile(file, () => {});
  await sf.write(() => ({ dns: dnsStatusSection(s.learner, {}, s.now()) }), { force: true });
  const before = readFileSync(file, 'utf8');
  s.churn();
  const after = statusJsonBefore({ dns: sectionBefore(s.learner, {}, s.now()) }) + '\n';
  const seen = new Map<string, number>();
  let partial = 0;
  const m = await onTheLoop(async () => {
    const reading = setInterval(() => {
      const text = readFileSync(file, 'utf8');
      const what = text === before ? 'the old file' : text === after ? 'the new file' : `something else (${text.length} bytes)`;
      seen.set(what, (seen.get(what) ?? 0) + 1);
      if (existsSync(tmp) && readFileSync(tmp, 'utf8').length < after.length) partial++;
    }, 1);
    await sf.write(() => ({ dns: dnsStatusSection(s.learner, {}, s.now()) }), { force: true });
    clearInterval(reading);
  });
  t.same([...seen.keys()].filter((k) => k.startsWith('something')), [], `only whole files read (${JSON.stringify(Object.fromEntries(seen))}, ${m.turns} turns)`);
  t.ok(partial > 0, `the temporary file was seen part written ${partial} times: the reads ran while the write was under way`);
  t.equal(readFileSync(file, 'utf8'), after);
  t.same(readdirSync(d), ['status.json'], 'no temporary file left');
  s.learner.close();
});

t.test('requests made while a write is being made: one write after it, whole in place, with the newest status', async (t) => {
  // A write of 65,536 records now spans many turns of the loop, and the agent asks for one every
  // second and at each enforced generation: each request made its own 18 MB write, back to back.
  const s = fullStore(20000);
  const d = dir();
  const file = join(d, 'status.json'), tmp = `${file}.${process.pid}.tmp`;
  const sf = new StatusFile(file, () => {});
  const first = sf.write(() => ({ dns: dnsStatusSection(s.learner, {}, s.now()) }), { force: true });
  const firstText = statusJsonBefore({ dns: sectionBefore(s.learner, {}, s.now()) }) + '\n';
  while (!existsSync(tmp)) await new Promise((r) => setImmediate(r));
  const asked: { name: string; file: string; dir: string[] }[] = [];
  const later = ['second', 'third', 'last'].map((name) => sf.write(() => {
    asked.push({ name, file: readFileSync(file, 'utf8'), dir: readdirSync(d) });
    return { [name]: 1 };
  }, { force: name === 'second' }));
  await Promise.all([first, ...later]);
  t.same(asked.map((a) => a.name), ['last'], 'one write, with the newest status (forced by one of them: not held for the rate)');
  t.equal(asked[0].file, firstText, 'it started once the first was whole in place');
  t.same(asked[0].dir, ['status.json'], 'its temporary file gone');
  t.equal(readFileSync(file, 'utf8'), '{\n  "last": 1\n}\n', 'and the promises resolved once it was written');
  s.learner.close();
});

t.test('a request made while a large write is being made waits for that write\'s rate', async (t) => {
  const s = fullStore(8192);
  const d = dir();
  const file = join(d, 'status.json'), tmp = `${file}.${process.pid}.tmp`;
  // About 2.2 MB at 2 MB/s: the next write waits about a second after it.
  const sf = new StatusFile(file, () => {}, { bytesPerSecond: 2_000_000, maxDelayMs: 5000 });
  const first = sf.write(() => ({ dns: dnsStatusSection(s.learner, {}, s.now()) }), { force: true });
  while (!existsSync(tmp)) await new Promise((r) => setImmediate(r));
  const next = sf.write(() => ({ next: 1 }));
  await first;
  await next;
  await new Promise((r) => setTimeout(r, 100));
  t.not(readFileSync(file, 'utf8'), '{\n  "next": 1\n}\n', 'not written right after the large one');
  const until = Date.now() + 15_000;
  while (readFileSync(file, 'utf8') !== '{\n  "next": 1\n}\n' && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  t.equal(readFileSync(file, 'utf8'), '{\n  "next": 1\n}\n', 'written once the wait was over');
  s.learner.close();
});
