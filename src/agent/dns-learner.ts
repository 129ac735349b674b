// The agent's DNS learner (issue 16): DNS answers to the pods a domainNames policy selects are
// handed to it before delivery (UDP and TCP from source port 53, any server; by the DNS queue or,
// TUN backend, the DNS TUN device: agent/dns-wiring.ts); TCP streams are reassembled per
// connection (dataplane/tcp-dns-reassembly.ts); it parses them
// (dataplane/dns-parser.ts), records address -> names (dataplane/name-store.ts), and always lets
// the answer through: the pod's resolver, not Palisade, decides what a DNS answer is worth.
//
// How the learned names reach the engines: the learner installs ClusterState.resolveClusterPolicy,
// so every stored cluster policy's domainNames peers carry the live addresses learned for them
// (policy/domain-names.ts), and re-stores the policies whose addresses changed after each batch
// of answers and each expiry tick. Each re-store is an ordinary policy change: both engines see
// the same peers (the compiled engine as host blocks, recompiled incrementally), and the agent
// flushes the verdict cache before the new snapshot judges (agent.ts onChanges), so no cached
// verdict outlives the record that allowed it. The answer is only accepted after the new
// snapshot is in place, so the pod's first connection to the address already finds it.
//
// Decisions (README "Egress to domain names"):
// - Spoofed answers: only answers on a flow the pod opened reach the queue (the iptables rule
//   matches conntrack ESTABLISHED replies, i.e. from the server and port the pod's query went
//   to), and only records the question name reaches are learned. The DNS id is left to the pod's
//   resolver, which drops an answer with the wrong id itself. The agent never sees the query, so
//   it takes the answer's question section at its word: an answer the resolver drops still
//   teaches what it names, but only an answer from the server the pod chose to ask, on a flow
//   the pod opened; that server is trusted with the names anyway.
// - Scope: records are this node's. Addresses are learned for the node's own pods (the agent
//   sees no other answers), and a policy's peer matches the addresses learned for any pod of
//   this node under its names. A pod on another node is judged by that node's agent with that
//   node's records: an address only another node learned is not the name here, and a connection
//   to it from a pod of this node is judged as any other address until this node learns it.

import { ACCEPT } from '../enforce/judge.ts';
import type { PacketJudge } from '../enforce/judge.ts';
import type { ClusterState } from '../cluster/state.ts';
import { protocolOfNumber, type ClusterPolicy } from '../cluster/model.ts';
import { KIND } from '../cluster/kinds.ts';
import { DNS_RESULT, DNS_RESULT_NAMES, DnsAnswer, parseDnsAnswer } from '../dataplane/dns-parser.ts';
import { TcpDnsReassembly, type TcpDnsReassemblyOptions } from '../dataplane/tcp-dns-reassembly.ts';
import { NameStore, type NameStoreOptions } from '../dataplane/name-store.ts';
import { PacketInfo } from '../dataplane/packet-info.ts';
import { parsePacket } from '../dataplane/packet-parser.ts';
import { cidrContains, formatIP, parseCIDR, parseIP, type ParsedCIDR, type ParsedIP } from '../net/address.ts';
import { canonicalName, clusterPolicyUsesDomainNames, domainNameMatches, peerNamesMatch, withLearnedAddresses, withRecordRevived } from '../policy/domain-names.ts';
import { evaluate } from '../policy/evaluator.ts';

/** Canonical text of an address given as words (an IPv4-mapped IPv6 address is its IPv4 address, as parseIP reads it). */
export function ipText(family: number, a: number, b: number, c: number, d: number): string {
  if (family === 4) return formatIP({ family: 'IPv4', words: [a >>> 0] });
  if (a === 0 && b === 0 && (c >>> 0) === 0xffff) return formatIP({ family: 'IPv4', words: [d >>> 0] });
  return formatIP({ family: 'IPv6', words: [a >>> 0, b >>> 0, c >>> 0, d >>> 0] });
}

