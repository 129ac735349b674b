// The name store's lookups against the plain reading of them: every live record (list) whose
// names a DomainName pattern matches (domainNameMatches). Random records, names, wildcards,
// caps and expiries; the store's indexes must give the same addresses at every step.

import t from 'tap';
import { NameStore, type NameRecord } from '../../src/dataplane/name-store.ts';
import { domainNameMatches } from '../../src/policy/domain-names.ts';
import { Rng } from '../../support/random-cluster.ts';

/** The tests' seeded generator (support/random-cluster.ts Rng), as a function. */
function rng(seed: number): () => number {
  const g = new Rng(seed);
  return () => g.next();
}

// Few labels, so names share suffixes and patterns hit; odd ones ('' makes "a..b", "Cdn" case,
// "*" a literal label) because the store also holds names read back from status files.
const LABELS = ['a', 'b', 'cdn', 'Cdn', 'example', 'com', 'x-y', '', '*'];

function scan(store: NameStore, patterns: readonly string[], now: number): string[] {
  const live = store.list(now).filter((r: NameRecord) => r.names.some((n) => patterns.some((p) => domainNameMatches(p, n))));
  return [...new Set(live.map((r) => r.address))].sort();
}

t.test('addressesFor and about give what a scan of the live records gives', async (t) => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const name = (): string => {
      const n = Array.from({ length: 1 + Math.floor(r() * 4) }, () => pick(LABELS)).join('.');
      return r() < 0.1 ? `${n}.` : n;
    };
    const pattern = (): string => (r() < 0.5 ? `*.${name()}` : name());
    const store = new NameStore({ minTtl: 1, maxTtl: 20, perPod: 1 + Math.floor(r() * 30), total: 1 + Math.floor(r() * 60) });
    let now = 1_000_000;
    let mismatches = 0;
    for (let step = 0; step < 300; step++) {
      const op = r();
      if (op < 0.7) {
        const chain = Array.from({ length: 1 + Math.floor(r() * 3) }, name);
        store.learn(`10.0.0.${Math.floor(r() * 5)}`, `192.0.2.${Math.floor(r() * 40)}`, chain, '10.96.0.10', Math.floor(r() * 25), now);
      } else if (op < 0.8) {
        now += Math.floor(r() * 8000);
      } else if (op < 0.9) {
        store.expire(now);
      } else if (op < 0.93) {
        store.dropPod(`10.0.0.${Math.floor(r() * 5)}`);
      }
      const patterns = Array.from({ length: 1 + Math.floor(r() * 3) }, pattern);
      const at = now + Math.floor(r() * 10000) - 2000;
      const got = [...store.addressesFor(patterns, at)].sort();
      const want = scan(store, patterns, at);
      if (got.join() !== want.join()) {
        mismatches++;
        t.same(got, want, `seed ${seed} step ${step}: ${JSON.stringify(patterns)} at +${at - now} ms`);
      }
      // about(): an address's live records (those the scan finds), newest first.
      const address = `192.0.2.${Math.floor(r() * 40)}`;
      const aboutGot = store.about(address, at);
      const aboutWant = store.list(at).filter((x) => x.address === address);
      const newestFirst = aboutGot.every((x, i) => i === 0 || aboutGot[i - 1]!.learnedAt >= x.learnedAt);
      if (aboutGot.length !== aboutWant.length || aboutWant.some((x) => !aboutGot.includes(x)) || !newestFirst) {
        mismatches++;
        t.same(aboutGot, aboutWant, `seed ${seed} step ${step}: about(${address}) at +${at - now} ms`);
      }
    }
    t.equal(mismatches, 0, `seed ${seed}: every lookup agrees with the scan`);
  }
});

