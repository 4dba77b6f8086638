import type { CloudEvent } from "../../envelope/index.js";
import { ConcurrencyError, ErrorCode, SlotwiseError } from "../../errors/index.js";
import type {
  AppendNotifications,
  AppendOptions,
  AppendResult,
  Checkpoint,
  EventStore,
  ReadAllOptions,
  ReadAllResult,
  ReadOptions,
  StoredEvent,
  StoreTransaction,
  Unlisten,
} from "../event-store.js";
import { createUpcasterChain, type Upcaster } from "../upcasting.js";
import {
  checkpointAheadError,
  checkStreamId,
  duplicateEventError,
  expectedVersionHolds,
  parseAppend,
  parseRead,
  parseReadAll,
  storeClosedError,
} from "../validate.js";

/**
 * The data behind in-process stores. Stores created over one log share its events (e.g. the same log read
 * with another set of upcasters, as after a deployment).
 */
export interface MemoryEventLog {
  /** Events committed so far. */
  readonly size: number;
}

export interface MemoryEventStoreOptions {
  /** Applied on `read` and `readAll`. @default none */
  upcasters?: readonly Upcaster[];
  /** Share a log with other stores. @default a new, empty log */
  log?: MemoryEventLog;
  /** The clock that stamps `recordedAt`. @default () => new Date() */
  clock?: () => Date;
}

interface Lock {
  owner: object;
  released: Promise<void>;
  release: () => void;
}

class Log implements MemoryEventLog {
  /** Committed events in commit order, i.e. sorted by (transactionId, position). */
  readonly events: StoredEvent[] = [];
  readonly streams = new Map<string, StoredEvent[]>();
  readonly ids = new Set<string>();
  lastPosition = 0n;
  lastTransactionId = 0n;
  /** Stream locks held by open transactions, like PostgreSQL's row lock on the stream. */
  readonly locks = new Map<string, Lock>();
  readonly listeners = new Set<() => void>();

  get size(): number {
    return this.events.length;
  }

  version(streamId: string): number {
    return this.streams.get(streamId)?.length ?? 0;
  }

  /** Waits until no transaction other than `owner` holds the stream. */
  async unlocked(streamId: string, owner?: object): Promise<void> {
    for (let lock = this.locks.get(streamId); lock && lock.owner !== owner; lock = this.locks.get(streamId)) {
      await lock.released;
    }
  }

  commit(batches: readonly PendingBatch[], recordedAt: Date): void {
    const transactionId = ++this.lastTransactionId;
    for (const b of batches) {
      let stream = this.streams.get(b.streamId);
      if (stream === undefined) {
        stream = [];
        this.streams.set(b.streamId, stream);
      }
      b.events.forEach((event, i) => {
        const stored: StoredEvent = {
          event,
          streamId: b.streamId,
          streamVersion: b.firstVersion + i,
          position: b.firstPosition + BigInt(i),
          transactionId,
          recordedAt,
        };
        stream.push(stored);
        this.events.push(stored);
        this.ids.add(event.id);
      });
    }
    // A transaction's batches reserved their positions in order, but a plain append may have committed a
    // position in between: keep (transactionId, position) order within this transaction.
    if (batches.length > 1) {
      const mine = this.events.splice(this.events.length - countEvents(batches));
      mine.sort((a, b) => (a.position < b.position ? -1 : 1));
      this.events.push(...mine);
    }
    for (const listener of this.listeners) queueMicrotask(listener);
  }
}

interface PendingBatch {
  streamId: string;
  events: CloudEvent[];
  firstVersion: number;
  firstPosition: bigint;
}

function countEvents(batches: readonly PendingBatch[]): number {
  let n = 0;
  for (const b of batches) n += b.events.length;
  return n;
}

/** A log shared by several in-process stores. */
export function createMemoryEventLog(): MemoryEventLog {
  return new Log();
}

/** Copies data through JSON, so the in-process store keeps exactly what the SQL stores (jsonb) keep. */
function copyEvent(event: CloudEvent): CloudEvent {
  const data = event.data === undefined ? null : (JSON.parse(JSON.stringify(event.data)) as unknown);
  return { ...event, data, metadata: { ...event.metadata } };
}

function compareCheckpoint(e: StoredEvent, c: Checkpoint): number {
  if (e.transactionId !== c.transactionId) return e.transactionId < c.transactionId ? -1 : 1;
  if (e.position !== c.position) return e.position < c.position ? -1 : 1;
  return 0;
}

/**
 * The in-process `EventStore`: the same semantics as the SQL stores, for the embedded mode and fast tests.
 * `transactionId` counts commits (one per append or transaction), `recordedAt` is the clock at commit.
 * A transaction holds its streams until it ends, as PostgreSQL's row lock does; `StoreTransaction.query`
 * throws UNSUPPORTED.
 */
