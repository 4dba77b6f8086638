/**
 * Remembers which events a consumer has handled, so a redelivery does not repeat the effect.
 * Handlers whose effects are PostgreSQL writes record the id in their own transaction instead
 * (`@slotwise/postgres`), which makes the effect exactly-once; this store makes the others at-most-once
 * after a success (a crash between effect and `remember` can still repeat it).
 */
import { ErrorCode, SlotwiseError } from "../errors/index.js";
import { MAX_UUID_TABLE_CAPACITY, parseUuid, UuidTable } from "./uuid-table.js";

export interface DedupeStore {
  /** Whether `remember(consumer, eventId)` happened and has not expired. */
  seen(consumer: string, eventId: string): Promise<boolean> | boolean;
  remember(consumer: string, eventId: string): Promise<void> | void;
  close?(): Promise<void>;
}

export const DEFAULT_DEDUPE_MAX_ENTRIES = 100_000;
export const DEFAULT_DEDUPE_TTL_MS = 600_000;
/** Two generations of the largest UUID table (about 33.5 million ids, some 940 MiB). */
export const MAX_DEDUPE_MAX_ENTRIES = 2 * MAX_UUID_TABLE_CAPACITY + 1;

export interface MemoryDedupeOptions {
  /** Ids remembered at most (all consumers together). @default 100000 */
  maxEntries?: number;
  /** How long an id is remembered at least (absent size pressure), and at most twice that. @default 600000 (10 minutes) */
  ttlMs?: number;
}

/** One generation of remembered ids: UUIDs in a typed-array table, any other id as a string. */
interface Generation {
  readonly uuids: UuidTable;
  readonly others: Map<number, Set<string>>;
  count: number;
  startedAt: number;
}

/**
 * A bounded in-process dedupe store, two generations.
 *
 * New ids go into the current generation; when it holds `maxEntries / 2` ids or is `ttlMs` old, it becomes
 * the previous one and the previous one is dropped whole. So an id is remembered until `maxEntries / 2`
 * newer ids came or for at least `ttlMs`, whichever ends first, and memory never exceeds `maxEntries` ids.
 * This runs once per delivered message: each call is a lookup or two, with no per-id expiry (a sorted queue,
 * a map walk) that would cost several times more for no gain in what a consumer can rely on. UUIDs, nearly
 * every id, live in a `UuidTable` (no heap object per id: see there why); other ids in sets of strings.
 */
export function createMemoryDedupeStore(options: MemoryDedupeOptions = {}): DedupeStore {
  const maxEntries = options.maxEntries ?? DEFAULT_DEDUPE_MAX_ENTRIES;
  const ttlMs = options.ttlMs ?? DEFAULT_DEDUPE_TTL_MS;
  if (!(maxEntries >= 2 && maxEntries <= MAX_DEDUPE_MAX_ENTRIES) || !(ttlMs > 0)) {
    throw new SlotwiseError(
      ErrorCode.INVALID_OPTIONS,
      `maxEntries must be 2 to ${MAX_DEDUPE_MAX_ENTRIES} and ttlMs > 0`,
      { details: { maxEntries, ttlMs } },
    );
  }
  const generationSize = Math.floor(maxEntries / 2);
  const generation = (): Generation => ({
    uuids: new UuidTable(generationSize),
    others: new Map(),
    count: 0,
    startedAt: Date.now(),
  });
  let current = generation();
  let previous = generation();
  /** Consumers by number: the tag of their entries. */
  const consumers = new Map<string, number>();

  const empty = (g: Generation, now: number): void => {
    g.uuids.clear();
    g.others.clear();
    g.count = 0;
    g.startedAt = now;
  };

  const rotateIfDue = (now: number): void => {
    if (current.count < generationSize && now - current.startedAt < ttlMs) return;
    // The previous generation's table is reused as the new current one (cleared, not reallocated).
    // Two full periods without a call: the previous generation is past its time as well.
    const retired = previous;
    previous = current;
    if (now - previous.startedAt >= 2 * ttlMs) empty(previous, now);
    empty(retired, now);
    current = retired;
  };

  const seenIn = (g: Generation, tag: number, uuid: boolean, eventId: string): boolean =>
    uuid ? g.uuids.has(tag) : g.others.get(tag)?.has(eventId) === true;

  return {
    seen(consumer, eventId) {
      rotateIfDue(Date.now());
      const tag = consumers.get(consumer);
      if (tag === undefined) return false;
      const uuid = parseUuid(eventId);
      return seenIn(current, tag, uuid, eventId) || seenIn(previous, tag, uuid, eventId);
    },
    remember(consumer, eventId) {
      rotateIfDue(Date.now());
      let tag = consumers.get(consumer);
      if (tag === undefined) {
        tag = consumers.size;
        consumers.set(consumer, tag);
      }
      if (parseUuid(eventId)) {
        if (current.uuids.add(tag)) current.count++;
        return;
      }
      let ids = current.others.get(tag);
      if (ids === undefined) {
        ids = new Set();
        current.others.set(tag, ids);
      }
      // One probe, not `has` then `add`: the set grows iff the id is new.
      const before = ids.size;
      ids.add(eventId);
      if (ids.size !== before) current.count++;
    },
  };
}
