// The kube source when the API server misbehaves: watches cut mid-stream, 410 Gone (as an ERROR
// event and as an HTTP status), the server gone for a while, events missed entirely. After each,
// the ClusterState must converge to what the server holds, including changes made while the
// source was not watching.

import t from 'tap';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ClusterState } from '../../src/cluster/state.ts';
import { KubeSource } from '../../src/sources/kube-source.ts';
import { captureLogger, mirrorDiff, ns, pod, policy, sleep, startHarness, verdict, waitFor, type Harness, type LogLine } from '../support/kube-fixtures.ts';

const XA = '10.244.1.1';
const YA = '10.244.2.1';

const allowed = verdict;

const denyY = policy('y', 'deny-all', { podSelector: {} });

for (const graceful of [false, true]) {
  t.test(`watch dropped mid-stream (${graceful ? 'clean end of stream' : 'connection reset'}): resumes and misses nothing`, async (t) => {
    const h = await startHarness();
    t.teardown(() => h.close());
    await waitFor('watches open', () => h.server.openWatches() === 4);
    const restarts = h.source.status().watchRestarts;
    const lists = h.server.requests.filter((r) => !r.watch).length;

    t.equal(h.server.dropWatches({ graceful }), 4);
    // Changes made while no watch is open must still arrive: the informers resume from their
    // last resourceVersion and the server replays what happened since.
    h.server.apply(denyY);
    h.server.relabel('Pod', 'x/b', { pod: 'b', moved: 'yes' });
    h.server.remove('Pod', 'x/a');
    await waitFor('changes made during the gap', () =>
      h.state.policies.has('y/deny-all') && h.state.pods.get('x/b')?.labels.moved === 'yes' && !h.state.pods.has('x/a'));
    await waitFor('reconnected', () => h.source.status().connected && h.server.openWatches() === 4);
    t.same(mirrorDiff(h), [], 'the state mirrors the server');
    t.ok(h.source.status().watchRestarts >= restarts + 4, 'every watch counted as restarted');
    t.equal(h.server.requests.filter((r) => !r.watch).length, lists, 'resumed from the resourceVersion, no relist');
    t.notOk(allowed(h, '10.244.1.2', YA));

    // And events keep flowing on the new streams.
    h.server.apply(pod('x', 'new', {}, '10.244.1.7'));
    await waitFor('event after reconnect', () => h.state.pods.has('x/new'));
  });
}

for (const expired of ['event', 'status'] as const) {
  t.test(`410 Gone (${expired === 'event' ? 'ERROR event with Status 410' : 'HTTP 410'}): relist recovers everything`, async (t) => {
    const h = await startHarness({ server: { expired } });
    t.teardown(() => h.close());
    h.server.apply(denyY);
    await waitFor('policy', () => h.state.policies.has('y/deny-all'));
    await waitFor('watches open', () => h.server.openWatches() === 4);

    // Cut the streams, then change things and compact history, so the resumed watches are
    // refused (410) and the informers must relist. Changes cover add, modify and delete of
    // every kind, so the reconcile of a relist is checked for each.
    h.server.dropWatches();
    h.server.remove('NetworkPolicy', 'y/deny-all');
    h.server.apply(policy('y', 'allow-x', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'x' } } }] }] }));
    h.server.remove('Pod', 'x/b');
    h.server.apply(pod('x', 'c', { pod: 'c' }, '10.244.1.3'));
    h.server.relabel('Pod', 'x/a', { pod: 'a', v: '2' });
    h.server.remove('Namespace', 'x');
    h.server.apply(ns('x', { ns: 'x', recreated: 'yes' }));
    h.server.apply(ns('z', { ns: 'z' }));
    h.server.remove('Node', 'node-1');
    h.server.apply({ kind: 'Node', metadata: { name: 'node-2' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.2' }] } });
    h.server.compact();

    await waitFor('state equals the server after relist', () =>
      !h.state.policies.has('y/deny-all') && h.state.policies.has('y/allow-x') &&
      !h.state.pods.has('x/b') && h.state.pods.has('x/c') && h.state.pods.get('x/a')?.labels.v === '2' &&
      h.state.namespaces.get('x')?.labels.recreated === 'yes' && h.state.namespaces.has('z') &&
      !h.state.nodes.has('node-1') && h.state.nodes.has('node-2'));
    t.same([...h.state.pods.keys()].sort(), ['x/a', 'x/c', 'y/a']);
    t.same([...h.state.policies.keys()], ['y/allow-x']);
    t.same([...h.state.nodes.keys()], ['node-2']);
    t.same([...h.state.namespaces.keys()].sort(), ['x', 'y', 'z']);
    t.same(mirrorDiff(h), [], 'the state mirrors the server exactly');
    const relisted = h.server.requests.filter((r) => !r.watch && r.status === 200);
    t.ok(relisted.length >= 8, 'each resource listed again');
    t.ok(relisted.slice(0, 4).every((r) => r.query.resourceVersion === '0'), 'first lists may come from the watch cache');
    t.ok(relisted.slice(4).every((r) => r.query.resourceVersion === undefined), 'relists are consistent reads');
    t.ok(h.server.requests.some((r) => r.watch && r.status === (expired === 'status' ? 410 : 200) && Number(r.query.resourceVersion) < h.server.compactedRV),
      'a watch from a compacted resourceVersion was made and refused');
    t.ok(h.source.status().relists >= 4);
    t.ok(allowed(h, XA, YA), 'allow-x applies');
    t.notOk(allowed(h, '10.244.9.9', YA), 'y is still isolated');
    await waitFor('watching again', () => h.server.openWatches() === 4);
    h.server.apply(pod('y', 'b', {}, '10.244.2.2'));
    await waitFor('events flow after the relist', () => h.state.pods.has('y/b'));
  });
}

