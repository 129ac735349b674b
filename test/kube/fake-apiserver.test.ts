// The fake API server speaks the list/watch protocol the way kube-apiserver does; the kube source
// tests are only as good as this, so its behaviour is pinned here with plain HTTP.

import t from 'tap';
import { FakeApiServer } from '../../support/fake-apiserver.ts';
import { ns, pod } from '../support/kube-fixtures.ts';

async function get(s: FakeApiServer, path: string, token = 'tok'): Promise<{ status: number; body: any }> {
  const r = await fetch(s.url + path, { headers: { Authorization: `Bearer ${token}` } });
  return { status: r.status, body: await r.json() };
}

/** Opens a watch and collects parsed events until `n` arrived or the stream ends. */
async function watch(s: FakeApiServer, path: string, n: number, during?: () => void): Promise<{ status: number; events: any[] }> {
  const ac = new AbortController();
  const r = await fetch(s.url + path, { headers: { Authorization: 'Bearer tok' }, signal: ac.signal });
  const events: any[] = [];
  if (r.status !== 200) return { status: r.status, events: [await r.json()] };
  during?.();
  const reader = r.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  while (events.length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n')) !== -1) {
      events.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  }
  ac.abort();
  return { status: 200, events };
}

t.test('lists: typed list shape, items without kind, global resourceVersion', async (t) => {
  const s = await FakeApiServer.start({ token: 'tok' });
  t.teardown(() => s.stop());
  s.apply(ns('x'));
  s.apply(pod('x', 'a', { app: 'a' }, '10.0.0.5'));
  const r = await get(s, '/api/v1/pods');
  t.equal(r.status, 200);
  t.equal(r.body.kind, 'PodList');
  t.equal(r.body.apiVersion, 'v1');
  t.equal(r.body.metadata.resourceVersion, String(s.resourceVersion));
  t.equal(r.body.items.length, 1);
  t.equal(r.body.items[0].kind, undefined, 'list items carry no kind');
  t.equal(r.body.items[0].metadata.resourceVersion, '3', 'one counter across kinds: namespace got 2, pod 3');
  t.equal((await get(s, '/api/v1/namespaces/x/pods')).body.items.length, 1, 'namespaced collection');
  t.equal((await get(s, '/api/v1/namespaces/y/pods')).body.items.length, 0);
  t.equal((await get(s, '/apis/networking.k8s.io/v1/networkpolicies')).body.kind, 'NetworkPolicyList');
  t.equal((await get(s, '/api/v1/pods', 'wrong')).status, 401);
  const nf = await get(s, '/api/v1/secrets');
  t.equal(nf.status, 404);
  t.equal(nf.body.kind, 'Status');
  s.forbidden.add('Node');
  const fb = await get(s, '/api/v1/nodes');
  t.equal(fb.status, 403);
  t.match(fb.body.message, /nodes is forbidden: .* cannot list resource "nodes"/);
});

t.test('pagination over one snapshot; an expired continue token is 410 Expired', async (t) => {
  const s = await FakeApiServer.start({ token: 'tok' });
  t.teardown(() => s.stop());
  for (let i = 0; i < 5; i++) s.apply(ns(`n${i}`));
  const p1 = await get(s, '/api/v1/namespaces?limit=2');
  t.equal(p1.body.items.length, 2);
  t.equal(p1.body.metadata.remainingItemCount, 3);
  s.apply(ns('late')); // not part of the snapshot the pages come from
  const p2 = await get(s, `/api/v1/namespaces?limit=2&continue=${p1.body.metadata.continue}`);
  const p3 = await get(s, `/api/v1/namespaces?limit=2&continue=${p2.body.metadata.continue}`);
  t.same([...p1.body.items, ...p2.body.items, ...p3.body.items].map((o: any) => o.metadata.name), ['n0', 'n1', 'n2', 'n3', 'n4']);
  t.equal(p3.body.metadata.continue, undefined);
  t.equal(p2.body.metadata.resourceVersion, p1.body.metadata.resourceVersion, 'every page reports the snapshot revision');
  const q1 = await get(s, '/api/v1/namespaces?limit=2');
  s.compact();
  const stale = await get(s, `/api/v1/namespaces?limit=2&continue=${q1.body.metadata.continue}`);
  t.equal(stale.status, 410);
  t.equal(stale.body.reason, 'Expired');
});

