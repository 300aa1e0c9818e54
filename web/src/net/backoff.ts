/** Delays between reconnection attempts: exponential, capped, with jitter so a restarted hub is not hit by every browser at once. */

export interface BackoffOptions {
  /** The first delay, in milliseconds. */
  initialMs: number;
  /** No delay is longer than this. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ initialMs: 500, maxMs: 10_000 });

export class Backoff {
  private attempts = 0;

  constructor(
    private readonly options: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** Failures since the last reset. */
  get failures(): number {
    return this.attempts;
  }

  /** The delay before the next attempt; each call counts one more failure. Between half and all of the nominal delay. */
  next(): number {
    const nominal = Math.min(this.options.maxMs, this.options.initialMs * 2 ** Math.min(this.attempts, 30));
    this.attempts += 1;
    return Math.round(nominal * (0.5 + 0.5 * this.random()));
  }

  reset(): void {
    this.attempts = 0;
  }
}