t.test('API server unreachable for a few seconds: enforcing the last state, reconnects, catches up', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const statuses: boolean[] = [];
  h.source.onStatus((s) => statuses.push(s.connected));
  h.server.apply(denyY);
  await waitFor('policy', () => h.state.policies.has('y/deny-all'));
  await waitFor('connected', () => h.source.isConnected);

  await h.server.stop();
  await waitFor('disconnected', () => !h.source.isConnected);
  t.equal(h.source.status().synced, true, 'still synced: the last state stays in force');
  t.ok(h.state.policies.has('y/deny-all'), 'nothing is dropped while disconnected');
  await waitFor('several failed reconnects', () => Object.values(h.source.status().resources).every((r) => r.errors >= 2));
  t.ok(h.logs.some((l) => l.level === 'warn' && /ECONNREFUSED|fetch failed/.test(String(l.fields.error))), 'failures are logged with the cause');

  // Changes made while the agent cannot see them. The apiserver's history still has them.
  h.server.remove('NetworkPolicy', 'y/deny-all');
  h.server.apply(pod('y', 'b', { pod: 'b' }, '10.244.2.2'));
  await sleep(1500);
  await h.server.start();
  await waitFor('caught up after the outage', () => !h.state.policies.has('y/deny-all') && h.state.pods.has('y/b'));
  await waitFor('connected again', () => h.source.isConnected);
  t.same(mirrorDiff(h), [], 'the state mirrors the server');
  t.ok(statuses.includes(false) && statuses[statuses.length - 1] === true, 'status listeners saw the outage and the recovery');
  t.ok(allowed(h, XA, YA));
  const r = h.source.status().resources.Pod;
  t.ok(r.errors >= 2 && r.lastError !== undefined);
});

t.test('API server down, history compacted meanwhile: relist after reconnect', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  await waitFor('connected', () => h.source.isConnected);
  await h.server.stop();
  await waitFor('disconnected', () => !h.source.isConnected);
  h.server.remove('Pod', 'x/a', { silent: true }); // gone from history: only a relist can tell
  h.server.apply(policy('x', 'deny', { podSelector: {} }));
  h.server.compact();
  await h.server.start();
  await waitFor('relisted', () => !h.state.pods.has('x/a') && h.state.policies.has('x/deny'));
  await waitFor('connected again', () => h.source.isConnected);
  t.notOk(h.state.pods.has('x/a'), 'a deletion with no event left is found by the relist');
  t.same(mirrorDiff(h), [], 'the state mirrors the server');
  t.ok(h.state.policies.has('x/deny'));
  t.ok(h.source.status().relists >= 1, 'it relisted');
  t.ok(h.server.requests.some((r) => r.watch && Number(r.query.resourceVersion) < h.server.compactedRV), 'after trying to resume from its old resourceVersion');
});

