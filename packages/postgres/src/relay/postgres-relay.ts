import type { PGlite } from "@electric-sql/pglite";
import {
  createRelay,
  ErrorCode,
  type LeaderLock,
  type Relay,
  type RelayOptions,
  SlotwiseError,
} from "@slotwise/events";
import type pg from "pg";
import { createPgClient } from "../postgres-event-store.js";
import { createPgliteSqlClient } from "../sql/pglite-client.js";
import { DEFAULT_SCHEMA } from "../store/schema.js";
import { createPgliteLeaderLock, createPostgresLeaderLock } from "./advisory-lock.js";
import { type ClosableCheckpointStore, createSqlCheckpointStore } from "./sql-checkpoint-store.js";

export interface PostgresCheckpointStoreOptions {
  /** Exactly one of `pool` and `connectionString`. */
  pool?: pg.Pool;
  connectionString?: string;
  /** The store's schema; checkpoints live in `{schema}.relay_checkpoints`. @default "slotwise" */
  schema?: string;
  /** @default 2 (a connection string opens a small pool of its own) */
  poolSize?: number;
}

/** Relay checkpoints on node-postgres. */
export function createPostgresCheckpointStore(
  options: PostgresCheckpointStoreOptions,
): ClosableCheckpointStore {
  return createSqlCheckpointStore({
    client: createPgClient({ ...options, poolSize: options.poolSize ?? 2 }),
    schema: options.schema ?? DEFAULT_SCHEMA,
  });
}

/** Relay checkpoints on PGlite; pass the event store's database. */
export function createPgliteCheckpointStore(options: {
  pglite: PGlite;
  schema?: string;
}): ClosableCheckpointStore {
  return createSqlCheckpointStore({
    client: createPgliteSqlClient({ db: options.pglite, ownsDb: false }),
    schema: options.schema ?? DEFAULT_SCHEMA,
  });
}

export interface PostgresRelayOptions extends Omit<RelayOptions, "checkpoints" | "lock"> {
  /** Where checkpoints and the leader lock live: the store's database. Exactly one of the two. */
  connectionString?: string;
  pool?: pg.Pool;
  /** The store's schema. @default "slotwise" */
  schema?: string;
  /**
   * Compete for leadership with other instances (advisory lock on a dedicated connection); false makes
   * this instance always active. @default true
   */
  leaderLock?: boolean;
}

/** A relay that closes what it opened (checkpoint pool, lock connection) when it stops. */
function withCleanup(relay: Relay, close: () => Promise<void>): Relay {
  let stopped: Promise<void> | undefined;
  return {
    start: () => relay.start(),
    stats: () => relay.stats(),
    stop() {
      stopped ??= relay.stop().finally(close);
      return stopped;
    },
  };
}

function checkConnection(options: { connectionString?: string; pool?: pg.Pool }): void {
  if ((options.pool === undefined) === (options.connectionString === undefined)) {
    throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "pass exactly one of pool and connectionString", {
      details: { pool: options.pool !== undefined, connectionString: options.connectionString !== undefined },
    });
  }
}

/**
 * The outbox relay on PostgreSQL: checkpoints in `{schema}.relay_checkpoints`, leadership by advisory lock
 * (standbys retry every `standbyRetryMs`), woken by the store's LISTEN/NOTIFY with a polling fallback.
 *
 * ```ts
 * const relay = createPostgresRelay({ connectionString, store, transport, env: "prod" });
 * await relay.start();
 * ```
 */
export function createPostgresRelay(options: PostgresRelayOptions): Relay {
  checkConnection(options);
  const { connectionString, pool, schema = DEFAULT_SCHEMA, leaderLock = true, ...relayOptions } = options;
  const connection = pool ? { pool } : { connectionString: connectionString as string };
  const checkpoints = createPostgresCheckpointStore({ ...connection, schema });
  let lock: LeaderLock | undefined;
  try {
    lock = leaderLock
      ? createPostgresLeaderLock({
          ...connection,
          schema,
          ...(options.onError ? { onError: options.onError } : {}),
        })
      : undefined;
    const relay = createRelay({ ...relayOptions, checkpoints, ...(lock ? { lock } : {}) });
    return withCleanup(relay, () => checkpoints.close());
  } catch (err) {
    void checkpoints.close();
    throw err;
  }
}

export interface PgliteRelayOptions extends Omit<RelayOptions, "checkpoints" | "lock"> {
  /** The store's database. */
  pglite: PGlite;
  /** @default "slotwise" */
  schema?: string;
  /** Compete with other relays on this database (in-process lock). @default true */
  leaderLock?: boolean;
}

/** The same relay embedded: PGlite for the log and checkpoints, typically the in-process transport. */
export function createPgliteRelay(options: PgliteRelayOptions): Relay {
  const { pglite, schema = DEFAULT_SCHEMA, leaderLock = true, ...relayOptions } = options;
  const checkpoints = createPgliteCheckpointStore({ pglite, schema });
  const lock = leaderLock ? createPgliteLeaderLock({ pglite, schema }) : undefined;
  const relay = createRelay({ ...relayOptions, checkpoints, ...(lock ? { lock } : {}) });
  return withCleanup(relay, () => checkpoints.close());
}
