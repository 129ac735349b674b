// The ClusterNetworkPolicy conformance cases with real packets through a multi-node lab, enforced
// by the agent's NFQUEUE backend (see conformance-lab-cnp.ts and conformance-lab.ts).
import { conformanceLabCnp } from './conformance-lab-cnp.ts';

conformanceLabCnp('nfqueue', 'lc-cnp-nfq');
