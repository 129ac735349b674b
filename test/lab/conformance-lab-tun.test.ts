// The shared conformance suite with real packets through the lab, enforced by the agent's TUN
// backend (see conformance-lab.ts).
import { conformanceLab } from './conformance-lab.ts';

conformanceLab('tun', 'lc-tun');
