// PLACEHOLDER until the decoder lands (issue 13): every cluster policy is reported as ignored.
import type { Decoded } from '../kinds.ts';
import type { Errs, Obj } from './fields.ts';

export function decodeClusterNetworkPolicy(_raw: Obj, _e: Errs): Decoded {
  return { kind: 'ignored', note: 'ClusterNetworkPolicy decoding not implemented yet' };
}
export function decodeAdminNetworkPolicy(_raw: Obj, _e: Errs): Decoded {
  return { kind: 'ignored', note: 'AdminNetworkPolicy decoding not implemented yet' };
}
export function decodeBaselineAdminNetworkPolicy(_raw: Obj, _e: Errs): Decoded {
  return { kind: 'ignored', note: 'BaselineAdminNetworkPolicy decoding not implemented yet' };
}