t.test('eviction over the caps: unwanted records first, then the least recently learned, as a plain list does it', async (t) => {
  // The model: records in learn order (a refresh moves one to the end); over a cap, the first
  // record (of the pod, or of all) none of whose names is wanted goes, else the first one (over
  // the total cap: of the pod with the most records, the learning pod on a tie, else the first
  // of them in the order pods got their first record), unless the newcomer itself is unwanted:
  // then it goes instead (it is not stored).
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(1000 + seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const perPod = 1 + Math.floor(r() * 6), total = 1 + Math.floor(r() * 12);
    const store = new NameStore({ minTtl: 100, maxTtl: 100, perPod, total });
    const NAMES = ['api.example.com', 'www.example.com', 'a.cdn.net', 'other.org', 'x.other.org'];
    let wantedNames = new Set<string>();
    let told = false;
    const setWanted = () => {
      told = true;
      wantedNames = new Set(NAMES.filter(() => r() < 0.4));
      store.setWanted((n) => wantedNames.has(n));
    };
    if (r() < 0.8) setWanted();
    const model: { key: string; pod: string; names: string[] }[] = [];
    const podOrder: string[] = [];
    const count = (p: string) => model.filter((m) => m.pod === p).length;
    let evictions = 0;
    for (let step = 0; step < 200; step++) {
      if (r() < 0.05) setWanted();
      const pod = `10.0.0.${Math.floor(r() * 3)}`, address = `192.0.2.${Math.floor(r() * 6)}`;
      const names = Array.from({ length: 1 + Math.floor(r() * 2) }, () => pick(NAMES));
      const key = `${pod} ${address} ${names[0]}`;
      const at = model.findIndex((m) => m.key === key);
      const unwanted = (m: { names: string[] }) => told && !m.names.some((n) => wantedNames.has(n));
      const mine = model.filter((m) => m.pod === pod);
      if (at < 0 && unwanted({ names }) && ((mine.length >= perPod && !mine.some(unwanted)) || (model.length >= total && !model.some(unwanted)))) {
        evictions++;
        store.learn(pod, address, names, '10.96.0.10', 100, 0);
        continue;
      }
      if (at >= 0) model.splice(at, 1);
      else {
        if (!podOrder.includes(pod)) podOrder.push(pod);
        const evictFrom = (from: typeof model) => {
          const victim = from.find(unwanted) ?? from[0]!;
          model.splice(model.indexOf(victim), 1);
          if (count(victim.pod) === 0) podOrder.splice(podOrder.indexOf(victim.pod), 1);
          evictions++;
        };
        if (mine.length >= perPod) evictFrom(mine);
        if (model.length >= total) {
          let largest = pod;
          for (const p of podOrder) if (count(p) > count(largest)) largest = p;
          evictFrom(model.some(unwanted) ? model : model.filter((m) => m.pod === largest));
        }
      }
      if (!podOrder.includes(pod)) podOrder.push(pod);
      model.push({ key, pod, names });
      store.learn(pod, address, names, '10.96.0.10', 100, 0);
    }
    const got = store.list(0).map((x) => `${x.pod} ${x.address} ${x.names[0]}`).sort();
    t.same(got, model.map((m) => m.key).sort(), `seed ${seed}: the same records kept`);
    t.equal(store.counters.evictions, evictions, `seed ${seed}: the same evictions counted`);
  }
});

