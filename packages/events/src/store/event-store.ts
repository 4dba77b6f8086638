import type { CloudEvent } from "../envelope/index.js";

/**
 * The event store port. The log is also the outbox: the relay reads it in commit order (`readAll`) and
 * publishes each event to JetStream. Implementations: in-process (`./memory/`), PostgreSQL and PGlite
 * (`@slotwise/postgres`, one set of SQL). One conformance suite (`testing/store-conformance.ts`) specifies
 * them all.
 */

/** A stream's version before its first event. */
export const NO_STREAM_VERSION = 0;

/**
 * What the caller believes the stream's version is: a number (the version of its last event, 0 for none),
 * "no-stream" (it must not exist yet) or "any" (no check).
 */
export type ExpectedVersion = number | "any" | "no-stream";

export interface AppendOptions {
  /**
   * "any" appends after whatever the stream holds. A store may resolve races between concurrent "any"
   * appends to one stream by trying again (PostgreSQL and PGlite do, a bounded number of times); under
   * contention that never lets it through, it fails with `ConcurrencyError` (expected "any") like a
   * version conflict. @default "any"
   */
  expectedVersion?: ExpectedVersion;
}

export interface AppendResult {
  /** The stream's version after the append (the version of its last event). */
  nextVersion: number;
  /** Global positions of the first and last appended event. */
  firstPosition: bigint;
  lastPosition: bigint;
}

/** An event as stored: the CloudEvent plus where it sits in its stream and in the log. */
export interface StoredEvent<T = unknown> {
  readonly event: CloudEvent<T>;
  readonly streamId: string;
  /** 1 for the stream's first event. */
  readonly streamVersion: number;
  /** Global position, increasing in commit order only per transaction: use checkpoints, not positions, to follow. */
  readonly position: bigint;
  /** Id of the writing transaction (PostgreSQL xid8). */
  readonly transactionId: bigint;
  /** When the store committed it (server clock). */
  readonly recordedAt: Date;
}

export interface ReadOptions {
  /** First version to return, inclusive. @default 1 */
  fromVersion?: number;
  /** Last version to return, inclusive. @default the stream's version */
  toVersion?: number;
  /** Only events recorded at or before this time: the stream as it was then (temporal query). */
  asOf?: Date;
}

/** Where a reader of the whole log stands: after (transaction id, position). */
export interface Checkpoint {
  transactionId: bigint;
  position: bigint;
}

export const START: Checkpoint = Object.freeze({ transactionId: 0n, position: 0n });

export interface ReadAllOptions {
  /** @default START */
  after?: Checkpoint;
  /** @default 1000 */
  limit?: number;
}

export interface ReadAllResult {
  events: StoredEvent[];
  /** Pass as `after` to continue; equals `after` when nothing new is visible. */
  checkpoint: Checkpoint;
}

/** Work done inside one store transaction: appends and the caller's own writes commit or roll back together. */
export interface StoreTransaction {
  append(streamId: string, events: readonly CloudEvent[], options?: AppendOptions): Promise<AppendResult>;
  /**
   * Runs SQL on the same transaction (business writes of services that are not event-sourced).
   * Not available on the in-process store: it throws UNSUPPORTED there.
   */
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
}

export interface EventStore {
  /**
   * Appends atomically, in one statement. Throws `ConcurrencyError` (CONCURRENCY_CONFLICT) naming the
   * stream, the expected and the actual version when `expectedVersion` does not hold (or, for "any", when
   * concurrent appends to the stream kept winning; see `AppendOptions.expectedVersion`). Inside
   * `transaction`, a conflict leaves the transaction usable.
   */
  append(streamId: string, events: readonly CloudEvent[], options?: AppendOptions): Promise<AppendResult>;
  /** The stream's events in version order (upcast to their current version). */
  read(streamId: string, options?: ReadOptions): Promise<StoredEvent[]>;
  /** The stream's version, 0 when it does not exist. */
  version(streamId: string): Promise<number>;
  /**
   * Every stream in commit order. Never skips an event that a slower transaction commits later: only
   * transactions older than every running one are visible.
   */
  readAll(options?: ReadAllOptions): Promise<ReadAllResult>;
  transaction<R>(work: (tx: StoreTransaction) => Promise<R>): Promise<R>;
  close(): Promise<void>;
}

/** Stops a `listen`; resolves once the listener is gone. */
export type Unlisten = () => Promise<void>;

/**
 * Optional capability of a store (test with `canListen`): a wake-up call after commits that appended events,
 * so a follower of `readAll` (the relay) need not poll tightly. Calls are coalesced (one call may stand for
 * many commits) and may be spurious or, after a lost connection, missed: keep a polling fallback.
 */
export interface AppendNotifications {
  /** Resolves once listening; `onAppended` must not throw (what it throws is ignored). */
  listen(onAppended: () => void): Promise<Unlisten>;
}

export function canListen(store: EventStore): store is EventStore & AppendNotifications {
  return typeof (store as Partial<AppendNotifications>).listen === "function";
}
