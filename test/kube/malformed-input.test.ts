// What the API server (or a proxy in front of it) may send that is not a Kubernetes object where one
// belongs: one such list element or watch event is skipped, said once naming the resource and
// where it was, and every other object of the resource is still applied.

import t from 'tap';
import { pod, seed, startHarness, waitFor } from '../support/kube-fixtures.ts';

// Elements appended after the seed's three pods (x/a, x/b, y/a: list indexes 0 to 2).
const BAD_ITEMS: { name: string; text: string; problem: RegExp; objectName?: string }[] = [
  { name: 'a number', text: '42', problem: /not an object/ },
  { name: 'a string', text: '"pod"', problem: /not an object/ },
  { name: 'null', text: 'null', problem: /not an object/ },
  { name: 'an array', text: '[{"metadata":{"name":"in-array","namespace":"x"}}]', problem: /not an object/ },
  { name: 'no metadata.name', text: '{"metadata":{"namespace":"x"}}', problem: /no metadata\.name/ },
  // JSON.parse makes such an object; reading it as a string throws (a TypeError).
  { name: 'a namespace that cannot be read as text', text: '{"metadata":{"name":"odd","namespace":{"toString":1}}}', problem: /TypeError|primitive/, objectName: 'odd' },
];

t.test('a list element that is not a usable object is skipped with one warning; the rest of the list is applied', async (t) => {
  const h = await startHarness({
    sync: false,
    seed: (s) => {
      seed(s);
      s.rawListItems.set('Pod', BAD_ITEMS.map((b) => b.text));
    },
  });
  t.teardown(() => h.close());
  let synced = false;
  void h.source.start(h.state).then(() => (synced = true), () => {});
  await waitFor('the first sync', () => synced, 5000).catch(() => {});
  t.ok(synced, 'the first sync completes despite the bad elements');
  t.same([...h.state.pods.keys()].sort(), ['x/a', 'x/b', 'y/a'], 'every good pod applied');
  t.equal(h.source.status().resources.Pod.errors, 0, 'the list did not fail');
  const warned = h.logs.filter((l) => l.level === 'warn' && /list item skipped/.test(l.msg));
  t.equal(warned.length, BAD_ITEMS.length, 'one warning per bad element');
  for (const [i, b] of BAD_ITEMS.entries()) {
    const w = warned.find((l) => l.fields.index === 3 + i);
    t.ok(w, `${b.name}: warned at its index`);
    if (!w) continue;
    t.equal(w.fields.resource, '/api/v1/pods', `${b.name}: names the resource`);
    t.match(String(w.fields.problem), b.problem, `${b.name}: says what is wrong`);
    t.equal(w.fields.name, b.objectName, `${b.name}: its name when it has one`);
  }
  // The watch goes on from the list.
  h.server.apply(pod('x', 'later', { pod: 'later' }, '10.244.1.9'));
  await waitFor('a pod added after the list', () => h.state.pods.has('x/later'));
});

t.test('a watch event whose object is not a usable object is dropped with one warning; the watch goes on', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  await waitFor('watching', () => h.server.openWatches() === 4);
  const events: { object: unknown; problem: RegExp; name?: string }[] = [
    { object: 42, problem: /not an object/ },
    { object: 'pod', problem: /not an object/ },
    { object: [{ metadata: { name: 'in-array', namespace: 'x' } }], problem: /not an object/ },
    { object: { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'odd', namespace: { toString: 1 } } }, problem: /TypeError|primitive/, name: 'odd' },
  ];
  for (const e of events) h.server.injectEvent('Pod', 'MODIFIED', e.object);
  h.server.apply(pod('x', 'after', { pod: 'after' }, '10.244.1.8'));
  await waitFor('the next event applied', () => h.state.pods.has('x/after'));
  const warned = h.logs.filter((l) => l.level === 'warn' && /watch event dropped/.test(l.msg));
  t.equal(warned.length, events.length, 'one warning per bad event');
  for (const [i, e] of events.entries()) {
    t.match(warned[i]?.fields, { resource: '/api/v1/pods', type: 'MODIFIED' }, `event ${i}: names the resource and the event type`);
    t.match(String(warned[i]?.fields.problem), e.problem, `event ${i}: says what is wrong`);
    t.equal(warned[i]?.fields.name, e.name, `event ${i}: its name when it has one`);
  }
  t.ok(h.source.isConnected, 'the watch stayed up');
  t.same([...h.state.pods.keys()].sort(), ['x/a', 'x/after', 'x/b', 'y/a']);
});

t.test('a watch line that is not JSON ends the watch as a failure, and the event it carried arrives on the resumed watch', async (t) => {
  const h = await startHarness({ source: { backoffInitialMs: 50 } });
  t.teardown(() => h.close());
  await waitFor('watching', () => h.server.openWatches() === 4);
  h.server.corruptNextEvent.add('Pod');
  h.server.apply(pod('x', 'lost', { pod: 'lost' }, '10.244.1.7'));
  h.server.apply(pod('x', 'next', { pod: 'next' }, '10.244.1.6'));
  // No resync (resyncMs 0): only noticing the corrupt line brings the first pod.
  await waitFor('both pods applied', () => h.state.pods.has('x/lost') && h.state.pods.has('x/next'), 5000).catch(() => {});
  t.ok(h.state.pods.has('x/lost'), 'the event on the corrupt line is not lost');
  t.ok(h.state.pods.has('x/next'), 'the event after it applied');
  const failed = h.logs.filter((l) => l.level === 'warn' && /list\/watch failed/.test(l.msg) && l.fields.resource === '/api/v1/pods');
  t.equal(failed.length, 1, 'one logged failure');
  t.match(String(failed[0]?.fields.error), /watch \/api\/v1\/pods: .*not JSON/, 'saying what was wrong');
  await waitFor('connected again', () => h.source.isConnected);
});
