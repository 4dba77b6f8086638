export {
  createPgliteLeaderLock,
  createPostgresLeaderLock,
  LEADER_LOCK_NAMESPACE,
  type PostgresLeaderLockOptions,
} from "./advisory-lock.js";
export {
  createPgliteCheckpointStore,
  createPgliteRelay,
  createPostgresCheckpointStore,
  createPostgresRelay,
  type PgliteRelayOptions,
  type PostgresCheckpointStoreOptions,
  type PostgresRelayOptions,
} from "./postgres-relay.js";
export {
  CHECKPOINT_TABLE,
  type ClosableCheckpointStore,
  createSqlCheckpointStore,
  type SqlCheckpointStoreOptions,
} from "./sql-checkpoint-store.js";
