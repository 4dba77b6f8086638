/**
 * Remembers which events a consumer has handled, so a redelivery does not repeat the effect.
 * Handlers whose effects are PostgreSQL writes record the id in their own transaction instead
 * (`@slotwise/postgres`), which makes the effect exactly-once; this store makes the others at-most-once
 * after a success (a crash between effect and `remember` can still repeat it).
 */
import { ErrorCode, SlotwiseError } from "../errors/index.js";

export interface DedupeStore {
  /** Whether `remember(consumer, eventId)` happened and has not expired. */
  seen(consumer: string, eventId: string): Promise<boolean> | boolean;
  remember(consumer: string, eventId: string): Promise<void> | void;
  close?(): Promise<void>;
}

export const DEFAULT_DEDUPE_MAX_ENTRIES = 100_000;
export const DEFAULT_DEDUPE_TTL_MS = 600_000;

export interface MemoryDedupeOptions {
  /** Ids remembered at most (all consumers together). @default 100000 */
  maxEntries?: number;
  /** How long an id is remembered at least (absent size pressure), and at most twice that. @default 600000 (10 minutes) */
  ttlMs?: number;
}

/**
 * A bounded in-process dedupe store, two generations of sets.
 *
 * New ids go into the current generation; when it holds `maxEntries / 2` ids or is `ttlMs` old, it becomes
 * the previous one and the previous one is dropped whole. So an id is remembered until `maxEntries / 2`
 * newer ids came or for at least `ttlMs`, whichever ends first, and memory never exceeds `maxEntries` ids.
 * Each call is a set lookup or two: this runs once per delivered message, and a per-id expiry (a sorted
 * queue, a map walk) costs several times more for no gain in what a consumer can rely on.
 */
export function createMemoryDedupeStore(options: MemoryDedupeOptions = {}): DedupeStore {
  const maxEntries = options.maxEntries ?? DEFAULT_DEDUPE_MAX_ENTRIES;
  const ttlMs = options.ttlMs ?? DEFAULT_DEDUPE_TTL_MS;
  if (!(maxEntries >= 2) || !(ttlMs > 0)) {
    throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "maxEntries must be ≥ 2 and ttlMs > 0", {
      details: { maxEntries, ttlMs },
    });
  }
  const generationSize = Math.floor(maxEntries / 2);
  let current = new Map<string, Set<string>>();
  let previous = new Map<string, Set<string>>();
  let count = 0;
  let startedAt = Date.now();

  const rotateIfDue = (now: number): void => {
    if (count < generationSize && now - startedAt < ttlMs) return;
    // Two full periods without a call: the previous generation is past its time as well.
    previous = now - startedAt >= 2 * ttlMs ? new Map() : current;
    current = new Map();
    count = 0;
    startedAt = now;
  };

  return {
    seen(consumer, eventId) {
      rotateIfDue(Date.now());
      return current.get(consumer)?.has(eventId) === true || previous.get(consumer)?.has(eventId) === true;
    },
    remember(consumer, eventId) {
      rotateIfDue(Date.now());
      let ids = current.get(consumer);
      if (ids === undefined) {
        ids = new Set();
        current.set(consumer, ids);
      }
      // One probe, not `has` then `add`: the set grows iff the id is new.
      const before = ids.size;
      ids.add(eventId);
      if (ids.size !== before) count++;
    },
  };
}
