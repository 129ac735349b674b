// One batch through the judge: the loop both enforcers (NFQUEUE and TUN) run over the packets the
// native side left in their shared receive buffer. Runs once per batch on the hot path, so it
// allocates nothing: counters go into the enforcer's own fields, verdicts into its typed array.

import { ACCEPT, type PacketJudge } from './judge.ts';

/** The running totals an enforcer keeps; judgeBatch adds one batch to them. */
export interface BatchTally {
  packets: number;
  accepts: number;
  drops: number;
  batches: number;
  judgeErrors: number;
  lastJudgeError: unknown;
}

/**
 * Judges packets 0..n-1 (packet i at buf[i * stride, + lens[i])) at time `now` and sets
 * verdicts[i] to acceptVerdict when the judge says ACCEPT, dropVerdict otherwise. A judge that
 * throws must not take enforcement down or open traffic: that packet is dropped and counted.
 */
export function judgeBatch(
  judge: PacketJudge,
  buf: Buffer,
  lens: Uint32Array,
  stride: number,
  n: number,
  now: number,
  verdicts: Uint32Array,
  acceptVerdict: number,
  dropVerdict: number,
  tally: BatchTally,
): void {
  let acc = 0;
  for (let i = 0; i < n; i++) {
    let v: number;
    try {
      v = judge.classify(buf, i * stride, lens[i]!, now);
    } catch (e) {
      tally.judgeErrors++;
      tally.lastJudgeError = e;
      v = -1;
    }
    if (v === ACCEPT) {
      verdicts[i] = acceptVerdict;
      acc++;
    } else {
      verdicts[i] = dropVerdict;
    }
  }
  tally.packets += n;
  tally.accepts += acc;
  tally.drops += n - acc;
  tally.batches++;
}

/**
 * After a batch, before its verdicts go out: the judge's endBatch (the verdict cache's commit,
 * the DNS learner re-storing policies). Its failure is counted and the verdicts stand: they were
 * already made by the classifier.
 */
export function endJudgeBatch(judge: PacketJudge, tally: BatchTally): void {
  if (judge.endBatch === undefined) return;
  try {
    judge.endBatch();
  } catch (e) {
    tally.judgeErrors++;
    tally.lastJudgeError = e;
  }
}
