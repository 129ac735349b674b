// daemonset.yaml: least privilege (RBAC and capabilities), node-agent scheduling, probes that
// match the health server, and flags the agent actually accepts.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseHealthAddress } from '../../src/agent/health.ts';
import { parseAgentArgs } from '../../src/cli/commands/agent.ts';
import { AGENT_NODE_FLAGS } from '../../src/agent/node-flags.ts';
import { KINDS } from '../../src/cluster/kinds.ts';
import { chainRules, type RulePlan } from '../../src/enforce/iptables.ts';
import { extensionModules, ipsetTypeModule } from '../../src/enforce/kernel-modules.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const docs = parseAllDocuments(readFileSync(join(ROOT, 'daemonset.yaml'), 'utf8'));
const objects = docs.map((d) => d.toJS()) as any[];

function one(kind: string): any {
  const found = objects.filter((o) => o?.kind === kind);
  if (found.length !== 1) throw new Error(`expected exactly one ${kind}, found ${found.length}`);
  return found[0];
}

/** Kubernetes resource quantities, enough for cpu (m) and memory (Ki/Mi/Gi). */
function quantity(q: string | number): number {
  const s = String(q);
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|k|M|G)?$/.exec(s);
  if (!m) throw new Error(`bad quantity ${s}`);
  const n = Number(m[1]);
  const mult: Record<string, number> = { m: 1e-3, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 };
  return m[2] ? n * mult[m[2]]! : n;
}

const ds = one('DaemonSet');
const pod = ds.spec.template.spec;
const agent = pod.containers[0];

t.test('the file parses and holds exactly the expected objects, all in one namespace', async (t) => {
  for (const d of docs) t.same(d.errors, [], 'no YAML errors');
  t.same(objects.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'ServiceAccount']);
  const ns = ds.metadata.namespace;
  t.ok(ns === 'kube-system' || ns === 'palisade-system');
  t.equal(one('ServiceAccount').metadata.namespace, ns);
  if (ns !== 'kube-system') t.ok(objects.some((o) => o.kind === 'Namespace' && o.metadata.name === ns), 'its namespace is created');
});

t.test('RBAC: exactly get/list/watch on pods, namespaces, nodes, networkpolicies and the three cluster policy kinds', async (t) => {
  const role = one('ClusterRole');
  const granted = new Set<string>();
  for (const rule of role.rules) {
    t.same([...rule.verbs].sort(), ['get', 'list', 'watch'], 'read-only verbs');
    t.notOk(rule.resourceNames, 'no per-name restriction expected');
    t.notOk(rule.nonResourceURLs, 'no non-resource URLs');
    for (const g of rule.apiGroups) for (const r of rule.resources) {
      t.not(g, '*');
      t.not(r, '*');
      granted.add(`${g}/${r}`);
    }
  }
  t.same([...granted].sort(), [
    '/namespaces', '/nodes', '/pods', 'networking.k8s.io/networkpolicies',
    'policy.networking.k8s.io/adminnetworkpolicies', 'policy.networking.k8s.io/baselineadminnetworkpolicies', 'policy.networking.k8s.io/clusternetworkpolicies',
  ]);
  // Exactly what the kube source reads: one informer per registry kind, nothing more (no
  // customresourcedefinitions: an absent CRD is found by listing the resource's own path).
  t.same([...granted].sort(), KINDS.map((k) => `${k.group}/${k.resource}`).sort(), 'the kinds registry, nothing more');
  const binding = one('ClusterRoleBinding');
  t.same(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: one('ServiceAccount').metadata.name, namespace: ds.metadata.namespace }]);
  t.equal(pod.serviceAccountName, one('ServiceAccount').metadata.name);
  t.not(pod.automountServiceAccountToken, false, 'the agent needs its token');
});

t.test('a node agent: host network, every node, node-critical, one node at a time', async (t) => {
  t.equal(pod.hostNetwork, true);
  t.equal(pod.priorityClassName, 'system-node-critical');
  t.same(pod.tolerations, [{ operator: 'Exists' }]);
  t.equal(ds.spec.updateStrategy.type, 'RollingUpdate');
  t.equal(ds.spec.updateStrategy.rollingUpdate.maxUnavailable, 1);
  t.same(ds.spec.selector.matchLabels, Object.fromEntries(Object.entries(ds.spec.template.metadata.labels).filter(([k]) => k in ds.spec.selector.matchLabels)),
    'the selector matches the template labels');
  t.equal(pod.containers.length, 1);
});

