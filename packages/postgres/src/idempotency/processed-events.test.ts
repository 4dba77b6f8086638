import { PGlite } from "@electric-sql/pglite";
import { afterAll } from "vitest";
import { createPgliteSqlClient } from "../sql/pglite-client.js";
import { runProcessedEventsSuite } from "./processed-events.suite.js";

const db = new PGlite();
afterAll(() => db.close());

runProcessedEventsSuite("PGlite", {
  client: async () => createPgliteSqlClient({ db, ownsDb: false }),
  concurrent: false,
});
