// What a pod's phase says about its network, for every layer that asks (policy, the lab).
//
// Source quoted: https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/ (Pod phase)
// "Succeeded: All containers in the Pod have terminated in success, and will not be restarted."
// "Failed: All containers in the Pod have terminated, and at least one container has terminated
// in failure." Both phases are terminal: the pod's sandbox, and with it its network, is gone.

import type { Pod } from './model.ts';

/**
 * A pod in phase Succeeded or Failed: it has released its IP (which may already belong to a new
 * pod), so it owns no address and matches nothing.
 */
export function podIsFinished(p: Pod): boolean {
  return p.phase === 'Succeeded' || p.phase === 'Failed';
}
