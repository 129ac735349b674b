// The ClusterNetworkPolicy conformance cases with real packets through a multi-node lab, enforced
// by the agent's NFQUEUE backend (see conformance-lab-cnp.ts and conformance-lab.ts): every case
// over IPv4, and the IPv6 twins (test/support/ipv6-twin.ts) of the cases that expect a pod -> own
// node connection to be denied, which the TUN run (over the other IPv6 twins) cannot enforce.
import { cnpIPv6Twins, conformanceLabCnp, deniesOwnNodeTraffic } from './conformance-lab-cnp.ts';
import { cnpCases } from '../conformance/case-set.ts';

conformanceLabCnp('nfqueue', 'lc-cnp-nfq', undefined, () => [...cnpCases(), ...cnpIPv6Twins().filter(deniesOwnNodeTraffic)]);
