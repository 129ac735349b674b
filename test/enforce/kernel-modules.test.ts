// A kernel module the node lacks is named, with the modprobe command for the node, instead of a
// bare errno. The failures here are real: this kernel is built without xt_ipvs, xt_LED and the
// ipset type hash:net,net (and cannot load modules), and /dev/net/tun is hidden from the agent by
// a tmpfs in a mount namespace of its own. Only the NFQUEUE errno translation is checked as a
// function: nfnetlink_queue is built in here, so its absence cannot be produced.

import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restoreTable, listRules, type IptablesBackend } from '../../src/enforce/iptables.ts';
import { createSet } from '../../src/enforce/counted-sets.ts';
import { extensionModules, ipsetTypeModule, nfqueueModuleHint, tunModuleHint } from '../../src/enforce/kernel-modules.ts';
import { must, run, ROOT } from '../../support/netns.ts';

async function netns(t: { teardown(fn: () => unknown): void }, tag: string): Promise<string[]> {
  const ns = `pal-t-${process.pid}-km-${tag}`;
  await must(['ip', 'netns', 'add', ns]);
  t.teardown(async () => { await run(['ip', 'netns', 'del', ns]); });
  return ['ip', 'netns', 'exec', ns];
}

for (const backend of ['nft', 'legacy'] as IptablesBackend[]) {
  for (const family of [4, 6] as const) {
    t.test(`iptables-restore (${backend}, IPv${family}): a match and a target the kernel lacks are named`, async (t) => {
      const prefix = await netns(t, `${backend}${family}`);
      const compat = backend === 'nft' ? ' nft_compat' : '';
      const err = await restoreTable(backend, family, 'filter', [':PALISADE-T - [0:0]', '-A PALISADE-T -m mark --mark 1 -j ACCEPT', '-A PALISADE-T -m ipvs --ipvs -j ACCEPT'], prefix)
        .then(() => undefined, (e: Error) => e);
      t.ok(err, 'the restore fails');
      t.match(err?.message, new RegExp(`^the kernel lacks the iptables extension ipvs \\(kernel modules xt_ipvs${compat.replace(' ', ', ')}\\); load them on the node \\(the agent has no SYS_MODULE\\): modprobe -a xt_ipvs${compat} \\(`), 'names the module and the command');
      t.match(err?.message, /failed \(exit \d\)/, 'the original failure follows');
      t.notMatch(err?.message, /\n/, 'one line');
      const led = await restoreTable(backend, family, 'filter', [':PALISADE-T - [0:0]', '-A PALISADE-T -j LED --led-trigger-id x'], prefix).then(() => undefined, (e: Error) => e);
      t.match(led?.message, /extension LED .*modprobe -a xt_LED/, 'a target too');
      t.notMatch(await listRules(backend, family, 'filter', prefix), /PALISADE-T/, 'nothing was installed (one transaction)');
    });
  }
}

t.test('a failure that is not a missing module gets no module hint', async (t) => {
  const prefix = await netns(t, 'other');
  const err = await restoreTable('nft', 4, 'filter', [':PALISADE-T - [0:0]', '-A PALISADE-T -j PALISADE-NOPE'], prefix).then(() => undefined, (e: Error) => e);
  t.ok(err, 'the restore fails (jump to a chain that does not exist)');
  t.notMatch(err?.message, /modprobe|kernel lacks/);
});

t.test('ipset: a set type the kernel lacks is named', async (t) => {
  const prefix = await netns(t, 'ipset');
  const err = await createSet('PAL-T-NETNET', 'hash:net,net', [], prefix).then(() => undefined, (e: Error) => e);
  t.match(err?.message, /^the kernel lacks the ipset type hash:net,net \(kernel module ip_set_hash_netnet\); load it on the node \(the agent has no SYS_MODULE\): modprobe -a ip_set_hash_netnet \(.*set type not supported/);
  await createSet('PAL-T-CACHE', 'hash:ip,port,ip', ['family', 'inet', 'timeout', '5'], prefix);
  t.match(await must([...prefix, 'ipset', 'list', '-n']), /PAL-T-CACHE/, 'the verdict cache\'s type works here');
  t.equal(ipsetTypeModule('hash:ip,port,ip'), 'ip_set_hash_ipportip', '--verdict-cache needs ip_set_hash_ipportip');
});

t.test('the TUN backend without /dev/net/tun: the agent says what is missing', async (t) => {
  const prefix = await netns(t, 'tun');
  const dir = mkdtempSync(join(tmpdir(), 'pal-km-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // A private mount namespace whose /dev/net is an empty tmpfs: open(/dev/net/tun) gets ENOENT,
  // as in a container that was not given the device.
  const r = await run([...prefix, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c',
    `mount -t tmpfs tmpfs /dev/net && exec node ${join(ROOT, 'bin', 'palisade.js')} agent --node n1 --manifests ${dir} --backend tun --no-strict --rules-check-ms 0`], undefined, 60_000);
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, /palisade agent: \/dev\/net\/tun does not exist here: the TUN backend needs the node's \/dev\/net\/tun \(mount it into the container; on the node: modprobe tun\) \(tun open: open\(\/dev\/net\/tun\) failed: No such file or directory \(ENOENT\)\)/);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  t.match(r.stderr, /iptables backend nft: neither backend holds more of the node's rules, nft is the default/, 'the backend choice is logged with its reason');
  t.notMatch(await listRules('nft', 4, 'mangle', prefix), /PALISADE/, 'no rules left behind');
});

t.test('errno translations and the modules of Palisade\'s own extensions', async (t) => {
  t.match(nfqueueModuleHint('EINVAL', 'NFQNL_MSG_CONFIG'), /modprobe -a nfnetlink_queue$/);
  t.match(nfqueueModuleHint('EPROTONOSUPPORT', 'socket(NETLINK_NETFILTER)'), /modprobe -a nfnetlink nfnetlink_queue$/);
  t.equal(nfqueueModuleHint('EPERM', 'NFQNL_MSG_CONFIG'), undefined, 'EPERM is a held queue or a missing capability, not a module');
  t.equal(nfqueueModuleHint('EINVAL', 'recvmmsg'), undefined);
  t.match(tunModuleHint('ENODEV'), /modprobe -a tun$/);
  t.equal(tunModuleHint('EPERM'), undefined);
  const cases: [string, string[]][] = [
    ['NFQUEUE', ['xt_NFQUEUE', 'nfnetlink_queue']], ['connmark', ['xt_connmark', 'nf_conntrack']], ['CONNMARK', ['xt_connmark', 'nf_conntrack']],
    ['conntrack', ['xt_conntrack', 'nf_conntrack']], ['mark', ['xt_mark']], ['MARK', ['xt_mark']], ['set', ['xt_set', 'ip_set']], ['tcp', ['xt_tcpudp']], ['ipvs', ['xt_ipvs']],
  ];
  for (const [ext, mods] of cases) t.same(extensionModules(ext), mods, ext);
});
