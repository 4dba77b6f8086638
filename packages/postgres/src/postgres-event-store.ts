import { ErrorCode, SlotwiseError, type SnapshotStore, type Upcaster } from "@slotwise/events";
import pg from "pg";
import { createPgSqlClient } from "./sql/pg-client.js";
import type { ErrorHandler, SqlClient } from "./sql/sql-client.js";
import { DEFAULT_SCHEMA } from "./store/schema.js";
import { createSqlEventStore, type SqlEventStore } from "./store/sql-event-store.js";
import { createSqlSnapshotStore } from "./store/sql-snapshot-store.js";

/** Size of the pool a store opens from a connection string. */
export const DEFAULT_POOL_SIZE = 10;

export interface PostgresConnectionOptions {
  /** A pool to use; the store leaves it open on `close()`. Exactly one of `pool` and `connectionString`. */
  pool?: pg.Pool;
  /** Opens a pool of `poolSize`, ended on `close()`. */
  connectionString?: string;
  /** @default 10 */
  poolSize?: number;
  /** The schema holding the store's tables, created by the store's migrations. @default "slotwise" */
  schema?: string;
  /** Background failures (an idle connection lost, a listener reconnecting). @default ignored */
  onError?: ErrorHandler;
}

export interface PostgresEventStoreOptions extends PostgresConnectionOptions {
  /** Applied on `read` and `readAll`. @default none */
  upcasters?: readonly Upcaster[];
  /**
   * After each commit that appended events, `NOTIFY slotwise_events` with the schema name as payload
   * (outside the append's transaction) for `listen`ers in any process. @default true
   */
  notify?: boolean;
  /** Least time between two notifications: commits in between share one. @default 10 */
  notifyIntervalMs?: number;
}

/** The event store on PostgreSQL; `listen` wakes a relay through LISTEN on a dedicated pool connection. */
export type PostgresEventStore = SqlEventStore;

const ignore: ErrorHandler = () => {};

export function createPgClient(options: PostgresConnectionOptions): SqlClient {
  const onError = options.onError ?? ignore;
  if ((options.pool === undefined) === (options.connectionString === undefined)) {
    throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "pass exactly one of pool and connectionString", {
      details: { pool: options.pool !== undefined, connectionString: options.connectionString !== undefined },
    });
  }
  if (options.pool) return createPgSqlClient({ pool: options.pool, ownsPool: false, onError });
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
  });
  return createPgSqlClient({ pool, ownsPool: true, onError });
}

/**
 * The event store on node-postgres. Migrations run at first use; `append` is one statement; a version
 * conflict is a `ConcurrencyError`; a lost connection fails the operation with UNAVAILABLE.
 *
 * ```ts
 * const store = createPostgresEventStore({ connectionString: process.env.DATABASE_URL });
 * await store.append("booking-42", [event], { expectedVersion: "no-stream" });
 * ```
 */
export function createPostgresEventStore(options: PostgresEventStoreOptions): PostgresEventStore {
  const client = createPgClient(options);
  return createSqlEventStore({
    client,
    schema: options.schema ?? DEFAULT_SCHEMA,
    upcasters: options.upcasters,
    notify: options.notify ?? true,
    notifyIntervalMs: options.notifyIntervalMs,
    onError: options.onError ?? ignore,
  });
}

/** Snapshots in `{schema}.snapshots` on node-postgres (same migrations as the event store). */
export function createPostgresSnapshotStore(options: PostgresConnectionOptions): SnapshotStore {
  return createSqlSnapshotStore({
    client: createPgClient(options),
    schema: options.schema ?? DEFAULT_SCHEMA,
  });
}
