// @slotwise/postgres — the event store on PostgreSQL (node-postgres) and PGlite, one set of SQL.
export {
  createPgliteEventStore,
  createPgliteSnapshotStore,
  type PgliteConnectionOptions,
  type PgliteEventStore,
  type PgliteEventStoreOptions,
} from "./pglite-event-store.js";
export {
  createPostgresEventStore,
  createPostgresSnapshotStore,
  DEFAULT_POOL_SIZE,
  type PostgresConnectionOptions,
  type PostgresEventStore,
  type PostgresEventStoreOptions,
} from "./postgres-event-store.js";
export { isConnectionLoss, toStoreError } from "./sql/errors.js";
export { createPgSqlClient, DEFAULT_LISTEN_RECONNECT_MS, type PgSqlClientOptions } from "./sql/pg-client.js";
export { createPgliteSqlClient, type PgliteSqlClientOptions } from "./sql/pglite-client.js";
export type { ErrorHandler, SqlClient, SqlExecutor, SqlStatement } from "./sql/sql-client.js";
export { migrate } from "./store/migrate.js";
export {
  DEFAULT_SCHEMA,
  MIGRATIONS,
  type Migration,
  NOTIFY_CHANNEL,
} from "./store/schema.js";
export { createSqlEventStore, type SqlEventStore, type SqlEventStoreOptions } from "./store/sql-event-store.js";
export { createSqlSnapshotStore } from "./store/sql-snapshot-store.js";
