import type { PGlite } from "@electric-sql/pglite";
import { ErrorCode, SlotwiseError } from "@slotwise/events";
import { createPgClient, type PostgresConnectionOptions } from "../postgres-event-store.js";
import { quoteIdentifier } from "../sql/pg-client.js";
import { createPgliteSqlClient } from "../sql/pglite-client.js";
import type { SqlClient, SqlExecutor, SqlStatement } from "../sql/sql-client.js";
import { checkSchemaName, DEFAULT_SCHEMA } from "../store/schema.js";

/** The table recording which consumer processed which event, in the given schema. */
export const PROCESSED_EVENTS_TABLE = "processed_events";
/** First key of the advisory lock that serializes the table's creation ("SLPE"); the second is the schema's hash. */
const SETUP_LOCK_NAMESPACE = 0x534c5045;
/** Longest consumer name and event id accepted (both are keys of the primary key's index). */
export const MAX_PROCESSED_ID_LENGTH = 512;

/** What `runOnce` did: ran the work (its value) or skipped it as already processed. */
export type OnceResult<R> = { duplicate: false; value: R } | { duplicate: true };

/**
 * Exactly-once effects for handlers whose effects are SQL writes: the record of (consumer, event id) and the
 * handler's writes commit or roll back together, so a redelivery after a crash (or after an ack that came
 * too late) finds the record and does nothing.
 */
export interface ProcessedEventStore {
  /**
   * In ONE transaction: inserts (consumer, eventId) and, when it was new, runs `work` on that transaction.
   * When the pair was already recorded, `work` does not run and the result is `{ duplicate: true }`. When
   * `work` throws, everything rolls back (nothing recorded) and the error propagates. A concurrent
   * delivery of the same event waits for the first transaction and then sees the duplicate.
   */
  runOnce<R>(
    consumer: string,
    eventId: string,
    work: (tx: SqlExecutor) => Promise<R>,
  ): Promise<OnceResult<R>>;
  /** Whether (consumer, eventId) was recorded. */
  has(consumer: string, eventId: string): Promise<boolean>;
  /** Deletes records older than `olderThan` (only `consumer`'s when given); returns how many went. */
  prune(options: { olderThan: Date; consumer?: string }): Promise<number>;
  /** Releases what the store created (a pool it opened); not a pool or database it was given. */
  close(): Promise<void>;
}

export interface SqlProcessedEventStoreOptions {
  client: SqlClient;
  /** Schema of the table, created when missing. @default "slotwise" */
  schema?: string;
}

function setupScript(s: string): string {
  return `CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.${PROCESSED_EVENTS_TABLE} (
  consumer text NOT NULL,
  event_id text NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ${PROCESSED_EVENTS_TABLE}_pkey PRIMARY KEY (consumer, event_id)
);
CREATE INDEX IF NOT EXISTS ${PROCESSED_EVENTS_TABLE}_processed_at ON ${s}.${PROCESSED_EVENTS_TABLE} (processed_at);`;
}

function checkIds(consumer: string, eventId: string): void {
  for (const [field, value] of [
    ["consumer", consumer],
    ["eventId", eventId],
  ] as const) {
    if (typeof value !== "string" || value.length === 0 || value.length > MAX_PROCESSED_ID_LENGTH) {
      throw new SlotwiseError(
        ErrorCode.INVALID_OPTIONS,
        `${field} must be a non-empty string of at most ${MAX_PROCESSED_ID_LENGTH} characters`,
        { details: { [field]: typeof value === "string" ? value.slice(0, 80) : value } },
      );
    }
  }
}

/** Processed-event records in `{schema}.processed_events`, on PostgreSQL or PGlite (one set of SQL). */
export function createSqlProcessedEventStore(options: SqlProcessedEventStoreOptions): ProcessedEventStore {
  const { client } = options;
  const schema = options.schema ?? DEFAULT_SCHEMA;
  checkSchemaName(schema);
  const s = quoteIdentifier(schema);
  const table = `${s}.${PROCESSED_EVENTS_TABLE}`;
  const insert: SqlStatement = {
    text: `INSERT INTO ${table} (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1 AS inserted`,
  };
  const exists: SqlStatement = {
    text: `SELECT 1 AS found FROM ${table} WHERE consumer = $1 AND event_id = $2`,
  };
  const pruneAll: SqlStatement = {
    text: `WITH gone AS (DELETE FROM ${table} WHERE processed_at < $1 RETURNING 1) SELECT count(*)::integer AS n FROM gone`,
  };
  const pruneOne: SqlStatement = {
    text: `WITH gone AS (DELETE FROM ${table} WHERE processed_at < $1 AND consumer = $2 RETURNING 1)
SELECT count(*)::integer AS n FROM gone`,
  };

  let ready: Promise<void> | undefined;
  const ensureReady = (): Promise<void> => {
    ready ??= client
      .transaction(async (tx) => {
        // Instances starting together wait for each other instead of racing on CREATE TABLE.
        await tx.query({ text: "SELECT pg_advisory_xact_lock($1::integer, hashtext($2::text))" }, [
          SETUP_LOCK_NAMESPACE,
          schema,
        ]);
        await tx.execute(setupScript(s));
      })
      .catch((err: unknown) => {
        ready = undefined; // try again at the next call
        throw err;
      });
    return ready;
  };

  return {
    async runOnce<R>(consumer: string, eventId: string, work: (tx: SqlExecutor) => Promise<R>) {
      checkIds(consumer, eventId);
      await ensureReady();
      return client.transaction(async (tx): Promise<OnceResult<R>> => {
        const rows = await tx.query<{ inserted: number }>(insert, [consumer, eventId]);
        if (rows.length === 0) return { duplicate: true };
        return { duplicate: false, value: await work(tx) };
      });
    },
    async has(consumer, eventId) {
      checkIds(consumer, eventId);
      await ensureReady();
      return (await client.query(exists, [consumer, eventId])).length > 0;
    },
    async prune({ olderThan, consumer }) {
      await ensureReady();
      const rows =
        consumer === undefined
          ? await client.query<{ n: number }>(pruneAll, [olderThan])
          : await client.query<{ n: number }>(pruneOne, [olderThan, consumer]);
      return Number(rows[0]?.n ?? 0);
    },
    close: () => client.close(),
  };
}

export interface PostgresProcessedEventStoreOptions
  extends Pick<PostgresConnectionOptions, "pool" | "connectionString" | "onError"> {
  /** @default "slotwise" */
  schema?: string;
  /** Connections of the pool opened from `connectionString`. @default 10 */
  poolSize?: number;
}

/** Processed-event records on node-postgres; pass the pool your handlers write with, or a connection string. */
export function createPostgresProcessedEventStore(
  options: PostgresProcessedEventStoreOptions,
): ProcessedEventStore {
  const { schema, ...connection } = options;
  return createSqlProcessedEventStore({
    client: createPgClient(connection),
    ...(schema === undefined ? {} : { schema }),
  });
}

/** Processed-event records on PGlite (the embedded database); the database stays open on `close()`. */
export function createPgliteProcessedEventStore(options: {
  pglite: PGlite;
  schema?: string;
}): ProcessedEventStore {
  return createSqlProcessedEventStore({
    client: createPgliteSqlClient({ db: options.pglite, ownsDb: false }),
    ...(options.schema === undefined ? {} : { schema: options.schema }),
  });
}