t.test('the API server is down at startup: start() waits, retries, then syncs', async (t) => {
  const h = await startHarness({ sync: false });
  t.teardown(() => h.close());
  await h.server.stop();
  let synced = false;
  const p = h.source.start(h.state).then(() => {
    synced = true;
  });
  await waitFor('failing attempts', () => h.source.status().resources.Namespace.errors >= 2);
  t.notOk(synced);
  t.equal(h.state.pods.size, 0, 'nothing applied before a full sync');
  await h.server.start();
  await p;
  t.equal(h.state.pods.size, 3);
  t.equal(h.source.status().synced, true);
});

t.test('periodic resync: an event the watch never delivered is repaired by the next full list', async (t) => {
  const h = await startHarness({ source: { resyncMs: 400 } });
  t.teardown(() => h.close());
  await waitFor('connected', () => h.source.isConnected);
  // No watch event for these: only re-reading the collections can see them.
  h.server.apply(denyY, { silent: true });
  h.server.remove('Pod', 'x/b', { silent: true });
  h.server.relabel('Namespace', 'y', { ns: 'y', tier: 'db' }); // a normal event, for contrast
  await waitFor('resync found the missed changes', () => h.state.policies.has('y/deny-all') && !h.state.pods.has('x/b'), 10_000);
  t.equal(h.state.namespaces.get('y')!.labels.tier, 'db');
  t.same(mirrorDiff(h), [], 'the state mirrors the server');
  t.ok(h.source.status().resyncs >= 1);
  t.notOk(allowed(h, XA, YA));
  // The replaced informers leave no stream behind.
  await waitFor('one watch per resource', () => h.server.openWatches() === 4);
  // Unchanged objects are not re-applied by a resync (same resourceVersion): count batches
  // across another resync.
  const gen = h.state.generation;
  const resyncs = h.source.status().resyncs;
  await waitFor('another resync', () => h.source.status().resyncs >= resyncs + 1 && h.server.openWatches() === 4);
  await sleep(200);
  t.equal(h.state.generation, gen, 'a resync with nothing new changes nothing');
});

t.test('RBAC missing for one resource: never claims sync, says which permission, syncs once granted', async (t) => {
  const h = await startHarness({ sync: false });
  t.teardown(() => h.close());
  h.server.forbidden.add('NetworkPolicy');
  let synced = false;
  const p = h.source.start(h.state).then(() => {
    synced = true;
  });
  await waitFor('repeated 403s', () => h.source.status().resources.NetworkPolicy.errors >= 2);
  t.notOk(synced, 'no sync without the policies: enforcing a cluster without them would open traffic');
  t.equal(h.state.pods.size, 0, 'nothing applied');
  t.match(h.source.status().resources.NetworkPolicy.lastError, /403: Forbidden: networkpolicies is forbidden: .*cannot list resource "networkpolicies" in API group "networking.k8s.io"/);
  t.ok(h.source.status().resources.Pod.listed, 'the other resources did list');
  h.server.forbidden.delete('NetworkPolicy');
  await p;
  t.ok(synced);
  t.equal(h.state.pods.size, 3);
});

t.test('RBAC granting list but not watch: the first list enforces, the failure says it is the watch, events flow once granted', async (t) => {
  const h = await startHarness({ sync: false });
  t.teardown(() => h.close());
  h.server.forbiddenWatch.add('NetworkPolicy');
  h.server.apply(denyY);
  await h.source.start(h.state);
  t.ok(h.state.policies.has('y/deny-all'), 'the list is allowed: its policies are enforced');
  await waitFor('repeated 403s on the watch', () => h.source.status().resources.NetworkPolicy.errors >= 2);
  t.notOk(h.source.isConnected, 'not connected: later changes would be missed');
  // client-node drops the watch's Status body, so the verb and the resource are all the message
  // can say; without them "HTTP 403 Forbidden" reads like the list's refusal.
  const error = String(h.source.status().resources.NetworkPolicy.lastError);
  t.match(error, /^watch \/apis\/networking\.k8s\.io\/v1\/networkpolicies: HTTP 403 /, `names the verb and the resource: ${error}`);
  t.ok(h.logs.some((l) => l.level === 'warn' && /^watch \/apis\/networking.*403/.test(String(l.fields.error))), 'logged with the verb');
  h.server.remove('NetworkPolicy', 'y/deny-all');
  h.server.forbiddenWatch.delete('NetworkPolicy');
  await waitFor('the change made meanwhile arrives', () => !h.state.policies.has('y/deny-all'));
  await waitFor('connected', () => h.source.isConnected);
  t.same(mirrorDiff(h), []);
});

