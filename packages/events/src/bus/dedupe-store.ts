/**
 * Remembers which events a consumer has handled, so a redelivery does not repeat the effect.
 * Handlers whose effects are PostgreSQL writes record the id in their own transaction instead
 * (`@slotwise/postgres`), which makes the effect exactly-once; this store makes the others at-most-once
 * after a success (a crash between effect and `remember` can still repeat it).
 */
export interface DedupeStore {
  /** Whether `remember(consumer, eventId)` happened and has not expired. */
  seen(consumer: string, eventId: string): Promise<boolean> | boolean;
  remember(consumer: string, eventId: string): Promise<void> | void;
  close?(): Promise<void>;
}

export interface MemoryDedupeOptions {
  /** Remembered ids per store, oldest forgotten first. @default 100000 */
  maxEntries?: number;
  /** How long an id is remembered. @default 600000 (10 minutes) */
  ttlMs?: number;
}

/** A bounded in-process dedupe store (insertion-ordered map as an LRU with TTL). */
export function createMemoryDedupeStore(options: MemoryDedupeOptions = {}): DedupeStore {
  const maxEntries = options.maxEntries ?? 100_000;
  const ttlMs = options.ttlMs ?? 600_000;
  const seenAt = new Map<string, number>();
  return {
    seen(consumer, eventId) {
      const key = `${consumer}\u0000${eventId}`;
      const at = seenAt.get(key);
      if (at === undefined) return false;
      if (Date.now() - at > ttlMs) {
        seenAt.delete(key);
        return false;
      }
      return true;
    },
    remember(consumer, eventId) {
      const key = `${consumer}\u0000${eventId}`;
      seenAt.delete(key);
      seenAt.set(key, Date.now());
      if (seenAt.size > maxEntries) {
        const oldest = seenAt.keys().next().value;
        if (oldest !== undefined) seenAt.delete(oldest);
      }
    },
  };
}
