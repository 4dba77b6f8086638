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

export const DEFAULT_DEDUPE_MAX_ENTRIES = 100_000;
export const DEFAULT_DEDUPE_TTL_MS = 600_000;

export interface MemoryDedupeOptions {
  /** Remembered ids per store (all consumers together), oldest forgotten first. @default 100000 */
  maxEntries?: number;
  /** How long an id is remembered. @default 600000 (10 minutes) */
  ttlMs?: number;
}

/**
 * A bounded in-process dedupe store with a TTL, O(1) per call.
 *
 * Per consumer a map from event id to the entry's sequence number (one map per consumer rather than one
 * keyed by `consumer + id`: the id is looked up as it came off the wire, so no joined key is built and
 * hashed twice per message). A FIFO of entries in remember order (parallel arrays indexed by sequence)
 * holds each entry's time and finds the oldest to forget. The FIFO is needed because finding a `Map`'s
 * first entry walks over the holes its deletions left at the front: at a full store that walk costs
 * O(entries) per message.
 *
 * An entry re-remembered or expired by `seen` leaves a stale FIFO slot behind (its owner cleared);
 * stale slots are dropped without effect when they reach the front, and the FIFO is rebuilt from the
 * maps should they ever outnumber the live entries.
 */
export function createMemoryDedupeStore(options: MemoryDedupeOptions = {}): DedupeStore {
  const maxEntries = options.maxEntries ?? DEFAULT_DEDUPE_MAX_ENTRIES;
  const ttlMs = options.ttlMs ?? DEFAULT_DEDUPE_TTL_MS;
  const byConsumer = new Map<string, Map<string, number>>();
  /** Live entries (in the maps). */
  let size = 0;
  // The FIFO: slot i holds sequence `base + i`; slots before `head` are gone.
  let ids: string[] = [];
  /** The map holding each slot's entry; undefined once the slot is stale. */
  let owners: (Map<string, number> | undefined)[] = [];
  let times: number[] = [];
  let base = 0;
  let head = 0;

  /** Drops the front slot, forgetting its entry unless the slot is stale. */
  const shift = (): void => {
    const owner = owners[head];
    if (owner !== undefined) {
      owner.delete(ids[head]!);
      size--;
    }
    // Release the references; the arrays are cut down in `compact`.
    ids[head] = "";
    owners[head] = undefined;
    head++;
  };

  /** Cuts the dropped front off the arrays, or rebuilds them when stale slots pile up. */
  const compact = (): void => {
    const slots = ids.length - head;
    if (slots > 2 * size + 1024) {
      const keep: number[] = [];
      for (let i = head; i < ids.length; i++) if (owners[i] !== undefined) keep.push(i);
      const nextBase = base + ids.length;
      const nIds: string[] = [];
      const nOwners: (Map<string, number> | undefined)[] = [];
      const nTimes: number[] = [];
      for (const i of keep) {
        owners[i]!.set(ids[i]!, nextBase + nIds.length);
        nIds.push(ids[i]!);
        nOwners.push(owners[i]!);
        nTimes.push(times[i]!);
      }
      [ids, owners, times, base, head] = [nIds, nOwners, nTimes, nextBase, 0];
    } else if (head > 1024 && head * 2 > ids.length) {
      ids = ids.slice(head);
      owners = owners.slice(head);
      times = times.slice(head);
      base += head;
      head = 0;
    }
  };

  return {
    seen(consumer, eventId) {
      const seqs = byConsumer.get(consumer);
      if (seqs === undefined) return false;
      const seq = seqs.get(eventId);
      if (seq === undefined) return false;
      if (Date.now() - times[seq - base]! > ttlMs) {
        seqs.delete(eventId);
        owners[seq - base] = undefined;
        size--;
        return false;
      }
      return true;
    },
    remember(consumer, eventId) {
      let seqs = byConsumer.get(consumer);
      if (seqs === undefined) {
        seqs = new Map();
        byConsumer.set(consumer, seqs);
      }
      const now = Date.now();
      const previous = seqs.get(eventId);
      if (previous === undefined) size++;
      else owners[previous - base] = undefined;
      seqs.set(eventId, base + ids.length);
      ids.push(eventId);
      owners.push(seqs);
      times.push(now);
      // Forget the oldest while over the bound or expired (expired ones would only be refused by `seen`).
      while (head < ids.length && (size > maxEntries || now - times[head]! > ttlMs)) shift();
      compact();
    },
  };
}
