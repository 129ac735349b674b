// The kube source against the in-process fake API server: the ClusterState (and the verdicts the
// evaluator derives from it) must follow what is done through the API.

import t from 'tap';
import { evaluate } from '../../src/policy/evaluator.ts';
import { ClusterState } from '../../src/cluster/state.ts';
import { KubeSource } from '../../src/sources/kube-source.ts';
import { ns, pod, policy, seed, startHarness, verdict, waitFor, sleep } from '../support/kube-fixtures.ts';

const allowed = verdict;

const XA = '10.244.1.1';
const XB = '10.244.1.2';
const YA = '10.244.2.1';

t.test('initial sync: start() resolves with every object of all four kinds applied', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const st = h.source.status();
  t.equal(st.synced, true);
  t.same([...h.state.namespaces.keys()].sort(), ['x', 'y']);
  t.same([...h.state.pods.keys()].sort(), ['x/a', 'x/b', 'y/a']);
  t.same([...h.state.nodes.keys()], ['node-1']);
  t.equal(h.state.policies.size, 0);
  t.same(h.state.pods.get('x/a')!.ips, [XA]);
  t.same(h.state.nodes.get('node-1')!.addresses, ['10.0.0.1']);
  t.equal(h.state.namespaces.get('x')!.labels['kubernetes.io/metadata.name'], 'x', 'namespace decoded (name label added)');
  // The initial list is applied as one batch: one recompile for the whole cluster.
  t.same(h.batches, [6]);
  t.equal(h.source.nodeName, 'node-1');
  // The fake saw paginated lists with the bearer token (it answers 401 otherwise) and watches
  // resuming from the list's resourceVersion with bookmarks allowed.
  const lists = h.server.requests.filter((r) => !r.watch && r.status === 200);
  t.same(lists.map((r) => r.path).sort(), ['/api/v1/namespaces', '/api/v1/nodes', '/api/v1/pods', '/apis/networking.k8s.io/v1/networkpolicies']);
  t.ok(lists.every((r) => r.query.limit === '500'));
  // The Network Policy API's CRDs are not installed in this fake cluster: one 404 per version
  // each (ClusterNetworkPolicy is read in two), and the sync did not wait for them
  // (kube-crd.test.ts covers them coming and going).
  t.same(
    h.server.requests.filter((r) => !r.watch && r.status === 404).map((r) => r.path).sort(),
    ['/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies', '/apis/policy.networking.k8s.io/v1alpha1/baselineadminnetworkpolicies',
      '/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies', '/apis/policy.networking.k8s.io/v1beta1/clusternetworkpolicies'],
  );
  await waitFor('four watches open', () => h.server.openWatches() === 4);
  const watches = h.server.requests.filter((r) => r.watch);
  t.ok(watches.every((r) => r.query.allowWatchBookmarks === 'true' && /^\d+$/.test(r.query.resourceVersion ?? '')));
  t.ok(allowed(h, XA, YA), 'no policy: everything allowed');
});

t.test('lists are paginated: a cluster larger than one page arrives complete', async (t) => {
  const h = await startHarness({
    source: { pageSize: 2 },
    seed: (s) => {
      s.apply(ns('big'));
      for (let i = 0; i < 7; i++) s.apply(pod('big', `p${i}`, { i: String(i) }, `10.244.9.${i + 1}`));
    },
  });
  t.teardown(() => h.close());
  t.equal(h.state.pods.size, 7);
  // The first list asks the watch cache (resourceVersion=0), which ignores the limit: one
  // response of all 7, read as it streams in (list-stream.ts), in batches of 3.
  const first = h.server.requests.filter((r) => !r.watch && r.path === '/api/v1/pods');
  t.match(first, [{ query: { limit: '2', resourceVersion: '0' }, status: 200 }], 'one response');
  // A relist is a consistent read, which the server pages: 7 pods in pages of 2.
  h.source.resync();
  await waitFor('relisted', () => h.server.requests.filter((r) => !r.watch && r.path === '/api/v1/pods').length === 5);
  const relist = h.server.requests.filter((r) => !r.watch && r.path === '/api/v1/pods').slice(1);
  t.notOk(relist.some((r) => r.query.resourceVersion !== undefined), 'consistent reads');
  t.ok(relist.slice(1).every((r) => typeof r.query.continue === 'string'), 'pages after the first follow continue tokens');
  await waitFor('resync applied', () => h.source.status().relists >= 1);
  t.equal(h.state.pods.size, 7, 'all there after the paged relist');
});

