// `palisade agent` refuses bad flags with one line naming the flag, before touching the kernel.

import t from 'tap';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { run, ROOT } from '../../support/netns.ts';

const dir = mkdtempSync(join(tmpdir(), 'pal-flags-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const cases: { args: string[]; code: number; err: RegExp }[] = [
  { args: ['--manifests', dir], code: 2, err: /--node is required/ },
  { args: ['--node', 'n1'], code: 2, err: /--source files needs --manifests/ },
  { args: ['--node', 'n1', '--manifests', dir, '--backend', 'ebpf'], code: 2, err: /--backend must be nfqueue or tun, got "ebpf"/ },
  { args: ['--node', 'n1', '--manifests', dir, '--source', 'etcd'], code: 2, err: /--source must be files or kube/ },
  { args: ['--node', 'n1', '--manifests', dir, '--queue', '65536'], code: 2, err: /--queue must be between 0 and 65535, got 65536/ },
  { args: ['--node', 'n1', '--manifests', dir, '--queue', 'x'], code: 2, err: /--queue must be a whole number/ },
  { args: ['--node', 'n1', '--manifests', dir, '--queue', '65535', '--queues', '2'], code: 2, err: /goes past queue 65535/ },
  { args: ['--node', 'n1', '--manifests', dir, '--queues', '0'], code: 2, err: /--queues must be between 1 and 64/ },
  { args: ['--node', 'n1', '--manifests', dir, '--mark', '0'], code: 2, err: /--mark must be a non-zero 32-bit mask/ },
  { args: ['--node', 'n1', '--manifests', dir, '--mark', '0x123456789'], code: 2, err: /--mark must be a non-zero 32-bit mask/ },
  { args: ['--node', 'n1', '--manifests', dir, '--backend', 'tun', '--mark', '0x4000000'], code: 2, err: /--mark and --tun-mark must not share bits/ },
  { args: ['--node', 'n1', '--manifests', dir, '--pod-cidr', '10.0.0.0/33'], code: 2, err: /--pod-cidr: "10.0.0.0\/33" is not a valid CIDR/ },
  { args: ['--node', 'n1', '--manifests', dir, '--pod-iface', 'eth0;x'], code: 2, err: /--pod-iface: interface "eth0;x"/ },
  { args: ['--node', 'n1', '--manifests', dir, '--backend', 'tun', '--tun-name', 'a-very-long-device-name'], code: 2, err: /--tun-name must be 1-15 characters/ },
  { args: ['--node', 'n1', '--manifests', dir, '--tun-name', 'pal1'], code: 2, err: /^palisade agent: --tun-name is for --backend tun, not --backend nfqueue \(the default\)\n$/ },
  { args: ['--node', 'n1', '--manifests', dir, '--backend', 'tun', '--queue', '3'], code: 2, err: /^palisade agent: --queue is for --backend nfqueue, not --backend tun\n$/ },
  { args: ['--node', 'n1', '--manifests', dir, '--backend', 'tun', '--tun-table', '254'], code: 2, err: /^palisade agent: --tun-table 254: table 254 is the kernel's own \(253 default, 254 main, 255 local\)/ },
  { args: ['--node', 'n1', '--manifests', dir, '--backend', 'tun', '--tun-table', '252'], code: 2, err: /^palisade agent: --tun-table 252: table 253 \(the DNS learner's/ },
  { args: ['--node', 'n1', '--manifests', dir, '--iptables', 'xt'], code: 2, err: /--iptables must be auto, nft or legacy/ },
  { args: ['--node', 'n1', '--manifests', dir, '--health', 'localhost:99999'], code: 2, err: /--health: health address/ },
  { args: ['--node', 'n1', '--manifests', dir, '--bogus'], code: 2, err: /unknown flag --bogus/ },
  { args: ['--node', 'n1', '--source', 'kube', '--manifests', dir], code: 2, err: /--manifests is for --source files/ },
  { args: ['--node', 'n1', '--manifests', dir, '--kubeconfig', join(dir, 'kubeconfig')], code: 2, err: /^palisade agent: --kubeconfig is for --source kube, not --source files \(the default\)\n$/ },
  { args: ['--node', 'n1', '--manifests', join(dir, 'missing')], code: 2, err: /^palisade agent: --manifests .*missing: no such file or directory\n$/ },
];

for (const c of cases) {
  t.test(c.args.join(' '), async (t) => {
    const r = await run(['node', join(ROOT, 'bin', 'palisade.js'), 'agent', ...c.args]);
    t.equal(r.code, c.code, 'exit code');
    t.match(r.stderr, c.err);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
}
