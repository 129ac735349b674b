// The fake API server as a separate process, controlled over stdin/stdout with JSON lines, so it
// can run inside a test network namespace (`ip netns exec NS node --import tsx this-file`) next
// to an agent that reaches it on that namespace's loopback. Nothing crosses namespaces.
//
//   argv: [--port N] [--token T] [--crds] [--load FILE]
//         --crds installs the policy.networking.k8s.io CRDs; --load stores the objects of FILE
//         (one JSON object per line) before serving, without watch events (as if they predated
//         every client), so a benchmark can start from a large cluster quickly.
//   stdout, first line: {"ready": true, "url": "...", "port": N}
//   stdin: {"id": 1, "op": "apply", "object": {...}} | {"op": "remove", "kind", "key"}
//          | {"op": "relabel", "kind", "key", "labels"} | {"op": "dropWatches"}
//          | {"op": "compact"} | {"op": "stop"} | {"op": "start"} | {"op": "openWatches"}
//          | {"op": "installCRD", "kind"} | {"op": "removeCRD", "kind"}   (the policy.networking.k8s.io kinds)
//          | {"op": "applyMany", "objects": [...]}   (one watch event each, in order; result: the last resourceVersion)
//   stdout, per command: {"id": 1, "ok": true, "result": ...} or {"id": 1, "ok": false, "error": "..."}

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { FakeApiServer, KIND_INFO, type FakeKind, type RawObject } from './fake-apiserver.ts';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}

const server = await FakeApiServer.start({ port: Number(flag('port') ?? '0'), token: flag('token') });
if (process.argv.includes('--crds')) {
  for (const kind of Object.keys(KIND_INFO) as FakeKind[]) if (KIND_INFO[kind].crd) server.installCRD(kind);
}
const load = flag('load');
if (load) {
  for await (const line of createInterface({ input: createReadStream(load) })) if (line.trim()) server.apply(JSON.parse(line) as RawObject, { silent: true });
}
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
out({ ready: true, url: server.url, port: server.port });

type Command =
  | { id?: number; op: 'apply'; object: RawObject }
  | { id?: number; op: 'remove'; kind: FakeKind; key: string }
  | { id?: number; op: 'relabel'; kind: FakeKind; key: string; labels: Record<string, string> }
  | { id?: number; op: 'installCRD' | 'removeCRD'; kind: FakeKind }
  | { id?: number; op: 'applyMany'; objects: RawObject[] }
  | { id?: number; op: 'dropWatches' | 'compact' | 'stop' | 'start' | 'openWatches' };

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  let cmd: Command;
  try {
    cmd = JSON.parse(line) as Command;
  } catch {
    out({ ok: false, error: 'not JSON' });
    continue;
  }
  try {
    let result: unknown;
    switch (cmd.op) {
      case 'apply': result = server.apply(cmd.object).metadata.resourceVersion; break;
      case 'applyMany': result = server.applyMany(cmd.objects); break;
      case 'remove': result = server.remove(cmd.kind, cmd.key); break;
      case 'relabel': result = server.relabel(cmd.kind, cmd.key, cmd.labels).metadata.resourceVersion; break;
      case 'dropWatches': result = server.dropWatches(); break;
      case 'compact': server.compact({ dropWatches: true }); break;
      case 'stop': await server.stop(); break;
      case 'start': await server.start(); break;
      case 'openWatches': result = server.openWatches(); break;
      case 'installCRD': server.installCRD(cmd.kind); break;
      case 'removeCRD': server.removeCRD(cmd.kind); break;
      default: throw new Error(`unknown op ${JSON.stringify((cmd as { op?: unknown }).op)}`);
    }
    out({ id: cmd.id, ok: true, result });
  } catch (e) {
    out({ id: cmd.id, ok: false, error: (e as Error).message });
  }
}
await server.stop();
