import { PGlite } from "@electric-sql/pglite";
import { runStoreConformance } from "@slotwise/events/testing";
import { createPgliteEventStore, createPgliteSnapshotStore } from "./index.js";

// One in-memory database for the file; every store of the suite shares it (and its schema).
let db: PGlite | undefined;
const database = async (): Promise<PGlite> => {
  db ??= await PGlite.create();
  return db;
};

runStoreConformance(
  "PGlite",
  {
    create: async (options) => createPgliteEventStore({ ...options, pglite: await database() }),
    createSnapshotStore: async () => createPgliteSnapshotStore({ pglite: await database() }),
    cleanup: async () => {
      await db?.close();
    },
  },
  { sql: true, concurrentTransactions: false, listen: true, snapshots: true },
);
