export {
  type AppendOptions,
  type AppendResult,
  type Checkpoint,
  type EventStore,
  type ExpectedVersion,
  NO_STREAM_VERSION,
  type ReadAllOptions,
  type ReadAllResult,
  type ReadOptions,
  START,
  type StoredEvent,
  type StoreTransaction,
} from "./event-store.js";
