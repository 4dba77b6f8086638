/**
 * Option parsing and errors shared by every store implementation (the in-process one here, the SQL ones in
 * `@slotwise/postgres`), so all of them refuse the same inputs with the same errors.
 */
import type { CloudEvent } from "../envelope/index.js";
import { ErrorCode, SlotwiseError } from "../errors/index.js";
import {
  type AppendOptions,
  type Checkpoint,
  type ExpectedVersion,
  type ReadAllOptions,
  type ReadOptions,
  START,
} from "./event-store.js";
import type { SaveSnapshotInput } from "./snapshot-store.js";

/** Default of `ReadAllOptions.limit`. */
export const DEFAULT_READ_ALL_LIMIT = 1000;
/** Largest stream version (PostgreSQL integer). */
export const MAX_STREAM_VERSION = 2_147_483_647;

function invalid(message: string, details: Record<string, unknown>): SlotwiseError {
  return new SlotwiseError(ErrorCode.INVALID_OPTIONS, message, { details });
}

function isVersion(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_STREAM_VERSION;
}

export function checkStreamId(streamId: unknown): asserts streamId is string {
  if (typeof streamId !== "string" || streamId === "") {
    throw invalid("streamId must be a non-empty string", { streamId });
  }
}

/**
 * Checks an append's arguments and returns its expected version. Fails with INVALID_OPTIONS, or with
 * DUPLICATE_EVENT when one batch holds an event id twice.
 */
export function parseAppend(
  streamId: string,
  events: readonly CloudEvent[],
  options: AppendOptions | undefined,
): ExpectedVersion {
  checkStreamId(streamId);
  if (!Array.isArray(events)) throw invalid("events must be an array", { streamId });
  const expected = options?.expectedVersion ?? "any";
  if (expected !== "any" && expected !== "no-stream" && !isVersion(expected)) {
    throw invalid(`expectedVersion must be a version >= 0, "any" or "no-stream", got ${String(expected)}`, {
      streamId,
      expectedVersion: expected,
    });
  }
  if (events.length > 1) {
    const ids = new Set<string>();
    for (const e of events) {
      if (ids.has(e.id)) throw duplicateEventError(streamId, e.id);
      ids.add(e.id);
    }
  }
  return expected;
}

/** Whether a stream at `actual` satisfies `expected`. */
export function expectedVersionHolds(expected: ExpectedVersion, actual: number): boolean {
  if (expected === "any") return true;
  if (expected === "no-stream") return actual === 0;
  return expected === actual;
}

export function duplicateEventError(
  streamId: string,
  eventId: string | undefined,
  cause?: unknown,
): SlotwiseError {
  return new SlotwiseError(
    ErrorCode.DUPLICATE_EVENT,
    eventId === undefined
      ? `an event appended to "${streamId}" is already in the store`
      : `event "${eventId}" is already in the store (append to "${streamId}")`,
    { cause, details: { streamId, eventId } },
  );
}

export interface ParsedReadOptions {
  fromVersion: number;
  toVersion: number;
  asOf: Date | undefined;
}

export function parseRead(streamId: string, options: ReadOptions | undefined): ParsedReadOptions {
  checkStreamId(streamId);
  const fromVersion = options?.fromVersion ?? 1;
  const toVersion = options?.toVersion ?? MAX_STREAM_VERSION;
  if (!isVersion(fromVersion)) throw invalid("fromVersion must be a version >= 0", { streamId, fromVersion });
  if (!isVersion(toVersion)) throw invalid("toVersion must be a version >= 0", { streamId, toVersion });
  const asOf = options?.asOf;
  if (asOf !== undefined && (!(asOf instanceof Date) || Number.isNaN(asOf.getTime()))) {
    throw invalid("asOf must be a valid Date", { streamId, asOf });
  }
  return { fromVersion, toVersion, asOf };
}

export interface ParsedReadAllOptions {
  after: Checkpoint;
  limit: number;
}

export function parseReadAll(options: ReadAllOptions | undefined): ParsedReadAllOptions {
  const after = options?.after ?? START;
  const limit = options?.limit ?? DEFAULT_READ_ALL_LIMIT;
  if (
    typeof after !== "object" ||
    after === null ||
    typeof after.transactionId !== "bigint" ||
    typeof after.position !== "bigint" ||
    after.transactionId < 0n ||
    after.position < 0n
  ) {
    throw invalid("after must be a checkpoint { transactionId: bigint, position: bigint } >= 0", {
      after: String(after),
    });
  }
  if (!Number.isInteger(limit) || limit < 1) throw invalid("limit must be an integer >= 1", { limit });
  return { after, limit };
}

/**
 * The checkpoint names a transaction the store has not reached: following it would skip every event until
 * the store catches up. Typical cause: the database was restored onto another cluster, whose transaction
 * counter is behind the one the checkpoint was taken on.
 */
export function checkpointAheadError(after: Checkpoint, nextTransactionId: bigint): SlotwiseError {
  const remedy =
    "The checkpoint comes from another database or cluster (e.g. a restore). Reset the reader's checkpoint " +
    "to START (consumers de-duplicate by event id) or to a checkpoint read from this store; if the events " +
    "themselves were restored with their old transaction ids, first advance this cluster's transaction " +
    "counter past them (pg_resetwal --next-transaction-id).";
  return new SlotwiseError(
    ErrorCode.INVALID_CHECKPOINT,
    `checkpoint transaction ${after.transactionId} is ahead of the store (next transaction ${nextTransactionId}). ${remedy}`,
    {
      details: {
        transactionId: String(after.transactionId),
        position: String(after.position),
        nextTransactionId: String(nextTransactionId),
        remedy,
      },
    },
  );
}

export function checkSnapshotInput(input: SaveSnapshotInput<unknown>): void {
  checkStreamId(input?.streamId);
  if (!isVersion(input.version)) {
    throw invalid("snapshot version must be a version >= 0", {
      streamId: input.streamId,
      version: input.version,
    });
  }
  const sv = input.schemaVersion;
  if (sv !== undefined && (!Number.isInteger(sv) || sv < 0 || sv > MAX_STREAM_VERSION)) {
    throw invalid("snapshot schemaVersion must be an integer >= 0", {
      streamId: input.streamId,
      schemaVersion: sv,
    });
  }
}

/** The store is closed. */
export function storeClosedError(what = "event store"): SlotwiseError {
  return new SlotwiseError(ErrorCode.CLOSED, `the ${what} is closed`);
}
