/** Progress goes to stderr; stdout carries only the result lines. */
export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function rate(events: number, ms: number): number {
  return (events * 1000) / ms;
}

export interface PublishBenchResult {
  bench: "publish";
  /** Events per second through our publisher, pipelined. */
  ours: number;
  /** Events per second through raw `@nats-io/jetstream`, pipelined. */
  baseline: number;
  ratio: number;
  awaited: { ours: number; baseline: number; ratio: number };
  /** Raw nats.js again with `noAsyncTraces` (its own advice for fast request/reply), pipelined. */
  tuned: { baseline: number; ratio: number };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
