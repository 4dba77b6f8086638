import { PGlite } from "@electric-sql/pglite";
import { createMemoryTransport } from "@slotwise/events";
import { runRelayConformance, uniqueId } from "@slotwise/events/testing";
import { afterAll } from "vitest";
import { createPgliteEventStore } from "../pglite-event-store.js";
import { createPgliteLeaderLock } from "./advisory-lock.js";
import { createPgliteCheckpointStore } from "./postgres-relay.js";

// One in-memory database for the file; each test gets a schema of its own (a fresh, empty log).
let db: PGlite | undefined;
afterAll(async () => {
  await db?.close();
});

runRelayConformance(
  "PGlite + in-process transport",
  {
    async setup() {
      db ??= await PGlite.create();
      const pglite = db;
      const schema = `relay_${uniqueId()}`;
      const store = createPgliteEventStore({ pglite, schema });
      const checkpoints = createPgliteCheckpointStore({ pglite, schema });
      const transport = createMemoryTransport();
      return {
        store,
        transport,
        checkpoints,
        lock: () => createPgliteLeaderLock({ pglite, schema }),
        async cleanup() {
          await checkpoints.close();
          await store.close();
          await transport.close();
          await pglite.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        },
      };
    },
  },
  { listen: true },
);
