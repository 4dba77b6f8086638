import pg from "pg";
import { afterAll } from "vitest";
import { createPgSqlClient } from "../sql/pg-client.js";
import { runProcessedEventsSuite } from "./processed-events.suite.js";

const connectionString = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const pool = new pg.Pool({ connectionString, max: 4 });
pool.on("error", () => {});
afterAll(() => pool.end());

runProcessedEventsSuite("PostgreSQL", {
  client: async () => createPgSqlClient({ pool, ownsPool: false, onError: () => {} }),
  concurrent: true,
});
