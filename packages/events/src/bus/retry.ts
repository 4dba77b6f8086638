import { ErrorCode, SlotwiseError } from "../errors/index.js";

/** How a failing handler is retried: exponential backoff with full jitter, through nak-with-delay. */
export interface RetryPolicy {
  /** Deliveries in all, the first included; after the last the event is dead-lettered. @default 5 */
  attempts: number;
  /** Delay before the first retry. @default 200 */
  baseMs: number;
  /** Longest delay. @default 30000 */
  capMs: number;
  /** Fraction of each delay drawn at random (0: none, 1: full jitter). @default 0.5 */
  jitter: number;
}

export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({
  attempts: 5,
  baseMs: 200,
  capMs: 30_000,
  jitter: 0.5,
});

export function parseRetryPolicy(user: Partial<RetryPolicy> = {}): RetryPolicy {
  const policy = { ...DEFAULT_RETRY, ...user };
  const bad: string[] = [];
  if (!Number.isInteger(policy.attempts) || policy.attempts < 1) bad.push("attempts must be an integer ≥ 1");
  if (!(policy.baseMs >= 0)) bad.push("baseMs must be ≥ 0");
  if (!(policy.capMs >= policy.baseMs)) bad.push("capMs must be ≥ baseMs");
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) bad.push("jitter must be within 0..1");
  if (bad.length > 0) {
    throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, `invalid retry policy: ${bad.join("; ")}`, {
      details: { policy },
    });
  }
  return policy;
}

/** Delay before delivery number `deliveryCount + 1`, given `deliveryCount` deliveries failed. */
export function backoffDelay(
  policy: RetryPolicy,
  deliveryCount: number,
  random: () => number = Math.random,
): number {
  const exp = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, deliveryCount - 1));
  return Math.round(exp * (1 - policy.jitter) + exp * policy.jitter * random());
}
