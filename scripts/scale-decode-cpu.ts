// Decoding alone: the scale cluster's objects (bench/scale-cluster.ts at `pods` pods) as API JSON
// (parsed from text, as a list page delivers them), through decodeAs, `rounds` times; CPU ms per
// kind. Compares decoder changes without the list's HTTP and the fake API server.
//   node --expose-gc --import tsx scripts/scale-decode-cpu.ts [pods=50000] [rounds=5]

import { decodeAs } from '../src/cluster/decode.ts';
import { rawObject } from '../support/raw-objects.ts';
import { scaleObjects, scaleSpecFor } from '../bench/scale-cluster.ts';

const pods = Number(process.argv[2] ?? 50_000);
const rounds = Number(process.argv[3] ?? 5);
const spec = scaleSpecFor(pods);
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const byKind = new Map<string, string[]>();
for (const o of scaleObjects(spec)) {
  const { kind: _k, apiVersion: _a, ...item } = rawObject(o);
  let a = byKind.get(o.kind);
  if (!a) byKind.set(o.kind, (a = []));
  a.push(JSON.stringify(item));
}
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
for (let r = 0; r < rounds; r++) {
  const parts: string[] = [];
  let total = 0;
  for (const [kind, texts] of byKind) {
    // Parsed in pages of 500, as a list delivers them; only the decoding is timed.
    let used = 0;
    for (let i = 0; i < texts.length; i += 500) {
      const page = JSON.parse(`[${texts.slice(i, i + 500).join(',')}]`) as unknown[];
      const c0 = cpu();
      for (const raw of page) {
        const d = decodeAs(kind, raw, 'kube-apiserver');
        if (d.kind !== kind) throw new Error(`${kind} does not decode: ${JSON.stringify(d)}`);
      }
      used += cpu() - c0;
    }
    total += used;
    parts.push(`${kind} ${used.toFixed(0)}`);
  }
  gc();
  console.log(`decode CPU ms: ${total.toFixed(0)} (${parts.join(', ')})`);
}
