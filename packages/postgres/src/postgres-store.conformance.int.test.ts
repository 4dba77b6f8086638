import { runStoreConformance, uniqueId } from "@slotwise/events/testing";
import pg from "pg";
import { createPostgresEventStore, createPostgresSnapshotStore } from "./index.js";

const connectionString = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
// A schema of its own, so this file runs beside any other on the shared server.
const schema = `conformance_${uniqueId()}`;
const pool = new pg.Pool({ connectionString, max: 12 });
pool.on("error", () => {});

runStoreConformance(
  "PostgreSQL",
  {
    create: async (options) => createPostgresEventStore({ ...options, pool, schema }),
    createSnapshotStore: async () => createPostgresSnapshotStore({ pool, schema }),
    cleanup: async () => {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
    },
  },
  { sql: true, concurrentTransactions: true, listen: true, snapshots: true },
);
