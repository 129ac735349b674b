// What `palisade lab up` and `palisade demo` check before building anything (no root needed: the
// tools are stand-ins on an injected PATH, the uid and the addon's path are given). Everything the
// lab's agent needs must be named here, or the lab is built and then its agent fails.

import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADDON_PATH } from '../../src/enforce/native.ts';
import { checkLabPrereqs } from '../../src/lab/prereqs.ts';
import { tmpDir } from '../cli/run-cli.ts';

const ALL_TOOLS = ['ip', 'iptables', 'ip6tables', 'conntrack', 'ipset'];

/** A folder holding a stand-in for each tool, which prints a version line and succeeds. */
function binWith(tools: readonly string[]): string {
  const dir = tmpDir('palisade-prereqs-');
  for (const tool of tools) {
    const file = join(dir, tool);
    writeFileSync(file, `#!/bin/sh\necho "${tool} v0 (stand-in)"\n`);
    chmodSync(file, 0o755);
  }
  return dir;
}

const emptyBuild = join(tmpDir('palisade-no-addon-'), 'build', 'Release', 'palisade_native.node');

// The raw-socket check opens a real socket: what it says depends on this process's privileges.
const RAW = 'raw IP sockets (SCTP probes)';

t.test('each missing prerequisite is named, with how to get it; only the agent needs ipset and the addon', async (t) => {
  const cases: { name: string; uid: number; tools: readonly string[]; addon: string; agent: boolean; missing: string[] }[] = [
    { name: 'everything there', uid: 0, tools: ALL_TOOLS, addon: ADDON_PATH, agent: true, missing: [] },
    { name: 'not root', uid: 1000, tools: ALL_TOOLS, addon: ADDON_PATH, agent: true, missing: ['root'] },
    { name: 'no ipset', uid: 0, tools: ALL_TOOLS.filter((x) => x !== 'ipset'), addon: ADDON_PATH, agent: true, missing: ['ipset'] },
    { name: 'no ipset, no agent', uid: 0, tools: ALL_TOOLS.filter((x) => x !== 'ipset'), addon: ADDON_PATH, agent: false, missing: [] },
    { name: 'no addon', uid: 0, tools: ALL_TOOLS, addon: emptyBuild, agent: true, missing: ['native addon'] },
    { name: 'no addon, no agent', uid: 0, tools: ALL_TOOLS, addon: emptyBuild, agent: false, missing: [] },
    { name: 'no ip', uid: 0, tools: ALL_TOOLS.filter((x) => x !== 'ip'), addon: ADDON_PATH, agent: false, missing: ['ip (iproute2)'] },
    { name: 'no tools at all', uid: 0, tools: [], addon: ADDON_PATH, agent: true, missing: ['ip (iproute2)', 'iptables', 'ip6tables', 'conntrack', 'ipset'] },
  ];
  for (const c of cases) {
    const ps = await checkLabPrereqs({ agent: c.agent }, { uid: c.uid, path: binWith(c.tools), addonPath: c.addon });
    const missing = ps.filter((p) => !p.ok && p.name !== RAW);
    t.same(missing.map((p) => p.name), c.missing, `${c.name}: missing ${c.missing.join(', ') || 'nothing'}`);
    for (const p of missing) t.match(p.fix, /\S/, `${c.name}: ${p.name} says how to get it`);
  }
});

t.test('a tool not on PATH is said so; the addon names its path and the command that builds it', async (t) => {
  const ps = await checkLabPrereqs({ agent: true }, { uid: 0, path: binWith([]), addonPath: emptyBuild });
  const by = (name: string) => ps.find((p) => p.name === name)!;
  t.match(by('ipset').detail, /^ipset not found on PATH/);
  t.match(by('ipset').fix, /apt-get install -y ipset/);
  t.match(by('native addon').detail, emptyBuild);
  t.match(by('native addon').fix, /scripts\/bootstrap\.sh/);
});

t.test('a tool that is there but fails is reported with its own words', async (t) => {
  const dir = binWith(ALL_TOOLS.filter((x) => x !== 'conntrack'));
  writeFileSync(join(dir, 'conntrack'), '#!/bin/sh\necho "conntrack: cannot open the netlink socket" >&2\nexit 1\n');
  chmodSync(join(dir, 'conntrack'), 0o755);
  const ps = await checkLabPrereqs({ agent: true }, { uid: 0, path: dir, addonPath: ADDON_PATH });
  const ct = ps.find((p) => p.name === 'conntrack')!;
  t.equal(ct.ok, false);
  t.match(ct.detail, /failed: conntrack: cannot open the netlink socket$/);
});

t.test('the TUN backend needs /dev/net/tun: missing, it is named before the lab is built', async (t) => {
  const nowhere = join(tmpDir('palisade-no-tun-'), 'tun');
  const cases: { name: string; backend: 'nfqueue' | 'tun'; agent: boolean; tunDevice: string; missing: boolean }[] = [
    { name: 'tun, no device node', backend: 'tun', agent: true, tunDevice: nowhere, missing: true },
    { name: 'nfqueue, no device node: not needed', backend: 'nfqueue', agent: true, tunDevice: nowhere, missing: false },
    { name: 'tun without the agent: not needed', backend: 'tun', agent: false, tunDevice: nowhere, missing: false },
  ];
  for (const c of cases) {
    const ps = await checkLabPrereqs({ agent: c.agent, backend: c.backend }, { uid: 0, path: binWith(ALL_TOOLS), addonPath: ADDON_PATH, tunDevice: c.tunDevice });
    const tun = ps.find((p) => p.name === 'TUN device');
    t.equal(tun !== undefined && !tun.ok, c.missing, c.name);
    if (c.missing) {
      t.match(tun!.detail, nowhere, `${c.name}: names the path`);
      t.match(tun!.fix, /modprobe tun/, `${c.name}: says how to get it`);
    }
  }
});
