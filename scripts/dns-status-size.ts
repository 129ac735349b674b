// How large the agent's status file gets with the name store full (the README's "Egress to
// domain names" figures): 65,536 live records (the --dns-records default) learned by the agent's
// own DnsLearner, the status file's dns section built as the agent builds it (dns-status.ts),
// then written as the status file writes it (status-file.ts statusJson, one record a line)
// against JSON.stringify(v, null, 2), the way it was written before; and the wait before the
// next rewrite at the status file's default rate. text_ms: the section made and printed at once
// (statusJson), the work the status file spreads over slices of the loop; what a write costs the
// loop is scripts/dns-status-cpu.ts's. Prints JSON.
//   node --import tsx scripts/dns-status-size.ts [records, default 65536]

import { DnsLearner } from '../src/agent/dns-learner.ts';
import { dnsStatusSection } from '../src/agent/dns-status.ts';
import { STATUS_FILE_DEFAULTS, statusJson } from '../src/agent/status-file.ts';
import { ClusterState } from '../src/cluster/state.ts';

const n = Number(process.argv[2] ?? 65536);
const now = Date.now();
const learner = new DnsLearner(new ClusterState(), () => true, { total: n, perPod: n }, () => now);
for (let i = 0; i < n; i++) {
  // 250 pods a /24 of pod addresses, 5,000 names, learned over the last 200 s with TTL 300.
  learner.store.learn(`10.244.${(i >> 9) & 255}.${((i & 511) % 250) + 2}`, `203.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, [`svc${i % 5000}.example.com`], '10.96.0.10', 300, now - (i % 200) * 1000);
}
const t = performance.now();
const dns = dnsStatusSection(learner, {}, now);
const compact = statusJson({ dns })! + '\n';
const textMs = performance.now() - t;
const pretty = JSON.stringify({ dns }, null, 2) + '\n';
const waitMs = Math.min(STATUS_FILE_DEFAULTS.maxDelayMs, (compact.length / STATUS_FILE_DEFAULTS.bytesPerSecond) * 1000);
learner.close();
process.stdout.write(JSON.stringify({
  records: dns.records.toJSON().length,
  compact_bytes: compact.length,
  pretty_bytes: pretty.length,
  next_write_wait_ms: Math.round(waitMs),
  text_ms: Math.round(textMs),
}, null, 2) + '\n');