// What a watch sends for an error other than a compaction before it ends the stream (the fake
// leaves the stream open: the client must not count on the end). A 504 "Too large resource
// version" relists, as its HTTP form does; anything else resumes from the resourceVersion.
const errorEvents = [
  { name: 'etcd error (500)', status: { code: 500, reason: 'InternalError', message: 'etcdserver: leader changed' }, said: /^watch \/api\/v1\/pods: ERROR event: 500 InternalError: etcdserver: leader changed/, relists: 0 },
  { name: 'Status without a code', status: { message: 'etcdserver: mvcc: required revision is a future revision' }, said: /^watch \/api\/v1\/pods: ERROR event: etcdserver: mvcc: required revision is a future revision/, relists: 0 },
  { name: 'too large resource version (504)', status: { code: 504, reason: 'Timeout', message: 'Too large resource version: 90, current: 40' }, said: /ERROR event: 504 Timeout: Too large resource version/, relists: 1 },
];
for (const c of errorEvents) {
  t.test(`a watch ERROR event other than 410, ${c.name}: a failure logged with its Status, then the watch comes back`, async (t) => {
    const h = await startHarness();
    t.teardown(() => h.close());
    await waitFor('watching', () => h.source.isConnected && h.server.openWatches() === 4);
    const podLists = () => h.server.requests.filter((r) => !r.watch && r.path === '/api/v1/pods').length;
    const lists = podLists();
    const statuses: boolean[] = [];
    h.source.onStatus((s) => statuses.push(s.connected));
    h.server.injectEvent('Pod', 'ERROR', { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', ...c.status });
    h.server.remove('Pod', 'x/a');
    await waitFor('the change after the error arrives', () => !h.state.pods.has('x/a'));
    await waitFor('connected again', () => h.source.isConnected);
    const failed = h.logs.filter((l) => l.level === 'warn' && l.fields.resource === '/api/v1/pods');
    t.equal(failed.length, 1, 'one failure logged for the pods watch');
    t.match(String(failed[0]?.fields.error), c.said, 'with the Status it carried');
    t.equal(h.source.status().resources.Pod.errors, 1);
    t.ok(statuses.includes(false), 'disconnected meanwhile');
    t.equal(podLists() - lists, c.relists, c.relists ? 'relisted' : 'resumed from the resourceVersion, no relist');
    t.same(mirrorDiff(h), []);
  });
}

t.test('quiet watches the API server keeps alive with bookmarks are not reopened; a silent one is, and a request then unanswered is a failure', async (t) => {
  // Bookmarks every 700 ms (the API server's come about once a minute); a request answers within
  // 400 ms or fails; an answered stream may stay silent for 3 s (room for a loaded machine). A
  // single limit for both (the 400 ms one, as client-node has) reopened every quiet watch
  // between two bookmarks.
  const h = await startHarness({ server: { bookmarkIntervalMs: 700 }, source: { watchTimeoutMs: 400, watchSilenceMs: 3000 } });
  t.teardown(() => h.close());
  await waitFor('connected', () => h.source.isConnected && h.server.openWatches() === 4);
  const restarts = h.source.status().watchRestarts;
  const watches = h.server.requests.filter((r) => r.watch).length;
  await sleep(3000);
  t.equal(h.source.status().watchRestarts - restarts, 0, 'no watch was reopened while bookmarks came');
  t.equal(h.server.requests.filter((r) => r.watch).length - watches, 0, 'no new watch request reached the server');
  t.ok(h.source.isConnected, 'connected throughout');

  // Silent streams (bookmarks stopped, as behind a partition) are reopened after their silence
  // limit, and the new requests, unanswered, are a failure.
  h.server.freeze();
  await waitFor('disconnected: the reopened watches are not answered', () => !h.source.isConnected);
  t.ok(h.logs.some((l) => l.level === 'warn' && /no response from the API server within 0\.4 s/.test(String(l.fields.error))), 'the failure names the request timeout');
  h.server.thaw();
  await waitFor('connected again', () => h.source.isConnected);
});

t.test('API server silent (a network partition): not connected, the failure logged, catches up when it answers again', async (t) => {
  const h = await startHarness({ source: { watchTimeoutMs: 400, watchSilenceMs: 400 } });
  t.teardown(() => h.close());
  await waitFor('connected', () => h.source.isConnected && h.server.openWatches() === 4);
  const statuses: boolean[] = [];
  h.source.onStatus((s) => statuses.push(s.connected));
  // Quiet streams time out and are reopened as routine: no failure.
  await sleep(1200);
  t.ok(h.source.status().watchRestarts >= 4, 'silent streams were reopened');
  t.ok(h.source.isConnected && Object.values(h.source.status().resources).every((r) => r.errors === 0), 'a silent stream is no failure');

  // Connections are accepted but nothing answers: no refusal, no reset, only silence.
  h.server.freeze();
  await waitFor('disconnected: a watch request nobody answers is a failure', () => !h.source.isConnected);
  t.equal(h.source.status().synced, true, 'the last state stays in force');
  t.ok(h.logs.some((l) => l.level === 'warn' && /no response from the API server/.test(String(l.fields.error))), 'the failure is logged with its cause');

  h.server.remove('Pod', 'x/a');
  h.server.apply(denyY);
  await sleep(300);
  h.server.thaw();
  await waitFor('caught up', () => !h.state.pods.has('x/a') && h.state.policies.has('y/deny-all'));
  await waitFor('connected again', () => h.source.isConnected);
  t.same(mirrorDiff(h), [], 'the state mirrors the server');
  t.ok(statuses.includes(false) && statuses[statuses.length - 1] === true, 'status listeners saw the outage and the recovery');
});

t.test('API server restored from an etcd backup: a resourceVersion it has not reached (504 Too large) makes the source relist', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  await waitFor('connected', () => h.source.isConnected && h.server.openWatches() === 4);
  const backup = h.server.backup();
  h.server.apply(pod('x', 'late', { pod: 'late' }, '10.244.1.9'));
  h.server.apply(denyY);
  await waitFor('the later writes seen', () => h.state.pods.has('x/late') && h.state.policies.has('y/deny-all'));

  // The writes after the backup are gone, with no event; the source's resourceVersions for pods
  // and policies are now ahead of the server's, so resuming their watches can never work.
  h.server.restore(backup);
  await waitFor('the restored state', () => !h.state.pods.has('x/late') && !h.state.policies.has('y/deny-all'));
  await waitFor('connected again', () => h.source.isConnected && h.server.openWatches() === 4);
  t.same(mirrorDiff(h), [], 'the state mirrors the server');
  t.ok(h.server.requests.some((r) => r.watch && r.status === 504), 'a watch was refused as too new');
  t.ok(allowed(h, XA, YA), 'the policy written after the backup no longer applies');
  h.server.apply(pod('y', 'after', {}, '10.244.2.5'));
  await waitFor('events flow again', () => h.state.pods.has('y/after'));
});

t.test('a watch cache that stays behind (504 after every relist): the relists back off, and it recovers when the cache catches up', async (t) => {
  const h = await startHarness({ source: { backoffInitialMs: 100, backoffMaxMs: 800 } });
  t.teardown(() => h.close());
  await waitFor('connected', () => h.source.isConnected && h.server.openWatches() === 4);
  h.server.watchCacheLag = 1_000_000;
  h.server.dropWatches();
  await waitFor('disconnected', () => !h.source.isConnected);
  const podLists = () => h.server.requests.filter((r) => r.path === '/api/v1/pods' && !r.watch).length;
  const before = podLists();
  await sleep(3000);
  // 100, 200, 400, 800, 800 ... ms (jittered down to half): at most a dozen in 3 s, where a
  // backoff reset by every relist's items made one every 50-100 ms.
  t.ok(podLists() - before <= 12, `relists back off (${podLists() - before} pod lists in 3 s)`);
  t.equal(h.source.status().synced, true, 'the last state stays in force');
  h.server.apply(pod('x', 'meanwhile', {}, '10.244.1.8'));
  h.server.watchCacheLag = 0;
  await waitFor('caught up', () => h.source.isConnected && h.state.pods.has('x/meanwhile'));
  t.same(mirrorDiff(h), [], 'the state mirrors the server');
});

t.test('credentials failing at a reconnect (an exec plugin): disconnected and logged, retried with backoff, resumed once they work', async (t) => {
  const h = await startHarness({ sync: false });
  t.teardown(() => h.close());
  // The harness's kubeconfig with its token replaced by an exec credential plugin whose token
  // has always expired (so it runs for every request) and which fails while `fail` exists.
  const dir = dirname(h.kubeconfig);
  const fail = join(dir, 'fail');
  const plugin = join(dir, 'credential.sh');
  writeFileSync(plugin, `#!/bin/sh\nif [ -e '${fail}' ]; then echo 'token service unreachable' >&2; exit 1; fi\n` +
    `echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"test-token","expirationTimestamp":"2000-01-01T00:00:00Z"}}'\n`, { mode: 0o755 });
  const kubeconfig = join(dir, 'kubeconfig-exec');
  writeFileSync(kubeconfig, readFileSync(h.kubeconfig, 'utf8').replace(/    token: .*\n/,
    `    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: ${plugin}\n      interactiveMode: Never\n`));
  const logs: LogLine[] = [];
  const source = new KubeSource({ kubeconfig, nodeName: 'node-1', backoffInitialMs: 100, backoffMaxMs: 1000, resyncMs: 0, log: captureLogger(logs) });
  const state = new ClusterState();
  t.teardown(() => source.stop());
  await source.start(state);
  await waitFor('watching', () => source.isConnected && h.server.openWatches() === 4);

  writeFileSync(fail, '');
  h.server.dropWatches({ graceful: true });
  await waitFor('disconnected: the reconnect could not authenticate', () => !source.isConnected);
  t.ok(logs.some((l) => l.level === 'warn' && /token service unreachable/.test(String(l.fields.error))), 'the failure is logged with its cause');
  h.server.apply(pod('x', 'meanwhile', {}, '10.244.1.8'));
  await sleep(300);

  rmSync(fail);
  await waitFor('resumed and caught up', () => source.isConnected && state.pods.has('x/meanwhile'));
  t.same(mirrorDiff({ ...h, state, source }), [], 'the state mirrors the server');
});

// An agent whose first list never completes compiles and installs nothing: the operator must be
// told so once (not once per retry of each of the eight resources), with the server and the
// cause, and told again when the wait is over. A start that lists at once says neither.
const firstListCases: { name: string; breakIt: (h: Harness) => Promise<void>; heal: (h: Harness) => Promise<void>; cause: RegExp }[] = [
  { name: 'server down', breakIt: (h) => h.server.stop(), heal: (h) => h.server.start(), cause: /ECONNREFUSED|fetch failed/ },
  {
    name: 'RBAC missing for policies',
    breakIt: async (h) => void h.server.forbidden.add('NetworkPolicy'),
    heal: async (h) => void h.server.forbidden.delete('NetworkPolicy'),
    cause: /403/,
  },
];
for (const c of firstListCases) {
  t.test(`first list failing at startup (${c.name}): one warning that nothing is enforced yet, one line when the wait is over`, async (t) => {
    const h = await startHarness({ sync: false, source: { backoffInitialMs: 50, backoffMaxMs: 100 } });
    t.teardown(() => h.close());
    await c.breakIt(h);
    const p = h.source.start(h.state);
    p.catch(() => {}); // a failed assertion stops the source before it syncs
    await waitFor('several failed attempts', () => Object.values(h.source.status().resources).reduce((n, r) => n + r.errors, 0) >= 6);
    const waiting = () => h.logs.filter((l) => /not enforcing yet/.test(l.msg));
    t.equal(waiting().length, 1, 'said once, not per retry');
    t.equal(waiting()[0].level, 'warn');
    t.match(waiting()[0].msg, /first list/);
    t.equal(waiting()[0].fields.server, h.server.url, 'names the API server');
    t.match(String(waiting()[0].fields.error), c.cause, 'and the cause');
    t.equal(h.logs.filter((l) => /first list.*has completed/.test(l.msg)).length, 0, 'no all-clear before the sync');
    await c.heal(h);
    await p;
    const done = h.logs.filter((l) => /first list.*has completed/.test(l.msg));
    t.equal(done.length, 1, 'the wait is over, said once');
    t.equal(done[0].fields.server, h.server.url);
    t.ok(Number(done[0].fields.failures) >= 6, 'counts the failed attempts');
    t.ok(h.logs.indexOf(done[0]) > h.logs.indexOf(waiting()[0]));
    t.equal(waiting().length, 1);
  });
}

t.test('first list completing at once: neither the waiting warning nor its all-clear', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  t.equal(h.logs.filter((l) => /not enforcing yet|first list .*completed/.test(l.msg)).length, 0);
});
