import { runStoreConformance } from "../../testing/store-conformance.js";
import { createMemoryEventLog, createMemoryEventStore } from "./memory-event-store.js";
import { createMemorySnapshotStore } from "./memory-snapshot-store.js";

const log = createMemoryEventLog();
const snapshots = createMemorySnapshotStore();

runStoreConformance(
  "in-process",
  {
    create: async (options) => createMemoryEventStore({ ...options, log }),
    // One snapshot store behind the factory; closing a test's handle must not close it for the next.
    createSnapshotStore: async () => ({ ...snapshots, close: async () => {} }),
  },
  { sql: false, concurrentTransactions: true, listen: true, snapshots: true },
);
