// Which kernel module is missing, read from the failure itself.
//
// The agent runs without SYS_MODULE (daemonset.yaml): it cannot load modules, and a module the
// node has not loaded and has not built in makes an iptables rule, an ipset or the queue bind
// fail with an errno that names nothing useful. Reading /proc/modules up front would be wrong
// both ways (built-in modules are not listed there; a listed one may still not be what the rule
// needs), so instead each failure is translated where it happens: these functions turn the
// tool's error output, or the kernel's errno, into the modules to load and the command to run on
// the node. They return undefined when the failure does not look like a missing module.

/** Palisade's iptables extensions and the modules they live in (names as iptables spells them). */
const EXTENSION_MODULES: Record<string, readonly string[]> = {
  NFQUEUE: ['xt_NFQUEUE', 'nfnetlink_queue'],
  connmark: ['xt_connmark', 'nf_conntrack'],
  CONNMARK: ['xt_connmark', 'nf_conntrack'],
  conntrack: ['xt_conntrack', 'nf_conntrack'],
  mark: ['xt_mark'],
  MARK: ['xt_mark'],
  set: ['xt_set', 'ip_set'],
  comment: ['xt_comment'],
  tcp: ['xt_tcpudp'],
  udp: ['xt_tcpudp'],
};

/** Modules holding an iptables match or target; unknown ones follow the kernel's xt_<name> naming. */
export function extensionModules(name: string): readonly string[] {
  return EXTENSION_MODULES[name] ?? [`xt_${name}`];
}

function modprobe(modules: readonly string[]): string {
  return `modprobe -a ${modules.join(' ')}`;
}

function unique(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}

/**
 * A missing module behind an iptables(-restore) failure. Both backends (iptables 1.8.9, the
 * image's) warn "Extension X revision N not supported, missing kernel module?" when the kernel
 * does not know an extension; the failing line itself is only "line N failed" (legacy: the COMMIT
 * line) or "RULE_APPEND failed (No such file or directory)" (nft). The nft backend runs xtables
 * extensions through nft_compat, so that module is named too.
 */
export function iptablesModuleHint(output: string, backend: 'nft' | 'legacy'): string | undefined {
  const exts = unique([...output.matchAll(/Extension (\S+) revision \d+ not supported/g)].map((m) => m[1]!));
  if (exts.length === 0) return undefined;
  const modules = unique([...exts.flatMap(extensionModules), ...(backend === 'nft' ? ['nft_compat'] : [])]);
  return `the kernel lacks the iptables extension${exts.length > 1 ? 's' : ''} ${exts.join(', ')} (kernel modules ${modules.join(', ')}); ` +
    `load them on the node (the agent has no SYS_MODULE): ${modprobe(modules)}`;
}

/** The kernel module of an ipset type: hash:ip,port,ip -> ip_set_hash_ipportip. */
export function ipsetTypeModule(type: string): string {
  return `ip_set_${type.replace(':', '_').replace(/,/g, '')}`;
}

/** A missing module behind an `ipset create` failure ("Kernel error received: set type not supported"). */
export function ipsetModuleHint(output: string, type: string): string | undefined {
  if (!/set type not supported/i.test(output)) return undefined;
  const mod = ipsetTypeModule(type);
  return `the kernel lacks the ipset type ${type} (kernel module ${mod}); load it on the node (the agent has no SYS_MODULE): ${modprobe([mod])}`;
}

/**
 * A missing module behind a failed NFQUEUE bind, from the errno. The NETLINK_NETFILTER socket
 * itself fails with EPROTONOSUPPORT without nfnetlink; a configuration message to a queue
 * subsystem nobody registered is answered EINVAL by nfnetlink (nfnetlink_rcv_msg, after its own
 * attempt to load "nfnetlink-subsys-3" fails).
 */
export function nfqueueModuleHint(code: string | undefined, syscall?: string): string | undefined {
  if (code === 'EPROTONOSUPPORT' && syscall?.startsWith('socket')) {
    return `the kernel has no nfnetlink; load it on the node (the agent has no SYS_MODULE): ${modprobe(['nfnetlink', 'nfnetlink_queue'])}`;
  }
  if (code === 'EINVAL' && syscall === 'NFQNL_MSG_CONFIG') {
    return `the kernel refused the queue configuration, most likely because nfnetlink_queue is not loaded; load it on the node (the agent has no SYS_MODULE): ${modprobe(['nfnetlink_queue'])}`;
  }
  return undefined;
}

/** What is missing behind a failed open of /dev/net/tun (TUN backend). */
export function tunModuleHint(code: string | undefined): string | undefined {
  if (code === 'ENOENT') {
    return '/dev/net/tun does not exist here: the TUN backend needs the node\'s /dev/net/tun (mount it into the container; on the node: modprobe tun)';
  }
  if (code === 'ENODEV' || code === 'ENXIO') {
    return `the kernel has no TUN driver; load it on the node (the agent has no SYS_MODULE): ${modprobe(['tun'])}`;
  }
  return undefined;
}

/** An error whose message leads with what to do, keeping the original failure after it. */
export function withHint<E extends Error>(e: E, hint: string | undefined): E {
  if (hint) e.message = `${hint} (${e.message})`;
  return e;
}