export interface DnsLearnerOptions extends NameStoreOptions {
  readonly tcp?: TcpDnsReassemblyOptions;
  /**
   * The name servers believed (--dns-servers: addresses or CIDRs): an answer from any other
   * source is delivered but not learned from (counted as `untrusted-server`). Absent: any server
   * a selected pod opened a flow to on port 53.
   */
  readonly servers?: readonly string[];
}

/** An address or CIDR (checked before, as the agent's flags are) as a CIDR; a bare address is its /32 or /128. */
function serverRange(text: string): ParsedCIDR {
  const c = text.includes('/') ? parseCIDR(text) : undefined;
  if (c) return c;
  const ip = parseIP(text);
  if (!ip) throw new Error(`--dns-servers: "${text}" is not an IP address or CIDR`);
  return { family: ip.family, words: ip.words, prefix: ip.family === 'IPv4' ? 32 : 128 };
}

export interface DnsLearnerCounters {
  /** DNS answers handed to the learner. */
  answers: number;
  /** Answers that parsed (whether or not they held an address). */
  parsed: number;
  /** Refused answers by reason (DNS_RESULT_NAMES), plus packets that were no DNS answer to a local pod. */
  errors: Record<string, number>;
  /** Policy re-stores (each one recompile and verdict cache flush). */
  republished: number;
  /** Answers of over MAX_ANSWERS records: the first ones learned, the rest left out (dns-parser.ts). */
  partial: number;
}

export class DnsLearner implements PacketJudge {
  readonly store: NameStore;
  readonly counters: DnsLearnerCounters = { answers: 0, parsed: 0, errors: { 'not-dns': 0, 'not-local-pod': 0, 'untrusted-server': 0 }, republished: 0, partial: 0 };
  /** --dns-servers; undefined: every server. */
  private readonly servers?: readonly ParsedCIDR[];
  private readonly info = new PacketInfo();
  private readonly answer = new DnsAnswer();
  /** DNS over TCP, followed per connection (answers longer than one segment). */
  readonly tcp: TcpDnsReassembly;
  /** The pod the packet being read goes to (canonical text). */
  private pod = '';
  private changed = false;
  /** The domainNames entries the store was last told to keep (updateWanted). */
  private wantedSig?: string;
  /** Those entries (canonical). */
  private patterns: readonly string[] = [];
  private readonly stopWatch: () => void;
  /** The policy republish is storing, already resolved (the state's hook would look it up again). */
  private resolved?: ClusterPolicy;

  constructor(
    private readonly state: ClusterState,
    /** Is this address (canonical text) one of this node's pods? */
    private readonly isLocalPod: (address: string) => boolean,
    opts: DnsLearnerOptions = {},
    private readonly clock: () => number = Date.now,
  ) {
    this.store = new NameStore(opts);
    if (opts.servers !== undefined) this.servers = opts.servers.map(serverRange);
    this.tcp = new TcpDnsReassembly((b, o, l) => this.learnMessage(b, o, l), opts.tcp);
    for (const n of DNS_RESULT_NAMES) if (n !== 'ok') this.counters.errors[n] = 0;
    state.resolveClusterPolicy = (p) => this.resolve(p);
    this.updateWanted();
    this.stopWatch = state.onChange((changes) => {
      if (changes.some((c) => KIND[c.kind].store === 'clusterPolicies')) this.updateWanted();
    });
  }

  /**
   * Tells the store which names its caps should keep: those some cluster policy's domainNames
   * entry matches (name-store.ts evicts the others first). Redone only when the set of entries
   * changes, not at each re-store of the learned addresses.
   */
  private updateWanted(): void {
    const patterns = new Set<string>();
    for (const p of this.state.clusterPolicies.values()) for (const r of p.egress) for (const q of r.peers) for (const d of q.domainNames ?? []) patterns.add(canonicalName(d));
    const sig = [...patterns].sort().join(' ');
    if (sig === this.wantedSig) return;
    this.wantedSig = sig;
    const list = [...patterns];
    this.patterns = list;
    this.store.setWanted((n) => this.named(n));
  }

  /** Does some cluster policy's domainNames entry match the name? */
  private named(name: string): boolean {
    return this.patterns.some((p) => domainNameMatches(p, name));
  }

