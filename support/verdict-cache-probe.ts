// Child process for the verdict cache's kernel-side probes (test/enforce/verdict-cache-ledger.test.ts),
// run inside a network namespace of the test's (the cache's netlink socket is this process's):
//   ip netns exec NS node --import tsx support/verdict-cache-probe.ts [ledger|collision]
// Prints one JSON line.
//   ledger: opens a counting cache of 16 entries, records 10 allowed IPv4 and 10 IPv6
//     connections (each tuple twice: the second sighting is admitted, src/enforce/cache-admission.ts)
//     and commits them; prints the entries each kernel set holds and the cache's own counters.
//     The ledger holds both families (16 in all), each set 16.
//   collision: records one connection of tuple X (decision 1/2), then one of tuple Y whose
//     admission hash equals X's (decision 3/4), and one of a third tuple Z; commits; gives Y's
//     kernel entry a count and reads it; prints the set's members and what was counted, on
//     which decision.

import { execFileSync } from 'node:child_process';
import { VerdictCache } from '../src/enforce/verdict-cache.ts';
import { PacketInfo } from '../src/dataplane/packet-info.ts';
import { IPPROTO_TCP } from '../src/net/ip-protocols.ts';
import { COLLIDING } from './admission-collision.ts';

const info = new PacketInfo();
info.proto = IPPROTO_TCP;
const members = (name: string) => [...execFileSync('ipset', ['list', name], { encoding: 'utf8' }).matchAll(/^(\S+,tcp:\d+,\S+)/gm)].map((m) => m[1]!);

if (process.argv[2] === 'collision') {
  const counted: { egress: number; ingress: number; src: number; port: number; n: number }[] = [];
  const cache = await VerdictCache.open({
    families: [4], onCounted: (d, tu, n) => counted.push({ egress: d.egress, ingress: d.ingress, src: tu.src[0]!, port: tu.port, n }), readIntervalMs: 3_600_000,
  });
  const [x, y] = COLLIDING;
  info.family = 4;
  info.src4 = x.src; info.dst4 = x.dst; info.dstPort = x.port;
  cache.record(info, 1, 2);
  info.src4 = y.src; info.dst4 = y.dst; info.dstPort = y.port;
  cache.record(info, 3, 4);
  info.src4 = 0x0a000009; info.dst4 = 0x0a000002; info.dstPort = 7;
  cache.record(info, 5, 6);
  cache.commit();
  const set = members('PALISADE-CACHE4');
  for (const m of set) execFileSync('ipset', ['add', '-exist', 'PALISADE-CACHE4', m, 'packets', '5', 'bytes', '300']);
  await cache.readNow();
  console.log(JSON.stringify({ set, counted, added: cache.added, deferred: cache.deferred }));
  await cache.close({ destroy: true });
} else {
  const cache = await VerdictCache.open({ families: [4, 6], maxEntries: 16, onCounted: () => {}, readIntervalMs: 3_600_000 });
  for (let i = 0; i < 10; i++) {
    for (let seen = 0; seen < 2; seen++) {
      info.family = 4; info.src4 = 0x0a000001; info.dst4 = 0x0a000002; info.dstPort = 1000 + i;
      cache.record(info, 1, 1);
      info.family = 6; info.src6a = info.dst6a = 0xfd000000 | 0; info.src6d = 1; info.dst6d = 2; info.dstPort = 1000 + i;
      cache.record(info, 1, 1);
    }
  }
  cache.commit();
  const entries = (name: string) => Number(/Number of entries: (\d+)/.exec(execFileSync('ipset', ['list', '-t', name], { encoding: 'utf8' }))![1]);
  console.log(JSON.stringify({ set4: entries('PALISADE-CACHE4'), set6: entries('PALISADE-CACHE6'), added: cache.added, addFailures: cache.addFailures, deferred: cache.deferred }));
  await cache.close({ destroy: true });
}
