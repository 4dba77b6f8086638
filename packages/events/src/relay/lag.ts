/** Lag from commit to JetStream's acknowledgement over the most recent events. */
export interface LagSummary {
  /** Samples the summary covers (at most the window). */
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The most recent event's lag. */
  lastMs: number;
}

/** Percentile `p` (0–100) of ascending `sorted`, nearest rank; 0 when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? 0;
}

/**
 * A ring of the last `size` samples; summarizing sorts a copy, so recording stays O(1). The summary is
 * kept until the next sample, so polling it is cheap.
 */
export class LagWindow {
  readonly #samples: Float64Array;
  #next = 0;
  #count = 0;
  #last = 0;
  #summary: LagSummary | undefined;

  constructor(size: number) {
    this.#samples = new Float64Array(size);
  }

  record(ms: number): void {
    this.#samples[this.#next] = ms;
    this.#next = (this.#next + 1) % this.#samples.length;
    if (this.#count < this.#samples.length) this.#count++;
    this.#last = ms;
    this.#summary = undefined;
  }

  summary(): LagSummary {
    if (this.#summary) return { ...this.#summary };
    const sorted = this.#samples.slice(0, this.#count).sort();
    this.#summary = {
      count: this.#count,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: this.#count === 0 ? 0 : (sorted[this.#count - 1] ?? 0),
      lastMs: this.#last,
    };
    return { ...this.#summary };
  }
}
