// The ClusterNetworkPolicy conformance cases with real packets through a multi-node lab, enforced
// by the agent's TUN backend (see conformance-lab-cnp.ts and conformance-lab.ts), over IPv6: the
// IPv6 twins of the cases (test/support/ipv6-twin.ts; the NFQUEUE run covers IPv4), but those
// expecting a pod -> own node connection to be denied, which only the NFQUEUE backend enforces.
// The TUN backend's fwmark rule comes after the `local` routing rule, so a pod's packets to its
// own node's address are delivered locally, unjudged (enforce/tun-routing.ts);
// conformance-lab-cnp.test.ts runs those twins on NFQUEUE.
import { cnpIPv6Twins, conformanceLabCnp, deniesOwnNodeTraffic } from './conformance-lab-cnp.ts';

conformanceLabCnp('tun', 'lc-cnp-tun', (c) => !deniesOwnNodeTraffic(c), cnpIPv6Twins);