t.test('pods and namespaces: add, relabel and delete through the API', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  // Isolate y/a for ingress, allow only pods labelled role=client from namespaces labelled team=blue.
  h.server.apply(policy('y', 'only-blue-clients', {
    podSelector: { matchLabels: { pod: 'a' } },
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'blue' } }, podSelector: { matchLabels: { role: 'client' } } }] }],
  }));
  await waitFor('policy applied', () => h.state.policies.has('y/only-blue-clients'));
  t.notOk(allowed(h, XA, YA), 'x/a is no blue client');

  h.server.relabel('Namespace', 'x', { ns: 'x', team: 'blue' });
  await waitFor('namespace relabelled', () => h.state.namespaces.get('x')!.labels.team === 'blue');
  t.notOk(allowed(h, XA, YA), 'namespace matches, pod does not');

  h.server.relabel('Pod', 'x/a', { pod: 'a', role: 'client' });
  await waitFor('pod relabelled', () => h.state.pods.get('x/a')!.labels.role === 'client');
  t.ok(allowed(h, XA, YA), 'both selectors match now');
  t.notOk(allowed(h, XB, YA), 'x/b still is no client');

  h.server.apply(pod('x', 'c', { pod: 'c', role: 'client' }, '10.244.1.3'));
  await waitFor('pod added', () => h.state.pods.has('x/c'));
  t.ok(allowed(h, '10.244.1.3', YA), 'new pod is a client in a blue namespace');

  h.server.apply(ns('z', { team: 'blue' }));
  h.server.apply(pod('z', 'a', { role: 'client' }, '10.244.3.1'));
  await waitFor('namespace z and its pod', () => h.state.namespaces.has('z') && h.state.pods.has('z/a'));
  t.ok(allowed(h, '10.244.3.1', YA));

  h.server.relabel('Namespace', 'x', { ns: 'x' });
  await waitFor('namespace label removed', () => h.state.namespaces.get('x')!.labels.team === undefined);
  t.notOk(allowed(h, XA, YA), 'x is not blue any more');

  h.server.remove('Pod', 'x/c');
  await waitFor('pod deleted', () => !h.state.pods.has('x/c'));
  t.equal(evaluate(h.state, { src: '10.244.1.3', dst: YA, protocol: 'TCP', port: 80 }).srcPod, undefined, 'its IP belongs to nobody now');
  t.notOk(allowed(h, '10.244.1.3', YA), 'an unknown IP is no peer of a podSelector');

  // Pod IP assigned later (Pending -> Running), the usual life of a pod.
  const pending = pod('x', 'late', { role: 'client' }, '10.244.1.9');
  pending.status = { phase: 'Pending' };
  h.server.apply(pending);
  await waitFor('pending pod', () => h.state.pods.has('x/late'));
  t.same(h.state.pods.get('x/late')!.ips, []);
  h.server.modify('Pod', 'x/late', (o) => {
    o.status = { phase: 'Running', podIP: '10.244.1.9', podIPs: [{ ip: '10.244.1.9' }] };
  });
  await waitFor('pod IP arrives', () => h.state.pods.get('x/late')!.ips.length === 1);
});

t.test('network policies: create, update and delete through the API', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  h.server.create(policy('y', 'deny-all', { podSelector: {} }));
  await waitFor('deny-all', () => h.state.policies.has('y/deny-all'));
  t.notOk(allowed(h, XA, YA), 'default deny ingress in y');
  t.ok(allowed(h, YA, XA), 'x is not isolated');

  h.server.create(policy('y', 'allow-x-80', {
    podSelector: {},
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'x' } } }], ports: [{ port: 80 }] }],
  }));
  await waitFor('allow-x-80', () => h.state.policies.has('y/allow-x-80'));
  t.ok(allowed(h, XA, YA, 80));
  t.notOk(allowed(h, XA, YA, 81));
  t.notOk(allowed(h, XA, YA, 80, 'UDP'), 'protocol defaults to TCP');

  h.server.update(policy('y', 'allow-x-80', {
    podSelector: {},
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'x' } } }], ports: [{ port: 'http' }, { protocol: 'UDP', port: 53 }] }],
  }));
  await waitFor('update seen', () => h.state.policies.get('y/allow-x-80')!.ingress[0]!.ports.length === 2);
  t.ok(allowed(h, XA, YA, 80), 'named port http resolves to 80 on y/a');
  t.ok(allowed(h, XA, YA, 53, 'UDP'));

  h.server.create(policy('x', 'egress-lockdown', { podSelector: { matchLabels: { pod: 'a' } }, egress: [{ to: [{ ipBlock: { cidr: '192.0.2.0/24' } }] }] }));
  await waitFor('egress policy', () => h.state.policies.has('x/egress-lockdown'));
  t.same(h.state.policies.get('x/egress-lockdown')!.policyTypes, { ingress: true, egress: true }, 'policyTypes defaulted like the API server');
  t.notOk(allowed(h, XA, YA, 80), 'x/a may only send to 192.0.2.0/24');
  t.ok(allowed(h, XB, YA, 80));

  h.server.remove('NetworkPolicy', 'x/egress-lockdown');
  h.server.remove('NetworkPolicy', 'y/deny-all');
  await waitFor('deletes seen', () => !h.state.policies.has('x/egress-lockdown') && !h.state.policies.has('y/deny-all'));
  t.ok(allowed(h, XA, YA, 80));
  t.notOk(allowed(h, XA, YA, 81), 'allow-x-80 still isolates y');
  h.server.remove('NetworkPolicy', 'y/allow-x-80');
  await waitFor('all policies gone', () => h.state.policies.size === 0);
  t.ok(allowed(h, XA, YA, 81));
});

