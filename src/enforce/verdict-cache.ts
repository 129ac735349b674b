// The verdict cache (NFQUEUE, `--verdict-cache`): new connections whose verdict the agent already
// gave in the current rule generation are accepted by the kernel without a trip to userspace.
//
// Why it is exact: a new connection's verdict is a function of (source address, destination
// address, protocol, destination port) and the rule generation alone (engine-api.ts judge4/6; the
// source port never matters to NetworkPolicy). So once the agent allowed a SYN from A to B:80,
// every later connection A -> B:80 gets the same answer until the rules change. The agent records
// each allowed tuple in an ipset of type hash:ip,port,ip (src, proto:port, dst; one set per
// family, entries expire after `timeoutSeconds`); PALISADE-QUEUE matches the set before the queue
// (iptables.ts) and accepts with the allow connmark, so strict mode and the rest of the flow treat
// such connections exactly like ones the agent accepted itself.
//
// When the rules change, the sets are flushed BEFORE the new snapshot is used (flush() returns
// once the kernel has emptied them: netlink requests run inside sendmsg), so no verdict of an
// older generation admits a packet afterwards. Only allows are cached: denials keep going to the
// agent, which logs and counts them. Connections the kernel admits from the cache are not seen
// by the agent, so they are not in its per-connection metrics or in a --log-allowed log (the agent
// refuses the two flags together).

import { loadNative, type NativeAddon } from './native.ts';
import { CACHE_SETS, type Family } from './iptables.ts';
import { CommandError, mustRun, runCommand, type CommandPrefix } from './command.ts';
import { ipsetModuleHint, withHint } from './kernel-modules.ts';
import type { PacketInfo } from '../dataplane/packet-info.ts';
import { protocolHasPorts } from '../net/ip-protocols.ts';

const ENTRY = 10;

export interface VerdictCacheOptions {
  /** Seconds an entry lives after its last refresh (default 30). */
  readonly timeoutSeconds?: number;
  /** Most entries per set (ipset maxelem; default 65536). A full set refuses adds: those connections are judged in userspace. */
  readonly maxEntries?: number;
  /** Prefix for the ipset tool (tests: ['ip', 'netns', 'exec', NS]). The netlink socket is in this process's namespace. */
  readonly prefix?: CommandPrefix;
  readonly families?: readonly Family[];
}

/** `ipset create -exist`; when the kernel lacks the set type, the error names its module (kernel-modules.ts). */
export async function createSet(name: string, type: string, options: readonly string[], prefix?: CommandPrefix): Promise<void> {
  try {
    await mustRun(['ipset', 'create', '-exist', name, type, ...options], { prefix });
  } catch (e) {
    throw e instanceof CommandError ? withHint(e, ipsetModuleHint(e.stderr, type)) : e;
  }
}

export class VerdictCache {
  readonly timeoutSeconds: number;
  /** Entries handed to the kernel, flushes, and adds the kernel refused (full set, ...). */
  added = 0;
  flushes = 0;
  addFailures = 0;
  private readonly pending: { readonly 4: Int32Array; readonly 6: Int32Array };
  private n4 = 0;
  private n6 = 0;
  private readonly cap: number;

  private constructor(private readonly native: NativeAddon, private readonly fd: number, readonly families: readonly Family[], timeoutSeconds: number, cap = 256) {
    this.timeoutSeconds = timeoutSeconds;
    this.cap = cap;
    this.pending = { 4: new Int32Array(cap * ENTRY), 6: new Int32Array(cap * ENTRY) };
  }

  /** Creates (or takes over, emptied) the sets and opens the netlink socket. */
  static async open(o: VerdictCacheOptions = {}): Promise<VerdictCache> {
    const timeout = o.timeoutSeconds ?? 30;
    if (!(Number.isInteger(timeout) && timeout >= 1 && timeout <= 86400)) throw new RangeError(`verdict cache timeout must be 1-86400 s, got ${timeout}`);
    const max = o.maxEntries ?? 65536;
    if (!(Number.isInteger(max) && max >= 16 && max <= 1 << 24)) throw new RangeError(`verdict cache size must be 16-16777216 entries, got ${max}`);
    const families = o.families ?? [4, 6];
    for (const f of families) {
      await createSet(CACHE_SETS[f], 'hash:ip,port,ip', ['family', f === 4 ? 'inet' : 'inet6', 'timeout', String(timeout), 'maxelem', String(max)], o.prefix);
    }
    const native = loadNative();
    const c = new VerdictCache(native, native.ipsetOpen(), families, timeout);
    // Entries of an earlier run were judged by rules this run has not seen.
    c.flush();
    return c;
  }

  /**
   * Remembers an allowed new connection (the classifier's parsed packet); sent to the kernel by
   * commit(). TCP, UDP and SCTP only. Allocates nothing.
   */
  record(info: PacketInfo): void {
    const p = info.proto;
    if (!protocolHasPorts(p)) return;
    if (info.family === 4) {
      if (this.n4 === this.cap) this.commit();
      const a = this.pending[4], o = this.n4++ * ENTRY;
      a[o] = info.src4 | 0; a[o + 4] = info.dst4 | 0; a[o + 8] = p; a[o + 9] = info.dstPort;
    } else {
      if (this.n6 === this.cap) this.commit();
      const a = this.pending[6], o = this.n6++ * ENTRY;
      a[o] = info.src6a | 0; a[o + 1] = info.src6b | 0; a[o + 2] = info.src6c | 0; a[o + 3] = info.src6d | 0;
      a[o + 4] = info.dst6a | 0; a[o + 5] = info.dst6b | 0; a[o + 6] = info.dst6c | 0; a[o + 7] = info.dst6d | 0;
      a[o + 8] = p; a[o + 9] = info.dstPort;
    }
  }

  /** Sends what record() collected (the enforcer calls this after each batch). */
  commit(): void {
    if (this.n4 > 0 && this.families.includes(4)) {
      this.addFailures += this.native.ipsetAdd(this.fd, CACHE_SETS[4], 4, this.pending[4], this.n4, this.timeoutSeconds);
      this.added += this.n4;
    }
    if (this.n6 > 0 && this.families.includes(6)) {
      this.addFailures += this.native.ipsetAdd(this.fd, CACHE_SETS[6], 6, this.pending[6], this.n6, this.timeoutSeconds);
      this.added += this.n6;
    }
    this.n4 = 0;
    this.n6 = 0;
  }

  /** Forgets every cached verdict, synchronously (call before new rules take effect). Throws if the kernel refused. */
  flush(): void {
    this.n4 = 0;
    this.n6 = 0;
    for (const f of this.families) this.native.ipsetFlush(this.fd, CACHE_SETS[f]);
    this.flushes++;
  }

  /**
   * Closes the socket; with `destroy`, removes the sets (after the iptables rules that use them
   * are gone). Without it the rules stay (--keep-rules): the sets are emptied first, so while no
   * agent listens nothing is admitted on an old verdict (fail-closed, as without the cache).
   */
  async close(o: { destroy: boolean; prefix?: CommandPrefix }): Promise<void> {
    if (!o.destroy) {
      try {
        this.flush();
      } finally {
        this.native.ipsetClose(this.fd);
      }
      return;
    }
    this.native.ipsetClose(this.fd);
    for (const f of this.families) await runCommand(['ipset', 'destroy', CACHE_SETS[f]], { prefix: o.prefix });
  }
}
