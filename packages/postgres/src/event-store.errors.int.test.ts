/**
 * PostgreSQL-specific behaviours outside the conformance suite: lost connections, concurrent migrations,
 * the listener's reconnect.
 */
import { createEvent, ErrorCode, isSlotwiseError } from "@slotwise/events";
import { uniqueId, waitFor } from "@slotwise/events/testing";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createPostgresEventStore, MIGRATIONS, migrate, NOTIFY_CHANNEL } from "./index.js";
import { createPgClient } from "./postgres-event-store.js";

const connectionString = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const schemas: string[] = [];
const admin = new pg.Pool({ connectionString, max: 2 });
admin.on("error", () => {});

function newSchema(): string {
  const schema = `errors_${uniqueId()}`;
  schemas.push(schema);
  return schema;
}

afterAll(async () => {
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

const event = (subject: string) =>
  createEvent({ type: "errors.item.added.v1", source: "errors-test", subject, data: { subject } });

async function terminate(applicationName: string, queryPrefix = ""): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
     WHERE application_name = $1 AND query LIKE $2 AND pid <> pg_backend_pid()`,
    [applicationName, `${queryPrefix}%`],
  );
  return rows[0]?.n ?? 0;
}

describe("PostgreSQL event store: connections", () => {
  it("fails with UNAVAILABLE when the server cannot be reached", async () => {
    const store = createPostgresEventStore({
      connectionString: "postgres://postgres@127.0.0.1:1/test",
      schema: newSchema(),
    });
    try {
      const err = await store.append("s", [event("s")]).catch((e: unknown) => e);
      expect(isSlotwiseError(err, ErrorCode.UNAVAILABLE)).toBe(true);
      // The next call tries again (the failed start is not remembered).
      const again = await store.version("s").catch((e: unknown) => e);
      expect(isSlotwiseError(again, ErrorCode.UNAVAILABLE)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("fails a transaction whose connection is killed with UNAVAILABLE, commits nothing, and recovers", async () => {
    const errors: Error[] = [];
    const store = createPostgresEventStore({
      connectionString,
      schema: newSchema(),
      onError: (e) => errors.push(e),
    });
    const streamId = `killed-${uniqueId()}`;
    try {
      const err = await store
        .transaction(async (tx) => {
          await tx.append(streamId, [event(streamId)]);
          await tx.query("SELECT pg_terminate_backend(pg_backend_pid())");
        })
        .catch((e: unknown) => e);
      expect(isSlotwiseError(err, ErrorCode.UNAVAILABLE)).toBe(true);
      expect(await store.version(streamId)).toBe(0);
      await store.append(streamId, [event(streamId)], { expectedVersion: "no-stream" });
      expect(await store.version(streamId)).toBe(1);
    } finally {
      await store.close();
    }
  });

  it("survives idle connections killed by the server (the pool's error handler) and keeps working", async () => {
    const applicationName = `sw_idle_${uniqueId()}`;
    const errors: Error[] = [];
    const pool = new pg.Pool({ connectionString, application_name: applicationName, max: 3 });
    const store = createPostgresEventStore({ pool, schema: newSchema(), onError: (e) => errors.push(e) });
    const streamId = `idle-${uniqueId()}`;
    try {
      await store.append(streamId, [event(streamId)]);
      expect(await terminate(applicationName)).toBeGreaterThan(0);
      await waitFor(() => errors.length > 0, { message: "the pool reports the lost idle client" });
      await store.append(streamId, [event(streamId)], { expectedVersion: 1 });
      expect(await store.version(streamId)).toBe(2);
    } finally {
      await store.close();
      await pool.end();
    }
  });

  it("listens again after its LISTEN connection is killed, and says so with a wake-up", async () => {
    const applicationName = `sw_listen_${uniqueId()}`;
    const pool = new pg.Pool({ connectionString, application_name: applicationName, max: 3 });
    const store = createPostgresEventStore({ pool, schema: newSchema() });
    let calls = 0;
    const unlisten = await store.listen(() => {
      calls++;
    });
    try {
      expect(await terminate(applicationName, `LISTEN "${NOTIFY_CHANNEL}"`)).toBe(1);
      await waitFor(() => calls > 0, { message: "a wake-up after the listener reconnects" });
      const afterReconnect = calls;
      const streamId = `listen-${uniqueId()}`;
      await store.append(streamId, [event(streamId)]);
      await waitFor(() => calls > afterReconnect, { message: "a notification on the new connection" });
    } finally {
      await unlisten();
      await store.close();
      await pool.end();
    }
  });
});

describe("PostgreSQL event store: migrations", () => {
  it("lets concurrent starters migrate a fresh schema once, without racing", async () => {
    const schema = newSchema();
    const stores = Array.from({ length: 6 }, () =>
      createPostgresEventStore({ connectionString, schema, poolSize: 2 }),
    );
    try {
      const versions = await Promise.all(stores.map((s, i) => s.version(`m-${i}`)));
      expect(versions).toEqual([0, 0, 0, 0, 0, 0]);
      const { rows } = await admin.query(`SELECT version, name FROM ${schema}.migrations ORDER BY version`);
      expect(rows).toEqual([
        { version: 1, name: "events, streams and snapshots" },
        { version: 2, name: "drop streams: versions come from the events' unique index" },
      ]);
      const tables = await admin.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
        [schema],
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual(["events", "migrations", "snapshots"]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it("upgrades a schema of the first migration (with its streams table) and keeps its streams' versions", async () => {
    const schema = newSchema();
    const client = createPgClient({ connectionString, poolSize: 2 });
    try {
      expect(await migrate(client, schema, MIGRATIONS.slice(0, 1))).toBe(1);
    } finally {
      await client.close();
    }
    // A stream written under migration 1: its events plus its row in `streams`.
    const streamId = `old-${uniqueId()}`;
    for (const v of [1, 2]) {
      const e = event(streamId);
      await admin.query(
        `INSERT INTO ${schema}.events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          streamId,
          v,
          e.id,
          e.type,
          e.version,
          JSON.stringify(e.data),
          JSON.stringify({ ...e, data: undefined }),
        ],
      );
    }
    await admin.query(`INSERT INTO ${schema}.streams (stream_id, version) VALUES ($1, 2)`, [streamId]);
    const store = createPostgresEventStore({ connectionString, schema, poolSize: 2 });
    try {
      expect(await store.version(streamId)).toBe(2);
      const err = await store
        .append(streamId, [event(streamId)], { expectedVersion: 1 })
        .catch((e: unknown) => e);
      expect(isSlotwiseError(err, ErrorCode.CONCURRENCY_CONFLICT)).toBe(true);
      expect((await store.append(streamId, [event(streamId)], { expectedVersion: 2 })).nextVersion).toBe(3);
      const { rows } = await admin.query(`SELECT max(version) AS v FROM ${schema}.migrations`);
      expect(rows).toEqual([{ v: MIGRATIONS.length }]);
    } finally {
      await store.close();
    }
  });

  it("refuses a schema name that is not a plain SQL identifier", () => {
    expect(() => createPostgresEventStore({ connectionString, schema: 'x"; DROP TABLE y; --' })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_OPTIONS }),
    );
    expect(() => createPostgresEventStore({ schema: "ok" })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_OPTIONS }),
    );
  });
});
