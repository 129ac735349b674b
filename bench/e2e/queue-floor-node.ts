// For bench/e2e.ts's mode `queue-floor-node` (not part of the agent): the agent's own NFQUEUE
// addon (native/src/nfqueue.c: a uv_poll watcher on Node's event loop, recvmmsg, one JS call a
// batch, one verdict batch message) with a batch callback that accepts every packet and judges
// nothing. Between `queue-floor` (a C reader) and `nfqueue` (the agent) in the same round, it
// tells what Node's event loop and the addon cost a queued packet apart from what the agent's
// judging, bookkeeping and rules cost.
//   node --import tsx bench/e2e/queue-floor-node.ts QUEUE
// Prints "bound" once the kernel has acknowledged the queue's configuration.

import { loadNative, NFQ_ARRAY, u32View, type NativeNfqHandle } from '../../src/enforce/native.ts';

const queue = Number(process.argv[2]);
if (!Number.isInteger(queue) || queue < 0 || queue > 65535) {
  process.stderr.write('usage: queue-floor-node.ts QUEUE (0-65535)\n');
  process.exit(2);
}
const native = loadNative();
let verdicts: Uint32Array | undefined;
const accept = native.NF_ACCEPT;
const handle: NativeNfqHandle = native.nfqOpen(
  { queue },
  (n) => {
    const v = verdicts!;
    for (let i = 0; i < n; i++) v[i] = accept;
  },
  (err) => {
    if (err) {
      process.stderr.write(`queue-floor-node: queue ${queue}: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write('bound\n');
  },
);
verdicts = u32View(handle, NFQ_ARRAY.VERDICTS);
