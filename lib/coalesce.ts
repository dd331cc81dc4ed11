// Work that runs whenever asked, one run at a time: asks that come during a run get one more run
// after it, however many there were (a reconcile loop's "dirty" flag).

export class Coalesced {
  private dirty = false;
  private running?: Promise<void>;

  /** `work` runs once per round; a throw is its own to report (the loop goes on with the next ask). */
  constructor(private readonly work: () => Promise<void>) {}

  request(): void {
    this.dirty = true;
    this.running ??= this.loop();
  }

  /** Settles once no run is going on. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async loop(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        await this.work().catch(() => undefined);
      }
    } finally {
      // In the same step as the last check of `dirty`: an ask after it starts a new loop.
      this.running = undefined;
    }
  }
}