t.test('a record whose names no policy wants never pushes out one whose names it wants', async (t) => {
  // Each row fills a cap with wanted records, then learns an unwanted one: the wanted ones stay
  // (the newcomer is the one dropped, counted as an eviction), while a wanted newcomer still
  // takes the place of the least recently learned.
  const rows: { name: string; perPod: number; total: number; fill: [pod: string, address: string][]; pod: string; names: string[]; kept: string[] }[] = [
    { name: 'per-pod cap, unwanted newcomer', perPod: 2, total: 100, fill: [['10.0.0.1', '192.0.2.1'], ['10.0.0.1', '192.0.2.2']], pod: '10.0.0.1', names: ['junk.example.org'], kept: ['192.0.2.1', '192.0.2.2'] },
    { name: 'per-pod cap, unwanted newcomer reached through a CNAME to an unwanted name', perPod: 1, total: 100, fill: [['10.0.0.1', '192.0.2.1']], pod: '10.0.0.1', names: ['junk.example.org', 'cdn.example.net'], kept: ['192.0.2.1'] },
    { name: 'total cap, unwanted newcomer', perPod: 10, total: 2, fill: [['10.0.0.1', '192.0.2.1'], ['10.0.0.2', '192.0.2.2']], pod: '10.0.0.3', names: ['junk.example.org'], kept: ['192.0.2.1', '192.0.2.2'] },
    { name: 'per-pod cap, wanted newcomer (through a CNAME): the oldest goes', perPod: 2, total: 100, fill: [['10.0.0.1', '192.0.2.1'], ['10.0.0.1', '192.0.2.2']], pod: '10.0.0.1', names: ['junk.example.org', 'api.example.com'], kept: ['192.0.2.2', '203.0.113.9'] },
  ];
  for (const row of rows) {
    const store = new NameStore({ minTtl: 100, maxTtl: 100, perPod: row.perPod, total: row.total });
    store.setWanted((n) => n === 'api.example.com');
    for (const [pod, address] of row.fill) store.learn(pod, address, ['api.example.com'], '10.96.0.10', 100, 0);
    const changed = store.learn(row.pod, '203.0.113.9', row.names, '10.96.0.10', 100, 0);
    t.same(store.addressesFor(['api.example.com'], 1).sort(), row.kept, `${row.name}: the addresses api.example.com keeps`);
    t.equal(store.counters.evictions, 1, `${row.name}: one eviction counted`);
    const stored = store.list(1).some((r) => r.address === '203.0.113.9');
    t.equal(stored, row.kept.includes('203.0.113.9'), `${row.name}: the newcomer is stored only when wanted`);
    t.equal(changed, stored, `${row.name}: learn says a change only when it stored one`);
  }
});

t.test('over the total cap a pod takes the place of a record of the pod holding the most, never of a smaller pod', async (t) => {
  // Every record is wanted (api.example.com), so only the pods' shares decide. Each row learns
  // [pod, address] in order; `kept` is what stays, by pod.
  const rows: { name: string; perPod: number; total: number; learn: [string, string][]; kept: Record<string, string[]> }[] = [
    {
      name: 'a new pod: the largest pod gives way, not the one with the oldest record',
      perPod: 3, total: 4,
      learn: [['10.0.0.1', '192.0.2.1'], ['10.0.0.2', '192.0.2.21'], ['10.0.0.2', '192.0.2.22'], ['10.0.0.2', '192.0.2.23'], ['10.0.0.3', '192.0.2.31']],
      kept: { '10.0.0.1': ['192.0.2.1'], '10.0.0.2': ['192.0.2.22', '192.0.2.23'], '10.0.0.3': ['192.0.2.31'] },
    },
    {
      name: 'a pod as large as the largest gives way itself',
      perPod: 4, total: 4,
      learn: [['10.0.0.1', '192.0.2.1'], ['10.0.0.1', '192.0.2.2'], ['10.0.0.2', '192.0.2.21'], ['10.0.0.2', '192.0.2.22'], ['10.0.0.2', '192.0.2.23']],
      kept: { '10.0.0.1': ['192.0.2.1', '192.0.2.2'], '10.0.0.2': ['192.0.2.22', '192.0.2.23'] },
    },
    {
      name: 'a small pod still takes from the largest one',
      perPod: 4, total: 4,
      learn: [['10.0.0.1', '192.0.2.1'], ['10.0.0.2', '192.0.2.21'], ['10.0.0.2', '192.0.2.22'], ['10.0.0.2', '192.0.2.23'], ['10.0.0.1', '192.0.2.2']],
      kept: { '10.0.0.1': ['192.0.2.1', '192.0.2.2'], '10.0.0.2': ['192.0.2.22', '192.0.2.23'] },
    },
  ];
  for (const row of rows) {
    const store = new NameStore({ minTtl: 100, maxTtl: 100, perPod: row.perPod, total: row.total });
    store.setWanted((n) => n === 'api.example.com');
    for (const [pod, address] of row.learn) store.learn(pod, address, ['api.example.com'], '10.96.0.10', 100, 0);
    const kept: Record<string, string[]> = {};
    for (const r of store.list(1)) (kept[r.pod] ??= []).push(r.address);
    t.same(kept, row.kept, row.name);
  }
});
