import { PGlite } from "@electric-sql/pglite";
import { ErrorCode, SlotwiseError, type SnapshotStore, type Upcaster } from "@slotwise/events";
import { createPgliteSqlClient } from "./sql/pglite-client.js";
import type { ErrorHandler, SqlClient } from "./sql/sql-client.js";
import { DEFAULT_SCHEMA } from "./store/schema.js";
import { createSqlEventStore, type SqlEventStore } from "./store/sql-event-store.js";
import { createSqlSnapshotStore } from "./store/sql-snapshot-store.js";

export interface PgliteConnectionOptions {
  /** A database to use; the store leaves it open on `close()`. Share one between stores. */
  pglite?: PGlite;
  /** Starts a database persisted in this directory, closed on `close()`. @default in memory, when no `pglite` */
  dataDir?: string;
  /** @default "slotwise" */
  schema?: string;
  /** Background failures. @default ignored */
  onError?: ErrorHandler;
}

export interface PgliteEventStoreOptions extends PgliteConnectionOptions {
  /** Applied on `read` and `readAll`. @default none */
  upcasters?: readonly Upcaster[];
  /** `NOTIFY slotwise_events` after commits that appended events (see `listen`). @default true */
  notify?: boolean;
  /** Least time between two notifications: commits in between share one. @default 10 */
  notifyIntervalMs?: number;
}

export type PgliteEventStore = SqlEventStore;

const ignore: ErrorHandler = () => {};

function createClient(options: PgliteConnectionOptions): SqlClient {
  if (options.pglite !== undefined && options.dataDir !== undefined) {
    throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "pass pglite or dataDir, not both", {
      details: { dataDir: options.dataDir },
    });
  }
  if (options.pglite) return createPgliteSqlClient({ db: options.pglite, ownsDb: false });
  return createPgliteSqlClient({ db: new PGlite(options.dataDir), ownsDb: true });
}

/**
 * The event store on PGlite (PostgreSQL in WebAssembly, in process): the very same SQL as
 * `createPostgresEventStore`, for the embedded mode and tests without services.
 */
export function createPgliteEventStore(options: PgliteEventStoreOptions = {}): PgliteEventStore {
  return createSqlEventStore({
    client: createClient(options),
    schema: options.schema ?? DEFAULT_SCHEMA,
    upcasters: options.upcasters,
    notify: options.notify ?? true,
    notifyIntervalMs: options.notifyIntervalMs,
    onError: options.onError ?? ignore,
  });
}

/** Snapshots on PGlite; pass the event store's `pglite` to share its database. */
export function createPgliteSnapshotStore(options: PgliteConnectionOptions = {}): SnapshotStore {
  return createSqlSnapshotStore({ client: createClient(options), schema: options.schema ?? DEFAULT_SCHEMA });
}
