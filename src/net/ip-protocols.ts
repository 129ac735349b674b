// IP protocol numbers (IANA "Assigned Internet Protocol Numbers"; the IPv4 protocol field and
// the IPv6 next-header field) of the protocols Palisade judges or parses.
//
// The per-packet parser and classifier keep module-local copies of these numbers on purpose:
// a literal constant in the same module is what the JIT folds into their hot loops.

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;

/** Whether connections of this protocol have ports (the ones NetworkPolicy `ports` can name). */
export function protocolHasPorts(proto: number): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP;
}