t.test('an invalid policy is rejected naming the field, the last good version stays, others keep applying', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  h.server.apply(policy('y', 'web', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.244.1.0/24' } }], ports: [{ port: 80 }] }] }));
  await waitFor('good version', () => h.state.policies.has('y/web'));
  t.ok(allowed(h, XA, YA, 80));
  t.notOk(allowed(h, XA, YA, 81));

  // The API server validates these too; the agent must not rely on that (version skew, objects
  // written around validation), so a broken version is refused here as well.
  h.server.apply(policy('y', 'web', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.244.1.0/33' } }], ports: [{ port: 80 }] }] }));
  h.server.apply(policy('y', 'typo', { podSelector: {}, ingress: [{ form: [{ podSelector: {} }] }] }));
  h.server.apply(policy('x', 'fine', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] }));
  await waitFor('rejections and the valid policy', () =>
    h.state.rejected.has('NetworkPolicy y/web') && h.state.rejected.has('NetworkPolicy y/typo') && h.state.policies.has('x/fine'));

  const webErrors = h.state.rejected.get('NetworkPolicy y/web')!;
  t.ok(webErrors.some((e) => e.field === 'spec.ingress[0].from[0].ipBlock.cidr'), `names the field: ${JSON.stringify(webErrors)}`);
  t.ok(webErrors.every((e) => e.object === 'NetworkPolicy y/web' && e.source === 'kube-apiserver'));
  t.ok(h.state.rejected.get('NetworkPolicy y/typo')!.some((e) => e.field.startsWith('spec.ingress[0]') && /form/.test(e.field + e.message)));
  t.notOk(h.state.policies.has('y/typo'), 'a policy that never was valid is not enforced in a guessed form');
  // The previous good version of y/web is still enforced: 81 stays closed.
  t.equal(h.state.policies.get('y/web')!.ingress[0]!.peers[0]!.ipBlock!.cidr, '10.244.1.0/24');
  t.notOk(allowed(h, XA, YA, 81));
  t.ok(allowed(h, XA, YA, 80));

  const rejections = () => h.logs.filter((l) => l.msg.startsWith('object rejected'));
  t.equal(rejections().length, 2, 'each broken version logged once');
  t.ok(String(rejections()[0]!.fields.errors).includes('spec.ingress[0].from[0].ipBlock.cidr'));
  // Re-delivery of the same versions (a relist) does not log again.
  h.server.compact({ dropWatches: true });
  await waitFor('relisted after 410', () => h.source.status().relists >= 4);
  await sleep(200);
  t.equal(rejections().length, 2, 'not logged again on relist');

  // Fixing the object clears the rejection and applies the new version.
  h.server.apply(policy('y', 'web', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16' } }], ports: [{ port: 81 }] }] }));
  await waitFor('fixed', () => !h.state.rejected.has('NetworkPolicy y/web') && h.state.policies.get('y/web')!.ingress[0]!.ports[0]!.port === 81);
  t.ok(allowed(h, XA, YA, 81));
  t.notOk(allowed(h, XA, YA, 80));
  // Deleting a rejected object clears its rejection.
  h.server.remove('NetworkPolicy', 'y/typo');
  await waitFor('typo gone', () => !h.state.rejected.has('NetworkPolicy y/typo'));
  t.equal(h.source.status().rejected, 0);
});

t.test('a valid object with warnings (a CIDR with host bits) is applied and its warning logged once per version, naming the object and field', async (t) => {
  // One in the first list and one arriving by watch: both paths say it.
  const hostBits = (name: string, cidr: string) => policy('y', name, { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr } }] }] });
  const h = await startHarness({ seed: (s) => { seed(s); s.apply(hostBits('listed', '10.244.1.5/24')); } });
  t.teardown(() => h.close());
  h.server.apply(hostBits('watched', '10.244.1.6/24'));
  await waitFor('applied', () => h.state.policies.has('y/watched'));
  const warned = () => h.logs.filter((l) => l.level === 'warn' && /warning/.test(l.msg));
  const lines = () => warned().map((l) => `${l.fields.object} ${String(l.fields.warnings)}`);
  t.equal(warned().length, 2, `one line per object: ${JSON.stringify(lines())}`);
  t.match(lines()[0], /NetworkPolicy y\/listed .*spec\.ingress\[0\]\.from\[0\]\.ipBlock\.cidr: "10\.244\.1\.5\/24" has host bits set/);
  t.match(lines()[1], /NetworkPolicy y\/watched .*spec\.ingress\[0\]\.from\[0\]\.ipBlock\.cidr: "10\.244\.1\.6\/24" has host bits set/);
  t.equal(h.state.policies.get('y/listed')!.ingress[0]!.peers[0]!.ipBlock!.cidr, '10.244.1.0/24', 'applied as the API server reads it');
  t.same([...h.state.rejected.keys()], [], 'a warning rejects nothing');
  // The same versions again (a relist) are not said again; a new version with the warning is.
  h.server.compact({ dropWatches: true });
  await waitFor('relisted after 410', () => h.source.status().relists >= 4);
  await sleep(200);
  t.equal(warned().length, 2, 'not logged again on relist');
  h.server.apply(hostBits('watched', '10.244.1.7/24'));
  await waitFor('the new version', () => warned().length === 3);
  t.match(lines()[2], /NetworkPolicy y\/watched .*10\.244\.1\.7\/24/);
});

