export {
  createMemoryEventLog,
  createMemoryEventStore,
  type MemoryEventLog,
  type MemoryEventStoreOptions,
} from "./memory-event-store.js";
export { createMemorySnapshotStore } from "./memory-snapshot-store.js";
