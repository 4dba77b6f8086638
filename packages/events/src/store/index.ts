export {
  type AppendNotifications,
  type AppendOptions,
  type AppendResult,
  type Checkpoint,
  canListen,
  type EventStore,
  type ExpectedVersion,
  NO_STREAM_VERSION,
  type ReadAllOptions,
  type ReadAllResult,
  type ReadOptions,
  START,
  type StoredEvent,
  type StoreTransaction,
  type Unlisten,
} from "./event-store.js";
export {
  createMemoryEventLog,
  createMemoryEventStore,
  createMemorySnapshotStore,
  type MemoryEventLog,
  type MemoryEventStoreOptions,
} from "./memory/index.js";
export {
  DEFAULT_SNAPSHOT_SCHEMA_VERSION,
  type SaveSnapshotInput,
  type Snapshot,
  type SnapshotStore,
} from "./snapshot-store.js";
export { createUpcasterChain, type Upcaster, type UpcasterChain } from "./upcasting.js";
// For store implementations (@slotwise/postgres): the same checks and errors everywhere.
export {
  checkpointAheadError,
  checkSnapshotInput,
  checkStreamId,
  DEFAULT_READ_ALL_LIMIT,
  duplicateEventError,
  expectedVersionHolds,
  MAX_STREAM_VERSION,
  type ParsedReadAllOptions,
  type ParsedReadOptions,
  parseAppend,
  parseRead,
  parseReadAll,
  storeClosedError,
} from "./validate.js";