t.test('bursts are coalesced; no-op updates never reach the state', async (t) => {
  const h = await startHarness({ source: { coalesceMs: 500 } });
  t.teardown(() => h.close());
  const before = h.batches.length;
  for (let i = 0; i < 20; i++) h.server.apply(pod('x', `burst-${i}`, { app: 'burst' }, `10.244.1.${100 + i}`));
  await waitFor('all 20 pods', () => [...h.state.pods.keys()].filter((k) => k.startsWith('x/burst-')).length === 20);
  const used = h.batches.slice(before);
  t.ok(used.length < 20, `20 events arrived in ${used.length} batch(es), not one each`);
  t.equal(used.reduce((a, b) => a + b, 0), 20);

  // A status-only change (what kubelets send all the time) decodes to the same Pod: no change.
  const gen = h.state.generation;
  h.server.modify('Pod', 'x/a', (o) => {
    o.status.conditions = [{ type: 'Ready', status: 'False' }];
    o.metadata.annotations = { note: 'changed' };
  });
  h.server.relabel('Pod', 'x/b', { pod: 'b', marker: 'yes' });
  await waitFor('the real change', () => h.state.pods.get('x/b')!.labels.marker === 'yes');
  t.equal(h.state.generation, gen + 1, 'only the label change made a batch');
});

t.test('stop(): no watch stays open and nothing more is applied', async (t) => {
  const h = await startHarness();
  await waitFor('watches open', () => h.server.openWatches() === 4);
  await h.source.stop();
  await waitFor('watches closed', () => h.server.openWatches() === 0);
  h.server.apply(pod('x', 'after-stop', {}, '10.244.1.50'));
  await sleep(300);
  t.notOk(h.state.pods.has('x/after-stop'));
  await h.close();
});

