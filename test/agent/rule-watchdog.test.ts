// When the rule watchdog reads the iptables rules and when it trusts the change monitor instead
// (agent/rule-watchdog.ts). The monitor and the rules here are stand-ins that count calls: the
// monitor itself is tested on the kernel in test/enforce/rule-monitor.test.ts, and tampering on
// the real path in test/enforce/watchdog.test.ts. The rule these steps guard: a tick may skip
// reading the rules only when the monitor has seen events (so it is subscribed), none since the
// start of the last clean read, and fewer than REFRESH_TICKS ticks went by.

import t from 'tap';
import { ClusterState } from '../../src/cluster/state.ts';
import type { Iptables } from '../../src/enforce/iptables.ts';
import { REFRESH_TICKS, RuleWatchdog, type ChangeMonitor } from '../../src/agent/rule-watchdog.ts';

class FakeMonitor implements ChangeMonitor {
  events = 0;
  childStart = 0;
  running = true;
  revived = 0;
  probes = 0;
  get unproven(): boolean {
    return this.running && this.events === this.childStart;
  }
  async probe(): Promise<void> {
    // The kernel reports the probe's transaction.
    this.probes++;
    this.events++;
  }
  mark(): number | undefined {
    return this.running && this.events > this.childStart ? this.events : undefined;
  }
  revive(): void {
    // As the real one: a new child has proven nothing yet, and the count goes on.
    this.revived++;
    this.running = true;
    this.childStart = this.events;
  }
  stop(): void {
    this.running = false;
  }
}

function setup(monitor: FakeMonitor | null) {
  const rules = { reads: 0, reinstalls: 0, broken: false };
  const iptables = {
    async verify() {
      rules.reads++;
      return rules.broken ? [{ family: 4, problems: ['chain PALISADE-FORWARD missing'] }] : [];
    },
    async reinstall() {
      rules.reinstalls++;
      rules.broken = false;
    },
  } as unknown as Iptables;
  const restored: string[][] = [];
  const w = new RuleWatchdog(
    { iptables, backend: 'nft', state: new ClusterState() },
    { serialize: (fn) => fn(), active: () => true, restored: (p) => restored.push(p), failed: (e) => { throw e; } },
    1000,
    monitor,
  );
  return { w, rules, restored };
}

/** Runs `n` ticks; returns how many of them read the rules. */
async function ticks(w: RuleWatchdog, rules: { reads: number }, n: number): Promise<number> {
  const r0 = rules.reads;
  for (let i = 0; i < n; i++) await w.check();
  return rules.reads - r0;
}

t.test('no monitor (legacy backend): every tick reads the rules', async (t) => {
  const { w, rules } = setup(null);
  t.equal(await ticks(w, rules, 5), 5);
  t.equal(w.status().monitor, 'none');
});

t.test('a monitor that has seen nothing yet vouches for nothing, and is probed', async (t) => {
  const m = new FakeMonitor();
  m.probe = async () => void m.probes++; // a probe whose event never comes
  const { w, rules } = setup(m);
  t.equal(await ticks(w, rules, 5), 5, 'every tick reads: the monitor may not be subscribed');
  t.equal(m.probes, 5, 'each tick probes it');
});

t.test('a quiet node: the event of the probe arms the monitor', async (t) => {
  const m = new FakeMonitor();
  const { w, rules } = setup(m);
  t.equal(await ticks(w, rules, 1), 1, 'first tick probes and reads (here the event is in before the read starts)');
  t.equal(await ticks(w, rules, 3), 0, 'then skips');
  t.equal(m.probes, 1, 'one probe');
});

t.test('quiet after an event: one read, then skips until the refresh', async (t) => {
  const m = new FakeMonitor();
  m.events = 1;
  const { w, rules } = setup(m);
  t.equal(await ticks(w, rules, 1), 1, 'first tick reads (nothing verified yet)');
  t.equal(await ticks(w, rules, REFRESH_TICKS - 1), 0, `the next ${REFRESH_TICKS - 1} ticks skip`);
  t.equal(await ticks(w, rules, 1), 1, `tick ${REFRESH_TICKS + 1} reads anyway (refresh)`);
  t.equal(await ticks(w, rules, 1), 0, 'and skipping resumes');
  t.same({ full: w.status().fullChecks, skipped: w.status().skippedChecks }, { full: 2, skipped: REFRESH_TICKS });
});

t.test('an event since the last clean read: the next tick reads', async (t) => {
  const m = new FakeMonitor();
  m.events = 1;
  const { w, rules } = setup(m);
  await ticks(w, rules, 2);
  m.events++;
  t.equal(await ticks(w, rules, 1), 1, 'reads after the event');
  t.equal(await ticks(w, rules, 1), 0, 'quiet again');
});

t.test('damage found: put back, and the tick after reads again', async (t) => {
  const m = new FakeMonitor();
  m.events = 1;
  const { w, rules, restored } = setup(m);
  await ticks(w, rules, 2);
  m.events++;
  rules.broken = true;
  t.equal(await w.check(), true, 'restored');
  t.equal(rules.reinstalls, 1);
  t.match(restored[0]?.[0], /IPv4: chain PALISADE-FORWARD missing/);
  // The reinstall is a change of its own; the monitor reports it, but even if it did not the
  // next tick must read.
  t.equal(await ticks(w, rules, 1), 1, 'the next tick reads');
});

t.test('a dead monitor: every tick reads, and it is started again', async (t) => {
  const m = new FakeMonitor();
  m.events = 1;
  const { w, rules } = setup(m);
  await ticks(w, rules, 2);
  m.running = false;
  t.equal(await ticks(w, rules, 1), 1, 'reads while the monitor is down');
  t.ok(m.revived >= 1, 'revived');
  // The new child's first event must not pass for the old child's mark: changes made while no
  // monitor ran are only found by reading.
  t.equal(await ticks(w, rules, 1), 0, 'the revived, probed monitor vouches from its own first event on');
  t.equal(w.status().monitor, 'running');
});