t.test('capabilities instead of privileged', async (t) => {
  t.not(pod.securityContext?.privileged, true);
  for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
    t.not(c.securityContext?.privileged, true, `${c.name} is not privileged`);
  }
  const sc = agent.securityContext;
  t.equal(sc.privileged, false);
  t.equal(sc.allowPrivilegeEscalation, false);
  t.same([...sc.capabilities.add].sort(), ['NET_ADMIN', 'NET_RAW']);
  t.same(sc.capabilities.drop, ['ALL']);
  t.equal(sc.readOnlyRootFilesystem, true);
  t.notOk(pod.hostPID, 'no host PID namespace');
  t.notOk(pod.hostIPC, 'no host IPC namespace');
});

t.test('NODE_NAME from the downward API', async (t) => {
  const env = agent.env.find((e: any) => e.name === 'NODE_NAME');
  t.same(env, { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
});

t.test('probes hit the health server the agent is told to start, on the node loopback', async (t) => {
  const args: string[] = agent.args;
  const i = args.indexOf('--health');
  t.ok(i >= 0 && i + 1 < args.length, '--health is passed');
  const addr = parseHealthAddress(args[i + 1]!);
  t.equal(addr.host, '127.0.0.1', 'bound to loopback only');
  // The startup probe too: pointed elsewhere it never succeeds, and the kubelet kills the agent
  // after periodSeconds * failureThreshold, on every node, over and over.
  t.ok(agent.startupProbe, 'a startup probe (the first list and compile can take a while)');
  for (const [probe, path] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz'], ['startupProbe', '/healthz']] as const) {
    const g = agent[probe].httpGet;
    t.equal(g.path, path, `${probe} path`);
    t.equal(g.port, addr.port, `${probe} port`);
    t.equal(g.host, '127.0.0.1', `${probe} host: the kubelet probes from the node`);
  }
  const port = agent.ports.find((p: any) => p.name === 'health');
  t.equal(port.containerPort, addr.port);
  t.equal(port.hostPort, addr.port);
});

t.test('resource requests and limits for cpu and memory, requests within limits', async (t) => {
  const { requests, limits } = agent.resources;
  for (const r of ['cpu', 'memory']) {
    t.ok(requests[r] !== undefined && limits[r] !== undefined, `${r} requested and limited`);
    t.ok(quantity(requests[r]) <= quantity(limits[r]), `${r} request <= limit`);
  }
  const heap = /--max-old-space-size=(\d+)/.exec(agent.env.find((e: any) => e.name === 'NODE_OPTIONS')?.value ?? '');
  t.ok(heap && Number(heap[1]) * 1024 ** 2 < quantity(limits.memory), 'the V8 heap cap fits under the memory limit');
});

// The agent at Kubernetes' published limits (the scale bench: 150,000 pods, 10,000
// NetworkPolicies, 200 cluster policies, listed from the fake API server over list/watch and
// compiled), under the DaemonSet's own NODE_OPTIONS and the image's Node flags. With the heap cap
// the file had before (384 MB) the run died of "heap out of memory" while listing.
t.test('an agent at Kubernetes\' scale limits fits the heap cap and the memory limit', async (t) => {
  const nodeOptions = agent.env.find((e: any) => e.name === 'NODE_OPTIONS')?.value as string;
  const r = spawnSync(process.execPath, ['--expose-gc', ...AGENT_NODE_FLAGS, join(ROOT, 'bin', 'palisade.js'), 'bench', '--json', '--only', 'scale', '--no-bjs'], {
    encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: nodeOptions }, timeout: 600_000, maxBuffer: 64 * 1024 * 1024,
  });
  t.equal(r.status, 0, `the scale bench ran to its end under NODE_OPTIONS=${nodeOptions}: ${r.stderr.slice(-600)}`);
  if (r.status !== 0) return;
  const result = JSON.parse(r.stdout).results.find((x: any) => x.name === 'scale');
  t.ok(result, 'the scale result');
  t.equal(result.pods, 150_000, 'at the published pod limit');
  const limit = quantity(agent.resources.limits.memory);
  t.ok(result.rss_peak_bytes > 0 && result.rss_peak_bytes < limit,
    `peak RSS ${Math.round(result.rss_peak_bytes / 2 ** 20)} MiB (a second engine held beside the first included) under the limit ${agent.resources.limits.memory}`);
});

t.test('host mounts: the xtables lock only', async (t) => {
  const vol = (name: string) => pod.volumes.find((v: any) => v.name === name);
  const mount = (path: string) => agent.volumeMounts.find((m: any) => m.mountPath === path);
  const lock = mount('/run/xtables.lock');
  t.ok(lock, 'xtables lock mounted');
  t.same(vol(lock.name).hostPath, { path: '/run/xtables.lock', type: 'FileOrCreate' });
  t.not(lock.readOnly, true, 'iptables must be able to take the lock');
  const hostPaths = pod.volumes.filter((v: any) => v.hostPath).map((v: any) => v.hostPath.path);
  t.same(hostPaths, ['/run/xtables.lock'], 'no other host path (no /lib/modules: without SYS_MODULE the agent cannot load modules)');
});

t.test('kernel modules: not loaded by the agent, and the ones it needs are named for the operator', async (t) => {
  t.notOk(agent.securityContext.capabilities.add.includes('SYS_MODULE'), 'no SYS_MODULE');
  const header = readFileSync(join(ROOT, 'daemonset.yaml'), 'utf8').split('\n').filter((l) => l.startsWith('#')).join('\n');
  t.notMatch(header + JSON.stringify(agent.volumeMounts), /may need to load/, 'no claim that the agent loads modules');
  // Every extension of the rules the agent installs (with --verdict-cache and strict mode), and the
  // set types of the cache and of kernel admission, map to modules the comment names.
  const plan: RulePlan = { mode: 'nfqueue', allowMark: 0x2000000, queue: 0, queues: 1, failOpen: false, strict: true, verdictCache: true };
  const exts = new Set<string>();
  for (const l of chainRules(plan, 4)) for (const m of l.matchAll(/ -[mj] ([A-Za-z]+)(?= |$)/g)) if (!['ACCEPT', 'DROP', 'RETURN'].includes(m[1]!)) exts.add(m[1]!);
  t.ok(exts.has('NFQUEUE') && exts.has('connmark') && exts.has('set'), `extensions read from the rules: ${[...exts].join(' ')}`);
  const modules = new Set([...exts].flatMap((e) => extensionModules(e)).filter((m) => m.startsWith('xt_') || m.startsWith('nfnetlink')));
  // tcp/udp matches are part of x_tables itself: iptables working at all means they are there.
  modules.delete('xt_tcpudp');
  modules.add(ipsetTypeModule('hash:ip,port,ip'));
  modules.add(ipsetTypeModule('hash:ip,port,net'));
  modules.add(ipsetTypeModule('hash:net'));
  modules.add('tun');
  for (const m of modules) t.match(header, new RegExp(`\\b${m}\\b`), `the comment names ${m}`);
});

t.test('the image is pinned to the package version, and the args are flags the agent accepts', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const [, tag] = String(agent.image).split(/:(?=[^:/]+$)/);
  t.ok(tag && tag !== 'latest', `pinned tag (${agent.image})`);
  t.equal(tag, pkg.version, 'tag = package.json version');
  const help = execFileSync(process.execPath, [join(ROOT, 'bin', 'palisade.js'), 'agent', '--help'], { encoding: 'utf8' });
  for (const a of agent.args as string[]) {
    if (a.startsWith('--')) t.ok(help.includes(a), `agent --help documents ${a}`);
  }
  // The agent's own parser on the command line the container runs (the image's entrypoint args,
  // then the DaemonSet's), with NODE_NAME as the downward API sets it: a misspelt flag, a bad
  // value or a combination the agent refuses fails here, not as a crash loop on every node.
  // (Checking that --help mentions each flag could not fail for a misspelling that is part of
  // a real flag's name, "--keep-rule", nor for any value.)
  const inv = parseAgentArgs([...entrypointAgentArgs(), ...agent.args], { NODE_NAME: 'node-1' });
  if (inv === 'help') return t.fail('--help in the args');
  t.equal(inv.source.kind, 'kube', 'the kube source');
  t.equal(inv.settings.node, 'node-1', 'the node from NODE_NAME');
  t.equal(inv.settings.keepRules, true, '--keep-rules, as the upgrade notes say');
  t.same(inv.health, parseHealthAddress('127.0.0.1:9747'), 'the health server the probes hit');
  for (const bad of [['--keep-rule'], ['--backend', 'nfq'], ['--health', '127.0.0.1:99999'], ['--manifests', '/x']]) {
    let exitCode: unknown;
    try {
      parseAgentArgs([...entrypointAgentArgs(), ...bad], { NODE_NAME: 'node-1' });
    } catch (e) {
      exitCode = (e as { exitCode?: unknown }).exitCode;
    }
    t.equal(exitCode, 2, `refused as a bad flag: ${bad.join(' ')}`);
  }
});

/** The words after `agent` in the Dockerfile's ENTRYPOINT. */
function entrypointAgentArgs(): string[] {
  const ep = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  if (!ep) throw new Error('no exec-form ENTRYPOINT in the Dockerfile');
  const words = JSON.parse(ep[1]!) as string[];
  return words.slice(words.indexOf('agent') + 1);
}
