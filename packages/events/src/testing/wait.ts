/**
 * Small helpers for tests: unique names (so test files run in parallel on one shared broker) and polling
 * waits (so tests never assert timing with fixed sleeps).
 */
import { randomBytes } from "node:crypto";
import { ErrorCode, SlotwiseError } from "../errors/errors.js";

/** Default of `WaitForOptions.timeoutMs`. */
export const DEFAULT_WAIT_TIMEOUT_MS = 10_000;
/** Default of `WaitForOptions.intervalMs`. */
export const DEFAULT_WAIT_INTERVAL_MS = 10;

/**
 * A random id of lower-case letters and digits, starting with a letter, valid inside NATS subjects, stream
 * names (upper-case it), durable names and SQL identifiers.
 * @param length characters. @default 10
 */
export function uniqueId(length = 10): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = randomBytes(length);
  let id = "";
  for (let i = 0; i < length; i++) {
    // The first character is a letter, so the id is a valid identifier on its own.
    const range = i === 0 ? 26 : alphabet.length;
    id += alphabet[(bytes[i] ?? 0) % range];
  }
  return id;
}

export interface WaitForOptions {
  /** Give up after this long. @default 10000 */
  timeoutMs?: number;
  /** Time between two checks. @default 10 */
  intervalMs?: number;
  /** Describes what was awaited, for the error message. */
  message?: string;
}

/**
 * Polls `predicate` until it returns a truthy value (or a promise of one) and resolves with that value.
 * Fails with a TIMEOUT `SlotwiseError` after `timeoutMs`; the last error thrown by the predicate is its cause.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? DEFAULT_WAIT_INTERVAL_MS;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new SlotwiseError(
        ErrorCode.TIMEOUT,
        `waitFor timed out after ${timeoutMs} ms${options.message ? `: ${options.message}` : ""}`,
        { cause: lastError, details: { timeoutMs } },
      );
    }
    await sleep(intervalMs);
  }
}

/** Resolves after `ms`. For pacing test traffic, never for asserting timing. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