  private resolve<P extends Parameters<typeof withLearnedAddresses>[0]>(p: P): P {
    if (!clusterPolicyUsesDomainNames(p) || p === this.resolved) return p;
    const now = this.clock();
    return withLearnedAddresses(p, (patterns) => this.store.addressesFor(patterns, now)) as P;
  }

  /** Learns from one DNS answer packet (IPv4/IPv6, UDP or TCP); always ACCEPT. */
  classify(buf: Buffer, off: number, len: number, now: number): number {
    this.counters.answers++;
    this.learnPacket(buf, off, len);
    void now;
    return ACCEPT;
  }

  private learnPacket(buf: Buffer, off: number, len: number): void {
    const info = this.info;
    if (!parsePacket(buf, off, len, info) || info.srcPort !== 53 || info.laterFragment || (info.proto !== 17 && info.proto !== 6)) {
      this.counters.errors['not-dns']!++;
      return;
    }
    const pod = info.family === 4 ? ipText(4, info.dst4, 0, 0, 0) : ipText(6, info.dst6a, info.dst6b, info.dst6c, info.dst6d);
    if (!this.isLocalPod(pod)) {
      this.counters.errors['not-local-pod']!++;
      return;
    }
    if (this.servers && !this.believes(info)) {
      this.counters.errors['untrusted-server']!++;
      return;
    }
    this.pod = pod;
    const inBuf = Math.min(info.l4Length, off + len - info.l4Offset);
    if (info.proto === 17) {
      this.learnMessage(buf, info.l4Offset + 8, inBuf - 8);
      return;
    }
    // TCP: the stream is followed per flow (dataplane/tcp-dns-reassembly.ts), which calls
    // learnMessage for each answer this segment completes, before the segment is let through.
    const p = info.l4Offset;
    const hl = ((buf[p + 12] ?? 0) >> 4) * 4;
    const seq = ((buf[p + 4]! << 24) | (buf[p + 5]! << 16) | (buf[p + 6]! << 8) | buf[p + 7]!) >>> 0;
    const segLen = Math.max(0, inBuf - hl);
    // The learner's clock, not the enforcer's `now`: tick() expires flows by the same clock.
    this.tcp.segment(info, seq, buf, p + hl, segLen, inBuf === info.l4Length, this.clock());
  }

  /**
   * Is the answer's source one of the servers believed? Without --dns-servers any server a pod
   * asked is, and a pod allowed to reach a name server of its own on port 53 could have it answer
   * an allowed name with any address (README, "Which servers are believed").
   */
  private believes(info: PacketInfo): boolean {
    const src: ParsedIP = info.family === 4 ? { family: 'IPv4', words: [info.src4 >>> 0] }
      : parseIP(ipText(6, info.src6a, info.src6b, info.src6c, info.src6d))!;
    return this.servers!.some((c) => cidrContains(c, src));
  }

  /** One whole DNS message at buf[mOff, mOff+mLen), sent to this.pod by the server in this.info. */
  private learnMessage(buf: Buffer, mOff: number, mLen: number): void {
    if (mLen < 0) {
      this.counters.errors['truncated']!++;
      return;
    }
    const info = this.info;
    const a = this.answer;
    const r = parseDnsAnswer(buf, mOff, mLen, a);
    if (r !== DNS_RESULT.OK) {
      this.counters.errors[DNS_RESULT_NAMES[r]!]!++;
      return;
    }
    this.counters.parsed++;
    if (a.leftOut > 0) this.counters.partial++;
    if (a.count === 0) return;
    const server = info.family === 4 ? ipText(4, info.src4, 0, 0, 0) : ipText(6, info.src6a, info.src6b, info.src6c, info.src6d);
    const wall = this.clock();
    for (let i = 0; i < a.count; i++) {
      const w = a.words;
      const address = ipText(a.family[i]!, w[4 * i]!, w[4 * i + 1]!, w[4 * i + 2]!, w[4 * i + 3]!);
      if (this.store.learn(this.pod, address, a.names.slice(0, a.owner[i]! + 1), server, a.ttl[i]!, wall)) this.changed = true;
    }
  }

