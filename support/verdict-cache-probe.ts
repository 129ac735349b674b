// Child process for the verdict cache's ledger test (test/enforce/verdict-cache-ledger.test.ts),
// run inside a network namespace of the test's (the cache's netlink socket is this process's):
//   ip netns exec NS node --import tsx support/verdict-cache-probe.ts
// Opens a counting cache of 16 entries, records 10 allowed IPv4 and 10 IPv6 connections (each
// its own tuple) and commits them, then prints one JSON line: the entries each kernel set holds
// and the cache's own counters. The ledger holds both families (16 in all), each set 16.

import { execFileSync } from 'node:child_process';
import { VerdictCache } from '../src/enforce/verdict-cache.ts';
import { PacketInfo } from '../src/dataplane/packet-info.ts';
import { IPPROTO_TCP } from '../src/net/ip-protocols.ts';

const cache = await VerdictCache.open({ families: [4, 6], maxEntries: 16, onCounted: () => {}, readIntervalMs: 3_600_000 });
const info = new PacketInfo();
info.proto = IPPROTO_TCP;
for (let i = 0; i < 10; i++) {
  info.family = 4; info.src4 = 0x0a000001; info.dst4 = 0x0a000002; info.dstPort = 1000 + i;
  cache.record(info, 1, 1);
  info.family = 6; info.src6a = info.dst6a = 0xfd000000 | 0; info.src6d = 1; info.dst6d = 2; info.dstPort = 1000 + i;
  cache.record(info, 1, 1);
}
cache.commit();
const entries = (name: string) => Number(/Number of entries: (\d+)/.exec(execFileSync('ipset', ['list', '-t', name], { encoding: 'utf8' }))![1]);
console.log(JSON.stringify({ set4: entries('PALISADE-CACHE4'), set6: entries('PALISADE-CACHE6'), added: cache.added, addFailures: cache.addFailures }));
await cache.close({ destroy: true });
