// Runs asynchronous work in rounds that never overlap. Requests made while a round runs are
// merged into one request for the next round, so a burst of requests costs one extra round,
// not one round each. The agent uses it for the pod-rule reconcile (every state change asks
// for one) and for strict-mode sweeps (every new generation and every rule restoration asks
// for one).

export interface BatchRunnerOptions<R> {
  /** One round with the merged requests. Returning false ends the loop; requests made meanwhile wait for the next request(). */
  readonly round: (request: R) => Promise<boolean | void>;
  /** Folds a new request into the one already waiting. */
  readonly merge: (waiting: R, next: R) => R;
  /** Whether rounds may run now; checked on request and before every round (requests are kept either way). */
  readonly mayRun: () => boolean;
}

export class BatchRunner<R> {
  private waiting?: { request: R };
  private running?: Promise<void>;

  constructor(private readonly opts: BatchRunnerOptions<R>) {}

  /** Asks for a round; starts the loop unless one is running (which then picks this up). */
  request(request: R): void {
    this.waiting = { request: this.waiting ? this.opts.merge(this.waiting.request, request) : request };
    if (this.running || !this.opts.mayRun()) return;
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
  }

  /** A round is running or about to. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Resolves when the running loop (if any) has ended, whether or not it failed. */
  async settled(): Promise<void> {
    if (this.running) await this.running.catch(() => {});
  }

  private async loop(): Promise<void> {
    while (this.waiting && this.opts.mayRun()) {
      const { request } = this.waiting;
      this.waiting = undefined;
      if ((await this.opts.round(request)) === false) return;
    }
  }
}
