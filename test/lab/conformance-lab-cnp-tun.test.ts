// The ClusterNetworkPolicy conformance cases with real packets through a multi-node lab, enforced
// by the agent's TUN backend (see conformance-lab-cnp.ts and conformance-lab.ts): every case but
// those expecting a pod -> own node connection to be denied (013, 024, 907, c02, c03 today),
// which only the NFQUEUE backend enforces. The TUN backend's fwmark rule comes after the `local`
// routing rule, so a pod's packets to its own node's address are delivered locally, unjudged
// (enforce/tun-routing.ts); conformance-lab-cnp.test.ts runs those cases on NFQUEUE.
import { conformanceLabCnp, deniesOwnNodeTraffic } from './conformance-lab-cnp.ts';

conformanceLabCnp('tun', 'lc-cnp-tun', (c) => !deniesOwnNodeTraffic(c));