export function createMemoryEventStore(
  options: MemoryEventStoreOptions = {},
): EventStore & AppendNotifications {
  const log = (options.log ?? new Log()) as Log;
  if (!(log instanceof Log)) {
    throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "log must come from createMemoryEventLog()");
  }
  const chain = createUpcasterChain(options.upcasters);
  const clock = options.clock ?? (() => new Date());
  const mine = new Set<() => void>();
  let closed = false;

  const assertOpen = () => {
    if (closed) throw storeClosedError();
  };

  function checkIds(streamId: string, events: readonly CloudEvent[], pending?: ReadonlySet<string>): void {
    for (const e of events) {
      if (log.ids.has(e.id) || pending?.has(e.id)) throw duplicateEventError(streamId, e.id);
    }
  }

  function reserve(streamId: string, events: readonly CloudEvent[], current: number): PendingBatch {
    const firstPosition = log.lastPosition + 1n;
    log.lastPosition += BigInt(events.length);
    return { streamId, events: events.map(copyEvent), firstVersion: current + 1, firstPosition };
  }

  function resultOf(batch: PendingBatch, current: number): AppendResult {
    const n = batch.events.length;
    return {
      nextVersion: current + n,
      firstPosition: n === 0 ? 0n : batch.firstPosition,
      lastPosition: n === 0 ? 0n : batch.firstPosition + BigInt(n - 1),
    };
  }

  const store: EventStore & AppendNotifications = {
    async append(streamId, events, appendOptions?: AppendOptions) {
      assertOpen();
      const expected = parseAppend(streamId, events, appendOptions);
      await log.unlocked(streamId);
      // From here to the commit nothing awaits: the check and the write are atomic.
      const current = log.version(streamId);
      if (!expectedVersionHolds(expected, current)) throw new ConcurrencyError(streamId, expected, current);
      if (events.length === 0) return { nextVersion: current, firstPosition: 0n, lastPosition: 0n };
      checkIds(streamId, events);
      const batch = reserve(streamId, events, current);
      log.commit([batch], clock());
      return resultOf(batch, current);
    },

    async read(streamId, readOptions?: ReadOptions) {
      assertOpen();
      const { fromVersion, toVersion, asOf } = parseRead(streamId, readOptions);
      const stream = log.streams.get(streamId);
      if (stream === undefined) return [];
      const out: StoredEvent[] = [];
      const last = Math.min(toVersion, stream.length);
      for (let v = Math.max(fromVersion, 1); v <= last; v++) {
        const stored = stream[v - 1] as StoredEvent;
        if (asOf !== undefined && stored.recordedAt.getTime() > asOf.getTime()) break;
        out.push(chain.upcastStored(stored));
      }
      return out;
    },

    async version(streamId) {
      assertOpen();
      checkStreamId(streamId);
      return log.version(streamId);
    },

    async readAll(readAllOptions?: ReadAllOptions): Promise<ReadAllResult> {
      assertOpen();
      const { after, limit } = parseReadAll(readAllOptions);
      if (after.transactionId > log.lastTransactionId) {
        throw checkpointAheadError(after, log.lastTransactionId + 1n);
      }
      // Binary search for the first event after the checkpoint.
      let lo = 0;
      let hi = log.events.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (compareCheckpoint(log.events[mid] as StoredEvent, after) <= 0) lo = mid + 1;
        else hi = mid;
      }
      const slice = log.events.slice(lo, lo + limit);
      const last = slice[slice.length - 1];
      return {
        events: chain.size === 0 ? slice : slice.map((s) => chain.upcastStored(s)),
        checkpoint: last ? { transactionId: last.transactionId, position: last.position } : after,
      };
    },

    async transaction<R>(work: (tx: StoreTransaction) => Promise<R>): Promise<R> {
      assertOpen();
      const owner = {};
      const batches: PendingBatch[] = [];
      const versions = new Map<string, number>();
      const ids = new Set<string>();
      let finished = false;
      const tx: StoreTransaction = {
        async append(streamId, events, appendOptions?: AppendOptions) {
          if (finished) throw new SlotwiseError(ErrorCode.CLOSED, "the transaction has ended");
          const expected = parseAppend(streamId, events, appendOptions);
          await log.unlocked(streamId, owner);
          if (finished) throw new SlotwiseError(ErrorCode.CLOSED, "the transaction has ended");
          if (!log.locks.has(streamId)) {
            let release = () => {};
            const released = new Promise<void>((resolve) => {
              release = resolve;
            });
            log.locks.set(streamId, { owner, released, release });
          }
          const current = versions.get(streamId) ?? log.version(streamId);
          if (!expectedVersionHolds(expected, current))
            throw new ConcurrencyError(streamId, expected, current);
          checkIds(streamId, events, ids);
          const batch = reserve(streamId, events, current);
          for (const e of events) ids.add(e.id);
          if (events.length > 0) batches.push(batch);
          versions.set(streamId, current + events.length);
          return resultOf(batch, current);
        },
        async query() {
          throw new SlotwiseError(
            ErrorCode.UNSUPPORTED,
            "the in-process store runs no SQL: use the PostgreSQL or PGlite store for business writes",
          );
        },
      };
      try {
        const result = await work(tx);
        finished = true;
        // Streams were locked, so their versions held; ids were not (another stream may have taken one).
        for (const b of batches) checkIds(b.streamId, b.events);
        if (batches.length > 0) log.commit(batches, clock());
        return result;
      } finally {
        finished = true;
        for (const [streamId, lock] of log.locks) {
          if (lock.owner === owner) {
            log.locks.delete(streamId);
            lock.release();
          }
        }
      }
    },

    async listen(onAppended): Promise<Unlisten> {
      assertOpen();
      const listener = () => {
        try {
          onAppended();
        } catch {
          // A listener's failure is its own (see AppendNotifications).
        }
      };
      log.listeners.add(listener);
      mine.add(listener);
      return async () => {
        log.listeners.delete(listener);
        mine.delete(listener);
      };
    },

    async close() {
      closed = true;
      for (const l of mine) log.listeners.delete(l);
      mine.clear();
    },
  };
  return store;
}
