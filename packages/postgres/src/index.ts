// @slotwise/postgres — the event store on PostgreSQL (node-postgres) and PGlite, one set of SQL.

// Exactly-once handler effects: (consumer, event id) recorded in the handler's own transaction.
export {
  createPgliteProcessedEventStore,
  createPostgresProcessedEventStore,
  createSqlProcessedEventStore,
  MAX_PROCESSED_ID_LENGTH,
  type OnceResult,
  type PostgresProcessedEventStoreOptions,
  PROCESSED_EVENTS_TABLE,
  type ProcessedEventStore,
  type SqlProcessedEventStoreOptions,
  type TransactionalHandler,
  type TransactionalOptions,
  transactional,
} from "./idempotency/index.js";
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
// The outbox relay on PostgreSQL / PGlite (checkpoints, advisory-lock leadership, LISTEN/NOTIFY wake-ups).
export {
  CHECKPOINT_TABLE,
  type ClosableCheckpointStore,
  createPgliteCheckpointStore,
  createPgliteLeaderLock,
  createPgliteRelay,
  createPostgresCheckpointStore,
  createPostgresLeaderLock,
  createPostgresRelay,
  createSqlCheckpointStore,
  LEADER_LOCK_NAMESPACE,
  type PgliteRelayOptions,
  type PostgresCheckpointStoreOptions,
  type PostgresLeaderLockOptions,
  type PostgresRelayOptions,
  type SqlCheckpointStoreOptions,
} from "./relay/index.js";
export { isConnectionLoss, toStoreError } from "./sql/errors.js";
export { createPgSqlClient, DEFAULT_LISTEN_RECONNECT_MS, type PgSqlClientOptions } from "./sql/pg-client.js";
export { createPgliteSqlClient, type PgliteSqlClientOptions } from "./sql/pglite-client.js";
export type { ErrorHandler, SqlClient, SqlExecutor, SqlStatement } from "./sql/sql-client.js";
export { migrate } from "./store/migrate.js";
export {
  type AppendMode,
  DEFAULT_SCHEMA,
  MAX_VALUES_BATCH,
  MIGRATIONS,
  type Migration,
  NOTIFY_CHANNEL,
} from "./store/schema.js";
export {
  createSqlEventStore,
  DEFAULT_NOTIFY_INTERVAL_MS,
  type SqlEventStore,
  type SqlEventStoreOptions,
} from "./store/sql-event-store.js";
export { createSqlSnapshotStore } from "./store/sql-snapshot-store.js";