  /** After a batch of answers: re-store the policies whose addresses changed, before the verdicts go out. */
  endBatch(): void {
    if (!this.changed) return;
    this.changed = false;
    this.republish();
  }

  /** Drops expired records and records of addresses that are no longer local pods; re-stores what changed. Returns records dropped. */
  tick(): number {
    const now = this.clock();
    this.tcp.expire(now);
    let n = this.store.expire(now);
    // Once per pod, not per record: the agent's local-pod test walks the cluster's pods.
    for (const pod of this.store.pods()) if (!this.isLocalPod(pod)) n += this.store.dropPod(pod);
    if (n > 0) this.republish();
    return n;
  }

  /**
   * Re-stores the cluster policies whose domainNames addresses differ from the live records (one
   * batch, one recompile). Only a policy with an entry matching a name whose records came or
   * went since the last re-store can differ: the others are not looked up (a re-store runs while
   * the pod's answer waits). A record past its expiry that the tick has not dropped yet stays in
   * a policy no change touches until that tick (at most a second), as with no answer at all.
   */
  republish(): void {
    const st = this.state;
    const changed = [...this.store.takeChangedNames()];
    if (changed.length === 0) return;
    const touched = (p: ClusterPolicy): boolean => p.egress.some((r) => r.peers.some((q) => q.domainNames !== undefined && changed.some((n) => peerNamesMatch(q.domainNames!, n))));
    st.batch(() => {
      for (const p of [...st.clusterPolicies.values()]) {
        if (!touched(p)) continue;
        const r = this.resolve(p);
        if (r !== p) {
          this.resolved = r;
          try {
            st.upsert(p.kind, r);
          } finally {
            this.resolved = undefined;
          }
          this.counters.republished++;
        }
      }
    });
  }

  /**
   * Does an established flow to `address` outlive its DNS record? Yes when the address's record
   * expired (name-store.ts keeps its names) and one of those names is still matched by a
   * domainNames peer of a cluster policy: NPEP-133 asks that an expiry stop new connections
   * only. A policy change that no longer names it (deleted, edited) lets strict mode cut it.
   */
  outlives(address: string): boolean {
    const names = this.store.expiredNames(address);
    return names !== undefined && [...names].some((n) => this.named(n));
  }

  /**
   * Should strict mode keep an established flow that its egress side now denies? Only when the
   * record's expiry is all that denies it: the address outlives its record (above), and the flow's
   * egress side, judged again by the plain evaluator with that record live (withRecordRevived),
   * allows it. A Deny placed before the name's Accept (a higher-priority Admin policy, say) is
   * then judged as written, and cuts the flow. A flow of a protocol the evaluator does not take
   * (ICMP) keeps the address-only answer. Off the packet path: strict sweeps only, and only for
   * flows to an address with an expired record.
   */
  spares(src: string, dst: string, proto: number, port: number, localNode?: string): boolean {
    if (!this.outlives(dst)) return false;
    const protocol = protocolOfNumber(proto);
    if (protocol === undefined) return true;
    const revived = withRecordRevived(this.state, dst, this.store.expiredNames(dst)!);
    return evaluate(revived, { src, dst, protocol, port }, { localNode }).egress.allowed;
  }

  /**
   * spares() for one strict sweep. The plain evaluator walks every pod to find a connection's
   * ends (milliseconds at the scale limits), and a client's pool of connections to one address
   * shares source, destination, protocol and port: each such key is judged once a sweep. The
   * next sweep takes a new one, as the cluster may have changed in between.
   */
  sparer(localNode?: string): (src: string, dst: string, proto: number, port: number) => boolean {
    const memo = new Map<string, boolean>();
    return (src, dst, proto, port) => {
      const key = `${src} ${dst} ${proto} ${port}`;
      let v = memo.get(key);
      if (v === undefined) memo.set(key, (v = this.spares(src, dst, proto, port, localNode)));
      return v;
    };
  }

  /** Removes the hook (the agent stops). */
  close(): void {
    this.stopWatch();
    if (this.state.resolveClusterPolicy) delete this.state.resolveClusterPolicy;
  }
}