t.test('watch: replay after a resourceVersion, then live events; bookmarks when asked', async (t) => {
  const s = await FakeApiServer.start({ token: 'tok' });
  t.teardown(() => s.stop());
  s.apply(ns('x'));
  const rv = s.resourceVersion;
  s.apply(ns('y'));
  s.relabel('Namespace', 'x', { a: 'b' });
  const w = await watch(s, `/api/v1/namespaces?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`, 4, () => {
    s.remove('Namespace', 'y');
    s.bookmark();
  });
  t.same(w.events.map((e) => `${e.type} ${e.object.metadata.name ?? ''}`), ['ADDED y', 'MODIFIED x', 'DELETED y', 'BOOKMARK ']);
  t.equal(w.events[0].object.kind, 'Namespace', 'watch objects carry kind');
  t.equal(w.events[3].object.metadata.resourceVersion, String(s.resourceVersion));
  const fresh = await watch(s, '/api/v1/namespaces?watch=true', 1);
  t.same(fresh.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED x'], 'no resourceVersion: synthetic ADDED for what exists');
});

for (const expired of ['event', 'status'] as const) {
  t.test(`watch from a compacted resourceVersion: 410 (${expired})`, async (t) => {
    const s = await FakeApiServer.start({ token: 'tok', expired });
    t.teardown(() => s.stop());
    s.apply(ns('x'));
    const old = s.resourceVersion;
    s.compact();
    const w = await watch(s, `/api/v1/namespaces?watch=true&resourceVersion=${old}`, 1);
    if (expired === 'status') {
      t.equal(w.status, 410);
      t.equal(w.events[0].code, 410);
    } else {
      t.equal(w.status, 200);
      t.equal(w.events[0].type, 'ERROR');
      t.equal(w.events[0].object.code, 410);
      t.equal(w.events[0].object.reason, 'Expired');
    }
    // A fresh list's resourceVersion can be watched again.
    const rv = (await get(s, '/api/v1/namespaces')).body.metadata.resourceVersion;
    const ok = await watch(s, `/api/v1/namespaces?watch=true&resourceVersion=${rv}`, 1, () => s.apply(ns('y')));
    t.equal(ok.events[0].type, 'ADDED');
  });
}

t.test('stop() cuts streams and refuses connections; start() serves again on the same port', async (t) => {
  const s = await FakeApiServer.start({ token: 'tok' });
  t.teardown(() => s.stop());
  const port = s.port;
  await s.stop();
  await t.rejects(fetch(s.url + '/api/v1/pods'), 'unreachable while stopped');
  await s.start();
  t.equal(s.port, port);
  t.equal((await get(s, '/api/v1/pods')).status, 200);
});

t.test('CRD kinds: 404 until installed, served after, removal deletes (DELETED events), ends watches, 404 again', async (t) => {
  const s = await FakeApiServer.start({ token: 'tok' });
  t.teardown(() => s.stop());
  const path = '/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies';
  const cnp = { kind: 'ClusterNetworkPolicy', metadata: { name: 'c' }, spec: {} };
  const absent = await get(s, path);
  t.equal(absent.status, 404);
  t.match(absent.body, { kind: 'Status', reason: 'NotFound' });
  t.equal((await watch(s, `${path}?watch=true`, 1)).status, 404, 'a watch too');
  t.throws(() => s.apply(cnp), /no CRD installed/, 'no objects without the CRD');
  s.installCRD('ClusterNetworkPolicy');
  s.apply(cnp);
  const listed = await get(s, path);
  t.equal(listed.status, 200);
  t.equal(listed.body.kind, 'ClusterNetworkPolicyList');
  t.equal(listed.body.items[0].metadata.name, 'c');
  t.equal(s.get('ClusterNetworkPolicy', 'c')?.apiVersion, 'policy.networking.k8s.io/v1alpha2');
  // A watch open while the CRD goes: the object's DELETED event, then the end of the stream.
  const w = await watch(s, `${path}?watch=true&resourceVersion=${listed.body.metadata.resourceVersion}`, 5, () => setTimeout(() => s.removeCRD('ClusterNetworkPolicy'), 50));
  t.same(w.events.map((e) => [e.type, e.object.metadata.name]), [['DELETED', 'c']], 'DELETED, then the stream ended');
  t.equal((await get(s, path)).status, 404, '404 again');
  s.installCRD('ClusterNetworkPolicy');
  t.same((await get(s, path)).body.items, [], 'reinstalled empty');
});

t.test('a CRD serves some of its versions: each version\'s path, objects in the version read, watches of a dropped version end', async (t) => {
  const s = await FakeApiServer.start({ token: 'tok' });
  t.teardown(() => s.stop());
  const alpha = '/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies';
  const beta = '/apis/policy.networking.k8s.io/v1beta1/clusternetworkpolicies';
  s.installCRD('ClusterNetworkPolicy');
  s.apply({ kind: 'ClusterNetworkPolicy', apiVersion: 'policy.networking.k8s.io/v1beta1', metadata: { name: 'c' }, spec: {} });
  t.equal((await get(s, alpha)).status, 200, 'the default: v1alpha2');
  t.equal((await get(s, beta)).status, 404, 'v1beta1 not served');
  t.throws(() => s.serveVersions('ClusterNetworkPolicy', ['v2']), /has no version/);
  s.serveVersions('ClusterNetworkPolicy', ['v1alpha2', 'v1beta1']);
  const listed = await get(s, beta);
  t.match(listed.body, { kind: 'ClusterNetworkPolicyList', apiVersion: 'policy.networking.k8s.io/v1beta1', items: [{ metadata: { name: 'c' } }] });
  const rv = listed.body.metadata.resourceVersion;
  // The same object through both paths, each in its own version (conversion "None": nothing else changes).
  const [a, b] = await Promise.all([watch(s, `${alpha}?watch=true`, 1), watch(s, `${beta}?watch=true`, 1)]);
  t.same([a.events[0].object.apiVersion, b.events[0].object.apiVersion], ['policy.networking.k8s.io/v1alpha2', 'policy.networking.k8s.io/v1beta1']);
  t.same(a.events[0].object.spec, b.events[0].object.spec);
  // Dropping v1alpha2: its watch ends, its path answers 404, the objects stay.
  const w = await watch(s, `${alpha}?watch=true&resourceVersion=${rv}`, 5, () => setTimeout(() => s.serveVersions('ClusterNetworkPolicy', ['v1beta1']), 50));
  t.same(w.events, [], 'the v1alpha2 watch ended with no event');
  t.equal((await get(s, alpha)).status, 404);
  t.equal((await get(s, beta)).body.items.length, 1, 'objects kept');
});