t.test('configuration errors name what is wrong', async (t) => {
  t.throws(() => new KubeSource({ kubeconfig: '/nonexistent/kubeconfig' }), /kubeconfig \/nonexistent\/kubeconfig: no such file/);
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  delete process.env.KUBERNETES_SERVICE_HOST;
  delete process.env.KUBERNETES_SERVICE_PORT;
  t.teardown(() => {
    if (saved.host !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved.host;
    if (saved.port !== undefined) process.env.KUBERNETES_SERVICE_PORT = saved.port;
  });
  t.throws(() => new KubeSource({}), /not running in a cluster.*--kubeconfig/);
});

t.test('a wrong token: start() keeps retrying, reports the 401, never claims sync', async (t) => {
  const h = await startHarness({ sync: false });
  t.teardown(() => h.close());
  // Rewrite the kubeconfig with a wrong token and build a second source on it.
  h.server.writeKubeconfig(h.kubeconfig, 'wrong-token');
  const logs: { msg: string; fields: any }[] = [];
  const log = (level: string, msg: string, fields?: any) => {
    if (level === 'warn') logs.push({ msg, fields });
  };
  const src = new KubeSource({ kubeconfig: h.kubeconfig, backoffInitialMs: 50, backoffMaxMs: 200, resyncMs: 0, log });
  const state = new ClusterState();
  let settled = false;
  const p = src.start(state).then(() => (settled = true), () => (settled = true));
  await waitFor('several failed attempts', () => src.status().resources.Pod.errors >= 3);
  t.notOk(settled);
  t.equal(src.status().synced, false);
  t.equal(src.status().connected, false);
  t.match(src.status().resources.Pod.lastError, /401/);
  t.ok(logs.some((l) => /401/.test(String(l.fields.error))));
  await src.stop();
  await p;
  t.equal(state.pods.size, 0);
});

t.test('onSync: once at the first sync, then per applied batch, carrying the current rejections', async (t) => {
  const h = await startHarness({ sync: false });
  t.teardown(() => h.close());
  const infos: { startedAt: number; errors: readonly string[] }[] = [];
  h.source.onSync((i) => infos.push(i));
  const before = Date.now();
  await h.source.start(h.state);
  t.equal(infos.length, 1, 'reported at the first sync');
  t.ok(infos[0]!.startedAt >= before && infos[0]!.startedAt <= Date.now());
  t.same(infos[0]!.errors, []);

  h.server.apply(policy('y', 'bad', { podSelector: {}, ingress: [{ ports: [{ port: 70000 }] }] }));
  await waitFor('rejection reported', () => infos.some((i) => i.errors.length === 1));
  t.match(infos[infos.length - 1]!.errors[0], /NetworkPolicy y\/bad: spec\.ingress\[0\]\.ports\[0\]\.port: /);
  h.server.remove('NetworkPolicy', 'y/bad');
  await waitFor('rejection cleared', () => infos[infos.length - 1]!.errors.length === 0);
  // A status-only pod update changes nothing and reports nothing.
  const n = infos.length;
  h.server.modify('Pod', 'x/a', (o) => {
    o.status.conditions = [];
  });
  h.server.relabel('Namespace', 'x', { ns: 'x', v: '2' });
  await waitFor('namespace change', () => h.state.namespaces.get('x')!.labels.v === '2');
  await sleep(100);
  t.equal(infos.length, n + 1, 'one report for the one real change');
});

t.test('a malformed watch event (no object, no metadata, no name) is dropped and logged; the watch and the others go on', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  await waitFor('watching', () => h.server.openWatches() === 4);
  h.server.injectEvent('Pod', 'MODIFIED', null);
  h.server.injectEvent('Pod', 'ADDED', { kind: 'Pod', apiVersion: 'v1', spec: {} });
  h.server.injectEvent('Pod', 'ADDED', { kind: 'Pod', apiVersion: 'v1', metadata: { namespace: 'x', resourceVersion: '999' } });
  h.server.injectEvent('NetworkPolicy', 'ERROR', null);
  h.server.apply(pod('x', 'after', { pod: 'after' }, '10.244.1.8'));
  await waitFor('the next event applied', () => h.state.pods.has('x/after'));
  const dropped = h.logs.filter((l) => /malformed watch event/.test(l.msg));
  t.equal(dropped.length, 4, 'one line per dropped event');
  t.match(dropped[0], { level: 'warn', fields: { resource: '/api/v1/pods', type: 'MODIFIED' } });
  t.match(dropped[3], { level: 'warn', fields: { resource: '/apis/networking.k8s.io/v1/networkpolicies', type: 'ERROR' } });
  t.ok(h.source.isConnected);
  t.same([...h.state.pods.keys()].sort(), ['x/a', 'x/after', 'x/b', 'y/a']);
});

t.test('a MODIFIED event with a resourceVersion below the one held is applied (resourceVersions are opaque: no order is assumed)', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  await waitFor('watching', () => h.server.openWatches() === 4);
  const older = { ...pod('x', 'a', { pod: 'a', v: 'older' }, XA), metadata: { namespace: 'x', name: 'a', labels: { pod: 'a', v: 'older' }, resourceVersion: '1' } };
  h.server.injectEvent('Pod', 'MODIFIED', older);
  await waitFor('the event applied', () => h.state.pods.get('x/a')?.labels.v === 'older');
  t.ok(h.source.isConnected);
});
